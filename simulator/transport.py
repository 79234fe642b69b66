"""How a simulated call reaches the webhooks: signed exactly as Twilio signs them, delivered to
the app in this process or to a running server over HTTP.

The URL that is signed is always the absolute address from the TwiML (what Twilio would
request); only the delivery differs. A server behind a proxy or with PUBLIC_BASE_URL gets the
request at its own address while the signature covers the public one, as with Twilio.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode, urlsplit

from flask import Flask
from twilio.request_validator import RequestValidator

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 15  # Twilio gives a webhook 15 s in all


@dataclass(frozen=True)
class Reply:
    status: int
    text: str
    content_type: str


class Transport(Protocol):
    def send(self, method: str, url: str, params: dict[str, str],
             headers: dict[str, str]) -> Reply: ...


class Signer:
    """Twilio's X-Twilio-Signature: HMAC-SHA1 over the URL and the sorted POST parameters."""

    def __init__(self, auth_token: str) -> None:
        self.validator = RequestValidator(auth_token)

    def request(self, transport: Transport, method: str, url: str,
                params: dict[str, str]) -> Reply:
        if method == "GET":
            # Twilio puts the parameters of a GET in the query string and signs that URL.
            url = url + ("&" if "?" in url else "?") + urlencode(params)
            params = {}
        signature = self.validator.compute_signature(url, params)
        # Like Twilio: a token per delivery, the same on a retry (the IVR records it once).
        return transport.send(method, url, params, {
            "X-Twilio-Signature": signature, "I-Twilio-Idempotency-Token": uuid.uuid4().hex})


class AppTransport:
    """Deliver to a Flask app in this process (the CLI's default and the browser phone)."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def send(self, method: str, url: str, params: dict[str, str],
             headers: dict[str, str]) -> Reply:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        client = self.app.test_client()
        try:
            response = client.open(path, method=method, data=params or None, headers=headers,
                                   base_url=f"{parts.scheme}://{parts.netloc}")
        except Exception:
            # An app under test re-raises; a server would have answered 500.
            log.exception("simulated webhook %s failed", parts.path)
            return Reply(500, "", "text/plain")
        return Reply(response.status_code, response.get_data(as_text=True),
                     response.mimetype or "")


class HttpTransport:
    """Deliver over HTTP to a running server at ``server`` (e.g. http://127.0.0.1:5000)."""

    def __init__(self, server: str) -> None:
        parts = urlsplit(server)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("the server address must look like http://127.0.0.1:5000")
        self.origin = f"{parts.scheme}://{parts.netloc}"

    def send(self, method: str, url: str, params: dict[str, str],
             headers: dict[str, str]) -> Reply:
        parts = urlsplit(url)
        target = self.origin + parts.path + (f"?{parts.query}" if parts.query else "")
        body = urlencode(params).encode() if method == "POST" else None
        request = urllib.request.Request(target, data=body, method=method, headers={
            **headers, "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1 (helpline simulator)"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                return Reply(response.status, response.read().decode("utf-8", "replace"),
                             response.headers.get_content_type())
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, exc.read().decode("utf-8", "replace"),
                         exc.headers.get_content_type() if exc.headers else "")
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            log.warning("simulated webhook %s unreachable: %s", parts.path, exc)
            return Reply(0, "", "")
