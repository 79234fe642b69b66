"""Offers: a waiting contact rung to one counselor, for a few seconds (helpline.calls.routing).

The contact is a caller holding (``call_id``) or a callback booked from the queue
(``followup_id``): exactly one of the two, which a check constraint keeps. At most one offer of
a contact rings at a time, and a counselor has at most one ringing offer: partial unique indexes
say so to the database, so that routing passes racing in several processes cannot break it
whatever they decided.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from helpline.db import Base, utcnow


class OfferState(StrEnum):
    RINGING = "ringing"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    MISSED = "missed"        # rang for the whole ring time unanswered
    WITHDRAWN = "withdrawn"  # the caller hung up, or was taken another way, while it rang


_RINGING = text("state = 'ringing'")


class Offer(Base):
    __tablename__ = "offers"
    __table_args__ = (
        Index("uq_offers_ringing_call", "call_id", unique=True,
              sqlite_where=_RINGING, postgresql_where=_RINGING),
        Index("uq_offers_ringing_counselor", "counselor_id", unique=True,
              sqlite_where=_RINGING, postgresql_where=_RINGING),
        Index("uq_offers_ringing_followup", "followup_id", unique=True,
              sqlite_where=_RINGING, postgresql_where=_RINGING),
        CheckConstraint("(call_id IS NULL) <> (followup_id IS NULL)", name="one_contact"),
        Index("ix_offers_state_expires", "state", "expires_at"),
        Index("ix_offers_counselor_offered", "counselor_id", "offered_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The contact waiting: a caller holding, or a callback booked from the queue. Texts and
    # chats would add their own column (and join the check constraint).
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"),
                                                index=True)
    followup_id: Mapped[int | None] = mapped_column(
        ForeignKey("followups.id", ondelete="CASCADE"), index=True, default=None)
    counselor_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(12), default=OfferState.RINGING)
    offered_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)
