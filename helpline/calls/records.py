"""The call record: one Call per CallSid, a CallEvent per step, closed by the status callback.

Every function here is idempotent on the CallSid and takes plain JSON-able arguments (``at`` as
an ISO time), so that the journal can spool a call while the database is down and replay it
later through the very same function.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Integer,
    Row,
    String,
    Text,
    Update,
    bindparam,
    case,
    cast,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, defer

from helpline import crypto
from helpline.config import Settings
from helpline.followups.lifecycle import request_callback_from_queue
from helpline.models import AgentStatus, Call, CallEvent, Outcome, User, Voicemail

log = logging.getLogger(__name__)

TERMINAL = {"completed", "busy", "failed", "no-answer", "canceled"}
SELF_SERVICE_NEEDS = {"treatment", "groups", "resources"}
# Fields of Call a step may set.
STEP_FIELDS = {"language", "need", "queue_name", "priority", "step", "zip_code", "outcome",
               "status", "overdose_suspected", "caller_attestation"}


def _time(at: str | dt.datetime | None) -> dt.datetime:
    if isinstance(at, dt.datetime):
        return at
    if at:
        parsed = dt.datetime.fromisoformat(at)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return dt.datetime.now(dt.UTC)


# Built once (see _CALL_STATES below); the caller's sealed number is opened only if asked for.
_FIND_CALL = select(Call).where(Call.call_sid == bindparam("call_sid")).options(
    defer(Call.caller_number))


def find_call(session: Session, call_sid: str) -> Call | None:
    return session.scalar(_FIND_CALL, {"call_sid": call_sid})


# What the steps and status callbacks read of a call and may change.
_STATE_COLUMNS = (Call.call_sid, Call.id, Call.status, Call.last_sequence, Call.answered_at,
                  Call.enqueued_at, Call.wait_seconds, Call.outcome, Call.step, Call.need)
# The same caller's latest earlier call (none for a withheld number: NULL matches nothing).
_PREVIOUS_CALL = (select(Call.id)
                  .where(Call.caller_hash == bindparam("previous_hash"),
                         Call.call_sid != bindparam("previous_sid"))
                  .order_by(Call.started_at.desc(), Call.id.desc()).limit(1).scalar_subquery())
# A Twilio retry can race the first delivery of a webhook: the second insert does nothing.
_NEW_CALL = {
    name: insert_for(Call).values(previous_call_id=_PREVIOUS_CALL)
    .on_conflict_do_nothing(index_elements=["call_sid"]).returning(*_STATE_COLUMNS)
    for name, insert_for in (("sqlite", sqlite_insert), ("postgresql", pg_insert))
}


def _new_call(call_sid: str, from_number: str | None, at: str | dt.datetime | None,
              direction: str = "inbound") -> dict[str, Any]:
    """The parameters of :data:`_NEW_CALL` for one call."""
    caller_hash = crypto.caller_hash(from_number)
    return {"call_sid": call_sid, "direction": direction, "caller_hash": caller_hash,
            "caller_number": crypto.normalise_number(from_number), "started_at": _time(at),
            "previous_hash": caller_hash, "previous_sid": call_sid}


def _insert_call(session: Session, call_sid: str, from_number: str | None, when: dt.datetime,
                 direction: str) -> Row[*tuple[Any, ...]] | None:
    """Create the call and return its state; None when a raced delivery created it first."""
    conn = session.connection()
    return conn.execute(_NEW_CALL[conn.dialect.name],
                        _new_call(call_sid, from_number, when, direction)).first()


def call_for(session: Session, call_sid: str, from_number: str | None = None,
             at: str | dt.datetime | None = None, direction: str = "inbound") -> Call:
    """The call with this CallSid, created on first sight (a Twilio retry finds the same one)."""
    call = find_call(session, call_sid)
    if call is None:
        _insert_call(session, call_sid, from_number, _time(at), direction)
        call = find_call(session, call_sid)
        assert call is not None
    return call


def earlier_calls(session: Session, call: Call, limit: int = 20) -> list[Call]:
    """The same caller's earlier calls, newest first (none for a withheld number)."""
    if call.caller_hash is None:
        return []
    return list(session.scalars(
        select(Call).where(Call.caller_hash == call.caller_hash, Call.id != call.id,
                           Call.started_at <= call.started_at)
        .order_by(Call.started_at.desc()).limit(limit)))


