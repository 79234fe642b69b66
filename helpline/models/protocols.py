"""The overdose protocol of a call record, its timed steps, and the emergency disclosures
made under 42 CFR §2.51 while it ran."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from helpline.crypto import EncryptedText
from helpline.db import Base, utcnow


class OverdoseProtocol(Base):
    """One overdose in progress on one record (at most one per record)."""

    __tablename__ = "overdose_protocols"
    # The wallboard asks every few seconds for the protocols still running.
    __table_args__ = (Index("ix_overdose_protocols_running", "ended_at", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), unique=True
    )
    call_id: Mapped[int | None] = mapped_column(
        ForeignKey("calls.id", ondelete="SET NULL"), default=None, index=True
    )
    counselor_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # "ivr" (the phone menu heard an overdose) or "counselor" (marked on the record).
    source: Mapped[str] = mapped_column(String(16))
    # The language the guidance is read aloud in.
    language: Mapped[str] = mapped_column(String(8), default="en")
    # Where the person is: an address or a ZIP code. Deferred and sealed; read through
    # helpline.overdose.read_location, which audits.
    location: Mapped[str | None] = deferred(
        mapped_column(EncryptedText("overdose_protocols.location"), default=None)
    )
    # "address", "zip" or "unknown": what kind of location was given (never the value).
    location_kind: Mapped[str | None] = mapped_column(String(16), default=None)
    conference_room: Mapped[str | None] = mapped_column(String(40), default=None)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    end_outcome: Mapped[str | None] = mapped_column(String(32), default=None)

    steps: Mapped[list[ProtocolStep]] = relationship(
        back_populates="protocol", order_by=lambda: (ProtocolStep.at, ProtocolStep.id),
        cascade="all, delete-orphan",
    )


class ProtocolStep(Base):
    """One thing done during the protocol, when and by whom. ``detail`` is never confidential."""

    __tablename__ = "overdose_protocol_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    protocol_id: Mapped[int] = mapped_column(
        ForeignKey("overdose_protocols.id", ondelete="CASCADE"), index=True
    )
    step: Mapped[str] = mapped_column(String(32))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # None when the phone menu did it.
    by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    outcome: Mapped[str | None] = mapped_column(String(32), default=None)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)

    protocol: Mapped[OverdoseProtocol] = relationship(back_populates="steps")


class EmergencyDisclosure(Base):
    """A disclosure to 911/EMS without consent in a medical emergency (42 CFR §2.51(c)):
    who received it and their affiliation, who disclosed, when, and the nature of the
    emergency; recorded right after it was made."""

    __tablename__ = "emergency_disclosures"
    __table_args__ = (Index("ix_emergency_disclosures_disclosed_at", "disclosed_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    protocol_id: Mapped[int | None] = mapped_column(
        ForeignKey("overdose_protocols.id", ondelete="CASCADE"), default=None, index=True
    )
    # The caller's keyed hash, so that one caller's disclosures can be listed together.
    caller_hash: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    recipient_name: Mapped[str] = mapped_column(String(120))
    recipient_affiliation: Mapped[str] = mapped_column(String(160))
    disclosed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    disclosed_at: Mapped[dt.datetime]
    # A code from helpline.overdose.EMERGENCY_NATURES, and what was told (codes, no values).
    nature: Mapped[str] = mapped_column(String(40))
    information: Mapped[list[str]] = mapped_column(JSON, default=list)
    legal_basis: Mapped[str] = mapped_column(String(24), default="42 CFR 2.51")
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
