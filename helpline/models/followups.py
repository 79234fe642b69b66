"""Follow-ups a caller consented to, and each attempt to deliver one."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpline.crypto import EncryptedText
from helpline.db import Base, utcnow


class FollowUpKind(StrEnum):
    REMINDER = "reminder"  # remind the assigned counselor to call
    SMS_CHECKIN = "sms_checkin"  # a short, neutral text to the caller
    BRIDGED_CALLBACK = "bridged_callback"  # ring the counselor, then dial the caller


class FollowUpState(StrEnum):
    REQUESTED = "requested"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    RETRY = "retry"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"


class FollowUp(Base):
    __tablename__ = "followups"
    __table_args__ = (Index("ix_followups_state_due", "state", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), default=None)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"), default=None)
    caller_hash: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    phone: Mapped[str | None] = mapped_column(EncryptedText("followups.phone"), default=None)
    kind: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(8))  # "call" or "sms"
    source: Mapped[str] = mapped_column(String(20))  # counselor, ivr_callback, supervisor
    state: Mapped[str] = mapped_column(String(16), default=FollowUpState.REQUESTED)
    language: Mapped[str] = mapped_column(String(8), default="en")
    timezone: Mapped[str | None] = mapped_column(String(40), default=None)
    window_start: Mapped[dt.datetime | None] = mapped_column(default=None)
    window_end: Mapped[dt.datetime | None] = mapped_column(default=None)
    due_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)
    outcome: Mapped[str | None] = mapped_column(String(32), default=None)
    consent_recorded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id"), default=None
    )
    consent_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    consent_wording: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

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
    provider_sid: Mapped[str | None] = mapped_column(String(64), default=None)

    followup: Mapped[FollowUp] = relationship(back_populates="attempt_log")
