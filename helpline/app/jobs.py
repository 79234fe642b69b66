"""The scheduler's jobs: thin, module-level functions over services.

APScheduler keeps jobs in the database by reference (``helpline.jobs:deliver_due``), so a job
cannot carry the database or the telephony adapter: the active scheduler installs them here
with :func:`install` before it starts. Each job takes ``now`` so tests drive a fake clock.
This module also holds the two small services only the jobs use: the retention purge and
the daily summary.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Delete,
    SQLColumnExpression,
    Update,
    delete,
    exists,
    func,
    select,
    update,
)
from sqlalchemy.orm import Session

from helpline import audit, sms_limits
from helpline.calls import lost
from helpline.config import Settings
from helpline.db import Database, affected_rows, utcnow
from helpline.directory import meeting_feeds
from helpline.followups import delivery
from helpline.models import (
    Call,
    Consent,
    Contact,
    Disclosure,
    EmergencyDisclosure,
    OutboxMessage,
    OverdoseProtocol,
    SafeContactPreferences,
)
from helpline.models.followups import (
    CLOSED_STATES,
    FollowUp,
    FollowUpAttempt,
    FollowUpDailySummary,
)
from helpline.reporting import audit_integrity
from helpline.telephony import Telephony
from helpline.telephony import send_pending_texts as send_queued_texts

log = logging.getLogger(__name__)


@dataclass
class JobContext:
    db: Database
    settings: Settings
    telephony: Telephony


_context: JobContext | None = None


def install(context: JobContext) -> None:
    """Give the jobs their database, settings and telephony (done by the active scheduler)."""
    global _context
    _context = context


def context() -> JobContext:
    if _context is None:
        raise RuntimeError("the scheduler's jobs run only under an active scheduler")
    return _context


# --- jobs -----------------------------------------------------------------------------------


def deliver_due(now: dt.datetime | None = None) -> delivery.DeliveryReport:
    """Deliver every follow-up that is due (exactly once each)."""
    ctx = context()
    report = delivery.deliver_due_followups(ctx.db, ctx.telephony, ctx.settings, now=now)
    if report.delivered or report.failed or report.stopped:
        log.info("follow-ups: %d delivered, %d failed, %d stopped, %d deferred",
                 len(report.delivered), report.failed, report.stopped, report.deferred)
    return report


def escalate_overdue(now: dt.datetime | None = None) -> int:
    """Tell supervisors about late or stuck follow-ups (once each)."""
    ctx = context()
    with ctx.db.session() as session:
        return delivery.escalate_overdue(session, ctx.telephony, ctx.settings, now=now)


def purge_expired(now: dt.datetime | None = None) -> dict[str, int]:
    """Apply the retention rule (RETENTION_DAYS; 0 keeps everything), and forget the text
    limits of days gone (their keys hold keyed hashes of numbers)."""
    ctx = context()
    with ctx.db.session() as session:
        today = (now or utcnow()).astimezone(dt.UTC).date()
        sms_limits.purge_quotas(session, today - dt.timedelta(days=1))
        return purge_expired_data(session, ctx.settings, now=now)


def nightly_summary(now: dt.datetime | None = None) -> dict[str, Any]:
    """Count yesterday's follow-ups for the reports (idempotent: one row a day)."""
    ctx = context()
    now = now or utcnow()
    with ctx.db.session() as session:
        return summarize_day(session, (now - dt.timedelta(days=1)).date(), now=now)


def checkpoint_audit(now: dt.datetime | None = None) -> int | None:
    """Sign the audit chain's end to the log and the checkpoint file; the event signed."""
    ctx = context()
    try:
        with ctx.db.sessions() as session:
            checkpoint = audit_integrity.write_checkpoint(session, ctx.settings, now=now)
    except audit_integrity.AuditLogBroken as exc:
        # No checkpoint may vouch for a rewritten log: this error is the alarm.
        log.error("audit checkpoint not written: the audit log is not intact: %s", exc)
        return None
    return checkpoint.event_id if checkpoint else None


def send_pending_texts(now: dt.datetime | None = None) -> int:
    """Send the texts the IVR's webhooks queued (they make no REST call themselves)."""
    ctx = context()
    return send_queued_texts(ctx.db.sessions, ctx.telephony, now=now)


def close_lost_calls(now: dt.datetime | None = None) -> lost.LostReport:
    """Close the calls whose end was lost (silent too long; with Twilio, Twilio asked first)."""
    ctx = context()
    report = lost.close_lost_calls(ctx.db, ctx.telephony, ctx.settings, now=now)
    if report.closed or report.unasked:
        log.info("lost calls: %d closed, %d still live, %d left (Twilio not asked)",
                 len(report.closed), report.still_live, report.unasked)
    return report


def refresh_meeting_feeds(now: dt.datetime | None = None) -> int:
    """Fetch and import the Meeting Guide feeds supervisors configured; how many failed."""
    ctx = context()
    return sum(r.report is None for r in meeting_feeds.refresh_feeds(ctx.db, now=now))


def replay_ivr_spool() -> int:
    """Write what this machine's IVR spooled while the database was down."""
    from helpline.calls.journal import replay_spool

    ctx = context()
    return replay_spool(ctx.db, ctx.settings)