# The statements the steps and status callbacks run, built once: building and keying a
# statement costs several times what SQLite takes to run it, and most webhooks come through here.
_CALL_STATES = select(*_STATE_COLUMNS).where(
    Call.call_sid.in_(bindparam("call_sids", expanding=True)))
_EVENT_OF_KIND = select(CallEvent.id).where(
    CallEvent.call_id == bindparam("call_id"), CallEvent.kind == bindparam("kind")).limit(1)
_ADD_EVENT = insert(CallEvent)
# The counselors of calls that ended go from on the call to wrap-up (finishing the record):
# conditional, so one who already closed the record or left is not touched; one statement for
# all the calls a group of webhooks ended (within moments of each other: the latest stands).
_TO_WRAP_UP = update(User).where(
    User.id.in_(select(Call.counselor_id).where(
        Call.id.in_(bindparam("call_ids", expanding=True)), Call.counselor_id.is_not(None))),
    User.status == AgentStatus.ON_CALL).values(status=AgentStatus.WRAP_UP,
                                               status_since=bindparam("at"))


@functools.cache
def _update_call(names: frozenset[str]) -> Update:
    columns = Call.__table__.c
    return update(Call).where(Call.id == bindparam("call_id")).values(
        {name: bindparam(f"new_{name}", type_=columns[name].type) for name in names})


@functools.cache
def _update_calls_pg(names: tuple[str, ...]) -> Update:
    """PostgreSQL: every call's changes in one statement, the same whatever the group holds.

    The rows come as arrays (``unnest``), one per column changed anywhere in the group, with
    a flag per column: a call that does not change a column keeps its value. One fixed
    statement costs the writer less than one per shape of change or an ``executemany``
    through psycopg's pipeline (both measured, bench/ivr.py).
    """
    columns = Call.__table__.c
    arrays = [bindparam("call_ids", type_=ARRAY(Integer))]
    for name in names:
        arrays += [bindparam(f"new_{name}", type_=ARRAY(columns[name].type)),
                   bindparam(f"set_{name}", type_=ARRAY(Boolean))]
    changed = (func.unnest(*arrays)
               .table_valued("call_id", *[c for name in names for c in (name, f"set_{name}")])
               .render_derived(name="changed"))
    return update(Call).where(Call.id == changed.c.call_id).values({
        name: case((changed.c[f"set_{name}"], changed.c[name]), else_=columns[name])
        for name in names})


# PostgreSQL: a group's events as arrays, one fixed statement (its detail goes as JSON text).
_EVENT_ROWS = (func.unnest(bindparam("call_ids", type_=ARRAY(Integer)),
                           bindparam("ats", type_=ARRAY(CallEvent.__table__.c.at.type)),
                           bindparam("kinds", type_=ARRAY(String)),
                           bindparam("details", type_=ARRAY(Text)))
               .table_valued("call_id", "at", "kind", "detail").render_derived(name="added"))
_ADD_EVENTS_PG = insert(CallEvent).from_select(
    ["call_id", "at", "kind", "detail"],
    select(_EVENT_ROWS.c.call_id, _EVENT_ROWS.c.at, _EVENT_ROWS.c.kind,
           cast(_EVENT_ROWS.c.detail, JSON)))


