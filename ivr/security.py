"""Every /ivr/* request must carry Twilio's signature of the URL Twilio called: deny by default.

Behind a proxy ``request.url`` is the internal address, and it decodes the query string, so
the URL is rebuilt from PUBLIC_BASE_URL, the path and the *raw* query string. Without
PUBLIC_BASE_URL it is ``request.url``, which names the forwarded scheme and host only when
TRUSTED_PROXY_COUNT lets the app believe the proxy's X-Forwarded-* headers.

Twilio's signature covers the URL and the *form* parameters, nothing else: a body of any other
kind (multipart, JSON, text) would be read by the views unsigned, so it is refused. Twilio sends
JSON only to webhooks that ask for it (with ``bodySHA256`` in the URL); none here does.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from flask import Flask, Request, abort, request
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from twilio.request_validator import RequestValidator

from helpline.app.runtime import settings

log = logging.getLogger(__name__)


def called_url() -> str:
    """The address as Twilio requested it."""
    base = settings().public_base_url
    if not base:
        return request.url
    query = request.environ.get("QUERY_STRING", "")
    if isinstance(query, bytes):
        query = query.decode("latin-1")
    path = quote(request.script_root + request.path, safe="/:@!$&'()*+,;=-._~%")
    return base + path + (f"?{query}" if query else "")


FORM = "application/x-www-form-urlencoded"


def require_twilio_signature() -> None:
    """before_request of the IVR blueprints: 403 unless the request is signed by Twilio, 415
    for a body the signature does not cover."""
    token = settings().twilio_auth_token
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature or len(signature) > 200:
        abort(403)
    if not form_or_empty():
        log.warning("refused an IVR request with a %s body on %s",
                    request.mimetype or "untyped", request.path)
        abort(415, description="Twilio webhooks take form-encoded bodies only "
                               "(application/x-www-form-urlencoded).")
    params = request.form if request.mimetype == FORM else {}
    if not RequestValidator(token).validate(called_url(), params, signature):
        log.warning("refused an IVR request with a bad signature on %s", request.path)
        abort(403)


def form_or_empty() -> bool:
    """A form-encoded body (its parameters are signed), or no body at all."""
    if request.mimetype == FORM:
        return True
    has_body = bool(request.content_length) or "chunked" in request.headers.get(
        "Transfer-Encoding", "").lower()
    return not request.mimetype and not has_body


class NoStaffSessionOnWebhooks(SecureCookieSessionInterface):
    """Twilio sends no staff cookie: the webhooks skip opening (and signing) a session."""

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        if request.path.startswith("/ivr/"):
            return self.make_null_session(app)
        return super().open_session(app, request)
