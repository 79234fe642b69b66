"""CSRF protection for every state-changing request outside the Twilio webhooks.

A random token lives in the (signed) session; forms carry it in a hidden ``csrf_token`` field
and HTMX sends it in the ``X-CSRF-Token`` header (static/app.js adds it). A request without
the right token is refused with 400 before any view runs.
"""

from __future__ import annotations

import hmac
import secrets

from flask import abort, request, session

from helpline.app import fhir_api

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
FIELD = "csrf_token"
HEADER = "X-CSRF-Token"


def token() -> str:
    """This session's token (made on first use); put it in every form."""
    value = session.get(FIELD)
    if not value:
        value = secrets.token_urlsafe(32)
        session[FIELD] = value
    return value


def rotate() -> None:
    """A new token at sign-in and sign-out, so a token seen before signing in is useless."""
    session[FIELD] = secrets.token_urlsafe(32)


def check() -> None:
    """Before every request: refuse an unsafe method whose token is missing or wrong."""
    # The read-only API (/api/) takes no cookie and makes no change: nothing to forge.
    if request.method in SAFE_METHODS or request.path.startswith(("/ivr/", "/api/")):
        return
    if request.endpoint in fhir_api.ENDPOINTS:
        # Authenticated by a bearer token alone, never the session cookie: a forged
        # cross-site request carries no token.
        return
    expected = session.get(FIELD)
    given = request.headers.get(HEADER) or request.form.get(FIELD)
    # As bytes: compare_digest refuses str with non-ASCII characters (a forged token may hold
    # any).
    if not expected or not given or not hmac.compare_digest(str(expected).encode(),
                                                            str(given).encode()):
        abort(400, description="The form expired or did not come from this site. Reload the "
                               "page and try again.")
