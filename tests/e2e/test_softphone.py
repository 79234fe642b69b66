"""The browser phone in a real browser, with the real (vendored) Voice SDK under the page's
Content-Security-Policy. Twilio is never reached: its signaling WebSocket is answered by a
stand-in in this test (the few messages of the SDK's own protocol: listen, connected,
register, ready, invite, reject, answer, hangup), its event gateway by an empty 200, and any
other request off this machine is refused and would fail the test. Chromium's fake
microphone lets the counselor answer."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from helpline.app import create_app
from helpline.config import Settings, settings_for_tests
from helpline.models import AgentStatus, AuditEvent
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, shot
from tests.e2e.test_counselor_shift import sign_in_with_enrolment
from tests.factories import make_call, make_user
from tests.fakes.twilio_api import FakeTwilioApi

SIGNAL = "wss://voice-js.roaming.twilio.com/signal"
CALL_SID = "CA" + "7" * 32
DECLINED_SID = "CA" + "8" * 32
# What the stand-in tells the SDK a token's life is: the SDK asks for a new one 10 s before
# the end, so here every second, and the test sees renewals without moving any clock.
TOKEN_TTL = 11


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:  # type: ignore[no-untyped-def]
    return settings_for_tests(tmp_path, database_url=database_url,
                              require_second_factor_for_all=True, log_level="WARNING",
                              telephony="twilio", twilio_account_sid="AC" + "1" * 32,
                              twilio_api_key_sid="SK" + "2" * 32,
                              twilio_api_key_secret="s" * 32)


@pytest.fixture
def api() -> FakeTwilioApi:
    return FakeTwilioApi()


@pytest.fixture
def app(settings: Settings, api: FakeTwilioApi) -> Iterator[Flask]:
    app = create_app(settings, http_client=api)
    yield app
    app.extensions["helpline"].db.dispose()


@pytest.fixture
def voice_browser(browser):  # type: ignore[no-untyped-def]
    # The session's browser (the fixture skips without chromium) has no microphone: this one
    # has Chromium's fake one, and resolves no host name but this machine's.
    chromium = browser.browser_type.launch(executable_path=str(CHROMIUM), args=[
        *CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"])
    yield chromium
    chromium.close()


class FakeSignaling:
    """Twilio's signaling, as far as registering and one incoming call go."""

    def __init__(self) -> None:
        self.received: list[dict] = []  # type: ignore[type-arg]
        self.ws = None
        self.on_renewal: dict | None = None  # type: ignore[type-arg]  # an invite, sent once
        self.tokens: list[str] = []

    def __call__(self, ws) -> None:  # type: ignore[no-untyped-def]
        self.ws = ws
        ws.on_message(self.on_message)

    def on_message(self, message: str | bytes) -> None:
        msg = json.loads(message)
        self.received.append(msg)
        if msg["type"] == "listen":
            jwt = msg["payload"]["token"]
            renewed = bool(self.tokens) and jwt not in self.tokens
            self.tokens.append(jwt)
            if renewed and self.on_renewal:
                self.send("invite", **self.on_renewal)
                self.on_renewal = None
            claims = jwt.split(".")[1]
            grants = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
            # A short life, so that the test's clock reaches the renewal quickly.
            self.send("connected", region="gll", token={
                "identity": grants["grants"]["identity"], "ttl": TOKEN_TTL})
        elif msg["type"] == "register":
            self.send("ready")

    def send(self, kind: str, **payload: object) -> None:
        assert self.ws is not None
        self.ws.send(json.dumps({"type": kind, "payload": payload}))

    def types(self) -> list[str]:
        return [m["type"] for m in self.received]

    def first(self, kind: str) -> dict:  # type: ignore[type-arg]
        return next(m for m in self.received if m["type"] == kind)


def offer_sdp(page) -> str:  # type: ignore[no-untyped-def]
    """A real audio offer, made by the same browser, standing in for Twilio's."""
    return page.evaluate("""async () => {
        const pc = new RTCPeerConnection();
        pc.addTransceiver("audio");
        const offer = await pc.createOffer();
        pc.close();
        return offer.sdp;
    }""")


