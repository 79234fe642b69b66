"""Staff sign-in state kept on the server: open sessions and failed attempts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from helpline.db import Base, utcnow


class StaffSession(Base):
    """One signed-in browser. The cookie holds only ``token_hash``'s preimage; signing out or
    idling ends the row, so a copied cookie stops working at once."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # "password" until the second factor is given (or enrolled), then "full".
    stage: Mapped[str] = mapped_column(String(16), default="password")
    # The user's session epoch when this session opened (see User.session_epoch).
    epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    address: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    end_reason: Mapped[str | None] = mapped_column(String(16), default=None)


class SignInFailure(Base):
    """A failed password or second-factor attempt, for the per-address lockout."""

    __tablename__ = "signin_failures"
    __table_args__ = (Index("ix_signin_failures_address_at", "address", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(64))
    username: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Set when a supervisor lifts the address lockout; cleared rows no longer count.
    cleared: Mapped[bool] = mapped_column(default=False)
