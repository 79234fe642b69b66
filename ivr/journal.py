"""Writes from the webhooks: to the database, or to the spool when it cannot be reached.

A webhook never waits on a broken database to answer a caller: it calls :func:`write`, which
commits at once or, if the database is unreachable, appends the same operation to the local
spool. The next successful write (or the scheduler, through :func:`replay_spool`) puts the
spooled operations into the database in order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from helpline.db import Database, utcnow
from helpline.optouts import record_keyword
from ivr import records, spool

log = logging.getLogger(__name__)


def _sms_keyword(session: Session, number: str, keyword: str, at: str | None = None) -> None:
    record_keyword(session, number, keyword)


OPERATIONS: dict[str, Callable[..., Any]] = {
    "step": records.record_step,
    "answered": records.record_answered,
    "status": records.record_status,
    "callback": records.record_callback,
    "voicemail": records.record_voicemail,
    "transcription": records.record_transcription,
    "sms_keyword": _sms_keyword,
}


def is_unreachable(exc: BaseException) -> bool:
    """True for a database that is down or overloaded (worth spooling), not for a bug."""
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or type(exc.orig).__name__ in {
            "OperationalError", "InterfaceError"}
    return False


def write(db: Database, spool_dir: Any, op: str, **kwargs: Any) -> bool:
    """Apply one operation now, or spool it; True when it reached the database."""
    kwargs.setdefault("at", utcnow().isoformat())
    try:
        with db.session() as session:
            OPERATIONS[op](session, **kwargs)
    except SQLAlchemyError as exc:
        if not is_unreachable(exc):
            # A bug, not an outage: keep the operation for a person rather than lose it.
            log.exception("IVR %s could not be written; kept in the spool", op)
        else:
            log.warning("database unreachable: IVR %s kept in the spool", op)
        spool.append(spool_dir, {"op": op, **kwargs})
        return False
    if spool.pending(spool_dir):
        replay_spool(db, spool_dir, limit=200)
    return True


def replay_spool(db: Database, spool_dir: Any, limit: int = 5000) -> int:
    """Write what the spool holds into the database; return how many operations went in.

    Safe to call from the scheduler at any time and from several processes.
    """
    def apply(entry: dict[str, Any]) -> None:
        entry = dict(entry)
        op = entry.pop("op")
        try:
            with db.session() as session:
                OPERATIONS[op](session, **entry)
        except SQLAlchemyError as exc:
            if is_unreachable(exc):
                raise spool.StillDown from exc
            raise

    written = spool.replay(spool_dir, apply, limit=limit)
    if written:
        log.info("replayed %d spooled IVR operations", written)
    return written
