"""Webhooks that write at the same moment share a commit, and none of them is lost by it."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from helpline.calls import journal, records, spool
from helpline.config import Settings
from helpline.db import Database, utcnow
from helpline.models import Call, CallEvent


def _call_sids(session: Session) -> set[str]:
    return set(session.scalars(select(Call.call_sid)))


def _write_together(db: Database, settings: Settings,
                    writes: list[dict[str, object]]) -> list[object]:
    """Write these operations as one group, as the journal's writer does with what queued
    while it was busy; each result is True (written), False (spooled) or the error raised."""
    batch = []
    for write in writes:
        kwargs = {k: v for k, v in write.items() if k != "op"}
        kwargs.setdefault("at", utcnow().isoformat())
        batch.append(journal._Operation(str(write["op"]), kwargs, raises=True))
    journal._Writer(settings)._write(db, batch)
    return [op.error if op.error is not None else op.written for op in batch]


def test_concurrent_webhooks_each_get_their_call_and_steps(db, settings, session):
    sids = [f"CA{n:032d}" for n in range(20)]

    def caller(sid: str) -> None:
        for kind in ("call_started", "language", "menu", "queue"):
            assert journal.write(db, settings, "step", call_sid=sid, kind=kind,
                                 from_number="+15555550170")
        assert journal.write(db, settings, "status", call_sid=sid,
                             status="completed")

    threads = [threading.Thread(target=caller, args=(sid,)) for sid in sids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _call_sids(session) == set(sids)
    assert session.scalar(select(func.count()).select_from(CallEvent)) == 20 * 5
    assert {c.status for c in session.scalars(select(Call))} == {"completed"}
    assert spool.entries(settings.spool_dir) == []


def test_one_bad_write_in_a_group_does_not_take_the_others_down(db, settings, session):
    good = [{"op": "step", "call_sid": f"CA{n:032d}", "kind": "menu"} for n in range(5)]
    bad = {"op": "step", "call_sid": "CA" + "b" * 32, "kind": "menu",
           "updates": {"caller_hash": "forged"}}
    results = _write_together(db, settings, [*good[:2], bad, *good[2:]])
    # The bug surfaces in its own webhook only (which then answers with the fallback).
    assert isinstance(results[2], ValueError)
    assert results[:2] + results[3:] == [True] * 5
    assert {f"CA{n:032d}" for n in range(5)} <= _call_sids(session)
    assert "CA" + "b" * 32 not in _call_sids(session)
    assert spool.entries(settings.spool_dir) == []


def _a_call(sid: str) -> list[dict[str, object]]:
    """A call's webhooks as written, Twilio's retries included; times fixed to compare."""
    def at(second: int) -> str:
        return f"2026-12-05T10:00:{second:02d}+00:00"

    return [
        {"op": "step", "call_sid": sid, "kind": "call_started", "once": True, "at": at(0),
         "from_number": "+15555550171"},
        {"op": "step", "call_sid": sid, "kind": "call_started", "once": True, "at": at(1),
         "from_number": "+15555550171"},
        {"op": "step", "call_sid": sid, "kind": "language", "updates": {"language": "es"},
         "at": at(5)},
        {"op": "step", "call_sid": sid, "kind": "queue", "enqueued": True, "at": at(9),
         "updates": {"need": "self", "queue_name": "general-es", "step": "queue"}},
        {"op": "answered", "call_sid": sid, "at": at(30)},
        {"op": "step", "call_sid": sid, "kind": "queue_bridged", "left_queue": True,
         "at": at(30)},
        {"op": "status", "call_sid": sid, "status": "completed", "sequence": 3,
         "duration": 55, "at": at(55)},
        {"op": "status", "call_sid": sid, "status": "completed", "sequence": 3,
         "duration": 55, "at": at(56)},
    ]


def _record_of(session: Session, sid: str) -> dict[str, object]:
    call = session.scalar(select(Call).where(Call.call_sid == sid))
    assert call is not None
    fields = ("status", "outcome", "language", "need", "queue_name", "step", "enqueued_at",
              "answered_at", "ended_at", "wait_seconds", "talk_seconds", "last_sequence")
    events = session.execute(select(CallEvent.kind, CallEvent.at, CallEvent.detail)
                             .where(CallEvent.call_id == call.id).order_by(CallEvent.id))
    return {**{f: getattr(call, f) for f in fields}, "events": [tuple(e) for e in events]}


def test_a_group_writes_what_its_webhooks_would_write_one_by_one(db, settings, session):
    together, alone = "CA" + "1" * 32, "CA" + "2" * 32
    assert _write_together(db, settings, _a_call(together)) == [True] * 8
    for write in _a_call(alone):
        assert journal.write(db, settings, **write)  # type: ignore[arg-type]
    record = _record_of(session, together)
    assert record == _record_of(session, alone)
    assert [kind for kind, _, _ in record["events"]] == [  # type: ignore[union-attr]
        "call_started", "language", "queue", "answered", "queue_bridged", "ended"]
    assert (record["status"], record["wait_seconds"], record["talk_seconds"]) == (
        "completed", 21, 25)


def test_a_webhook_answers_without_waiting_for_the_database(db, settings, twilio, session):
    sid = "CA" + "3" * 32
    held, release = threading.Event(), threading.Event()

    class RolledBack(Exception):
        pass

    def busy_writer() -> None:
        # A transaction that creates the same call and does not end: the journal's insert
        # waits for it (a row lock on PostgreSQL, the single writer on SQLite).
        try:
            with db.session() as other:
                records.call_for(other, sid, "+15555550172")
                held.set()
                release.wait(10)
                raise RolledBack
        except RolledBack:
            pass

    blocker = threading.Thread(target=busy_writer)
    blocker.start()
    held.wait(5)
    try:
        params = {"CallSid": sid, "From": "+15555550172"}
        answer = twilio.client.post("/ivr/voice", data=params, headers={
            "X-Twilio-Signature": twilio.signature("/ivr/voice", params)})
        assert answer.status_code == 200 and b"<Gather" in answer.data
        assert not journal.settle(db, timeout=0.3)  # still queued behind the busy writer
    finally:
        release.set()
        blocker.join()
    assert journal.settle(db, timeout=10)
    assert sid in _call_sids(session)


def test_an_operation_that_fails_behind_the_answer_is_kept_for_a_person(db, settings, caplog):
    sid = "CA" + "4" * 32
    with caplog.at_level(logging.ERROR, logger="ivr.journal"):
        journal.write_behind(db, settings, "step", call_sid=sid, kind="menu",
                             updates={"caller_hash": "forged"})
        journal.settle(db)
    assert [entry["call_sid"] for entry in spool.entries(settings.spool_dir)] == [sid]
    assert "kept in the spool" in caplog.text


def test_writes_wait_for_the_writer_when_too_many_are_queued(db, settings, session,
                                                             monkeypatch):
    monkeypatch.setattr(journal, "MAX_QUEUED", 0)
    sid = "CA" + "5" * 32
    journal.write_behind(db, settings, "step", call_sid=sid, kind="menu")
    assert sid in _call_sids(session)  # in before write_behind returned


def test_write_goes_in_after_what_was_queued_before_it(db, settings, session):
    sid = "CA" + "6" * 32
    for kind in ("call_started", "language", "menu"):
        journal.write_behind(db, settings, "step", call_sid=sid, kind=kind,
                             from_number="+15555550173")
    assert journal.write(db, settings, "answered", call_sid=sid)
    kinds = session.scalars(select(CallEvent.kind).join(Call).where(Call.call_sid == sid)
                            .order_by(CallEvent.id))
    assert list(kinds) == ["call_started", "language", "menu", "answered"]
