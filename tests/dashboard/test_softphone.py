"""The browser phone with Twilio configured: the token endpoint, the home page that carries
the phone, its Content-Security-Policy, and where a counselor chooses to take calls."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from dashboard.headers import CONTENT_SECURITY_POLICY
from helpline.app import create_app
from helpline.config import Settings, settings_for_tests
from helpline.models import AuditEvent, StaffSession, User
from tests.factories import make_call
from tests.fakes.twilio_api import FakeTwilioApi

ACCOUNT = "AC" + "1" * 32
KEY_SID = "SK" + "2" * 32
KEY_SECRET = "s" * 32
TWILIO_HOSTS = ("wss://voice-js.roaming.twilio.com", "https://eventgw.twilio.com")


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:  # type: ignore[no-untyped-def]
    return settings_for_tests(tmp_path, database_url=database_url, telephony="twilio",
                              twilio_account_sid=ACCOUNT, twilio_api_key_sid=KEY_SID,
                              twilio_api_key_secret=KEY_SECRET)


@pytest.fixture
def api() -> FakeTwilioApi:
    return FakeTwilioApi()


@pytest.fixture
def app(settings: Settings, api: FakeTwilioApi) -> Iterator[Flask]:
    app = create_app(settings, http_client=api)
    yield app
    app.extensions["helpline"].db.dispose()


def claims_of(token: str) -> dict:  # type: ignore[type-arg]
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def ask_for_token(staff):  # type: ignore[no-untyped-def]
    return staff.client.post("/softphone/token", headers={"X-CSRF-Token": staff.csrf})


def test_counselor_gets_a_token_for_their_own_browser_phone(counselor_client, session):
    before = int(dt.datetime.now(dt.UTC).timestamp())
    resp = ask_for_token(counselor_client)
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.get_json()
    identity = session.get(User, counselor_client.user_id).client_identity
    claims = claims_of(body["token"])
    assert body["identity"] == claims["grants"]["identity"] == identity
    assert claims["grants"]["voice"] == {"incoming": {"allow": True}}
    assert claims["iss"] == KEY_SID and claims["sub"] == ACCOUNT
    assert claims["exp"] - claims["nbf"] == body["ttl_seconds"] == 600
    assert before - 5 <= claims["nbf"] <= before + 60


def test_supervisor_gets_a_token_for_follow_up_call_backs(supervisor_client, session):
    resp = ask_for_token(supervisor_client)
    assert resp.status_code == 200
    assert claims_of(resp.get_json()["token"])["grants"]["identity"] == \
        session.get(User, supervisor_client.user_id).client_identity


def test_admin_gets_no_voice_token(admin_client):
    resp = ask_for_token(admin_client)
    assert resp.status_code == 403
    assert b"eyJ" not in resp.data


def test_stranger_gets_no_voice_token(client):
    resp = client.post("/softphone/token")
    assert resp.status_code in (302, 401)
    assert b"eyJ" not in resp.data


def test_a_token_request_from_another_site_is_refused(counselor_client):
    resp = counselor_client.client.post("/softphone/token")  # no CSRF token
    assert resp.status_code == 400
    assert b"eyJ" not in resp.data


def test_each_token_is_audited_without_the_token(counselor_client, session):
    token = ask_for_token(counselor_client).get_json()["token"]
    events = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "softphone.token")).all()
    assert [e.actor_id for e in events] == [counselor_client.user_id]
    assert token not in json.dumps(events[0].detail)


def test_asking_for_a_token_does_not_keep_an_idle_session_alive(counselor_client, session):
    # The page renews its token on its own: that is not the counselor doing anything.
    staff = session.scalars(select(StaffSession).where(
        StaffSession.user_id == counselor_client.user_id)).one()
    idle_since = staff.last_seen_at - dt.timedelta(minutes=5)
    staff.last_seen_at = idle_since
    session.commit()
    assert ask_for_token(counselor_client).status_code == 200
    session.refresh(staff)
    assert staff.last_seen_at == idle_since
    counselor_client.get("/account")  # a page the counselor opens does count
    session.refresh(staff)
    assert staff.last_seen_at > idle_since


def test_a_counselor_whose_calls_ring_their_phone_gets_no_token(staff_factory):
    on_phone = staff_factory("counselor", phone="+15555550142")
    resp = ask_for_token(on_phone)
    assert resp.status_code == 409
    assert "ring your phone" in resp.get_json()["error"]


def test_home_page_carries_the_phone_and_lets_it_reach_twilio(counselor_client):
    resp = counselor_client.get("/")
    html = resp.get_data(as_text=True)
    assert 'id="softphone"' in html
    assert "/static/vendor/twilio.min.js" in html and "/static/softphone.js" in html
    assert 'id="softphone-answer"' in html and 'id="softphone-decline"' in html
    policy = resp.headers["Content-Security-Policy"]
    connect = next(d for d in policy.split("; ") if d.startswith("connect-src"))
    assert connect.split() == ["connect-src", "'self'", *TWILIO_HOSTS]
    assert "media-src 'self' mediastream:" in policy
    # Scripts and sounds still come only from here; nothing inline.
    assert "script-src 'self';" in policy and "unsafe" not in policy
    assert "<script>" not in html


def test_other_pages_keep_the_strict_policy(counselor_client):
    for path in ("/account", "/history"):
        resp = counselor_client.get(path)
        assert resp.status_code == 200
        assert resp.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "twilio.min.js" not in resp.get_data(as_text=True)


def test_home_of_a_counselor_taking_calls_on_their_phone_has_no_browser_phone(staff_factory):
    on_phone = staff_factory("counselor", phone="+15555550142")
    resp = on_phone.get("/")
    assert 'id="softphone"' not in resp.get_data(as_text=True)
    assert resp.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_admin_home_has_no_browser_phone(admin_client):
    resp = admin_client.get("/")
    assert "softphone" not in resp.get_data(as_text=True)
    assert resp.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_counselor_chooses_to_take_calls_in_the_browser(staff_factory, session):
    staff = staff_factory("counselor", phone="+15555550142")
    page = staff.get("/account").get_data(as_text=True)
    assert 'name="take_calls_on" value="phone" checked' in page
    resp = staff.post("/account/take-calls-on", {"take_calls_on": "browser"})
    assert resp.status_code == 302
    session.expire_all()
    assert session.get(User, staff.user_id).take_calls_on == "browser"
    home = staff.get("/")
    assert 'id="softphone"' in home.get_data(as_text=True)
    assert ask_for_token(staff).status_code == 200


def test_phone_cannot_be_chosen_without_a_number(counselor_client, session):
    page = counselor_client.get("/account").get_data(as_text=True)
    assert "no number is set for you" in page
    counselor_client.post("/account/take-calls-on", {"take_calls_on": "phone"})
    account = counselor_client.get("/account").get_data(as_text=True)
    assert "no phone number is set for you" in account
    session.expire_all()
    assert session.get(User, counselor_client.user_id).take_calls_on == "phone"
    assert 'id="softphone"' in counselor_client.get("/").get_data(as_text=True)


def test_admin_cannot_choose_where_calls_ring(admin_client):
    assert admin_client.post("/account/take-calls-on",
                             {"take_calls_on": "browser"}).status_code == 403
    assert "Where your calls ring" not in admin_client.get("/account").get_data(as_text=True)


def test_taking_the_next_call_rings_this_browser_and_keeps_the_phone_page(counselor_client, session,
                                                                          api):
    session.get(User, counselor_client.user_id).status = "available"
    make_call(session, "+15555550123", language="en", queue_name="general-en",
              status="queued", enqueued_at=dt.datetime.now(dt.UTC), priority=10)
    session.commit()
    resp = counselor_client.post("/take-next", headers={"HX-Request": "true"})
    assert resp.status_code == 200  # a fragment, not a redirect away from the phone
    html = resp.get_data(as_text=True)
    assert 'href="/records/' in html and 'target="_blank"' in html
    placed = [r for r in api.requests if r.uri.endswith("/Calls.json")]
    identity = session.get(User, counselor_client.user_id).client_identity
    assert [r.data["To"] for r in placed] == [f"client:{identity}"]
    # Bridged through the call's conference (helpline.calls.control).
    assert "/ivr/conference/call?room=call-" in placed[0].data["Url"]


def test_the_phone_software_and_its_sounds_are_served_from_here(client):
    for path in ("/static/vendor/twilio.min.js", "/static/softphone.js",
                 "/static/softphone/incoming.wav", "/static/softphone/dtmf-1.wav",
                 "/static/softphone/dtmf-hash.wav", "/static/softphone/disconnect.wav"):
        resp = client.get(path)
        assert resp.status_code == 200, path
        resp.close()
