"""Security headers on every response of the app."""

from __future__ import annotations

from flask import Response, request

# No inline script or style anywhere: scripts and CSS are static files. The QR code is inline
# SVG markup (attributes, no style), which needs no exception. A view that needs more (the
# browser phone talks to Twilio) sets its own Content-Security-Policy, which is kept.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# The page with the browser phone (dashboard.softphone), and only with Twilio configured: the
# Voice SDK signals over Twilio's WebSocket and reports call quality to its event gateway (the
# hosts its README's "Content Security Policy" lists for the default edge and no home-region
# grant); a call's audio plays from a mediastream. Its script and sounds are served from here.
TWILIO_VOICE_HOSTS = "wss://voice-js.roaming.twilio.com https://eventgw.twilio.com"
SOFTPHONE_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    f"connect-src 'self' {TWILIO_VOICE_HOSTS}; media-src 'self' mediastream:; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def add(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Permissions-Policy", "camera=(), geolocation=(), microphone=(self)")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if not request.path.startswith(("/static/", "/ivr/")):
        # Staff pages can hold confidential data: never keep them in a cache or history.
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
    return response
