"""Every /ivr/* request must carry Twilio's signature of the URL Twilio called: deny by default.

Behind a proxy ``request.url`` is the internal address, and it decodes the query string, so
the URL is rebuilt from PUBLIC_BASE_URL, the path and the *raw* query string.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote, urlparse

from flask import Flask, Request, abort, request
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from twilio.request_validator import RequestValidator, add_port, compare, remove_port

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


def require_twilio_signature() -> None:
    """before_request of the IVR blueprints: 403 unless the request is signed by Twilio."""
    token = settings().twilio_auth_token
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature or len(signature) > 200:
        abort(403)
    params = request.form if request.mimetype == "application/x-www-form-urlencoded" else {}
    if not signed(RequestValidator(token), called_url(), params, signature):
        log.warning("refused an IVR request with a bad signature on %s", request.path)
        abort(403)


def signed(validator: RequestValidator, url: str, params: Any, signature: str) -> bool:
    """What ``validator.validate`` decides, computing the second signature only when needed.

    Twilio signs the address either with or without the default port; ``validate`` computes
    both every time, and every webhook comes through here.
    """
    if compare(validator.compute_signature(url, params), signature):
        return True
    parsed = urlparse(url)
    other = remove_port(parsed) if parsed.port else add_port(parsed)
    return compare(validator.compute_signature(other, params), signature)


class NoStaffSessionOnWebhooks(SecureCookieSessionInterface):
    """Twilio sends no staff cookie: the webhooks skip opening (and signing) a session."""

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        if request.path.startswith("/ivr/"):
            return self.make_null_session(app)
        return super().open_session(app, request)
