"""An append-only local spool for what the IVR could not write while the database was down.

One JSON object per line, sealed with the data key (a line can hold a caller's number), in
``<spool_dir>/ivr-spool.jsonl``. Writers append under an exclusive file lock; a replay moves
the file aside, hands each entry back in order, and puts back what still could not be written.
Entries that fail for any other reason than the database being unreachable are moved to
``ivr-rejected.jsonl`` for a person to look at: nothing is dropped.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from helpline import crypto

SPOOL = "ivr-spool.jsonl"
REJECTED = "ivr-rejected.jsonl"
_PURPOSE = "ivr.spool"


class StillDown(Exception):
    """Raised by a replay handler when the database is still unreachable."""


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _seal(entry: dict[str, Any]) -> str:
    return json.dumps({"v": 1, "sealed": crypto.active().encrypt(json.dumps(entry), _PURPOSE)})


def _open(line: str) -> dict[str, Any]:
    return json.loads(crypto.active().decrypt(json.loads(line)["sealed"], _PURPOSE))


def _append(path: Path, lines: list[str]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.writelines(line + "\n" for line in lines)
        fh.flush()
        os.fsync(fh.fileno())


def append_all(directory: Path, entries: list[dict[str, Any]]) -> None:
    """Add entries to the spool in order (durably: one fsync before returning)."""
    lines = [_seal(entry) for entry in entries]
    with _locked(Path(directory)):
        _append(Path(directory) / SPOOL, lines)


def pending(directory: Path) -> bool:
    """Is anything spooled? Asked after every IVR write, hence os.stat rather than Path."""
    try:
        return os.stat(os.path.join(directory, SPOOL)).st_size > 0
    except OSError:
        return False


def entries(directory: Path) -> list[dict[str, Any]]:
    """The entries waiting in the spool, oldest first (for inspection and tests)."""
    path = directory / SPOOL
    if not path.exists():
        return []
    return [_open(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def replay(directory: Path, apply: Callable[[dict[str, Any]], None], limit: int = 500) -> int:
    """Hand spooled entries to ``apply`` oldest first; return how many were written.

    ``apply`` raises :class:`StillDown` to stop (that entry and the rest stay spooled, ahead of
    anything appended meanwhile) and any other exception to reject one entry.
    """
    with _locked(directory):
        path = directory / SPOOL
        if not path.exists():
            return 0
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line]
        path.unlink()
    done = 0
    rejected: list[str] = []
    remaining: list[str] = []
    for i, line in enumerate(lines):
        if done >= limit:
            remaining = lines[i:]
            break
        try:
            apply(_open(line))
        except StillDown:
            remaining = lines[i:]
            break
        except Exception:
            rejected.append(line)
            continue
        done += 1
    with _locked(directory):
        if rejected:
            _append(directory / REJECTED, rejected)
        if remaining:
            newer = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
            tmp = directory / (SPOOL + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.writelines(x + "\n" for x in remaining + [n for n in newer if n])
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
    return done