class Ledger:
    """One transaction's steps and status callbacks: the calls they touch read in one
    statement, their changes and events written together by :meth:`flush`.

    The journal's group commit hands a whole group of webhooks to one ledger, so that a group
    costs a few statements rather than a few per webhook. A call's state here always includes
    the changes made earlier in the same ledger, so the steps apply as they would one by one.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._states: dict[str, dict[str, Any]] = {}
        self._absent: set[str] = set()  # calls read and not found (yet to be created)
        self._created: set[str] = set()  # calls this transaction inserted
        self._kinds: set[tuple[int, str]] = set()  # events this transaction added
        self._updates: dict[int, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._wrap_ups: list[dict[str, Any]] = []  # calls whose counselor goes to wrap-up

    def load(self, call_sids: Iterable[str]) -> None:
        """Read the states of these calls (those not read yet) in one statement."""
        wanted = sorted({sid for sid in call_sids if sid not in self._states})
        if wanted:
            rows = self.session.connection().execute(_CALL_STATES, {"call_sids": wanted})
            for row in rows:
                self._states[row.call_sid] = dict(row._mapping)
            self._absent.update(sid for sid in wanted if sid not in self._states)

    def state(self, call_sid: str, from_number: str | None, when: dt.datetime) -> dict[str, Any]:
        """The call's state, the call created on first sight."""
        if call_sid not in self._states and call_sid not in self._absent:
            self.load([call_sid])
        self.create({call_sid: (from_number, when)})
        return self._states[call_sid]

    def create(self, first_seen: dict[str, tuple[str | None, str | dt.datetime | None]]) -> None:
        """Create in one statement the calls that were read and not found, each from the
        caller's number and the time of its first operation (``first_seen``)."""
        missing = [sid for sid in first_seen if sid in self._absent]
        if not missing:
            return
        rows = [_new_call(sid, *first_seen[sid]) for sid in missing]
        conn = self.session.connection()
        for row in conn.execute(_NEW_CALL[conn.dialect.name], rows):
            self._states[row.call_sid] = dict(row._mapping)
            self._created.add(row.call_sid)
        # A raced delivery created these first: read them as they are.
        raced = [sid for sid in missing if sid not in self._states]
        self._absent.difference_update(missing)
        self.load(raced)

    def has_event(self, call_sid: str, call_id: int, kind: str) -> bool:
        if (call_id, kind) in self._kinds:
            return True
        if call_sid in self._created:
            return False
        return self.session.connection().execute(
            _EVENT_OF_KIND, {"call_id": call_id, "kind": kind}).first() is not None

    def change(self, state: dict[str, Any], values: dict[str, Any]) -> None:
        state.update(values)
        self._updates.setdefault(state["id"], {}).update(values)

    def add_event(self, call_id: int, at: dt.datetime, kind: str,
                  detail: dict[str, Any]) -> None:
        self._kinds.add((call_id, kind))
        self._events.append({"call_id": call_id, "at": at, "kind": kind, "detail": detail})

    def wrap_up(self, call_id: int, at: dt.datetime) -> None:
        """The call ended: its counselor, if on it, goes to wrap-up when this flushes."""
        self._wrap_ups.append({"call_id": call_id, "at": at})

    def flush(self) -> None:
        """Write the changes and events held so far: on PostgreSQL one statement for the
        changes and one for the events, elsewhere one per shape of change and one for the
        events (SQLite runs them in process, where statements are cheap)."""
        conn = self.session.connection()
        if conn.dialect.name == "postgresql":
            self._flush_pg(conn)
        else:
            shapes: dict[frozenset[str], list[dict[str, Any]]] = {}
            for call_id, values in self._updates.items():
                shapes.setdefault(frozenset(values), []).append(
                    {"call_id": call_id, **{f"new_{k}": v for k, v in values.items()}})
            for names, rows in shapes.items():
                conn.execute(_update_call(names), rows)
            if self._events:
                conn.execute(_ADD_EVENT, self._events)
        if self._wrap_ups:
            conn.execute(_TO_WRAP_UP, {"call_ids": [w["call_id"] for w in self._wrap_ups],
                                       "at": max(w["at"] for w in self._wrap_ups)})
        self._updates, self._events, self._wrap_ups = {}, [], []

    def _flush_pg(self, conn: Connection) -> None:
        if self._updates:
            names = tuple(sorted({name for values in self._updates.values() for name in values}))
            changes = list(self._updates.items())
            params: dict[str, Any] = {"call_ids": [call_id for call_id, _ in changes]}
            for name in names:
                params[f"new_{name}"] = [values.get(name) for _, values in changes]
                params[f"set_{name}"] = [name in values for _, values in changes]
            conn.execute(_update_calls_pg(names), params)
        if self._events:
            events = self._events
            conn.execute(_ADD_EVENTS_PG, {
                "call_ids": [e["call_id"] for e in events], "ats": [e["at"] for e in events],
                "kinds": [e["kind"] for e in events],
                "details": [json.dumps(e["detail"]) for e in events]})

    def forget(self) -> None:
        """Flush, and read calls afresh: other writes in this transaction may change them."""
        self.flush()
        self._states.clear()
        self._absent.clear()
        self.session.expire_all()


