"""An in-process stand-in for api.twilio.com, plugged into the real twilio REST client.

It answers the resources the helpline uses (Messages, Calls, a call's update) with the shapes
of Twilio's OpenAPI description, records every request, and can be told to fail the next one.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from twilio.http import HttpClient
from twilio.http.response import Response


@dataclass
class SeenRequest:
    method: str
    uri: str
    data: dict[str, Any]
    auth: tuple[str, str] | None
    timeout: float | None


@dataclass
class FakeTwilioApi(HttpClient):
    requests: list[SeenRequest] = field(default_factory=list)
    fail_next: tuple[int, int, str] | None = None  # (HTTP status, Twilio code, message)

    def request(self, method: str, uri: str, params: Any = None, data: Any = None,
                headers: Any = None, auth: Any = None, timeout: float | None = None,
                allow_redirects: bool = False) -> Response:
        self.requests.append(SeenRequest(method, uri, dict(data or {}), auth, timeout))
        if not uri.startswith("https://api.twilio.com/2010-04-01/Accounts/"):
            return Response(404, json.dumps({"code": 20404, "message": "not found"}))
        if self.fail_next is not None:
            status, code, message = self.fail_next
            self.fail_next = None
            return Response(status, json.dumps({"code": code, "message": message,
                                                "status": status}))
        account = uri.split("/Accounts/")[1].split("/")[0]
        if uri.endswith("/Messages.json"):
            return Response(201, json.dumps({
                "sid": "SM" + secrets.token_hex(16), "account_sid": account,
                "to": data["To"], "from": data["From"], "body": data["Body"],
                "status": "queued", "num_segments": "1", "direction": "outbound-api",
            }))
        if "/Calls/CA" in uri and uri.endswith(".json"):
            # A live call moved to new TwiML (the overdose protocol's conference).
            sid = uri.rsplit("/", 1)[1].removesuffix(".json")
            return Response(200, json.dumps({
                "sid": sid, "account_sid": account, "status": "in-progress",
                "direction": "inbound"}))
        if uri.endswith("/Calls.json"):
            return Response(201, json.dumps({
                "sid": "CA" + secrets.token_hex(16), "account_sid": account,
                "to": data["To"], "from": data["From"], "status": "queued",
                "direction": "outbound-api",
            }))
        return Response(404, json.dumps({"code": 20404, "message": "not found"}))
