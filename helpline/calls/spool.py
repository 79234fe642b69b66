"""An append-only local spool for what the IVR could not write while the database was down.

One JSON object per line, sealed with the data key (a line can hold a caller's number), in
``<spool_dir>/ivr-spool.jsonl``. Writers append under an exclusive file lock and fsync before
they return: an entry that was acknowledged is on disk.

A replay never deletes what it has not committed. It renames the spool aside
(``ivr-spool.<time>.replaying``), so that writers start a new file, and works through the
files set aside, oldest first, a chunk at a time; after each chunk's commit it records how far
it got in ``<file>.offset``, and removes a file only once every entry in it is committed or
rejected. A replay killed at any instant is taken up by the next one from its offset; a
chunk committed but not yet counted is applied again, and its entries' idempotency keys make
that a no-op (helpline.calls.journal). One replay at a time per spool directory.

Entries that fail for any other reason than the database being unreachable are moved to
``ivr-rejected.jsonl`` for a person to look at: nothing is dropped.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from helpline import crypto

SPOOL = "ivr-spool.jsonl"
REJECTED = "ivr-rejected.jsonl"
REPLAYING = "ivr-spool.*.replaying"
_PURPOSE = "ivr.spool"
CHUNK = 100


class StillDown(Exception):
    """Raised by a replay handler when the database is still unreachable."""


class SpoolError(Exception):
    """The spool could not take an entry (disk full, not writable): nothing was stored."""


@contextmanager
def _locked(directory: Path, name: str = ".lock", wait: float | None = None) -> Iterator[bool]:
    """An exclusive lock on ``directory/name``: waited for without end, or ``wait`` seconds
    at most (then False)."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        if wait is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        else:
            until = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= until:
                        yield False
                        return
                    time.sleep(0.05)
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _seal(entry: dict[str, Any]) -> str:
    return json.dumps({"v": 1, "sealed": crypto.active().encrypt(json.dumps(entry), _PURPOSE)})


def _open(line: str) -> dict[str, Any]:
    return json.loads(crypto.active().decrypt(json.loads(line)["sealed"], _PURPOSE))


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _append(path: Path, lines: list[str]) -> None:
    """Append whole lines and fsync; on failure, cut the file back to where it was, so that a
    half-written line cannot be taken for an entry."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        start = os.fstat(fd).st_size
        try:
            data = memoryview("".join(line + "\n" for line in lines).encode())
            while data:
                data = data[os.write(fd, data):]  # a full disk may take part of it first
            os.fsync(fd)
        except OSError:
            with suppress(OSError):
                os.ftruncate(fd, start)
            raise
    finally:
        os.close(fd)


def append_all(directory: Path, entries: list[dict[str, Any]]) -> None:
    """Add entries to the spool in order, durably (one fsync), or raise :class:`SpoolError`."""
    lines = [_seal(entry) for entry in entries]
    directory = Path(directory)
    try:
        with _locked(directory):
            new = not (directory / SPOOL).exists()
            _append(directory / SPOOL, lines)
            if new:
                _sync_directory(directory)  # the new file's name is durable too
    except OSError as exc:
        raise SpoolError(f"spool {directory}: {exc.strerror or exc}") from exc


def reject(directory: Path, entries: list[dict[str, Any]]) -> None:
    """Keep entries that cannot be applied for a person (``ivr-rejected.jsonl``)."""
    try:
        with _locked(Path(directory)):
            _append(Path(directory) / REJECTED, [_seal(entry) for entry in entries])
    except OSError as exc:
        raise SpoolError(f"spool {directory}: {exc.strerror or exc}") from exc


def _set_aside(directory: Path) -> list[Path]:
    """Rename the spool aside (writers start a new one); the files to replay, oldest first."""
    with _locked(directory):
        path = directory / SPOOL
        if path.exists() and path.stat().st_size > 0:
            os.replace(path, directory / f"ivr-spool.{time.time_ns():020d}.replaying")
            _sync_directory(directory)
    return sorted(directory.glob(REPLAYING))


def _lines(path: Path) -> list[str]:
    """The complete lines of a spool file (a line cut short by a crash was never confirmed)."""
    text = path.read_text(encoding="utf-8")
    return [line for line in text.split("\n")[:-1] if line]


def _offset(path: Path) -> int:
    try:
        return int(Path(f"{path}.offset").read_text(encoding="ascii"))
    except (OSError, ValueError):
        return 0


def _save_offset(path: Path, offset: int) -> None:
    tmp = Path(f"{path}.offset.tmp")
    tmp.write_text(str(offset), encoding="ascii")
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, f"{path}.offset")


def pending(directory: Path) -> bool:
    """Is anything spooled? Asked after IVR writes, hence os.stat rather than Path."""
    try:
        if os.stat(os.path.join(directory, SPOOL)).st_size > 0:
            return True
    except OSError:
        pass
    return any(Path(directory).glob(REPLAYING))


def entries(directory: Path) -> list[dict[str, Any]]:
    """The entries waiting in the spool, oldest first (for inspection and tests)."""
    directory = Path(directory)
    waiting: list[dict[str, Any]] = []
    for path in sorted(directory.glob(REPLAYING)):
        waiting += [_open(line) for line in _lines(path)[_offset(path):]]
    if (directory / SPOOL).exists():
        waiting += [_open(line) for line in _lines(directory / SPOOL)]
    return waiting


def rejected(directory: Path) -> list[dict[str, Any]]:
    path = Path(directory) / REJECTED
    return [_open(line) for line in _lines(path)] if path.exists() else []


Apply = Callable[[list[dict[str, Any]]], list[Exception | None]]


def replay(directory: Path, apply: Apply, limit: int = 5000, wait: float = 0.0) -> int:
    """Hand spooled entries to ``apply`` oldest first, a chunk at a time; return how many went
    in. ``apply`` commits a chunk and returns, per entry, None or the error that rejects it; it
    raises :class:`StillDown` to stop (that chunk and the rest stay, ahead of anything
    appended meanwhile). Returns 0 if another replay of this directory is still running after
    ``wait`` seconds.
    """
    directory = Path(directory)
    done = 0
    with _locked(directory, ".replay-lock", wait=wait) as mine:
        if not mine:
            return 0
        for path in _set_aside(directory):
            lines = _lines(path)
            at = _offset(path)
            while at < len(lines) and done < limit:
                chunk = lines[at:at + CHUNK]
                opened: list[tuple[str, dict[str, Any]]] = []
                unreadable: list[str] = []
                for line in chunk:
                    try:
                        opened.append((line, _open(line)))
                    except Exception:
                        unreadable.append(line)
                try:
                    errors = apply([entry for _, entry in opened])
                except StillDown:
                    return done
                refused = [line for (line, _), error in zip(opened, errors, strict=True)
                           if error is not None] + unreadable
                if refused:
                    with _locked(directory):
                        _append(directory / REJECTED, refused)
                done += len(chunk) - len(refused)
                at += len(chunk)
                _save_offset(path, at)
            if at < len(lines):
                break
            path.unlink()
            Path(f"{path}.offset").unlink(missing_ok=True)
            _sync_directory(directory)
    return done


def count(directory: Path) -> int:
    """How many entries wait (``helpline spool status``)."""
    directory = Path(directory)
    total = sum(len(_lines(p)) - _offset(p) for p in directory.glob(REPLAYING))
    if (directory / SPOOL).exists():
        total += len(_lines(directory / SPOOL))
    return total