def record_step(session: Session, call_sid: str, kind: str, *, at: str | None = None,
                from_number: str | None = None, detail: dict[str, Any] | None = None,
                updates: dict[str, Any] | None = None, enqueued: bool = False,
                left_queue: bool = False, once: bool = False, ledger: Ledger) -> int:
    """Add one step to a call (creating the call on first sight) and apply its field updates.

    ``once`` skips the event when the call already has one of this kind (a retried webhook).
    The ledger writes it when it flushes. Returns the call's id.
    """
    when = _time(at)
    state = ledger.state(call_sid, from_number, when)
    call_id, status = state["id"], state["status"]
    if once and ledger.has_event(call_sid, call_id, kind):
        return call_id
    values: dict[str, Any] = {}
    for name, value in (updates or {}).items():
        if name not in STEP_FIELDS:
            raise ValueError(f"a step cannot set Call.{name}")
        if name == "status" and status in TERMINAL:
            continue
        values[name] = value
    enqueued_at = state["enqueued_at"]
    if enqueued:
        if enqueued_at is None:
            enqueued_at = values["enqueued_at"] = when
        if status not in TERMINAL:
            values["status"] = "queued"
    if left_queue and values.get("status", status) == "queued":
        values["status"] = "in-progress"
        values["wait_seconds"] = _seconds(enqueued_at, when)
    if values:
        ledger.change(state, values)
    ledger.add_event(call_id, when, kind, detail or {})
    return call_id


def record_steps(session: Session, call_sid: str, steps: list[dict[str, Any]], *,
                 at: str | None = None, from_number: str | None = None,
                 ledger: Ledger) -> int | None:
    """The steps one webhook took, in order (each a :func:`record_step`'s arguments with its
    own ``at``; ``at`` is the first's): one operation per webhook. Returns the call's id."""
    call_id = None
    for one in steps:
        call_id = record_step(session, call_sid, from_number=from_number, ledger=ledger, **one)
    return call_id


def record_answered(session: Session, call_sid: str, *, at: str | None = None,
                    counselor_id: int | None = None) -> Call:
    """The caller was bridged to a counselor (from the queue or from take_next_call)."""
    when = _time(at)
    call = call_for(session, call_sid, None, when)
    if call.answered_at is None:
        call.answered_at = when
        call.wait_seconds = _seconds(call.enqueued_at, when)
        session.add(CallEvent(call=call, at=when, kind="answered", detail={}))
    if counselor_id is not None and call.counselor_id is None:
        call.counselor_id = counselor_id
    if call.status not in TERMINAL:
        call.status = "in-progress"
    session.flush()
    return call


def record_status(session: Session, call_sid: str, status: str, *, at: str | None = None,
                  sequence: int | None = None, from_number: str | None = None,
                  duration: int | None = None, ledger: Ledger) -> int:
    """Apply a status callback: stale or repeated ones change nothing; the end closes the call.

    The ledger writes it when it flushes. Returns the call's id.
    """
    when = _time(at)
    state = ledger.state(call_sid, from_number, when)
    call = SimpleNamespace(**state)
    if sequence is not None:
        if sequence <= call.last_sequence:
            return call.id
        call.last_sequence = sequence
    closing = call.status not in TERMINAL and status in TERMINAL
    if closing:
        # A namespace of the call's columns, not the mapped Call: the ledger writes it back.
        close_call(call, status, when)  # type: ignore[arg-type]
    changed = {k: v for k, v in vars(call).items() if k not in state or state[k] != v}
    if changed:
        ledger.change(state, changed)
    if closing:
        ledger.add_event(call.id, when, "ended", {"status": status, "duration": duration})
        ledger.wrap_up(call.id, when)
    return call.id


