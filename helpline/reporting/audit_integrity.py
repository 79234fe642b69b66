"""Is the audit log whole: its hash chain, and signed checkpoints of its end kept outside the
database.

The chain (:mod:`helpline.audit`) shows a row edited in place. It cannot show a chain
rewritten from an edited row onwards with every later hash recomputed, nor the newest events
deleted: both leave a chain that links. Checkpoints close that gap. A checkpoint is the
chain's end at one moment (the newest event's id and hash) signed with HMAC-SHA256 under a
key the database never holds (``Settings.checkpoint_key``), and written where the database
cannot reach: one INFO line in the log, and one line appended to ``AUDIT_CHECKPOINT_FILE``.
Verifying compares every checkpoint of the file with the database: a checkpointed event that
is missing, or whose hash differs, is a truncation or a rewrite.

What checkpoints cannot show: events appended after the newest checkpoint and removed before
the next one (the scheduler writes one every few minutes), or a log rewritten by someone who
also holds the key and can rewrite the file and the log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from helpline import audit
from helpline.config import Settings
from helpline.db import utcnow

log = logging.getLogger(__name__)

# Found anywhere in a line, so that lines copied out of the application log verify too.
_CHECKPOINT = re.compile(r"audit-checkpoint event=(\d+) hash=([0-9a-f]{64}) sig=([0-9a-f]{64})")
# The newest checkpoint is looked for in this much of the file's end, not the whole file.
_TAIL_BYTES = 16_384


class AuditLogBroken(Exception):
    """The audit log is not what was recorded; the message says where."""

    def __init__(self, message: str, event_id: int | None = None) -> None:
        super().__init__(message)
        self.event_id = event_id


@dataclass(frozen=True)
class Checkpoint:
    event_id: int
    event_hash: str
    signature: str
    line: int = 0  # its line in the file it was read from (0: not read from one)

    def text(self) -> str:
        return f"audit-checkpoint event={self.event_id} hash={self.event_hash} " \
               f"sig={self.signature}"


def sign(key: bytes, event_id: int, event_hash: str) -> str:
    message = f"helpline-audit-checkpoint:{event_id}:{event_hash}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _signed_rightly(key: bytes, checkpoint: Checkpoint) -> bool:
    return hmac.compare_digest(sign(key, checkpoint.event_id, checkpoint.event_hash),
                               checkpoint.signature)


def _parse(line: str, number: int) -> Checkpoint | None:
    found = _CHECKPOINT.search(line)
    if found is None:
        return None
    return Checkpoint(int(found.group(1)), found.group(2), found.group(3), number)


def _checkpoint_lines(path: Path) -> Iterator[tuple[int, Checkpoint | None]]:
    """(line number, checkpoint or None for a line that is not one), skipping blank lines."""
    if not path.exists():
        return
    with path.open(encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                yield number, _parse(line, number)


def newest_checkpoint(path: Path, key: bytes) -> Checkpoint | None:
    """The newest rightly signed checkpoint near the end of ``path``, if any."""
    if not path.exists():
        return None
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - _TAIL_BYTES))
        tail = fh.read().decode("utf-8", errors="replace")
    for line in reversed(tail.splitlines()):
        checkpoint = _parse(line, 0)
        if checkpoint is not None and _signed_rightly(key, checkpoint):
            return checkpoint
    return None


def write_checkpoint(session: Session, settings: Settings,
                     now: dt.datetime | None = None) -> Checkpoint | None:
    """Sign the chain's end and write it to the log and the checkpoint file.

    The chain is checked first from the newest checkpoint onwards (the whole chain the first
    time), so that a checkpoint never vouches for a rewritten log: :class:`AuditLogBroken`
    then, and nothing is written. None when the log is empty or its end is already the
    newest checkpoint.
    """
    key = settings.checkpoint_key
    path = settings.audit_checkpoint_file
    since = newest_checkpoint(path, key)
    prev, head = audit.GENESIS, None
    if since is not None:
        anchor = audit.hash_of(session, since.event_id)
        if anchor is None:
            raise AuditLogBroken(f"event {since.event_id}, in a signed checkpoint, is missing",
                                 since.event_id)
        if anchor != since.event_hash:
            raise AuditLogBroken(f"event {since.event_id} differs from its signed checkpoint",
                                 since.event_id)
        prev, head = since.event_hash, since.event_id
    for ev in audit.chain_after(session, head or 0):
        if not audit.links(prev, ev):
            raise AuditLogBroken(f"event {ev.id} does not follow the event before it", ev.id)
        prev, head = ev.hash, ev.id
    if head is None or (since is not None and head == since.event_id):
        return None
    checkpoint = Checkpoint(head, prev, sign(key, head, prev))
    _append(path, f"{(now or utcnow()).isoformat(timespec='seconds')} {checkpoint.text()}\n")
    log.info("%s", checkpoint.text())
    return checkpoint


def _append(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Verification:
    """The outcome of :func:`verify_audit_log`; ``problem`` says what is wrong, in words."""

    events: int
    checkpoints: int
    checkpoint_file: Path
    problem: str | None = None
    event_id: int | None = None  # the first event found wrong, when one is to blame

    @property
    def intact(self) -> bool:
        return self.problem is None

    def summary(self) -> str:
        if not self.intact:
            return f"Audit log NOT intact: {self.problem}"
        signed = (f"signed checkpoints matched: {self.checkpoints}" if self.checkpoints
                  else f"no signed checkpoints yet in {self.checkpoint_file}")
        return f"Audit log intact: {self.events} events, the chain links, {signed}."


def verify_audit_log(session: Session, settings: Settings,
                     checkpoint_file: Path | None = None) -> Verification:
    """Check the whole chain, and every checkpoint of ``checkpoint_file`` (by default
    ``AUDIT_CHECKPOINT_FILE``) against the database; the first problem found, naming the
    event or the checkpoint's line."""
    path = checkpoint_file or settings.audit_checkpoint_file
    key = settings.checkpoint_key
    expected: dict[int, Checkpoint] = {}
    for number, checkpoint in _checkpoint_lines(path):
        if checkpoint is None:
            return Verification(0, 0, path, f"line {number} of {path} is not a checkpoint")
        if not _signed_rightly(key, checkpoint):
            return Verification(0, 0, path, (
                f"the checkpoint on line {number} of {path} (event {checkpoint.event_id}) "
                "is not signed with this helpline's checkpoint key"), checkpoint.event_id)
        earlier = expected.setdefault(checkpoint.event_id, checkpoint)
        if earlier.event_hash != checkpoint.event_hash:
            return Verification(0, 0, path, (
                f"the checkpoints on lines {earlier.line} and {number} of {path} give event "
                f"{checkpoint.event_id} two different hashes"), checkpoint.event_id)
    count = len(expected)

    def broken(events: int, problem: str, event_id: int) -> Verification:
        return Verification(events, count, path, problem, event_id)

    prev, events, vouched, last = audit.GENESIS, 0, 0, 0
    for ev in audit.chain_after(session):
        events, last = events + 1, ev.id
        if not audit.links(prev, ev):
            return broken(events, f"event {ev.id} does not follow the event before it: it was "
                                  "altered, or an event before it was removed", ev.id)
        checkpoint = expected.pop(ev.id, None)
        if checkpoint is not None:
            if checkpoint.event_hash != ev.hash:
                after = f"after event {vouched}" if vouched else "at or before it"
                return broken(events, (
                    f"event {ev.id} differs from its signed checkpoint (line "
                    f"{checkpoint.line} of {path}): the log was rewritten {after}"), ev.id)
            vouched = ev.id
        prev = ev.hash
    if expected:
        missing = min(expected)
        what = (f"the newest events, after event {last}, were deleted" if missing > last
                else "it was removed and the chain rewritten around it")
        return broken(events, (
            f"event {missing} is missing: a signed checkpoint (line {expected[missing].line} "
            f"of {path}) has it, the database does not; {what}"), missing)
    return Verification(events, count, path)
