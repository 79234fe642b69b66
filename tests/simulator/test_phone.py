"""The browser phone (/phone): staff only, CSRF on its posts, the call's state signed and carried
by the browser so that any web process can play the next step."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from helpline.models import AgentStatus, Call, StaffSession


def call_from(staff, **body):  # type: ignore[no-untyped-def]
    body.setdefault("from", "+15555550123")
    return staff.client.post("/phone/call", json=body, headers={"X-CSRF-Token": staff.csrf})


def step(staff, answer, action: str, value: str = "", path: str = "/phone/step"):  # type: ignore[no-untyped-def]
    return staff.client.post(path, json={"state": answer.json["state"], "action": action,
                                         "value": value},
                             headers={"X-CSRF-Token": staff.csrf})


def said(answer) -> str:  # type: ignore[no-untyped-def]
    return " ".join(e["text"] for e in answer.json["events"] if e["kind"] == "say")


@pytest.fixture
def available_counselor_client(staff_factory):  # type: ignore[no-untyped-def]
    return staff_factory("counselor", status=AgentStatus.AVAILABLE)


def test_counselor_opens_the_phone_with_a_keypad_and_presets(available_counselor_client):
    page = available_counselor_client.get("/phone?from=%2B15555550177&lang=es")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'value="+15555550177"' in html and '<option value="es" selected>' in html
    assert html.count("data-key=") == 12
    assert "/phone/static/phone.js" in html and "<script>" not in html
    assert 'name="csrf_token"' in html
    assert available_counselor_client.get("/phone/static/phone.js").status_code == 200


def test_counselor_calls_from_the_browser_and_hears_the_menu(available_counselor_client, session):
    answer = call_from(available_counselor_client)
    assert answer.status_code == 200, answer.json
    assert "Thank you for calling Helpline" in said(answer)
    assert answer.json["mode"] == "gather" and "keys" in answer.json["accepts"]
    assert {e["language"] for e in answer.json["events"] if e["kind"] == "say"} == {
        "en-US", "es-MX"}
    menu = step(available_counselor_client, answer, "keys", "1")
    assert "For help for yourself, press 1." in said(menu)
    assert "speech" in menu.json["accepts"]
    assert session.scalar(select(Call.call_sid)) == answer.json["call_sid"]


def test_phone_says_connected_once_the_counselor_takes_the_call(available_counselor_client,
                                                                session):
    answer = call_from(available_counselor_client, lang="en")
    queued = step(available_counselor_client, answer, "keys", "1")
    assert "Please hold." in said(queued)
    assert "poll" in queued.json["accepts"]
    waiting = step(available_counselor_client, queued, "poll", path="/phone/poll")
    assert waiting.json["events"] == [] and waiting.json["mode"] == "gather"

    taken = available_counselor_client.post("/take-next")
    assert taken.status_code == 302 and "/records/" in taken.headers["Location"]
    connected = step(available_counselor_client, waiting, "poll", path="/phone/poll")
    assert connected.json["mode"] == "connected"
    assert connected.json["status"] == "Connected to a counselor."
    assert "A counselor is joining you now." in said(connected)

    ended = step(available_counselor_client, connected, "hangup")
    assert ended.json["ended"] and ended.json["state"] is None
    session.expire_all()
    call = session.scalar(select(Call))
    assert call.outcome == "answered" and call.status == "completed"


def test_the_next_step_can_be_played_by_another_web_process(available_counselor_client, settings):
    from helpline.app import create_app

    answer = call_from(available_counselor_client)
    other = create_app(settings)
    try:
        client = other.test_client()
        cookie = available_counselor_client.client.get_cookie("helpline_session")
        client.set_cookie("helpline_session", cookie.value)
        menu = client.post("/phone/step", json={"state": answer.json["state"],
                                                "action": "keys", "value": "2"},
                           headers={"X-CSRF-Token": available_counselor_client.csrf})
        assert menu.status_code == 200, menu.get_data(as_text=True)
        assert {e["language"] for e in menu.json["events"] if e["kind"] == "say"} == {"es-MX"}
    finally:
        other.extensions["helpline"].db.dispose()


def test_phone_refuses_a_call_state_it_did_not_sign(available_counselor_client):
    answer = call_from(available_counselor_client)
    forged = available_counselor_client.client.post("/phone/step", json={
        "state": answer.json["state"][:-2] + "xx", "action": "keys", "value": "1"},
        headers={"X-CSRF-Token": available_counselor_client.csrf})
    assert forged.status_code == 400 and "Start a new call" in forged.json["error"]


def test_one_counselors_call_cannot_be_played_by_another(available_counselor_client, staff_factory):
    answer = call_from(available_counselor_client)
    other = staff_factory("counselor")
    refused = step(other, answer, "keys", "1")
    assert refused.status_code == 400


def test_phone_posts_without_the_csrf_token_are_refused(available_counselor_client):
    refused = available_counselor_client.client.post("/phone/call", json={"from": "+15555550123"})
    assert refused.status_code == 400


def test_admin_is_refused_the_phone(staff_factory):
    admin = staff_factory("admin")
    assert admin.get("/phone").status_code == 403
    assert call_from(admin).status_code == 403


def test_a_stranger_is_sent_to_sign_in_from_the_phone(client):
    response = client.get("/phone")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


def test_phone_refuses_a_caller_id_that_is_not_a_number(available_counselor_client):
    refused = call_from(available_counselor_client, **{"from": "<script>"})
    assert refused.status_code == 400 and "phone number" in refused.json["error"]


def test_supervisor_preview_starts_the_call_at_the_draft_flow_version(staff_factory):
    supervisor = staff_factory("supervisor")
    page = supervisor.get("/phone?flow_version=3").get_data(as_text=True)
    assert "draft flow version 3" in page and 'name="flow_version" value="3"' in page
    answer = call_from(supervisor, flow_version="3")
    first = next(e["text"] for e in answer.json["events"] if e["kind"] == "request")
    assert first.startswith("POST /ivr/voice?flow_version=3 ")


def test_counselor_cannot_preview_a_draft_flow(available_counselor_client):
    assert available_counselor_client.get("/phone?flow_version=3").status_code == 403
    assert call_from(available_counselor_client, flow_version="3").status_code == 403


def test_the_phone_waiting_on_its_own_does_not_keep_a_counselor_signed_in(
        available_counselor_client, session):
    answer = call_from(available_counselor_client, lang="en")
    queued = step(available_counselor_client, answer, "keys", "1")
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    session.execute(update(StaffSession).values(last_seen_at=long_ago))
    session.commit()
    assert step(available_counselor_client, queued, "poll", path="/phone/poll").status_code == 200
    assert step(available_counselor_client, queued, "timeout",
                path="/phone/poll").status_code == 200
    session.expire_all()
    seen = session.scalar(select(StaffSession.last_seen_at))
    assert abs((seen - long_ago).total_seconds()) < 1
    # A key the person presses is activity.
    refused = step(available_counselor_client, queued, "keys", "1", path="/phone/poll")
    assert refused.status_code == 400


def test_the_phone_is_closed_when_twilio_carries_the_calls(settings, session):
    from helpline.app import create_app
    from tests.factories import make_user
    from tests.fixtures.staff import csrf_of_session, sign_in

    user = make_user(session, "counselor")
    session.commit()
    app = create_app(settings.with_overrides(telephony="twilio",
                                             twilio_account_sid="AC" + "1" * 32))
    try:
        client = app.test_client()
        assert sign_in(client, user.username).status_code == 302
        page = client.get("/phone").get_data(as_text=True)
        assert "Simulated calls need the outbox telephony" in page and "data-key" not in page
        refused = client.post("/phone/call", json={"from": "+15555550123"},
                              headers={"X-CSRF-Token": csrf_of_session(client)})
        assert refused.status_code == 404
        assert session.scalar(select(Call)) is None
    finally:
        app.extensions["helpline"].db.dispose()