def invite(page, call_sid: str, to: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """What Twilio's signaling sends when it rings this browser."""
    return {"callsid": call_sid, "sdp": offer_sdp(page),
            "parameters": {"CallSid": call_sid, "From": "+18005550100", "To": to}}


def test_browser_phone_rings_answers_from_the_keyboard_and_stops_when_signed_out(
        voice_browser, live_server, session, api):
    counselor = make_user(session, languages="en", status=AgentStatus.AVAILABLE)
    session.commit()
    identity = f"client:{counselor.client_identity}"
    context = voice_browser.new_context(base_url=live_server)
    context.set_default_timeout(10_000)
    off_machine: list[str] = []

    def refuse(route) -> None:  # type: ignore[no-untyped-def]
        off_machine.append(route.request.url)
        route.abort()

    context.route(re.compile(r"^(?!http://127\.0\.0\.1[:/]).*"), refuse)
    # Call-quality reports (Insights): accepted and dropped.
    context.route(re.compile(r"^https://eventgw\.twilio\.com/"),
                  lambda route: route.fulfill(status=200, body="{}"))
    signaling = FakeSignaling()
    context.route_web_socket(SIGNAL, signaling)
    page = context.new_page()
    page.add_init_script("""document.addEventListener("securitypolicyviolation",
        e => (window.cspViolations = window.cspViolations || []).push(
            e.violatedDirective + " " + e.blockedURI));""")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    sign_in_with_enrolment(page, counselor.username)
    state = page.locator("#softphone-state")
    state.filter(has_text="Ready: calls ring here.").wait_for()
    assert signaling.types()[:2] == ["listen", "register"]
    shot(page, "softphone-01-ready")

    # Before a token runs out, the page asks the dashboard for a new one and hands it to
    # Twilio; calls still ring after it (the stand-in rings on the first new token). Declined.
    signaling.on_renewal = invite(page, DECLINED_SID, identity)
    page.locator("#softphone-incoming").wait_for(state="visible")
    assert page.evaluate("document.activeElement.id") == "softphone-answer"
    assert page.title().startswith("Incoming call")
    shot(page, "softphone-02-ringing")
    page.get_by_role("button", name="Decline").click()
    state.filter(has_text="Declined.").wait_for()
    assert signaling.first("reject")["payload"]["callsid"] == DECLINED_SID
    assert page.locator("#softphone-incoming").is_hidden()
    assert len(set(signaling.tokens)) >= 2
    issued = session.scalars(select(AuditEvent.actor_id).where(
        AuditEvent.action == "softphone.token")).all()
    assert len(issued) >= 2 and set(issued) == {counselor.id}

    # Take the next caller: the page stays, and Twilio is asked to ring this browser.
    make_call(session, "+15555550123", language="en", queue_name="general-en",
              status="queued", enqueued_at=dt.datetime.now(dt.UTC), priority=10)
    session.commit()
    page.get_by_role("button", name="Take next call").click()
    record_link = page.get_by_role("link", name="Open the call record (new tab)")
    record_link.wait_for()
    assert [r.data["To"] for r in api.requests if r.uri.endswith("/Calls.json")] == [identity]

    # Twilio rings the browser: Answer is focused, so Enter answers.
    signaling.send("invite", **invite(page, CALL_SID, identity))
    page.locator("#softphone-incoming").wait_for(state="visible")
    assert page.evaluate("document.activeElement.id") == "softphone-answer"
    page.keyboard.press("Enter")
    state.filter(has_text="Connected").wait_for()
    answer = signaling.first("answer")["payload"]
    assert answer["callsid"] == CALL_SID and "m=audio" in answer["sdp"]
    assert page.evaluate("document.activeElement.id") == "softphone-hangup"
    assert page.get_by_role("button", name="1", exact=True).is_visible()
    shot(page, "softphone-03-connected")

    # The record opens in its own tab; the call goes on in this one.
    with context.expect_page() as opened:
        record_link.click()
    opened.value.wait_for_url(re.compile(r"/records/\d+$"))
    assert state.inner_text() == "Connected"
    opened.value.close()

    # The caller hangs up.
    signaling.send("hangup", callsid=CALL_SID)
    state.filter(has_text="Call ended.").wait_for()
    assert page.locator("#softphone-live").is_hidden()

    # Signed out (here from another tab): no new token, and the phone stops.
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert context.request.post("/sign-out", form={"csrf_token": csrf},
                                max_redirects=0).status == 302
    state.filter(has_text="Off: sign in again to take calls here.").wait_for()
    shot(page, "softphone-04-signed-out")

    assert page.evaluate("window.cspViolations || []") == []
    # The one error is the SDK's: the call's audio element, whose play() never got a packet
    # from the stand-in, is paused when the call ends.
    assert [e for e in errors if "(_onAddTrack)" not in e] == []
    assert off_machine == []
    page.goto("about:blank")  # no request in flight when the server stops
    context.close()
