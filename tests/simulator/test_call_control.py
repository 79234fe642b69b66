"""Without Twilio the simulated caller hears what the counselor does to the call: hold,
a transfer to a colleague, a supervisor joining, the counselor ending it, back to the queue."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from helpline.calls import control
from helpline.calls.queues import take_next_call
from helpline.models import AgentStatus, Call, Role, User
from simulator.callstate import CallState
from simulator.interpreter import Interpreter
from simulator.transport import AppTransport
from tests.factories import make_user


@pytest.fixture
def line(app, settings):  # type: ignore[no-untyped-def]
    return Interpreter(AppTransport(app), settings.twilio_auth_token)


def connected(line, app, settings, session, counselor) -> tuple[CallState, Call]:  # type: ignore[no-untyped-def]
    state, _ = line.start(settings.public_base_url + "/ivr/voice", "+15555550123",
                          settings.helpline_number)
    line.press(state, "1")
    line.press(state, "1")
    user = session.get(User, counselor.id)
    call = take_next_call(session, user, app.extensions["helpline"].telephony, settings)
    session.commit()
    assert call is not None
    line.poll(state)
    assert state.mode == "connected" and "poll" in state.accepts
    return state, call


def texts(events) -> str:  # type: ignore[no-untyped-def]
    return " ".join(e.text for e in events)


def test_the_caller_hears_hold_a_colleague_and_a_supervisor_then_the_end(
        line, app, settings, session, available_counselor):
    state, call = connected(line, app, settings, session, available_counselor)
    rt = app.extensions["helpline"]
    assert line.poll(state) == []  # nothing done yet: nothing heard
    counselor = session.get(User, available_counselor.id)
    control.hold(session, rt.telephony, settings, call, counselor)
    session.commit()
    events = line.poll(state)
    assert "You are on hold" in texts(events) and "play" in [e.kind for e in events]
    assert line.poll(state) == []  # heard once

    colleague = make_user(session, languages="en", status=AgentStatus.AVAILABLE)
    control.transfer_to_colleague(session, rt.telephony, settings, call, counselor, colleague,
                                  warm=True)
    session.commit()
    assert "Connecting you to a colleague." in texts(line.poll(state))
    control.complete_transfer(session, rt.telephony, settings, call, counselor)
    session.commit()
    heard = texts(line.poll(state))
    assert "back with your counselor" in heard and "another counselor" in heard

    boss = make_user(session, role=Role.SUPERVISOR, languages="en",
                     status=AgentStatus.AVAILABLE)
    control.supervise(session, rt.telephony, settings, call, boss, "listen")
    session.commit()
    events = line.poll(state)
    assert [e.kind for e in events] == ["counselor"]  # the caller hears nothing
    control.supervise(session, rt.telephony, settings, call, boss, "coach")
    session.commit()
    assert "coaching you" in texts(line.poll(state))

    colleague = session.get(User, colleague.id)
    control.end_call(session, rt.telephony, settings, call, colleague)
    session.commit()
    events = line.poll(state)
    assert state.ended and "The counselor ended the call." in texts(events)
    session.expire_all()
    assert session.get(User, colleague.id).status == AgentStatus.WRAP_UP


def test_a_caller_sent_back_to_the_queue_holds_again_and_is_taken_next(
        line, app, settings, session, available_counselor):
    state, call = connected(line, app, settings, session, available_counselor)
    rt = app.extensions["helpline"]
    counselor = session.get(User, available_counselor.id)
    control.transfer_to_queue(session, rt.telephony, settings, call, counselor, "general",
                              call.queue_name or "")
    session.commit()
    events = line.poll(state)
    assert "back to the queue" in texts(events)
    assert state.in_queue
    other = make_user(session, languages="en", status=AgentStatus.AVAILABLE)
    session.commit()
    again = take_next_call(session, other, rt.telephony, settings)
    session.commit()
    assert again is not None and again.call_sid == state.call_sid
    line.poll(state)
    assert state.mode == "connected"
    session.expire_all()
    assert session.scalar(select(Call.counselor_id).where(Call.id == call.id)) == other.id
