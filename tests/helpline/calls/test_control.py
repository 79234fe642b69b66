"""Live call control: the conference bridge, hold, transfer, end call, supervision and
wrap-up; with Twilio (the in-process fake: the TwiML and REST requests) and without (the
outbox records what would be sent)."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from helpline.calls import control, records
from helpline.calls.lost import close_lost_calls
from helpline.calls.queues import take_next_call
from helpline.config import Settings
from helpline.models import AgentStatus, Call, CallEvent, Contact, OutboxMessage, Role, User
from helpline.records import contacts
from helpline.telephony import OutboxTelephony, Telephony, TwilioTelephony
from tests.factories import make_call, make_user
from tests.fakes.twilio_api import FakeTwilioApi, SeenRequest, conference_sid

NOW = dt.datetime(2026, 11, 25, 15, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(minutes=2)
COUNSELOR_PHONE = "+15555550142"
COLLEAGUE_PHONE = "+15555550143"
SUPERVISOR_PHONE = "+15555550144"


@pytest.fixture
def twilio_settings(settings: Settings) -> Settings:
    return settings.with_overrides(telephony="twilio", twilio_account_sid="AC" + "1" * 32)


@pytest.fixture
def api() -> FakeTwilioApi:
    return FakeTwilioApi()


@pytest.fixture
def rest(twilio_settings: Settings, api: FakeTwilioApi) -> TwilioTelephony:
    return TwilioTelephony(twilio_settings, http_client=api)


def answered(session, telephony: Telephony, settings: Settings,  # type: ignore[no-untyped-def]
             phone: str = COUNSELOR_PHONE) -> tuple[Call, User]:
    counselor = make_user(session, languages="en", status=AgentStatus.AVAILABLE, phone=phone,
                          take_calls_on="phone")
    make_call(session, "+15555550123", language="en", queue_name="general-en",
              status="queued", enqueued_at=NOW - dt.timedelta(minutes=3), priority=10)
    call = take_next_call(session, counselor, telephony, settings, now=NOW)
    assert call is not None
    contacts.open_contact_for_call(session, counselor, call, NOW)
    session.flush()
    return call, counselor


def colleague(session, phone: str = COLLEAGUE_PHONE,  # type: ignore[no-untyped-def]
              role: Role = Role.COUNSELOR) -> User:
    return make_user(session, languages="en", status=AgentStatus.AVAILABLE, phone=phone,
                     take_calls_on="phone", role=role)


def participant_requests(api: FakeTwilioApi) -> list[SeenRequest]:
    return [r for r in api.requests if "/Participants" in r.uri]


def kinds(session, call: Call) -> list[str]:  # type: ignore[no-untyped-def]
    return list(session.scalars(select(CallEvent.kind).where(
        CallEvent.call_id == call.id, CallEvent.kind.in_(control.CONTROL_EVENTS))
        .order_by(CallEvent.id)))


# --- the bridge ----------------------------------------------------------------------------

def test_with_twilio_an_answered_call_is_bridged_through_a_conference_named_for_it(
        session, rest, twilio_settings, api):
    call, _ = answered(session, rest, twilio_settings)
    placed = next(r for r in api.requests if r.uri.endswith("/Calls.json"))
    leg = urlsplit(placed.data["Url"])
    assert leg.path == "/ivr/conference/call"
    assert parse_qs(leg.query) == {"room": [f"call-{call.id}"], "role": ["counselor"],
                                   "lang": ["en"]}
    assert placed.data["To"] == COUNSELOR_PHONE
    # The caller's queued call is moved into the same room by REST.
    moved = next(r for r in api.requests if r.uri.endswith(f"/Calls/{call.call_sid}.json"))
    assert moved.method == "POST"
    assert parse_qs(urlsplit(moved.data["Url"]).query)["role"] == ["caller"]


def test_without_twilio_the_counselor_leg_dequeues_the_caller_for_the_simulators(
        session, settings):
    call, _ = answered(session, OutboxTelephony(settings), settings)
    leg = session.scalar(select(OutboxMessage).where(OutboxMessage.purpose == "counselor_leg"))
    assert leg is not None and "/ivr/counselor/connect?queue=general-en" in (leg.twiml_url or "")
    assert control.bar_state(session, call).state == "connected"


def test_the_rooms_twiml_holds_the_caller_until_the_counselor_enters(app, twilio):
    caller = twilio.post("/ivr/conference/call?room=call-7&role=caller&lang=en",
                         {"CallSid": "CA" + "7" * 32})
    assert caller.status_code == 200
    body = caller.get_data(as_text=True)
    assert "<Conference" in body and ">call-7</Conference>" in body
    assert 'startConferenceOnEnter="false"' in body and 'endConferenceOnExit="true"' in body
    assert "/ivr/conference/hold" in body
    counselor = twilio.post("/ivr/conference/call?room=call-7&role=counselor&lang=en",
                            {"CallSid": "CA" + "8" * 32}).get_data(as_text=True)
    assert 'startConferenceOnEnter="true"' in counselor
    assert 'endConferenceOnExit="false"' in counselor
    refused = twilio.post("/ivr/conference/call?room=overdose-1&role=caller&lang=en",
                          {"CallSid": "CA" + "9" * 32}).get_data(as_text=True)
    assert "<Conference" not in refused


# --- hold ----------------------------------------------------------------------------------

def test_hold_and_resume_update_the_callers_participant_with_hold_music(
        session, rest, twilio_settings, api):
    call, counselor = answered(session, rest, twilio_settings)
    control.hold(session, rest, twilio_settings, call, counselor, NOW)
    held = participant_requests(api)[-1]
    room = conference_sid(f"call-{call.id}")
    assert held.uri.endswith(f"/Conferences/{room}/Participants/{call.call_sid}.json")
    assert held.data["Hold"] == "true"
    assert "/ivr/conference/hold" in held.data["HoldUrl"]
    assert control.bar_state(session, call).state == "on_hold"
    with pytest.raises(control.ControlRefused, match="already on hold"):
        control.hold(session, rest, twilio_settings, call, counselor, NOW)
    control.resume(session, rest, twilio_settings, call, counselor, NOW)
    assert participant_requests(api)[-1].data == {"Hold": "false"}
    assert control.bar_state(session, call).state == "connected"
    assert kinds(session, call) == ["held", "resumed"]


def test_someone_else_cannot_hold_the_call(session, rest, twilio_settings):
    call, _ = answered(session, rest, twilio_settings)
    with pytest.raises(control.ControlRefused, match="not yours"):
        control.hold(session, rest, twilio_settings, call, colleague(session), NOW)


def test_a_call_whose_conference_has_ended_says_so(session, rest, twilio_settings, api):
    call, counselor = answered(session, rest, twilio_settings)
    api.ended_rooms.add(f"call-{call.id}")
    with pytest.raises(control.ControlRefused, match="has ended"):
        control.hold(session, rest, twilio_settings, call, counselor, NOW)


# --- transfer ------------------------------------------------------------------------------

def test_a_warm_transfer_holds_the_caller_adds_the_colleague_then_the_first_leaves(
        session, rest, twilio_settings, api):
    call, counselor = answered(session, rest, twilio_settings)
    first_leg = session.scalar(select(OutboxMessage.provider_sid).where(
        OutboxMessage.purpose == "counselor_leg"))
    other = colleague(session)
    control.transfer_to_colleague(session, rest, twilio_settings, call, counselor, other,
                                  warm=True, now=NOW)
    hold_request, added = participant_requests(api)[-2:]
    assert hold_request.data["Hold"] == "true"
    assert added.uri.endswith("/Participants.json") and added.data["To"] == COLLEAGUE_PHONE
    assert added.data["Muted"] == "false"
    session.refresh(other)
    assert other.status == AgentStatus.ON_CALL
    state = control.bar_state(session, call)
    assert state.state == "on_hold" and state.transfer == {"to": other.display_name,
                                                           "warm": True}
    control.complete_transfer(session, rest, twilio_settings, call, counselor, LATER)
    resumed, left = participant_requests(api)[-2:]
    assert resumed.data == {"Hold": "false"}
    assert left.method == "DELETE" and left.uri.endswith(f"/Participants/{first_leg}.json")
    session.refresh(counselor)
    session.refresh(call)
    assert call.counselor_id == other.id
    # The record goes with the call: the first counselor has nothing to wrap up.
    assert counselor.status == AgentStatus.AVAILABLE
    assert session.scalar(select(Contact.counselor_id).where(
        Contact.call_id == call.id)) == other.id
    assert kinds(session, call) == ["held", "transfer_started", "resumed", "transferred"]


def test_a_cold_transfer_hands_over_at_once(session, rest, twilio_settings, api):
    call, counselor = answered(session, rest, twilio_settings)
    other = colleague(session)
    control.transfer_to_colleague(session, rest, twilio_settings, call, counselor, other,
                                  warm=False, now=NOW)
    added, left = participant_requests(api)[-2:]
    assert added.data["To"] == COLLEAGUE_PHONE and left.method == "DELETE"
    session.refresh(call)
    assert call.counselor_id == other.id
    assert kinds(session, call) == ["transfer_started", "transferred"]


def test_a_transfer_to_someone_not_available_is_refused_in_words(session, rest,
                                                                  twilio_settings):
    call, counselor = answered(session, rest, twilio_settings)
    away = colleague(session)
    away.status = AgentStatus.AWAY
    session.flush()
    with pytest.raises(control.ControlRefused, match="is not available"):
        control.transfer_to_colleague(session, rest, twilio_settings, call, counselor, away,
                                      warm=True, now=NOW)


def test_a_cancelled_warm_transfer_frees_the_colleague(session, rest, twilio_settings, api):
    call, counselor = answered(session, rest, twilio_settings)
    other = colleague(session)
    control.transfer_to_colleague(session, rest, twilio_settings, call, counselor, other,
                                  warm=True, now=NOW)
    control.cancel_transfer(session, rest, twilio_settings, call, counselor, NOW)
    assert participant_requests(api)[-1].method == "DELETE"
    session.refresh(other)
    session.refresh(call)
    assert other.status == AgentStatus.AVAILABLE and call.counselor_id == counselor.id
    assert control.bar_state(session, call).transfer is None


def test_a_cold_transfer_to_a_queue_puts_the_caller_at_the_front(session, rest,
                                                                  twilio_settings, api):
    call, counselor = answered(session, rest, twilio_settings)
    control.transfer_to_queue(session, rest, twilio_settings, call, counselor, "general",
                              "general-en", NOW)
    moved = [r for r in api.requests if r.uri.endswith(f"/Calls/{call.call_sid}.json")][-1]
    assert "/ivr/conference/requeue?group=general" in moved.data["Url"]
    session.refresh(call)
    session.refresh(counselor)
    assert (call.status, call.counselor_id, call.priority) == (
        "queued", None, control.TOP_OF_QUEUE_PRIORITY)
    assert counselor.status == AgentStatus.WRAP_UP
    # The first record stays theirs to finish; the next counselor opens the call's record.
    assert session.scalar(select(Contact).where(Contact.call_id == call.id)) is None
    nxt = colleague(session)
    assert take_next_call(session, nxt, rest, twilio_settings, now=LATER) == call
    assert contacts.open_contact_for_call(session, nxt, call).counselor_id == nxt.id


# --- end call and wrap-up ------------------------------------------------------------------

def test_end_call_hangs_up_closes_the_call_and_starts_wrap_up(session, rest,
                                                               twilio_settings, api):
    call, counselor = answered(session, rest, twilio_settings)
    control.end_call(session, rest, twilio_settings, call, counselor, LATER)
    hung_up = api.requests[-1]
    assert hung_up.uri.endswith(f"/Calls/{call.call_sid}.json")
    assert hung_up.data == {"Status": "completed"}
    session.refresh(call)
    session.refresh(counselor)
    assert call.ended_at is not None and call.status == "completed"
    assert counselor.status == AgentStatus.WRAP_UP
    assert control.bar_state(session, call).state == "ended"


def test_the_callers_hang_up_puts_the_counselor_in_wrap_up_until_the_record_closes(
        session, settings):
    telephony = OutboxTelephony(settings)
    call, counselor = answered(session, telephony, settings)
    ledger = records.Ledger(session)
    records.record_status(session, call.call_sid, "completed", at=LATER.isoformat(),
                          ledger=ledger)
    ledger.flush()
    session.refresh(counselor)
    assert counselor.status == AgentStatus.WRAP_UP
    session.refresh(call)
    assert control.bar_state(session, call).state == "ended"
    assert control.overdue_wrap_ups(session, settings, LATER) == []
    late = LATER + dt.timedelta(minutes=settings.wrap_up_limit_minutes)
    overdue = control.overdue_wrap_ups(session, settings, late)
    assert [(o.user_id, o.minutes) for o in overdue] == [
        (counselor.id, settings.wrap_up_limit_minutes)]
    contact = session.scalar(select(Contact).where(Contact.call_id == call.id))
    contacts.wrap_up_anyway(session, contact, counselor, "test", now=late)
    assert counselor.status == AgentStatus.AVAILABLE


def test_a_hang_up_does_not_touch_a_counselor_no_longer_on_the_call(session, settings):
    telephony = OutboxTelephony(settings)
    call, counselor = answered(session, telephony, settings)
    counselor.status = AgentStatus.AVAILABLE
    session.flush()
    ledger = records.Ledger(session)
    records.record_status(session, call.call_sid, "completed", ledger=ledger)
    ledger.flush()
    session.refresh(counselor)
    assert counselor.status == AgentStatus.AVAILABLE


# --- supervision ---------------------------------------------------------------------------

def test_a_supervisor_listens_muted_then_coaches_the_counselor_then_barges(
        session, rest, twilio_settings, api):
    call, _ = answered(session, rest, twilio_settings)
    counselor_leg = session.scalar(select(OutboxMessage.provider_sid).where(
        OutboxMessage.purpose == "counselor_leg"))
    boss = colleague(session, SUPERVISOR_PHONE, Role.SUPERVISOR)
    control.supervise(session, rest, twilio_settings, call, boss, "listen", NOW)
    joined = participant_requests(api)[-1]
    assert joined.uri.endswith("/Participants.json")
    assert (joined.data["To"], joined.data["Muted"]) == (SUPERVISOR_PHONE, "true")
    assert "Coaching" not in joined.data
    supervisor_leg = session.scalar(select(OutboxMessage.provider_sid).where(
        OutboxMessage.purpose == "supervisor_leg"))
    control.supervise(session, rest, twilio_settings, call, boss, "coach", NOW)
    coached = participant_requests(api)[-1]
    assert coached.uri.endswith(f"/Participants/{supervisor_leg}.json")
    assert coached.data == {"Muted": "false", "Coaching": "true",
                            "CallSidToCoach": counselor_leg}
    control.supervise(session, rest, twilio_settings, call, boss, "barge", NOW)
    assert participant_requests(api)[-1].data == {"Muted": "false", "Coaching": "false"}
    assert [s["mode"] for s in control.bar_state(session, call).supervisors] == ["barge"]
    control.stop_supervising(session, rest, twilio_settings, call, boss, NOW)
    assert participant_requests(api)[-1].method == "DELETE"
    assert control.bar_state(session, call).supervisors == []


def test_without_twilio_the_outbox_records_each_participant_operation(session, settings):
    telephony = OutboxTelephony(settings)
    call, counselor = answered(session, telephony, settings)
    boss = colleague(session, SUPERVISOR_PHONE, Role.SUPERVISOR)
    control.hold(session, telephony, settings, call, counselor, NOW)
    control.supervise(session, telephony, settings, call, boss, "coach", NOW)
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "conf")
                           .order_by(OutboxMessage.id)).all()
    bodies = [json.loads(r.body or "{}") for r in rows]
    assert bodies[0] == {"op": "update", "room": f"call-{call.id}", "hold": True}
    assert bodies[1]["op"] == "add" and bodies[1]["coaching"] is True
    assert bodies[1]["call_sid_to_coach"].startswith("CA")
    heard = control.heard_since(session, call, 0)
    assert [h["kind"] for h in heard] == ["hold", "counselor"]
    assert "on hold" in heard[0]["text"]
    assert control.heard_since(session, call, heard[-1]["id"]) == []


def test_a_call_closed_as_lost_puts_its_counselor_in_wrap_up(db, session, settings):
    counselor = make_user(session, languages="en", status=AgentStatus.ON_CALL)
    answered_at = NOW - dt.timedelta(minutes=settings.lost_call_minutes + 5)
    call = make_call(session, status="in-progress", queue_name="general-en", need="self",
                     step="queue", started_at=answered_at - dt.timedelta(minutes=3),
                     enqueued_at=answered_at - dt.timedelta(minutes=2),
                     answered_at=answered_at, counselor_id=counselor.id)
    session.add(CallEvent(call_id=call.id, at=answered_at, kind="answered", detail={}))
    session.commit()
    report = close_lost_calls(db, OutboxTelephony(settings), settings, now=NOW)
    assert report.closed == [call.id]
    session.expire_all()
    assert session.get(User, counselor.id).status == AgentStatus.WRAP_UP
