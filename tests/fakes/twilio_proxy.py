"""api.twilio.com for processes of their own: :class:`FakeTwilioApi` behind an HTTPS proxy.

A process given ``HTTPS_PROXY`` (this proxy's address) and ``REQUESTS_CA_BUNDLE`` (the test's
certificate authority) runs the real twilio library unchanged: the library asks the proxy for
a tunnel to api.twilio.com:443, and the proxy answers inside the tunnel itself, with a
certificate for api.twilio.com. Nothing leaves the machine; anything else is refused.

The test can hold one text in flight (the ``hold_text``-th to a number starting with
``hold_prefix``): the proxy records it as created, as Twilio would, and keeps the sender
waiting for the answer until :meth:`TwilioProxy.release`, so that the sender can be killed
between Twilio taking the text and the sender hearing so. ``on_hold`` runs at that moment, in
the proxy's thread: a sender waits only so long for Twilio (TWILIO_TIMEOUT_SECONDS).
"""

from __future__ import annotations

import http.server
import socketserver
import ssl
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.twilio_api import FakeTwilioApi

API_HOST = "api.twilio.com"
HOLD_SECONDS = 120  # at most: the test releases it once it has killed the sender


class _ThreadingServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: TwilioProxy


class _Tunnel(socketserver.StreamRequestHandler):
    """CONNECT api.twilio.com:443, then Twilio's REST API over TLS inside the tunnel."""

    server: _ThreadingServer

    def handle(self) -> None:
        request_line = self.rfile.readline(4096).decode("latin-1").split()
        while self.rfile.readline(4096) not in (b"\r\n", b"\n", b""):
            pass
        if len(request_line) < 2 or request_line[0] != "CONNECT" \
                or request_line[1] != f"{API_HOST}:443":
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        proxy = self.server.proxy
        try:
            tls = proxy.tls.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            return
        _Api(tls, self.client_address, self.server)


class _Api(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ThreadingServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def _answer(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        reply = self.server.proxy.answer(method, f"https://{API_HOST}{parts.path}",
                                         dict(parse_qsl(parts.query)), dict(parse_qsl(body)))
        payload = reply.text.encode()
        try:
            self.send_response(reply.status_code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the sender died waiting: what it asked for is recorded all the same


class TwilioProxy:
    """The proxy, serving in a thread from construction until :meth:`close`."""

    def __init__(self, cert: Path, key: Path, *, port: int = 0, hold_text: int | None = None,
                 hold_prefix: str = "", on_hold: Callable[[], None] | None = None) -> None:
        self.api = FakeTwilioApi()
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(cert, key)
        self.hold_text = hold_text
        self.hold_prefix = hold_prefix
        self.on_hold = on_hold
        self.holding = threading.Event()
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._texts = 0
        self._server = _ThreadingServer(("127.0.0.1", port), _Tunnel)
        self._server.proxy = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def answer(self, method: str, uri: str, params: dict[str, str],
               data: dict[str, str]) -> Any:
        """FakeTwilioApi's answer; the text to hold waits for :meth:`release`."""
        counted = (method == "POST" and uri.endswith("/Messages.json")
                   and data.get("To", "").startswith(self.hold_prefix))
        with self._lock:
            reply = self.api.request(method, uri, params=params, data=data)
            if counted:
                self._texts += 1
            hold = counted and self._texts == self.hold_text
        if hold:
            self.holding.set()
            if self.on_hold is not None:
                self.on_hold()
            self._released.wait(HOLD_SECONDS)
        return reply

    def release(self) -> None:
        self._released.set()

    def texts_to(self) -> Counter[str]:
        """How many texts Twilio created, by number."""
        with self._lock:
            return Counter(r["to"] for r in self.api.created if r["sid"].startswith("SM"))

    def close(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
