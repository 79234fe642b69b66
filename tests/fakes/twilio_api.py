"""An in-process stand-in for api.twilio.com, plugged into the real twilio REST client.

It answers the resources the helpline uses (Messages, Calls, a call's update, Conferences and
their Participants) with the shapes
of Twilio's OpenAPI description, records every request, and can be told to fail the next one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
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
    # What a GET of a call answers, by CallSid (status, end_time, duration ...); a call not
    # named here is in progress.
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Every text and call created, oldest first, as a list request answers them; and the
    # time they are created at (None: the real clock).
    created: list[dict[str, Any]] = field(default_factory=list)
    clock: dt.datetime | None = None
    # Conferences: every room is live (in progress) unless named here.
    ended_rooms: set[str] = field(default_factory=set)

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
        if method == "GET" and uri.endswith(("/Messages.json", "/Calls.json")):
            return self._list(uri, dict(params or {}))
        if uri.endswith("/Messages.json"):
            return self._create(201, {
                "sid": "SM" + secrets.token_hex(16), "account_sid": account,
                "to": data["To"], "from": data["From"], "body": data["Body"],
                "status": "queued", "num_segments": "1", "direction": "outbound-api",
            })
        if "/Conferences" in uri:
            return self._conferences(method, uri, dict(params or {}), dict(data or {}), account)
        if "/Calls/CA" in uri and uri.endswith(".json"):
            # A call looked up, or a live call moved to new TwiML (the overdose protocol's
            # conference).
            sid = uri.rsplit("/", 1)[1].removesuffix(".json")
            said = self.calls.get(sid, {}) if method == "GET" else {}
            if method == "POST" and (data or {}).get("Status") == "completed":
                said = {"status": "completed"}
            return Response(200, json.dumps({
                "sid": sid, "account_sid": account, "status": "in-progress",
                "direction": "inbound", **{k: _rfc2822(v) for k, v in said.items()}}))
        if uri.endswith("/Calls.json"):
            return self._create(201, {
                "sid": "CA" + secrets.token_hex(16), "account_sid": account,
                "to": data["To"], "from": data["From"], "status": "queued",
                "direction": "outbound-api",
            })
        return Response(404, json.dumps({"code": 20404, "message": "not found"}))

    def _conferences(self, method: str, uri: str, params: dict[str, Any],
                     data: dict[str, Any], account: str) -> Response:
        """Conferences listed by name; a conference's Participants added, updated, removed."""
        if method == "GET" and uri.endswith("/Conferences.json"):
            name = params.get("FriendlyName", "")
            live = bool(name) and name not in self.ended_rooms and \
                params.get("Status", "in-progress") == "in-progress"
            found = [{"sid": conference_sid(name), "account_sid": account,
                      "friendly_name": name, "status": "in-progress"}] if live else []
            return Response(200, json.dumps({"conferences": found, "next_page_uri": None,
                                             "page": 0, "page_size": 50, "uri": uri}))
        conference = uri.split("/Conferences/")[1].split("/")[0]
        if uri.endswith("/Participants.json") and method == "POST":
            sid = "CA" + secrets.token_hex(16)
            return Response(201, json.dumps(self._participant(account, conference, sid, {
                "muted": data.get("Muted") == "true", "hold": False,
                "coaching": data.get("Coaching") == "true",
                "call_sid_to_coach": data.get("CallSidToCoach"), "status": "queued",
                "label": data.get("Label")})))
        if "/Participants/CA" in uri:
            sid = uri.rsplit("/", 1)[1].removesuffix(".json")
            if method == "DELETE":
                return Response(204, "")
            return Response(200, json.dumps(self._participant(account, conference, sid, {
                "muted": data.get("Muted") == "true", "hold": data.get("Hold") == "true",
                "coaching": data.get("Coaching") == "true",
                "call_sid_to_coach": data.get("CallSidToCoach"), "status": "connected"})))
        return Response(404, json.dumps({"code": 20404, "message": "not found"}))

    @staticmethod
    def _participant(account: str, conference: str, sid: str,
                     fields: dict[str, Any]) -> dict[str, Any]:
        return {"account_sid": account, "conference_sid": conference, "call_sid": sid,
                "end_conference_on_exit": False, "start_conference_on_enter": True, **fields}

    def _create(self, status: int, resource: dict[str, Any]) -> Response:
        resource["date_created"] = _rfc2822(self.clock or dt.datetime.now(dt.UTC))
        self.created.append(resource)
        return Response(status, json.dumps(resource))

    def _list(self, uri: str, params: dict[str, Any]) -> Response:
        """A list of texts or calls, newest first, filtered on To and From; one page."""
        key = "messages" if uri.endswith("/Messages.json") else "calls"
        prefix = "SM" if key == "messages" else "CA"
        found = [r for r in reversed(self.created) if r["sid"].startswith(prefix)
                 and r["to"] == params.get("To", r["to"])
                 and r["from"] == params.get("From", r["from"])]
        size = int(params.get("PageSize", 50))
        return Response(200, json.dumps({key: found[:size], "next_page_uri": None, "page": 0,
                                         "page_size": size, "uri": uri}))


def conference_sid(room: str) -> str:
    """The fake's SID of the conference named ``room`` (stable, for the tests' assertions)."""
    return "CF" + hashlib.sha256(room.encode()).hexdigest()[:32]


def _rfc2822(value: Any) -> Any:
    """Times as Twilio's REST API writes them (``Wed, 07 Jan 2026 20:00:00 +0000``)."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    return value
