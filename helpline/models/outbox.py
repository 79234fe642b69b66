"""Messages and calls sent (or, without Twilio, that would have been sent), and SMS opt-outs."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from helpline.crypto import EncryptedText
from helpline.db import Base, utcnow


class OutboxMessage(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # "sms" or "call"
    to_hash: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    to_number: Mapped[str] = mapped_column(EncryptedText("outbox.to_number"))
    from_number: Mapped[str] = mapped_column(String(32))
    # SMS bodies are written to be non-identifying (no note, no SUD words): kept plain.
    body: Mapped[str | None] = mapped_column(Text, default=None)
    twiml_url: Mapped[str | None] = mapped_column(String(500), default=None)
    # "recorded" (outbox only), "queued"/"sent" (Twilio), "failed"
    status: Mapped[str] = mapped_column(String(16), default="recorded")
    provider: Mapped[str] = mapped_column(String(16))
    provider_sid: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    error: Mapped[str | None] = mapped_column(String(255), default=None)
    purpose: Mapped[str | None] = mapped_column(String(40), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class SmsOptOut(Base):
    """Mirror of the carrier's STOP state for a number, by keyed hash."""

    __tablename__ = "sms_opt_outs"

    caller_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    opted_out: Mapped[bool] = mapped_column(default=True)
    changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    keyword: Mapped[str] = mapped_column(String(20), default="STOP")