def start_wrap_up(session: Session, call_ids: list[int], at: dt.datetime) -> None:
    """The counselors still on these ended calls go to wrap-up (finishing the record)."""
    if call_ids:
        session.execute(_TO_WRAP_UP, {"call_ids": call_ids, "at": at})


def close_call(call: Call, status: str, at: dt.datetime) -> None:
    """Set the end, the outcome (unless a step already decided it), wait and talk seconds."""
    call.status = status
    call.ended_at = at
    if call.answered_at is not None:
        call.talk_seconds = _seconds(call.answered_at, at)
        call.wait_seconds = _seconds(call.enqueued_at, call.answered_at)
    elif call.enqueued_at is not None and call.wait_seconds is None:
        call.wait_seconds = _seconds(call.enqueued_at, at)
    if call.outcome is None:
        if call.answered_at is not None:
            call.outcome = Outcome.ANSWERED
        elif call.enqueued_at is not None and call.step in {"queue", "queue_hangup"}:
            call.outcome = Outcome.ABANDONED_QUEUE
        elif call.need in SELF_SERVICE_NEEDS:
            call.outcome = Outcome.SELF_SERVED
        elif call.enqueued_at is not None:
            call.outcome = Outcome.ABANDONED_QUEUE
        else:
            call.outcome = Outcome.ABANDONED_MENU


def _seconds(start: dt.datetime | None, end: dt.datetime) -> int | None:
    if start is None:
        return None
    return max(0, int((end - start).total_seconds()))


def record_callback(session: Session, call_sid: str, phone: str, *, settings: Settings,
                    at: str | None = None) -> Call:
    """The caller left the queue for a callback to ``phone``; the follow-up is due now, with
    the attempts, time zone and consent term ``settings`` give."""
    when = _time(at)
    call = call_for(session, call_sid, None, when)
    if call.outcome == Outcome.CALLBACK:
        return call  # a retried webhook: the callback is already booked
    _request_callback(session, call, phone, when, settings)
    call.outcome = Outcome.CALLBACK
    call.step = "callback"
    if call.status == "queued":
        call.status = "in-progress"
    session.add(CallEvent(call=call, at=when, kind="callback_requested",
                          detail={"same_number": crypto.caller_hash(phone) == call.caller_hash}))
    session.flush()
    return call


def _request_callback(session: Session, call: Call, phone: str, when: dt.datetime,
                      settings: Settings) -> None:
    request_callback_from_queue(session, call, phone, settings=settings, now=when)


def record_voicemail(session: Session, call_sid: str, *, at: str | None = None,
                     recording_sid: str | None = None, recording_url: str | None = None,
                     duration: int | None = None, language: str = "en") -> Call:
    """Keep a caller's message (once per recording) and close the call as voicemail."""
    when = _time(at)
    call = call_for(session, call_sid, None, when)
    exists = recording_sid and session.scalar(
        select(Voicemail.id).where(Voicemail.recording_sid == recording_sid))
    if not exists:
        session.add(Voicemail(call_id=call.id, recording_sid=recording_sid,
                              recording_url=recording_url, duration_seconds=duration,
                              language=language, created_at=when))
        session.add(CallEvent(call=call, at=when, kind="voicemail",
                              detail={"duration": duration}))
    call.outcome = Outcome.VOICEMAIL
    call.step = "voicemail"
    if call.status == "queued":
        call.status = "in-progress"
    session.flush()
    return call


def record_transcription(session: Session, recording_sid: str, text: str, *,
                         call_sid: str | None = None, at: str | None = None) -> None:
    """Attach Twilio's transcription to the voicemail (sealed like every confidential text)."""
    voicemail = session.scalar(select(Voicemail).where(Voicemail.recording_sid == recording_sid))
    if voicemail is None:
        if call_sid is None:
            return
        call = call_for(session, call_sid, None, at)
        voicemail = Voicemail(call_id=call.id, recording_sid=recording_sid,
                              created_at=_time(at))
        session.add(voicemail)
    voicemail.transcription = text
    session.flush()
