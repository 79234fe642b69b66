"""Messages and calls sent (or, without Twilio, that would have been sent), and SMS opt-outs."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, Integer, String, Text
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
    # "recorded" (outbox only), "pending" (queued by a webhook), "queued"/"sent" (Twilio),
    # "failed", "refused" (over a limit or to a country not allowed: never sent; the reason in
    # error, the number kept masked)
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


class SmsQuota(Base):
    """Texts used against one limit: a call's (``call:<CallSid>``) or a number's day
    (``number:<keyed hash>:<date>``). Taken one at a time by a conditional upsert, so two
    texts sent at once cannot both have the last one."""

    __tablename__ = "sms_quotas"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    used: Mapped[int] = mapped_column(Integer, default=0)
    # The day the limit belongs to (UTC), so old rows can be purged.
    day: Mapped[dt.date] = mapped_column(Date, index=True)
