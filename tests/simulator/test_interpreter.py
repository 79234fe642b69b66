"""The TwiML interpreter behind the simulators: Twilio's semantics against the real webhooks."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from helpline.calls.queues import take_next_call
from helpline.models import Call, OutboxMessage, Voicemail
from simulator.callstate import WITHHELD, CallState
from simulator.interpreter import Interpreter
from simulator.transport import AppTransport


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def line(app, settings, clock):  # type: ignore[no-untyped-def]
    interpreter = Interpreter(AppTransport(app), settings.twilio_auth_token, clock=clock)

    def dial(path: str = "/ivr/voice", number: str | None = "+15555550123"):  # type: ignore[no-untyped-def]
        return interpreter.start(settings.public_base_url + path, number,
                                 settings.helpline_number)

    interpreter.dial = dial  # type: ignore[attr-defined]
    return interpreter


def said(events) -> str:  # type: ignore[no-untyped-def]
    return " ".join(e.text for e in events if e.kind == "say")


def kinds(events) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.kind for e in events]


def record_of(session, state: CallState) -> Call:  # type: ignore[no-untyped-def]
    session.expire_all()
    call = session.scalar(select(Call).where(Call.call_sid == state.call_sid))
    assert call is not None
    return call


def test_caller_hears_the_counselor_join_when_the_dashboard_takes_the_call(
        line, app, settings, session, available_counselor, clock):
    state, _ = line.dial()
    line.press(state, "1")
    line.press(state, "1")
    assert state.in_queue and state.mode == "gather"
    assert line.poll(state) == []  # nobody took it yet: nothing changes

    user = session.get(type(available_counselor), available_counselor.id)
    taken = take_next_call(session, user, app.extensions["helpline"].telephony, settings)
    session.commit()
    assert taken is not None and taken.call_sid == state.call_sid

    clock.now += 30
    events = line.poll(state)
    assert state.mode == "connected"
    assert any(e.kind == "counselor" and "general English queue" in e.text for e in events)
    assert "A counselor is joining you now." in said(events)
    assert kinds(events)[-1] == "connected"

    clock.now += 120
    events = line.hang_up(state)
    assert state.ended and kinds(events)[-1] == "ended"
    call = record_of(session, state)
    assert call.outcome == "answered" and call.status == "completed"
    assert call.counselor_id == available_counselor.id


def test_wait_message_is_requested_again_with_the_time_held(line, session, available_counselor,
                                                            clock):
    state, _ = line.dial()
    line.press(state, "1")
    line.press(state, "1")
    clock.now += 700  # past the 600 s hold limit
    events = line.silence(state)  # the wait document's pause runs out
    assert "Thank you for holding. You have waited a while." in said(events)
    assert state.in_queue


def test_second_caller_hears_their_place_in_line(line, available_counselor):
    first, _ = line.dial()
    line.press(first, "1")
    line.press(first, "1")
    second, _ = line.dial(number="+15555550124")
    line.press(second, "1")
    events = line.press(second, "1")
    assert "You are number 2 in line." in said(events)


def test_zip_code_keys_are_gathered_until_five_digits(line, session):
    state, _ = line.dial()
    line.press(state, "1")
    line.press(state, "3")
    for key in "1000":
        events = line.press(state, key)
        assert state.mode == "gather" and not any(e.kind == "request" for e in events)
    events = line.press(state, "1")
    assert any(e.kind == "request" and "/ivr/locator/zip" in e.text for e in events)
    assert record_of(session, state).zip_code == "10001"


def test_callback_number_ends_with_the_pound_key(line, session, available_counselor):
    state, _ = line.dial(number="anonymous")
    assert state.from_number == WITHHELD
    line.press(state, "1")
    line.press(state, "1")
    events = line.press(state, "1")  # a callback, please; the number is withheld: enter one
    assert "ten-digit number" in said(events)
    line.press(state, "555555")
    events = line.press(state, "0199#")
    assert "We will call you back at 5 5 5 5 5 5 0 1 9 9." in said(events)
    assert state.ended
    assert record_of(session, state).outcome == "callback"


def test_caller_leaves_a_voicemail_with_a_transcription_when_callbacks_are_off(
        tmp_path, database_url, session, available_counselor):
    from helpline.app import create_app
    from helpline.config import settings_for_tests

    settings = settings_for_tests(tmp_path, database_url=database_url, callbacks_enabled=False)
    app = create_app(settings)
    try:
        line = Interpreter(AppTransport(app), settings.twilio_auth_token)
        state, _ = line.start(settings.public_base_url + "/ivr/voice?lang=en", "+15555550123",
                              settings.helpline_number)
        line.press(state, "1")
        events = line.press(state, "2")  # a message instead of holding
        assert state.mode == "record" and "(beep)" in [e.text for e in events]
        line.speak(state, "Please call me back after six")
        events = line.press(state, "#")
        assert "Thank you. Your message was received. Goodbye." in said(events)
        assert state.ended
    finally:
        app.extensions["helpline"].db.dispose()
    call = record_of(session, state)
    voicemail = session.scalar(select(Voicemail).where(Voicemail.call_id == call.id))
    assert call.outcome == "voicemail"
    assert voicemail is not None and voicemail.transcription == "Please call me back after six"


def test_resources_texted_from_the_menu_reach_the_outbox(line, session):
    state, _ = line.dial()
    line.press(state, "1")
    line.press(state, "5")
    events = line.press(state, "1")
    assert "I have sent you a text message." in said(events)
    assert session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "sms")) is not None


def test_a_simulator_without_the_right_token_is_refused_and_the_call_ends(app, settings):
    forged = Interpreter(AppTransport(app), "f" * 32)
    state, events = forged.start(settings.public_base_url + "/ivr/voice", "+15555550123",
                                 settings.helpline_number)
    assert state.ended
    assert any(e.kind == "error" and "signature" in e.text for e in events)
    assert "an application error has occurred" in said(events)


def test_call_state_survives_a_trip_through_json(line):
    state, _ = line.dial()
    line.press(state, "1")
    copy = CallState.from_dict(json.loads(state.to_json()))
    assert copy == state
    events = line.press(copy, "9")
    assert any(e.kind == "transfer" for e in events)
    assert copy.mode == "transfer" and copy.accepts == ["hangup"]


def test_spoken_words_are_not_heard_where_only_keys_count(line):
    state, _ = line.dial()
    events = line.speak(state, "english please")
    assert state.mode == "gather" and [e.kind for e in events] == ["note"]


def test_languages_spoken_follow_the_callers_choice(line):
    state, events = line.dial()
    assert {e.language for e in events if e.kind == "say"} == {"en-US", "es-MX"}
    events = line.press(state, "2")
    assert {e.language for e in events if e.kind == "say"} == {"es-MX"}
