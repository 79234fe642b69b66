"""Holding for a counselor: place in line, callback instead of holding, voicemail, bridging."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from helpline.app import create_app
from helpline.calls.queues import available_counselors, queue_snapshot, take_next_call
from helpline.models import AgentStatus, Call, FollowUp, OutboxMessage, Voicemail
from tests.factories import make_user
from tests.fixtures.twilio import Phone, TwilioSigner


def test_wait_message_gives_the_place_in_line_and_offers_a_callback(phone, available_counselor):
    caller = phone()
    queued = caller.press(caller.english_menu(), "1")
    waiting = caller.wait(queued, position=3)
    assert "You are number 3 in line." in waiting.says
    assert "press 1" in waiting.says
    assert "minutes" not in waiting.says  # no estimate without history


def test_estimate_is_given_once_there_is_history(phone, available_counselor):
    caller = phone()
    queued = caller.press(caller.english_menu(), "1")
    assert "about 4 minutes" in caller.wait(queued, average=250).says


def test_callback_from_the_queue_confirms_the_number_and_books_it(phone, available_counselor,
                                                                  session):
    caller = phone("+15555550123")
    queued = caller.press(caller.english_menu(), "2")
    offer = caller.press(caller.wait(queued), "1")
    assert "ending in 0 1 2 3" in offer.says
    booked = caller.press(offer, "1")
    assert "5 5 5 5 5 5 0 1 2 3" in booked.says
    assert booked.has("Leave")
    goodbye = caller.queue_result(queued, "leave")
    assert "call you as soon as one is free" in goodbye.says and goodbye.has("Hangup")
    caller.hang_up()
    call = caller.record(session)
    assert call.outcome == "callback"
    followup = session.scalar(select(FollowUp).where(FollowUp.call_id == call.id))
    assert followup is not None and followup.phone == "+15555550123"
    assert followup.due_at is not None


def test_callback_to_another_number(phone, available_counselor, session):
    caller = phone("+15555550123")
    queued = caller.press(caller.english_menu(), "1")
    offer = caller.press(caller.wait(queued), "1")
    enter = caller.press(offer, "2")
    assert "ten-digit number" in enter.says
    bad = caller.press(enter, "12#")
    assert "did not have ten digits" in bad.says
    booked = caller.press(bad, "2125550188#")
    assert booked.has("Leave")
    call = caller.record(session)
    followup = session.scalar(select(FollowUp).where(FollowUp.call_id == call.id))
    assert followup.phone == "+12125550188"


def test_anonymous_caller_is_asked_for_a_number(phone, available_counselor, session):
    caller = phone("anonymous")
    queued = caller.press(caller.english_menu(), "1")
    offer = caller.press(caller.wait(queued), "1")
    assert "ten-digit number" in offer.says
    assert caller.press(offer, "2125550188").has("Leave")


def test_long_hold_repeats_the_offer(phone, available_counselor, settings):
    caller = phone()
    queued = caller.press(caller.english_menu(), "1")
    waiting = caller.wait(queued, held=settings.max_hold_seconds + 5)
    assert "You have waited a while." in waiting.says
    assert "call back instead of holding" in waiting.says


@pytest.fixture
def no_callbacks(settings):  # type: ignore[no-untyped-def]
    changed = settings.with_overrides(callbacks_enabled=False)
    app = create_app(changed)
    yield app, changed
    app.extensions["helpline"].db.dispose()


def test_without_callbacks_the_caller_can_leave_a_confidential_message(no_callbacks,
                                                                       available_counselor,
                                                                       session):
    app, settings = no_callbacks
    caller = Phone(TwilioSigner(app.test_client(), settings), settings, "+15555550123")
    queued = caller.press(caller.english_menu(), "1")
    waiting = caller.wait(queued, held=settings.max_hold_seconds)
    assert "leave a message" in waiting.says and "call back" not in waiting.says
    left = caller.press(waiting, "2")
    assert left.has("Leave")
    record = caller.queue_result(queued, "leave")
    assert record.has("Record") and "after the tone" in record.says
    rec = record.first("Record")
    done = caller.post(rec.attrib["action"], RecordingSid="RE" + "1" * 32,
                       RecordingUrl="https://api.twilio.com/rec/RE1", RecordingDuration="14")
    assert "Your message was received" in done.says
    caller.post(rec.attrib["transcribeCallback"], RecordingSid="RE" + "1" * 32,
                TranscriptionText="please call me tomorrow", TranscriptionStatus="completed")
    caller.hang_up()
    call = caller.record(session)
    assert call.outcome == "voicemail"
    voicemail = session.scalar(select(Voicemail))
    assert voicemail.transcription == "please call me tomorrow"
    stored = session.connection().exec_driver_sql(
        "SELECT transcription FROM voicemails").scalar_one()
    assert "tomorrow" not in stored


def test_no_counselor_for_the_language_is_said_and_a_callback_offered(phone, english_counselor,
                                                                      session):
    caller = phone()
    offer = caller.press(caller.spanish_menu(), "1")
    assert "no hay un consejero que hable español" in offer.says
    assert not offer.has("Enqueue")
    confirm = caller.press(offer, "1")
    booked = caller.press(confirm, "1")
    assert booked.has("Hangup") and not booked.has("Leave")
    assert caller.record(session).outcome == "callback"


def test_no_counselor_caller_may_hold_anyway_or_leave_a_message(phone, session):
    caller = phone()
    offer = caller.press(caller.english_menu(), "1")
    assert "No counselor who speaks English" in offer.says
    assert caller.press(offer, "3").first("Enqueue").text == "general-en"
    other = phone()
    offer = other.press(other.english_menu(), "1")
    assert other.press(offer, "2").has("Record")


def test_hanging_up_in_the_queue_is_an_abandoned_call(phone, available_counselor, session):
    caller = phone()
    queued = caller.press(caller.english_menu(), "1")
    caller.queue_result(queued, "hangup")
    caller.hang_up()
    call = caller.record(session)
    assert call.outcome == "abandoned_queue" and call.wait_seconds is not None


def test_counselor_takes_the_highest_priority_longest_waiting_caller_in_their_language(
        app, session):
    now = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
    ago = lambda minutes: now - dt.timedelta(minutes=minutes)  # noqa: E731
    spanish = Call(call_sid="CA-es", language="es", queue_name="general-es", priority=10,
                   status="queued", enqueued_at=ago(30))
    older = Call(call_sid="CA-old", language="en", queue_name="general-en", priority=10,
                 status="queued", enqueued_at=ago(9))
    newer = Call(call_sid="CA-new", language="en", queue_name="general-en", priority=10,
                 status="queued", enqueued_at=ago(2))
    crisis = Call(call_sid="CA-crisis", language="en", queue_name="crisis-en", priority=100,
                  status="queued", enqueued_at=ago(1))
    session.add_all([spanish, older, newer, crisis])
    user = make_user(session, languages="en", status=AgentStatus.AVAILABLE)
    session.flush()
    telephony = app.extensions["helpline"].telephony
    settings = app.extensions["helpline"].settings
    order, statuses = [], []
    for _ in range(4):
        user.status = AgentStatus.AVAILABLE
        taken = take_next_call(session, user, telephony, settings, now=now)
        order.append(taken.call_sid if taken else None)
        statuses.append(user.status)
    assert order == ["CA-crisis", "CA-old", "CA-new", None]
    assert statuses[:3] == [AgentStatus.ON_CALL] * 3
    assert older.answered_at == now and older.wait_seconds == 9 * 60
    legs = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "call")).all()
    assert legs[0].to_number == f"client:{user.client_identity}"
    assert "queue=crisis-en" in legs[0].twiml_url


def test_queue_snapshot_lists_waiting_callers_crisis_first(session):
    now = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
    session.add_all([
        Call(call_sid="CA1", queue_name="general-en", status="queued",
             enqueued_at=now - dt.timedelta(seconds=90)),
        Call(call_sid="CA2", queue_name="general-en", status="queued",
             enqueued_at=now - dt.timedelta(seconds=30)),
        Call(call_sid="CA3", queue_name="crisis-es", language="es", status="queued",
             enqueued_at=now - dt.timedelta(seconds=5)),
        Call(call_sid="CA4", queue_name="general-en", status="completed", enqueued_at=now),
    ])
    session.flush()
    snapshot = queue_snapshot(session, now=now)
    assert [(q.name, q.waiting, q.longest_wait_seconds, q.crisis) for q in snapshot] == [
        ("crisis-es", 1, 5, True), ("general-en", 2, 90, False)]
    assert snapshot[1].need == "general" and snapshot[1].language == "en"


def test_available_counselors_speak_the_language(session):
    make_user(session, languages="en", status=AgentStatus.AVAILABLE)
    both = make_user(session, languages="en es", status=AgentStatus.AVAILABLE)
    make_user(session, languages="es", status=AgentStatus.AWAY)
    assert available_counselors(session, "es") == [both]


def test_counselor_leg_dials_the_queue_and_the_caller_hears_the_connection(phone,
                                                                           available_counselor,
                                                                           session):
    caller = phone()
    queued = caller.press(caller.english_menu(), "1")
    leg = caller.post("/ivr/counselor/connect?queue=general-en&lang=en")
    queue = leg.first("Queue")
    assert queue.text == "general-en"
    joined = caller.post(queue.attrib["url"])
    assert "A counselor is joining you now." in joined.says
    caller.queue_result(queued, "bridged")
    caller.hang_up(duration=300)
    call = caller.record(session)
    assert call.outcome == "answered" and call.answered_at is not None
    assert call.talk_seconds is not None


def test_counselor_leg_refuses_an_unknown_queue(phone):
    answer = phone().post("/ivr/counselor/connect?queue=nope-xx")
    assert answer.has("Hangup") and not answer.has("Dial")


def test_a_caller_holding_leaves_a_trace_once_a_minute(phone, session, available_counselor):  # type: ignore[no-untyped-def]
    caller = phone()
    queued = caller.press(caller.english_menu(), "1")
    caller.wait(queued, held=30)  # the queue step is the trace of the first minute
    caller.wait(queued, held=75)
    caller.wait(queued, held=95)  # the same minute, as this process saw it
    kinds = [e.kind for e in caller.record(session).events]
    assert kinds.count("holding") == 1
    holding = next(e for e in caller.record(session).events if e.kind == "holding")
    assert holding.detail == {"position": 1, "seconds": 75}


@pytest.mark.parametrize(("menu", "words"), [("english_menu", "after the tone"),
                                             ("spanish_menu", "después del tono")])
def test_a_voicemail_stops_before_twilio_would_no_longer_transcribe_it(phone, session, menu,
                                                                       words):
    caller = phone()
    offer = caller.press(getattr(caller, menu)(), "1")
    record = caller.press(offer, "2")
    assert words in record.says
    # Twilio transcribes recordings shorter than 120 seconds only (warning 13617).
    assert record.first("Record").attrib["maxLength"] == "119"
    assert record.first("Record").attrib["transcribe"] == "true"
    assert record.first("Say").attrib.get("voice")
