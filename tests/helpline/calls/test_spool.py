"""The spool: durable appends, and a replay that a crash at any moment cannot make lose or
repeat an entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from helpline.calls import journal, spool
from helpline.models import CallEvent


class Crash(BaseException):
    """The process dies here (not an Exception: nothing may catch it)."""


def _steps(n: int) -> list[dict[str, Any]]:
    return [{"op": "step", "key": f"k{i}", "call_sid": f"CA{i % 7:032d}", "kind": "menu",
             "at": "2026-12-06T10:00:00+00:00"} for i in range(n)]


@pytest.fixture(autouse=True)
def _keys(keyring):  # type: ignore[no-untyped-def]
    """Spool lines are sealed with the data key."""


def test_entries_come_back_in_order_and_survive_a_stop(tmp_path: Path) -> None:
    spool.append_all(tmp_path, _steps(3))
    spool.append_all(tmp_path, _steps(5)[3:])
    seen: list[str] = []

    def down_after_two(entries: list[dict[str, Any]]) -> list[Exception | None]:
        if seen:
            raise spool.StillDown
        seen.extend(e["key"] for e in entries)
        return [None] * len(entries)

    spool.CHUNK, chunk = 2, spool.CHUNK
    try:
        assert spool.replay(tmp_path, down_after_two) == 2
        spool.append_all(tmp_path, [{"op": "step", "key": "later"}])
        assert [e["key"] for e in spool.entries(tmp_path)] == ["k2", "k3", "k4", "later"]
        assert spool.count(tmp_path) == 4
    finally:
        spool.CHUNK = chunk


def test_a_line_cut_short_by_a_crash_is_not_an_entry(tmp_path: Path) -> None:
    spool.append_all(tmp_path, _steps(2))
    with open(tmp_path / spool.SPOOL, "a") as fh:
        fh.write('{"v": 1, "sealed": "half')  # the writer died mid-append: never confirmed
    assert [e["key"] for e in spool.entries(tmp_path)] == ["k0", "k1"]


@pytest.mark.parametrize("crash_at", [1, 3, 5])
def test_a_replay_killed_anywhere_applies_each_entry_once(db, settings, session,
                                                           monkeypatch, crash_at) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(spool, "CHUNK", 10)
    spool.append_all(settings.spool_dir, _steps(60))
    real_save = spool._save_offset
    saves = 0

    def dies_before_counting(path: Path, offset: int) -> None:
        # The chunk is committed; the process dies before its offset is on disk.
        nonlocal saves
        saves += 1
        if saves == crash_at:
            raise Crash
        real_save(path, offset)

    monkeypatch.setattr(spool, "_save_offset", dies_before_counting)
    with pytest.raises(Crash):
        journal.replay_spool(db, settings)
    monkeypatch.setattr(spool, "_save_offset", real_save)
    assert spool.pending(settings.spool_dir)  # nothing deleted before its commit
    assert journal.replay_spool(db, settings) == 60 - 10 * (crash_at - 1)
    assert not spool.pending(settings.spool_dir)
    assert session.scalar(select(func.count()).select_from(CallEvent)) == 60


def test_an_entry_that_cannot_be_applied_is_kept_for_a_person(db, settings, session) -> None:  # type: ignore[no-untyped-def]
    bad = {"op": "step", "key": "bad", "call_sid": "CA" + "b" * 32, "kind": "menu",
           "updates": {"caller_hash": "forged"}}
    spool.append_all(settings.spool_dir, [*_steps(2), bad, *_steps(4)[2:]])
    assert journal.replay_spool(db, settings) == 4
    assert [e["key"] for e in spool.rejected(settings.spool_dir)] == ["bad"]
    assert not spool.pending(settings.spool_dir)


def test_a_full_disk_is_an_error_that_names_the_spool(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import errno
    import os

    spool.append_all(tmp_path, _steps(1))
    before = (tmp_path / spool.SPOOL).read_bytes()

    def full(fd: int, data: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(spool.SpoolError, match="No space left on device") as caught:
        spool.append_all(tmp_path, _steps(2))
    assert str(tmp_path) in str(caught.value)
    monkeypatch.undo()
    assert (tmp_path / spool.SPOOL).read_bytes() == before
