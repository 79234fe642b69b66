"""Follow-ups a caller consented to, each attempt, and the scheduler's own tables (its job
store and the lease that elects one active scheduler). The consent a follow-up rests on is a
:class:`~helpline.models.consent.Consent` (scope call or sms, purpose followup)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Column,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Table,
    Unicode,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpline.crypto import EncryptedText
from helpline.db import Base, utcnow
from helpline.models.consent import Consent


class FollowUpKind(StrEnum):
    REMINDER = "reminder"  # remind the assigned counselor to call
    SMS_CHECKIN = "sms_checkin"  # a short, neutral text to the caller
    BRIDGED_CALLBACK = "bridged_callback"  # ring the counselor, then dial the caller


class FollowUpState(StrEnum):
    REQUESTED = "requested"  # consented, waiting for a supervisor to schedule it
    SCHEDULED = "scheduled"  # due at due_at
    RETRY = "retry"  # an earlier attempt failed; due again at due_at
    SENDING = "sending"  # claimed by one delivery run (the provider is being called)
    AWAITING_RESULT = "awaiting_result"  # delivered; a counselor or a call leg reports back
    DONE = "done"
    CANCELLED = "cancelled"
    STOPPED = "stopped"  # opted out or consent withdrawn


#: States a delivery run may claim (when due_at has come).
DUE_STATES = (FollowUpState.SCHEDULED, FollowUpState.RETRY)
#: States that still need someone's attention.
OPEN_STATES = (FollowUpState.REQUESTED, *DUE_STATES, FollowUpState.SENDING,
               FollowUpState.AWAITING_RESULT)
CLOSED_STATES = (FollowUpState.DONE, FollowUpState.CANCELLED, FollowUpState.STOPPED)


class AttemptResult(StrEnum):
    SENT = "sent"  # an SMS check-in handed to the provider
    REACHED = "reached"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    WRONG_NUMBER = "wrong_number"
    OPTED_OUT = "opted_out"
    FAILED = "failed"
    # The caller said "no voicemail" and a machine answered: hung up, no message left.
    VOICEMAIL_NOT_LEFT = "voicemail_not_left"
    # Someone else is a risk and whoever answered did not confirm they were the caller.
    NOT_CONFIRMED = "not_confirmed"


class FollowUpOutcome(StrEnum):
    REACHED_IN_TREATMENT = "reached_in_treatment"
    REACHED_REFERRED = "reached_referred"
    REACHED_DECLINED = "reached_declined"
    REACHED_OTHER = "reached_other"
    CHECKIN_SENT = "checkin_sent"
    UNREACHABLE = "unreachable"
    WRONG_NUMBER = "wrong_number"
    OPTED_OUT = "opted_out"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    CONSENT_EXPIRED = "consent_expired"
    # The caller's safe-contact preferences rule the channel out.
    UNSAFE_CHANNEL = "unsafe_channel"
    CANCELLED = "cancelled"


class FollowUp(Base):
    __tablename__ = "followups"
    __table_args__ = (
        Index("ix_followups_state_due", "state", "due_at"),
        Index("ix_followups_queued_since", "queued_since"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    consent_id: Mapped[int] = mapped_column(ForeignKey("consents.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), default=None)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"), default=None, index=True)
    # The referral this follow-up is to close the loop on (e.g. confirm admission after a
    # warm handoff), if any.
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referrals.id"), default=None,
                                                    index=True)
    caller_hash: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    phone: Mapped[str | None] = mapped_column(EncryptedText("followups.phone"), default=None)
    kind: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(8))  # "call" or "sms"
    source: Mapped[str] = mapped_column(String(20))  # counselor, ivr_callback, supervisor
    state: Mapped[str] = mapped_column(String(16), default=FollowUpState.REQUESTED)
    language: Mapped[str] = mapped_column(String(8), default="en")
    timezone: Mapped[str] = mapped_column(String(40))
    window_start: Mapped[dt.datetime | None] = mapped_column(default=None)
    window_end: Mapped[dt.datetime | None] = mapped_column(default=None)
    due_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # Delivery order among follow-ups due together: when an IVR caller started holding.
    queued_since: Mapped[dt.datetime | None] = mapped_column(default=None)
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None,
                                                       index=True)
    # The counselor a bridged callback rang (the assignee, or the next available one).
    bridged_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)
    outcome: Mapped[str | None] = mapped_column(String(32), default=None)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    closed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    consent: Mapped[Consent] = relationship()
    attempt_log: Mapped[list[FollowUpAttempt]] = relationship(
        back_populates="followup", order_by="FollowUpAttempt.id", cascade="all, delete-orphan"
    )


class FollowUpAttempt(Base):
    __tablename__ = "followup_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    followup_id: Mapped[int] = mapped_column(
        ForeignKey("followups.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    result: Mapped[str] = mapped_column(String(20))
    # "delivery" (the scheduler), "call" (a bridged leg), "counselor" (reported by hand)
    via: Mapped[str] = mapped_column(String(16), default="delivery")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), default=None,
                                                  index=True)
    provider_sid: Mapped[str | None] = mapped_column(String(64), default=None)

    followup: Mapped[FollowUp] = relationship(back_populates="attempt_log")


class FollowUpNotice(Base):
    """A dashboard notice: a reminder for a counselor, or an overdue alert for supervisors."""

    __tablename__ = "followup_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    followup_id: Mapped[int] = mapped_column(
        ForeignKey("followups.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # "reminder" or "overdue"
    # A notice for one user, or (user_id empty) for everyone with ``role``.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None, index=True)
    role: Mapped[str | None] = mapped_column(String(16), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class FollowUpDailySummary(Base):
    """Counts for one UTC day, written by the nightly job (idempotent: one row a day)."""

    __tablename__ = "followup_daily_summaries"

    day: Mapped[dt.date] = mapped_column(primary_key=True)
    counts: Mapped[dict] = mapped_column(JSON, default=dict)
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SchedulerLease(Base):
    """Who runs the scheduler: a lease renewed by heartbeat, taken over once it expires."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120))
    acquired_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]


class SchedulerJobRun(Base):
    """The last run of each scheduler job, written by the active scheduler as a run ends: what
    /metrics reads to show a job that stopped running or keeps failing, from any process."""

    __tablename__ = "scheduler_job_runs"

    job_id: Mapped[str] = mapped_column(String(191), primary_key=True)
    due_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime]
    ok: Mapped[bool]


# APScheduler's SQLAlchemyJobStore table, declared here so that migrations create it (the job
# store would otherwise create it behind Alembic's back). Same shape as APScheduler 3.x makes.
apscheduler_jobs = Table(
    "apscheduler_jobs",
    Base.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)
