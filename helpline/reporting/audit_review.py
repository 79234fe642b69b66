"""Reading the audit log: who viewed or changed which record, when and from where.

Only reads: the log is append-only (helpline.audit refuses edits, the database too), and
nothing here offers to change it. Exports are themselves audited.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from helpline import audit
from helpline.models import AuditEvent, User
from helpline.reporting.spreadsheet_csv import SpreadsheetWriter

PER_PAGE_MAX = 200
CSV_COLUMNS = ["id", "at", "actor", "action", "record_type", "record_id", "address", "detail",
               "hash"]


class AuditQueryError(ValueError):
    """A filter that cannot be used; the message says why."""


@dataclass(frozen=True)
class AuditFilter:
    """What to look for; every field is optional. Dates are local days, inclusive."""

    actor: str | None = None  # username at the time
    action: str | None = None  # exact action, or a prefix ending in "." (e.g. "user.")
    record_type: str | None = None
    record_id: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    timezone: str = "UTC"

    def conditions(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.actor:
            where.append(AuditEvent.actor == self.actor.strip().lower())
        if self.action:
            action = self.action.strip()
            if action.endswith("."):
                where.append(AuditEvent.action.startswith(action, autoescape=True))
            else:
                where.append(AuditEvent.action == action)
        if self.record_type:
            where.append(AuditEvent.record_type == self.record_type.strip())
        if self.record_id:
            where.append(AuditEvent.record_id == self.record_id.strip())
        if self.start and self.end and self.end < self.start:
            raise AuditQueryError("the end date is before the start date")
        zone = ZoneInfo(self.timezone)
        if self.start:
            where.append(AuditEvent.at >= dt.datetime.combine(self.start, dt.time(), zone))
        if self.end:
            after = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), zone)
            where.append(AuditEvent.at < after)
        return where


@dataclass
class AuditPage:
    items: list[AuditEvent]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def list_events(session: Session, filters: AuditFilter, *, page: int = 1,
                per_page: int = 50) -> AuditPage:
    """One page of matching audit events, newest first."""
    page = max(1, page)
    per_page = min(max(1, per_page), PER_PAGE_MAX)
    where = filters.conditions()
    total = session.scalar(select(func.count()).select_from(AuditEvent).where(*where)) or 0
    items = list(session.scalars(select(AuditEvent).where(*where)
                                 .order_by(AuditEvent.id.desc())
                                 .offset((page - 1) * per_page).limit(per_page)))
    return AuditPage(items=items, total=total, page=page, per_page=per_page)


def wrap_up_overrides(session: Session, since: dt.datetime, *,
                      limit: int = 50) -> list[AuditEvent]:
    """Records closed with something missing (``contact.wrap_up_override``) since ``since``,
    newest first: the supervisors' alert to look at those records."""
    return list(session.scalars(select(AuditEvent).where(
        AuditEvent.action == "contact.wrap_up_override", AuditEvent.at >= since)
        .order_by(AuditEvent.id.desc()).limit(limit)))


def iter_events(session: Session, filters: AuditFilter) -> Iterator[AuditEvent]:
    """Every matching event, oldest first, streamed in batches."""
    query = select(AuditEvent).where(*filters.conditions()).order_by(AuditEvent.id)
    yield from session.scalars(query.execution_options(yield_per=1000))


def export_csv(session: Session, filters: AuditFilter, *, by: User,
               address: str | None = None) -> Iterator[str]:
    """The matching events as CSV lines; the export itself is recorded (and committed) first."""
    audit.record(session, "audit.export", actor=by, record_type="audit_log", address=address,
                 detail={k: str(v) for k, v in vars(filters).items()
                         if v is not None and k != "timezone"})
    session.commit()

    def lines() -> Iterator[str]:
        out = io.StringIO()
        writer = SpreadsheetWriter(out)
        writer.writerow(CSV_COLUMNS)
        try:
            for ev in iter_events(session, filters):
                writer.writerow([ev.id, ev.at.isoformat(), ev.actor, ev.action,
                                 ev.record_type or "", ev.record_id or "", ev.address or "",
                                 json.dumps(ev.detail, sort_keys=True), ev.hash])
                if out.tell() > 64_000:
                    yield out.getvalue()
                    out.seek(0)
                    out.truncate()
            yield out.getvalue()
        finally:
            # A streamed answer is read after the request has ended (and closed its session):
            # reading reopened it, so it is closed here, or its connection waits for the GC.
            session.close()

    return lines()


@dataclass(frozen=True)
class ChainCheck:
    whole: bool
    events: int
    first_broken_id: int | None


def check_chain(session: Session) -> ChainCheck:
    """Whether the hash chain of the whole log is unbroken (helpline.audit.verify_chain)."""
    broken = audit.verify_chain(session)
    count = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    return ChainCheck(whole=broken is None, events=count, first_broken_id=broken)


def actions(session: Session) -> list[str]:
    """The distinct actions in the log (for the filter's choices)."""
    return list(session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))
