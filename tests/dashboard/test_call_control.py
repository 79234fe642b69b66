"""The record's call bar (state, hold, transfer, end call) and the supervisor's live calls
(listen, coach, barge): the views, on outbox telephony."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from helpline.calls import records
from helpline.calls.queues import take_next_call
from helpline.models import AgentStatus, CallEvent, Contact, OutboxMessage, User
from helpline.records import contacts
from tests.factories import make_call

JSON = {"Accept": "application/json"}


def on_a_call(app, session, staff):  # type: ignore[no-untyped-def]
    user = session.get(User, staff.user_id)
    user.languages, user.status = "en", AgentStatus.AVAILABLE
    make_call(session, "+15555550111", language="en", queue_name="general-en", status="queued",
              enqueued_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1), priority=10)
    call = take_next_call(session, user, app.extensions["helpline"].telephony,
                          app.extensions["helpline"].settings)
    assert call is not None
    contact = contacts.open_contact_for_call(session, user, call)
    session.commit()
    return contact, call


def test_the_record_shows_the_call_bar_and_its_state(app, counselor_client, session):
    contact, _ = on_a_call(app, session, counselor_client)
    page = counselor_client.get(f"/records/{contact.id}").get_data(as_text=True)
    assert 'id="call-bar"' in page and "callbar.js" in page and 'id="call-hold"' in page
    state = counselor_client.get(f"/records/{contact.id}/call/state").get_json()
    assert state["state"] == "connected" and state["controls"] is True


def test_hold_and_resume_answer_in_words(app, counselor_client, session):
    contact, call = on_a_call(app, session, counselor_client)
    held = counselor_client.post(f"/records/{contact.id}/call/hold", headers=JSON)
    assert held.status_code == 200 and held.get_json()["message"] == "The caller is on hold."
    assert counselor_client.get(f"/records/{contact.id}/call/state").get_json()[
        "state"] == "on_hold"
    again = counselor_client.post(f"/records/{contact.id}/call/hold", headers=JSON)
    assert again.status_code == 409
    assert again.get_json()["error"] == "the caller is already on hold"
    # Without JavaScript: back to the record with the message.
    resumed = counselor_client.post(f"/records/{contact.id}/call/resume")
    assert resumed.status_code == 302 and resumed.headers["Location"].endswith("#call-bar")
    session.expire_all()
    assert [e for e in session.scalars(select(CallEvent.kind).where(
        CallEvent.call_id == call.id, CallEvent.kind.in_(["held", "resumed"])))] == [
        "held", "resumed"]


def test_the_callers_hang_up_shows_and_the_counselor_is_in_wrap_up(app, counselor_client,
                                                                    session):
    contact, call = on_a_call(app, session, counselor_client)
    ledger = records.Ledger(session)
    records.record_status(session, call.call_sid, "completed", ledger=ledger)
    ledger.flush()
    session.commit()
    state = counselor_client.get(f"/records/{contact.id}/call/state").get_json()
    assert state["state"] == "ended" and state["controls"] is False
    session.expire_all()
    assert session.get(User, counselor_client.user_id).status == AgentStatus.WRAP_UP


def test_end_call_and_a_cold_transfer_from_the_bar(app, counselor_client, staff_factory,
                                                   session):
    colleague = staff_factory("counselor", status=AgentStatus.AVAILABLE, languages="en")
    contact, _call = on_a_call(app, session, counselor_client)
    page = counselor_client.get(f"/records/{contact.id}").get_data(as_text=True)
    assert f'<option value="{colleague.user_id}">' in page
    moved = counselor_client.post(f"/records/{contact.id}/call/transfer",
                                  {"to": str(colleague.user_id), "mode": "cold"}, headers=JSON)
    assert moved.status_code == 200, moved.get_json()
    session.expire_all()
    assert session.scalar(select(Contact.counselor_id).where(
        Contact.id == contact.id)) == colleague.user_id
    ended = colleague.post(f"/records/{contact.id}/call/end", headers=JSON)
    assert ended.status_code == 200
    assert session.scalar(select(OutboxMessage.kind).where(
        OutboxMessage.purpose == "end_call")) == "hangup"
    session.expire_all()
    assert session.get(User, colleague.user_id).status == AgentStatus.WRAP_UP


def test_a_supervisor_listens_then_coaches_from_the_live_calls(app, counselor_client,
                                                               supervisor_client, session):
    contact, call = on_a_call(app, session, counselor_client)
    page = supervisor_client.get("/calls/live").get_data(as_text=True)
    assert f'id="listen-{call.id}"' in page and f'id="coach-{call.id}"' in page
    assert supervisor_client.post(f"/calls/{call.id}/supervise",
                                  {"mode": "listen"}).status_code == 302
    coached = supervisor_client.post(f"/calls/{call.id}/supervise", {"mode": "coach"},
                                     headers=JSON)
    assert coached.get_json()["message"] == "Coaching: only the counselor hears you."
    state = counselor_client.get(f"/records/{contact.id}/call/state").get_json()
    assert [s["mode"] for s in state["supervisors"]] == ["coach"]
    assert counselor_client.get("/calls/live").status_code == 403


def test_twilios_status_callback_ends_the_bar_and_starts_wrap_up(app, counselor_client,
                                                                 session, twilio):
    contact, call = on_a_call(app, session, counselor_client)
    answer = twilio.post("/ivr/status", {"CallSid": call.call_sid, "CallStatus": "completed",
                                         "CallDuration": "95", "SequenceNumber": "3"})
    assert answer.status_code in (200, 204)
    state = counselor_client.get(f"/records/{contact.id}/call/state").get_json()
    assert state["state"] == "ended"
    session.expire_all()
    assert session.get(User, counselor_client.user_id).status == AgentStatus.WRAP_UP
