"""Short validated screenings (AUDIT-C, the single drug-use question) given during a contact."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from helpline.db import Base, utcnow


class Screening(Base):
    """One instrument given once in a contact; giving it again replaces the answers."""

    __tablename__ = "screenings"
    __table_args__ = (
        UniqueConstraint("contact_id", "instrument"),
        # Supervisor reports: screenings and positives by instrument over a date range.
        Index("ix_screenings_report", "at", "instrument", "positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    instrument: Mapped[str] = mapped_column(String(24))
    version: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(8), default="en")
    # Question key -> the points (or count) of the answer chosen.
    answers: Mapped[dict] = mapped_column(JSON, default=dict)
    score: Mapped[int]
    # The cut-off applied (it depends on sex for AUDIT-C) and its result.
    threshold: Mapped[int]
    positive: Mapped[bool]
    interpretation: Mapped[str] = mapped_column(String(40))
    # "female", "male" or None (not said): only used to choose the AUDIT-C cut-off.
    sex: Mapped[str | None] = mapped_column(String(8), default=None)
    by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
