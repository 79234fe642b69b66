"""The wallboard's live figures."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from helpline.calls.wallboard import wallboard
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
    make_user(session, "supervisor", status="available")
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