def purge_idempotency_keys() -> int:
    """Forget the keys of IVR operations applied longer ago than IDEMPOTENCY_KEEP_DAYS."""
    from helpline.calls.journal import purge_keys

    ctx = context()
    return purge_keys(ctx.db, ctx.settings)


# --- retention ------------------------------------------------------------------------------


def purge_expired_data(session: Session, settings: Settings,
                       now: dt.datetime | None = None) -> dict[str, int]:
    """Delete confidential notes and phone numbers older than ``settings.retention_days``.

    Notes and reasons are removed; numbers and the keyed hashes that link a caller's records
    are removed (de-identified), so the counts in reports remain. Open follow-ups keep their
    number until they close. One audit event names the counts, never a value.
    """
    if settings.retention_days <= 0:
        return {}
    now = now or utcnow()
    cutoff = now - dt.timedelta(days=settings.retention_days)
    counts: dict[str, int] = {}

    def run(name: str, stmt: Update | Delete) -> None:
        counts[name] = affected_rows(session.execute(
            stmt.execution_options(synchronize_session=False)))

    run("contact_notes", update(Contact)
        .where(Contact.created_at < cutoff, Contact.notes.is_not(None)).values(notes=None))
    run("contact_reasons", update(Contact)
        .where(Contact.created_at < cutoff,
               Contact.no_crisis_step_reason.is_not(None)
               | Contact.wrap_up_override_reason.is_not(None))
        .values(no_crisis_step_reason=None, wrap_up_override_reason=None))
    run("overdose_locations", update(OverdoseProtocol)
        .where(OverdoseProtocol.started_at < cutoff, OverdoseProtocol.location.is_not(None))
        .values(location=None))
    run("contact_links", update(Contact)
        .where(Contact.created_at < cutoff, Contact.caller_hash.is_not(None))
        .values(caller_hash=None))
    run("call_numbers", update(Call)
        .where(Call.started_at < cutoff,
               (Call.caller_number.is_not(None)) | (Call.caller_hash.is_not(None)))
        .values(caller_number=None, caller_hash=None))
    run("followup_numbers", update(FollowUp)
        .where(FollowUp.state.in_(CLOSED_STATES), FollowUp.closed_at < cutoff,
               FollowUp.phone.is_not(None))
        .values(phone=None, caller_hash=None))
    still_open = exists().where(FollowUp.consent_id == Consent.id,
                                FollowUp.state.not_in(CLOSED_STATES))
    run("consent_numbers", update(Consent)
        .where(Consent.recorded_at < cutoff,
               (Consent.phone.is_not(None)) | (Consent.caller_hash.is_not(None))
               | (Consent.third_party_name.is_not(None)),
               ~still_open)
        .values(phone=None, caller_hash=None, third_party_name=None))
    run("disclosure_links", update(Disclosure)
        .where(Disclosure.disclosed_at < cutoff, Disclosure.caller_hash.is_not(None))
        .values(caller_hash=None))
    run("emergency_disclosure_links", update(EmergencyDisclosure)
        .where(EmergencyDisclosure.disclosed_at < cutoff,
               EmergencyDisclosure.caller_hash.is_not(None))
        .values(caller_hash=None))
    run("safe_contact_preferences", delete(SafeContactPreferences)
        .where(SafeContactPreferences.updated_at < cutoff))
    run("outbox_numbers", update(OutboxMessage)
        .where(OutboxMessage.created_at < cutoff, OutboxMessage.to_hash.is_not(None))
        .values(to_number="", to_hash=None))
    audit.record(session, "retention.purge", actor="scheduler",
                 detail={"retention_days": settings.retention_days,
                         "cutoff": cutoff.isoformat(), **counts})
    return counts


# --- reports --------------------------------------------------------------------------------


def summarize_day(session: Session, day: dt.date,
                  now: dt.datetime | None = None) -> dict[str, Any]:
    """Follow-up counts for one UTC day, stored in ``followup_daily_summaries``."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)

    def grouped(column: SQLColumnExpression[Any],
                *where: ColumnElement[bool]) -> dict[str, int]:
        rows = session.execute(select(column, func.count()).where(*where).group_by(column))
        return {str(key): count for key, count in rows}

    counts: dict[str, Any] = {
        "requested_by_source": grouped(FollowUp.source, FollowUp.created_at >= start,
                                       FollowUp.created_at < end),
        "requested_by_kind": grouped(FollowUp.kind, FollowUp.created_at >= start,
                                     FollowUp.created_at < end),
        "attempts_by_result": grouped(FollowUpAttempt.result, FollowUpAttempt.at >= start,
                                      FollowUpAttempt.at < end),
        "closed_by_outcome": grouped(FollowUp.outcome, FollowUp.closed_at >= start,
                                     FollowUp.closed_at < end),
    }
    counts["open_at_end"] = dict(Counter(session.scalars(
        select(FollowUp.state).where(FollowUp.state.not_in(CLOSED_STATES),
                                     FollowUp.created_at < end))))
    row = session.get(FollowUpDailySummary, day)
    if row is None:
        row = FollowUpDailySummary(day=day)
        session.add(row)
    row.counts = counts
    row.computed_at = now or utcnow()
    session.flush()
    return counts
