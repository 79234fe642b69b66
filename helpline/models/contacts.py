"""Contacts (a counselor's log of a call) and the referrals made in them."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from helpline.crypto import EncryptedText
from helpline.db import Base, utcnow


class ContactStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (Index("ix_contacts_created_counselor", "created_at", "counselor_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"), unique=True, default=None)
    counselor_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    caller_hash: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    caller_type: Mapped[str | None] = mapped_column(String(20), default=None)
    substances: Mapped[list[str]] = mapped_column(JSON, default=list)
    suicide_risk: Mapped[str | None] = mapped_column(String(16), default=None)
    overdose_risk: Mapped[str | None] = mapped_column(String(16), default=None)
    age_range: Mapped[str | None] = mapped_column(String(16), default=None)
    state: Mapped[str | None] = mapped_column(String(2), default=None)
    zip_code: Mapped[str | None] = mapped_column(String(5), default=None)
    insurance: Mapped[str | None] = mapped_column(String(32), default=None)
    outcome: Mapped[str | None] = mapped_column(String(32), default=None)
    # Deferred: loading a contact must not decrypt its notes; reading them is audited
    # (helpline.contacts.read_notes).
    notes: Mapped[str | None] = deferred(
        mapped_column(EncryptedText("contacts.notes"), default=None)
    )
    status: Mapped[str] = mapped_column(String(16), default=ContactStatus.OPEN)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    referrals: Mapped[list[Referral]] = relationship(
        back_populates="contact", order_by="Referral.id", cascade="all, delete-orphan"
    )


class Referral(Base):
    __tablename__ = "referrals"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    # "center", "group" or "resource", and the id of that directory entry.
    kind: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[int]
    # A copy of the name at the time of referral: entries can be renamed or removed.
    target_name: Mapped[str] = mapped_column(String(255))
    sent_by_sms_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    outbox_id: Mapped[int | None] = mapped_column(default=None)
    outcome: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    contact: Mapped[Contact] = relationship(back_populates="referrals")
