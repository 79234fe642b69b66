"""One record per call, whatever Twilio retries; the status callback closes it."""

from __future__ import annotations

from sqlalchemy import func, select

from helpline import crypto
from helpline.models import Call, CallEvent


def test_webhook_retries_make_one_call_record(phone, session):
    caller = phone()
    for _ in range(3):
        caller.call()
    caller.hang_up(sequence=2)
    caller.hang_up(sequence=2)
    assert session.scalar(select(func.count(Call.id))) == 1
    call = caller.record(session)
    kinds = [e.kind for e in call.events]
    assert kinds.count("call_started") == 1 and kinds.count("ended") == 1


def test_the_caller_ids_attestation_is_kept_from_the_first_webhook(phone, session):
    verified, unproven, garbled, none = phone(), phone(), phone(), phone()
    verified.post("/ivr/voice", StirVerstat="TN-Validation-Passed-A")
    # A retried or later webhook does not rewrite what the first one said.
    verified.post("/ivr/voice", StirVerstat="TN-Validation-Passed-C")
    unproven.post("/ivr/voice", StirVerstat="TN-Validation-Passed-B")
    garbled.post("/ivr/voice", StirVerstat="<A>" * 30)
    none.call()
    assert verified.record(session).caller_attestation == "TN-Validation-Passed-A"
    assert verified.record(session).caller_id_verified
    assert unproven.record(session).caller_attestation == "TN-Validation-Passed-B"
    assert not unproven.record(session).caller_id_verified
    assert garbled.record(session).caller_attestation is None
    assert none.record(session).caller_attestation is None


def test_status_never_moves_backwards(phone, session):
    caller = phone()
    caller.english_menu()
    caller.post("/ivr/status", CallStatus="completed", SequenceNumber="5", CallDuration="40")
    caller.post("/ivr/status", CallStatus="in-progress", SequenceNumber="2")
    caller.post("/ivr/status", CallStatus="ringing", SequenceNumber="9")
    call = caller.record(session)
    assert call.status == "completed" and call.last_sequence == 9
    assert call.ended_at is not None


def test_status_callback_for_an_unknown_call_creates_its_record(phone, session):
    caller = phone()
    caller.hang_up()
    assert caller.record(session).outcome == "abandoned_menu"


def test_hanging_up_in_the_menu_is_abandoned_in_the_menu(phone, session):
    caller = phone()
    caller.english_menu()
    caller.hang_up()
    call = caller.record(session)
    assert call.outcome == "abandoned_menu" and call.wait_seconds is None


def test_self_service_is_recorded_as_self_served(phone, session):
    caller = phone()
    caller.press(caller.english_menu(), "4")
    caller.hang_up()
    assert caller.record(session).outcome == "self_served"


def test_repeat_caller_is_linked_by_hash_never_by_number(phone, session):
    first = phone("+1 (555) 555-0142")
    first.call()
    first.hang_up()
    second = phone("+15555550142")
    second.call()
    earlier, later = first.record(session), second.record(session)
    assert later.previous_call_id == earlier.id
    assert later.caller_hash == crypto.caller_hash("+15555550142")
    raw = session.connection().exec_driver_sql("SELECT caller_number FROM calls").scalars().all()
    assert all("0142" not in (value or "") for value in raw)


def test_anonymous_callers_are_never_linked_to_each_other(phone, available_counselor, session):
    a = phone("anonymous")
    a.press(a.english_menu(), "1")
    b = phone("Restricted")
    queued = b.press(b.english_menu(), "1")
    assert queued.has("Enqueue")
    call_b = b.record(session)
    assert call_b.caller_hash is None and call_b.previous_call_id is None


def test_every_step_is_an_event_without_confidential_detail(phone, available_counselor, session):
    caller = phone()
    caller.speak(caller.english_menu(), "help for me please")
    call = caller.record(session)
    kinds = [e.kind for e in call.events]
    assert kinds[:4] == ["call_started", "language", "menu", "queue"]
    details = session.scalars(select(CallEvent.detail)).all()
    assert all("please" not in str(d) for d in details)


def test_calls_first_seen_together_are_created_together_and_a_raced_one_is_kept(session):
    from helpline.calls import records

    first, second, raced = ("CA" + c * 32 for c in "abc")
    ledger = records.Ledger(session)
    ledger.load([first, second, raced])
    # Another delivery of the same call got there first (after this ledger looked).
    session.add(Call(call_sid=raced, caller_hash=crypto.caller_hash("+15555550103")))
    session.flush()
    ledger.create({first: ("+15555550101", "2026-12-05T10:00:00+00:00"),
                   second: (None, "2026-12-05T10:00:01+00:00"),
                   raced: ("+15555550103", "2026-12-05T10:00:02+00:00")})
    states = {sid: ledger.state(sid, None, records._time(None)) for sid in (first, second, raced)}
    assert len({state["id"] for state in states.values()}) == 3
    assert session.scalar(select(func.count(Call.id))) == 3
    made = session.scalar(select(Call).where(Call.call_sid == first))
    assert made.caller_number == "+15555550101" and made.started_at.hour == 10
    assert session.scalar(select(Call.caller_hash).where(Call.call_sid == second)) is None
