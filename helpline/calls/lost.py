"""Closing calls whose end was lost, so that none stays open (or waiting) forever.

A call is closed by its final status callback (:func:`helpline.calls.records.record_status`).
When that callback is lost (the server was killed before writing it, Twilio gave up), the call
would stay open: a queued one counted as waiting on the wallboard and in the queue reports.

A scheduler job (:func:`close_lost_calls`) takes a call as lost once it has had no event
(its latest ``CallEvent``, or its start) for longer than a setting: ``lost_queued_minutes`` for
a caller in a queue, ``lost_call_minutes`` for any other open call, since a long conversation
with a counselor has no events while it lasts. With Twilio, Twilio is asked first: a call it
says is live stays open; one it says ended is closed with its status and end time; when it
cannot be asked, the call waits for a later run, and is closed anyway at twice the setting.
Without Twilio, the call is closed at the setting, as ended at its last event.

Each call is closed by its own transaction, whose conditional UPDATE (``ended_at IS NULL``)
claims it first: two runs racing close it once. A ``closed_lost`` event says why.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session

from helpline.calls.records import TERMINAL, close_call, find_call, start_wrap_up
from helpline.config import Settings
from helpline.db import Database, affected_rows, utcnow
from helpline.models import Call, CallEvent
from helpline.telephony import CallLookup, Telephony

log = logging.getLogger(__name__)

#: How many calls one run looks at (the oldest first); the next run takes the rest.
BATCH = 500
#: When Twilio cannot be asked, a call is closed anyway once silent this many times the setting.
UNASKED_FACTOR = 2

SessionSource = Database | Callable[[], Session]


@dataclass
class LostReport:
    closed: list[int] = field(default_factory=list)  # ids of the calls this run closed
    still_live: int = 0  # Twilio says the call goes on
    unasked: int = 0  # Twilio could not be asked: left for a later run
    lost_race: int = 0  # closed by another run, or an event came meanwhile


@dataclass(frozen=True)
class _Silent:
    call_id: int
    call_sid: str
    status: str
    last_activity: dt.datetime


def close_lost_calls(sessions: SessionSource, telephony: Telephony, settings: Settings,
                     now: dt.datetime | None = None, limit: int = BATCH) -> LostReport:
    """Close the open calls silent for longer than the settings (see the module's text).

    Twilio is asked with no transaction open, and after one failure not again in this run:
    a Twilio outage costs one time-out per run, not one per call.
    """
    now = now or utcnow()
    report = LostReport()
    with_twilio = telephony.name == "twilio"
    twilio_answers = with_twilio
    for silent in _silent_calls(sessions, settings, now, limit):
        lookup: CallLookup | None = None
        if twilio_answers:
            lookup = telephony.call_status(silent.call_sid)
            twilio_answers = lookup is not None
        if lookup is not None and lookup.live:
            report.still_live += 1
            continue
        if (with_twilio and lookup is None and now - silent.last_activity
                < UNASKED_FACTOR * _threshold(settings, silent.status)):
            report.unasked += 1
            continue
        if _close(sessions, silent, lookup, with_twilio, now):
            report.closed.append(silent.call_id)
        else:
            report.lost_race += 1
    return report


def _threshold(settings: Settings, status: str) -> dt.timedelta:
    minutes = settings.lost_queued_minutes if status == "queued" else settings.lost_call_minutes
    return dt.timedelta(minutes=minutes)


def _silent_calls(sessions: SessionSource, settings: Settings, now: dt.datetime,
                  limit: int) -> list[_Silent]:
    """Open calls past their threshold, the longest silent first."""
    last_event = (select(CallEvent.call_id, func.max(CallEvent.at).label("at"))
                  .join(Call, Call.id == CallEvent.call_id)
                  .where(Call.ended_at.is_(None))
                  .group_by(CallEvent.call_id).subquery())
    activity = func.coalesce(last_event.c.at, Call.started_at)
    queued = Call.status == "queued"
    queued_since = now - dt.timedelta(minutes=settings.lost_queued_minutes)
    other_since = now - dt.timedelta(minutes=settings.lost_call_minutes)
    query = (select(Call.id, Call.call_sid, Call.status, activity.label("last_activity"))
             .outerjoin(last_event, last_event.c.call_id == Call.id)
             .where(Call.ended_at.is_(None),
                    or_(and_(queued, activity < queued_since),
                        and_(~queued, activity < other_since)))
             .order_by(activity, Call.id).limit(limit))
    with _read(sessions) as session:
        return [_Silent(row.id, row.call_sid, row.status, row.last_activity)
                for row in session.execute(query)]


def _close(sessions: SessionSource, silent: _Silent, lookup: CallLookup | None,
           with_twilio: bool, now: dt.datetime) -> bool:
    """Close one call in its own transaction; False when another run (or a new event) won."""
    status = lookup.status if lookup is not None and lookup.status in TERMINAL else "completed"
    # Without Twilio's word the caller was last known there at the last event.
    ended_at = (lookup.ended_at if lookup is not None else None) or silent.last_activity
    claim = (update(Call).where(Call.id == silent.call_id, Call.ended_at.is_(None))
             .values(ended_at=ended_at).execution_options(synchronize_session=False))
    if lookup is None:
        # An event that came since the call was read means it is not silent after all.
        claim = claim.where(~exists().where(CallEvent.call_id == Call.id,
                                            CallEvent.at > silent.last_activity))
    idle_minutes = int((now - silent.last_activity).total_seconds() // 60)
    detail: dict[str, Any] = {"reason": "no_event", "idle_minutes": idle_minutes,
                              "twilio_status": lookup.status if lookup is not None else None,
                              "twilio_unreachable": with_twilio and lookup is None}
    with _transaction(sessions) as session:
        if not affected_rows(session.execute(claim)):
            return False
        call = find_call(session, silent.call_sid)
        assert call is not None
        close_call(call, status, ended_at)
        session.add(CallEvent(call_id=call.id, at=now, kind="closed_lost", detail=detail))
        start_wrap_up(session, [call.id], ended_at)
    if lookup is not None:
        why = f"Twilio says {lookup.status}"
    else:
        why = "Twilio could not be asked" if with_twilio else "no Twilio to ask"
    log.warning("call %s closed as lost: no event for %d minutes (%s)", silent.call_sid,
                idle_minutes, why)
    return True


@contextmanager
def _read(sessions: SessionSource) -> Iterator[Session]:
    factory = sessions.sessions if isinstance(sessions, Database) else sessions
    with factory() as session:
        yield session


@contextmanager
def _transaction(sessions: SessionSource) -> Iterator[Session]:
    if isinstance(sessions, Database):
        with sessions.session() as session:
            yield session
        return
    with sessions() as session, session.begin():
        yield session
