"""Calls (one per Twilio CallSid) and the steps a caller took."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpline.crypto import EncryptedText
from helpline.db import Base, utcnow


class Need(StrEnum):
    SELF = "self"
    LOVED_ONE = "loved_one"
    TREATMENT = "treatment"
    GROUPS = "groups"
    RESOURCES = "resources"
    CRISIS = "crisis"


class Outcome(StrEnum):
    ANSWERED = "answered"
    ABANDONED_MENU = "abandoned_menu"
    ABANDONED_QUEUE = "abandoned_queue"
    CALLBACK = "callback"
    VOICEMAIL = "voicemail"
    CRISIS_TRANSFER = "crisis_transfer"
    SELF_SERVED = "self_served"


# Twilio's ``StirVerstat`` for full (A) attestation: the carrier knows the caller and that
# they may use the number. B, C, failed or absent attestations leave the number unproven.
FULL_ATTESTATION = "TN-Validation-Passed-A"


class Call(Base):
    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_started_need", "started_at", "need"),
        Index("ix_calls_queue_waiting", "queue_name", "status"),
        # Supervisor reports (helpline.reports): covering indexes for the month's figures.
        Index("ix_calls_report", "started_at", "queue_name", "need", "language", "outcome",
              "wait_seconds", "talk_seconds"),
        Index("ix_calls_id_ended", "id", "ended_at"),
        # A caller's calls newest first (the previous call of a new one, earlier calls): a
        # frequent caller has hundreds, which an index on the hash alone would sort each time.
        Index("ix_calls_caller_started", "caller_hash", "started_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    direction: Mapped[str] = mapped_column(String(16), default="inbound")
    caller_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    caller_number: Mapped[str | None] = mapped_column(
        EncryptedText("calls.caller_number"), default=None
    )
    language: Mapped[str] = mapped_column(String(8), default="en")
    need: Mapped[str | None] = mapped_column(String(16), default=None)
    queue_name: Mapped[str | None] = mapped_column(String(64), default=None)
    priority: Mapped[int] = mapped_column(default=0)
    zip_code: Mapped[str | None] = mapped_column(String(5), default=None)
    # Twilio's call status (ringing, in-progress, completed ...); never moved backwards.
    status: Mapped[str] = mapped_column(String(20), default="in-progress")
    step: Mapped[str | None] = mapped_column(String(40), default=None)
    outcome: Mapped[str | None] = mapped_column(String(20), default=None, index=True)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    enqueued_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    answered_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    wait_seconds: Mapped[int | None] = mapped_column(default=None)
    talk_seconds: Mapped[int | None] = mapped_column(default=None)
    counselor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id"), default=None, index=True
    )
    last_sequence: Mapped[int] = mapped_column(default=-1)
    # The same caller's most recent earlier call (matched by caller_hash), for the counselor.
    previous_call_id: Mapped[int | None] = mapped_column(
        ForeignKey("calls.id", ondelete="SET NULL"), default=None
    )
    # The phone menu heard a medical emergency (the flows' emergency words): the screen pop
    # opens the overdose protocol and the wallboard shows the call at once.
    overdose_suspected: Mapped[bool] = mapped_column(default=False, server_default=false())
    # STIR/SHAKEN attestation of the caller ID as Twilio passed it on the first webhook
    # (``StirVerstat``); None when the carrier passed none. Caller IDs can be spoofed: only
    # full attestation (:data:`FULL_ATTESTATION`) lets a number open earlier contacts' notes.
    caller_attestation: Mapped[str | None] = mapped_column(String(40), default=None)

    events: Mapped[list[CallEvent]] = relationship(
        back_populates="call", order_by="CallEvent.id", cascade="all, delete-orphan"
    )

    @property
    def caller_id_verified(self) -> bool:
        """The carrier fully vouched that the caller owns the number they call from."""
        return self.caller_attestation == FULL_ATTESTATION


class CallEvent(Base):
    """One step of a call. ``detail`` never holds confidential values."""

    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)

    call: Mapped[Call] = relationship(back_populates="events")
