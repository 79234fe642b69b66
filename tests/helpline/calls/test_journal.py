"""Webhooks that write at the same moment share a commit; each write is stored (committed or
spooled) before it returns, once, however often it is delivered."""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from helpline.calls import journal, records, spool
from helpline.config import Settings
from helpline.db import Database, within
from helpline.models import Call, CallEvent


def _call_sids(session: Session) -> set[str]:
    return set(session.scalars(select(Call.call_sid)))


def _write_together(db: Database, settings: Settings,
                    writes: list[dict[str, object]]) -> list[object]:
    """Write these operations as one group, as the journal's writer does with what queued
    while it was busy; each result is True (written), False (spooled) or the error raised."""
    batch = [journal._Pending(journal.Operation.from_entry(write)) for write in writes]
    journal._Writer(settings).write(db, batch)
    return [p.error if p.error is not None else p.written for p in batch]


def test_concurrent_webhooks_each_get_their_call_and_steps(db, settings, session):
    sids = [f"CA{n:032d}" for n in range(20)]

    def caller(sid: str) -> None:
        for kind in ("call_started", "language", "menu", "queue"):
            assert journal.write(db, settings, "step", call_sid=sid, kind=kind,
                                 from_number="+15555550170") == journal.DATABASE
        assert journal.write(db, settings, "status", call_sid=sid,
                             status="completed") == journal.DATABASE

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
    # Kept for a person, not lost.
    assert [e["call_sid"] for e in spool.rejected(settings.spool_dir)] == ["CA" + "b" * 32]


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
        assert journal.write(db, settings, **write) == journal.DATABASE  # type: ignore[arg-type]
    record = _record_of(session, together)
    assert record == _record_of(session, alone)
    assert [kind for kind, _, _ in record["events"]] == [  # type: ignore[union-attr]
        "call_started", "language", "queue", "answered", "queue_bridged", "ended"]
    assert (record["status"], record["wait_seconds"], record["talk_seconds"]) == (
        "completed", 21, 25)


def _replayed(db: Database, settings: Settings) -> None:
    """Replay the spool, here or on the thread that spooling started (whichever gets it)."""
    journal.replay_spool(db, settings)
    until = time.monotonic() + 20
    while spool.pending(settings.spool_dir):
        assert time.monotonic() < until, "the spool was not replayed"
        time.sleep(0.02)


def _hold_the_writer(db: Database, sid: str) -> tuple[threading.Event, threading.Event,
                                                      threading.Thread]:
    """A transaction that creates the call ``sid`` and does not end: a write of the same call
    waits for it (a row lock on PostgreSQL, the single writer on SQLite)."""
    held, release = threading.Event(), threading.Event()

    class RolledBack(Exception):
        pass

    def busy_writer() -> None:
        try:
            with db.session() as other:
                records.call_for(other, sid, "+15555550172")
                held.set()
                release.wait(30)
                raise RolledBack
        except RolledBack:
            pass

    blocker = threading.Thread(target=busy_writer)
    blocker.start()
    assert held.wait(10)
    return held, release, blocker


def test_a_write_that_cannot_get_in_within_its_time_is_spooled_and_applied_once(
        db, settings, session):
    sid = "CA" + "3" * 32
    _, release, blocker = _hold_the_writer(db, sid)
    try:
        with within(0.5):
            where = journal.write(db, settings, "step", key="k-held", call_sid=sid,
                                  kind="menu")
        assert where == journal.SPOOL
        assert [e["key"] for e in spool.entries(settings.spool_dir)] == ["k-held"]
    finally:
        release.set()
        blocker.join()
    db.breaker.close()
    # The writer may have put it in after all once the lock went; the replay adds nothing then.
    _replayed(db, settings)
    kinds = session.scalars(select(CallEvent.kind).join(Call).where(Call.call_sid == sid))
    assert list(kinds) == ["menu"]
    assert not spool.pending(settings.spool_dir)


def test_a_delivery_made_twice_is_applied_once(db, settings, session):
    sid = "CA" + "4" * 32
    for _ in range(2):
        journal.write(db, settings, "step", key="twice", call_sid=sid, kind="menu")
    threads = [threading.Thread(target=journal.write, args=(db, settings, "step"),
                                kwargs={"key": "racing", "call_sid": sid, "kind": "queue"})
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    kinds = session.scalars(select(CallEvent.kind).join(Call).where(Call.call_sid == sid))
    assert sorted(kinds) == ["menu", "queue"]
    assert journal.was_applied(session, "twice")


def test_with_the_breaker_open_writes_go_straight_to_the_spool(db, settings, session):
    db.breaker.trip("a test")
    try:
        where = journal.write(db, settings, "step", call_sid="CA" + "5" * 32, kind="menu")
    finally:
        db.breaker.close()
    assert where == journal.SPOOL
    assert _call_sids(session) == set()
    _replayed(db, settings)
    assert _call_sids(session) == {"CA" + "5" * 32}


def test_nothing_stored_is_said_when_the_spool_cannot_take_it(db, settings, tmp_path, caplog):
    blocked = settings.with_overrides(spool_dir=tmp_path / "a-file")
    (tmp_path / "a-file").write_text("not a directory")
    db.breaker.trip("a test")
    try:
        with caplog.at_level(logging.ERROR, logger="helpline.calls.journal"):
            try:
                journal.write(db, blocked, "callback", call_sid="CA" + "6" * 32,
                              phone="+15555550174")
            except journal.NotStored as exc:
                assert "a-file" in str(exc)
            else:
                raise AssertionError("a write that was not stored returned")
    finally:
        db.breaker.close()
    assert "NOT STORED" in caplog.text and "a-file" in caplog.text


def test_write_goes_in_after_what_was_written_before_it(db, settings, session):
    sid = "CA" + "6" * 32
    for kind in ("call_started", "language", "menu"):
        journal.write(db, settings, "step", call_sid=sid, kind=kind, from_number="+15555550173")
    assert journal.write(db, settings, "answered", call_sid=sid) == journal.DATABASE
    kinds = session.scalars(select(CallEvent.kind).join(Call).where(Call.call_sid == sid)
                            .order_by(CallEvent.id))
    assert list(kinds) == ["call_started", "language", "menu", "answered"]
