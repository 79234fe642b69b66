"""What the IVR keeps beside the call record: voicemails left by callers."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from helpline.crypto import EncryptedText
from helpline.db import Base, utcnow


class Voicemail(Base):
    """A message left when no counselor could take the call; the transcription is sealed."""

    __tablename__ = "voicemails"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    recording_sid: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    # The recording's address opens the audio: sealed like the transcription.
    recording_url: Mapped[str | None] = mapped_column(
        EncryptedText("voicemails.recording_url"), default=None
    )
    duration_seconds: Mapped[int | None] = mapped_column(default=None)
    transcription: Mapped[str | None] = mapped_column(
        EncryptedText("voicemails.transcription"), default=None
    )
    language: Mapped[str] = mapped_column(String(8), default="en")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    handled_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class AppliedOperation(Base):
    """The idempotency key of an IVR operation that reached the database: a Twilio retry, a
    load balancer's retry or a spool replay after a crash finds its key here and applies
    nothing twice. Old keys are purged (``IDEMPOTENCY_KEEP_DAYS``)."""

    __tablename__ = "applied_operations"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    applied_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
