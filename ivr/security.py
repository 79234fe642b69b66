"""Every /ivr/* request must carry Twilio's signature of the URL Twilio called: deny by default.

Behind a proxy ``request.url`` is the internal address, and it decodes the query string, so
the URL is rebuilt from PUBLIC_BASE_URL, the path and the *raw* query string.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from flask import abort, request
from twilio.request_validator import RequestValidator

from helpline.web import settings

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
    if not RequestValidator(token).validate(called_url(), params, signature):
        log.warning("refused an IVR request with a bad signature on %s", request.path)
        abort(403)
