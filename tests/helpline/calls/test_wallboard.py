"""The wallboard's live figures."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from helpline.calls.wallboard import wallboard
from helpline.models import Offer
from tests.factories import make_call, make_user
from tests.fixtures.reporting import local

TZ = "America/New_York"
NOW = local(2026, 1, 7, 15, 0)


def test_callers_waiting_per_queue_and_language_with_longest_wait(session: Session) -> None:
    for minutes in (3, 1):
        make_call(session, status="queued", queue_name="self-es", need="self", language="es",
                  started_at=NOW - dt.timedelta(minutes=minutes + 1),
                  enqueued_at=NOW - dt.timedelta(minutes=minutes))
    make_call(session, status="queued", queue_name="crisis-en", need="crisis", language="en",
              started_at=NOW - dt.timedelta(seconds=40), enqueued_at=NOW - dt.timedelta(seconds=20))
    session.commit()
    board = wallboard(session, timezone=TZ, now=NOW)
    assert [(q.name, q.language, q.waiting, q.longest_wait_seconds) for q in board.queues] == [
        ("crisis-en", "en", 1, 20), ("self-es", "es", 2, 180)]
    assert board.waiting == 3
    assert board.longest_wait_seconds == 180


def test_counselors_by_status(session: Session) -> None:
    make_user(session, status="available", status_since=NOW - dt.timedelta(minutes=5))
    make_user(session, status="available")
    make_user(session, status="on_call")
    make_user(session, status="offline")
    make_user(session, status="available", active=False)
    make_user(session, "supervisor", status="available")  # takes no call: not on the board
    session.commit()
    board = wallboard(session, timezone=TZ, now=NOW)
    assert board.counselors == {"available": 2, "on_call": 1, "wrap_up": 0, "away": 0,
                                "offline": 1}
    assert len(board.staff) == 3


def test_todays_answered_abandoned_callbacks_service_level_and_speed(session: Session) -> None:
    today = local(2026, 1, 7, 9)
    for wait in (10, 40, 90):
        make_call(session, queue_name="self-en", started_at=today, enqueued_at=today,
                  answered_at=today + dt.timedelta(seconds=wait), wait_seconds=wait,
                  status="completed", outcome="answered")
    make_call(session, queue_name="self-en", started_at=today, outcome="abandoned_queue",
              status="completed")
    make_call(session, queue_name="self-en", started_at=today, outcome="callback",
              status="completed")
    # Yesterday evening (local) does not count, though it is the same UTC date.
    make_call(session, queue_name="self-en", started_at=local(2026, 1, 6, 23, 30),
              outcome="abandoned_queue", status="completed")
    # A caller with a counselor now, and one still in the menu.
    make_call(session, started_at=NOW - dt.timedelta(minutes=4), status="in-progress",
              queue_name="self-en", answered_at=NOW - dt.timedelta(minutes=2), wait_seconds=30)
    make_call(session, started_at=NOW - dt.timedelta(seconds=30), status="in-progress")
    session.commit()
    board = wallboard(session, timezone=TZ, now=NOW)
    assert board.answered_today == 4
    assert board.abandoned_today == 1
    assert board.callbacks_today == 1
    assert board.offered_today == 6
    assert board.service_level_today == {"30": 2 / 6, "60": 3 / 6}
    assert board.average_speed_of_answer_today == (10 + 40 + 90 + 30) / 4
    assert (board.with_counselor, board.in_menu) == (1, 1)


def _offer(session: Session, call_id: int, counselor_id: int, state: str,
           offered: dt.datetime, ended: dt.datetime | None = None) -> None:
    session.add(Offer(call_id=call_id, counselor_id=counselor_id, state=state,
                      offered_at=offered, expires_at=offered + dt.timedelta(seconds=20),
                      ended_at=ended))
    session.flush()


def test_each_counselor_shows_ringing_why_away_and_what_comes_after_the_call(
        session: Session) -> None:
    ringing = make_user(session, status="available", display_name="A Ringing")
    missed = make_user(session, status="away", status_reason="missed_offer",
                       display_name="B Missed", status_since=NOW - dt.timedelta(seconds=70))
    busy = make_user(session, status="on_call", status_before_call="away",
                     display_name="C Busy")
    idle = make_user(session, status="available", status_before_call="offline",
                     display_name="D Idle")
    call = make_call(session, status="queued", queue_name="general-en", need="general",
                     language="en", enqueued_at=NOW - dt.timedelta(seconds=30))
    _offer(session, call.id, ringing.id, "ringing", NOW - dt.timedelta(seconds=4))
    session.commit()
    lines = {s.name: s for s in wallboard(session, timezone=TZ, now=NOW).staff}
    assert lines["A Ringing"].ringing_seconds == 4
    assert lines["B Missed"].ringing_seconds is None
    assert (lines["B Missed"].status, lines["B Missed"].reason,
            lines["B Missed"].seconds_in_status) == ("away", "missed_offer", 70)
    assert lines["C Busy"].after_call == "away"
    assert lines["D Idle"].after_call is None  # only said mid-call
    assert {lines[n].user_id for n in lines} == {ringing.id, missed.id, busy.id, idle.id}


def test_raised_hands_come_first_the_longest_raised_first(session: Session) -> None:
    make_user(session, status="available", display_name="Quiet")
    late = make_user(session, status="on_call", display_name="Late",
                     hand_raised_at=NOW - dt.timedelta(seconds=10))
    early = make_user(session, status="wrap_up", display_name="Early",
                      hand_raised_at=NOW - dt.timedelta(minutes=3))
    gone = make_user(session, status="offline", display_name="Signed out",
                     hand_raised_at=NOW - dt.timedelta(seconds=5))
    session.commit()
    board = wallboard(session, timezone=TZ, now=NOW)
    assert [(h.user_id, h.hand_raised_seconds) for h in board.hands] == [
        (early.id, 180), (late.id, 10), (gone.id, 5)]
    assert "Signed out" not in {s.name for s in board.staff}  # Offline: not on the floor


CRISIS = {"crisis": "crisis"}


def _crisis_caller(session: Session) -> None:
    make_call(session, status="queued", queue_name="crisis-en", need="crisis", language="en",
              enqueued_at=NOW - dt.timedelta(seconds=50))


def test_crisis_callers_waiting_without_a_crisis_trained_counselor_signed_in(
        session: Session) -> None:
    _crisis_caller(session)
    _crisis_caller(session)
    make_user(session, status="available", skills="")
    make_user(session, status="offline", skills="crisis")  # signed out: no help
    session.commit()
    board = wallboard(session, timezone=TZ, now=NOW, queue_skills=CRISIS)
    assert [(g.group, g.skill, g.waiting) for g in board.skill_gaps] == [("crisis", "crisis", 2)]


def test_no_warning_when_someone_signed_in_holds_the_skill(session: Session) -> None:
    _crisis_caller(session)
    make_user(session, status="away", skills="crisis")  # signed in, Away
    session.commit()
    assert wallboard(session, timezone=TZ, now=NOW, queue_skills=CRISIS).skill_gaps == []


def test_no_warning_when_nobody_waits_or_the_queue_asks_no_skill(session: Session) -> None:
    make_user(session, status="available", skills="")
    make_call(session, status="queued", queue_name="general-en", need="general", language="en",
              enqueued_at=NOW - dt.timedelta(seconds=50))
    session.commit()
    assert wallboard(session, timezone=TZ, now=NOW, queue_skills=CRISIS).skill_gaps == []


def test_todays_speed_of_answer_split_and_offers_missed(session: Session) -> None:
    counselor = make_user(session, status="on_call")
    other = make_user(session, status="away", status_reason="missed_offer")
    today = local(2026, 1, 7, 9)
    offered = make_call(session, queue_name="general-en", started_at=today, enqueued_at=today,
                        answered_at=today + dt.timedelta(seconds=40), wait_seconds=40,
                        status="completed", outcome="answered", counselor_id=counselor.id)
    _offer(session, offered.id, other.id, "missed", today + dt.timedelta(seconds=5),
           today + dt.timedelta(seconds=25))
    _offer(session, offered.id, counselor.id, "accepted", today + dt.timedelta(seconds=30),
           today + dt.timedelta(seconds=40))
    make_call(session, queue_name="general-en", started_at=today, enqueued_at=today,
              answered_at=today + dt.timedelta(seconds=20), wait_seconds=20,
              status="completed", outcome="answered", counselor_id=counselor.id)  # take next
    declined = make_call(session, queue_name="general-en", started_at=today, enqueued_at=today,
                         status="completed", outcome="abandoned_queue")
    _offer(session, declined.id, counselor.id, "declined", today + dt.timedelta(seconds=1),
           today + dt.timedelta(seconds=2))
    session.commit()
    board = wallboard(session, timezone=TZ, now=NOW)
    assert board.average_speed_of_answer_today == 30
    assert board.average_queue_seconds_today == pytest.approx((30 + 20) / 2)
    assert board.average_ring_seconds_today == pytest.approx((10 + 0) / 2)
    assert (board.missed_offers_today, board.declined_offers_today) == (1, 1)


def test_wrap_ups_past_the_limit_are_shown_longest_first(session: Session) -> None:
    short = make_user(session, display_name="Short", status="wrap_up",
                      status_since=NOW - dt.timedelta(minutes=3))
    make_user(session, display_name="Long", status="wrap_up",
              status_since=NOW - dt.timedelta(minutes=25))
    make_user(session, display_name="Longer", status="wrap_up",
              status_since=NOW - dt.timedelta(minutes=40))
    session.commit()
    board = wallboard(session, timezone=TZ, now=NOW, wrap_up_limit_minutes=10)
    assert [line.name for line in board.long_wrap_ups] == ["Longer", "Long"]
    assert short.display_name not in {line.name for line in board.long_wrap_ups}
    assert wallboard(session, timezone=TZ, now=NOW).long_wrap_ups == []  # no limit given
