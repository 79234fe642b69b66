"""Supervisors see an overdose on the wallboard at once: a highlighted line with how long it
has run, whether the phone menu heard it or a counselor marked it."""

from __future__ import annotations

import datetime as dt

from helpline.calls.wallboard import wallboard
from helpline.records import contacts, overdose
from tests.factories import make_call, make_user
from tests.fixtures.overdose import T0, at, on_call

TZ = "America/New_York"


def test_a_marked_overdose_shows_with_its_counselor_stage_and_running_time(session, worker):
    live = on_call(session, worker)
    protocol = overdose.start_protocol(session, live.contact, worker, now=T0)
    overdose.confirm_location(session, protocol, live.contact, worker, kind="zip",
                              location="10001", now=at(30))
    session.commit()
    board = wallboard(session, timezone=TZ, now=at(200))
    assert [(o.counselor, o.stage, o.seconds, o.heard_by_ivr) for o in board.overdoses] == [
        ("Robin Counselor", "Location confirmed", 200, False)]


def test_a_call_the_ivr_flagged_shows_before_any_counselor_takes_it(session):
    make_call(session, status="queued", queue_name="crisis-en", need="crisis",
              overdose_suspected=True, started_at=at(-45), enqueued_at=at(-30))
    make_call(session, status="in-progress", overdose_suspected=True, started_at=at(-10))
    # Not live any more, or never flagged: not shown.
    make_call(session, status="completed", overdose_suspected=True, started_at=at(-300),
              ended_at=at(-100))
    make_call(session, status="queued", queue_name="crisis-en", started_at=at(-20),
              enqueued_at=at(-15))
    session.commit()
    board = wallboard(session, timezone=TZ, now=T0)
    assert [(o.counselor, o.stage, o.seconds, o.heard_by_ivr) for o in board.overdoses] == [
        (None, "Waiting in the queue", 45, True), (None, "In the phone menu", 10, True)]


def test_a_flagged_call_with_a_protocol_shows_once(session, worker):
    live = on_call(session, worker, overdose_suspected=True)
    overdose.start_if_heard_by_ivr(session, live.contact, worker, now=T0)
    session.commit()
    board = wallboard(session, timezone=TZ, now=at(61))
    assert [(o.call_id, o.stage, o.seconds, o.heard_by_ivr) for o in board.overdoses] == [
        (live.call.id, "Overdose protocol started", 61, True)]


def test_an_overdose_leaves_the_board_when_it_is_over_or_the_record_is_closed(session, worker):
    ended = on_call(session, worker)
    protocol = overdose.start_protocol(session, ended.contact, worker, now=T0)
    overdose.end_emergency(session, protocol, ended.contact, worker, "transported", now=at(60))
    other = make_user(session)
    wrapped = on_call(session, other)
    overdose.start_protocol(session, wrapped.contact, other, now=T0)
    overdose.confirm_location(session, overdose.protocol_for(session, wrapped.contact),
                              wrapped.contact, other, kind="unknown", location=None, now=at(5))
    wrapped.contact.crisis_steps = ["stayed_on_line"]
    wrapped.contact.suicide_risk, wrapped.contact.overdose_risk = "none", "imminent"
    wrapped.contact.outcome = "emergency"
    contacts.wrap_up(session, wrapped.contact, other, now=at(90))
    session.commit()
    assert wallboard(session, timezone=TZ, now=at(120)).overdoses == []
    # Nor does a protocol left open from long ago stay on the board for ever.
    forgotten = make_user(session)
    overdose.start_protocol(session, on_call(session, forgotten).contact, forgotten,
                            now=T0 - dt.timedelta(hours=13))
    session.commit()
    assert wallboard(session, timezone=TZ, now=T0).overdoses == []
