"""Staff accounts: counselors, supervisors and admins."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, String, false
from sqlalchemy.orm import Mapped, mapped_column

from helpline.crypto import EncryptedText
from helpline.db import Base, utcnow


class Role(StrEnum):
    COUNSELOR = "counselor"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class AgentStatus(StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    AWAY = "away"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120), default="")
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    # Space-separated language codes the counselor takes calls in, e.g. "en es".
    languages: Mapped[str] = mapped_column(String(64), default="en")
    phone: Mapped[str | None] = mapped_column(EncryptedText("users.phone"), default=None)
    # Where calls ring when both are possible: "phone" or "browser" (helpline.softphone).
    take_calls_on: Mapped[str] = mapped_column(String(8), default="phone",
                                               server_default="phone")
    totp_secret: Mapped[str | None] = mapped_column(
        EncryptedText("users.totp_secret"), default=None
    )
    totp_enabled: Mapped[bool] = mapped_column(default=False)
    # The newest TOTP time step accepted: a code of that step or an older one is a replay.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, default=None)
    recovery_code_hashes: Mapped[list[str]] = mapped_column(JSON, default=list)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(16), default=AgentStatus.OFFLINE)
    status_since: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Why the status is what it is when the counselor did not choose it ("missed_offer": an
    # offer rang out and routing made them Away); shown to them until they choose again.
    status_reason: Mapped[str | None] = mapped_column(String(20), default=None)
    # The status to return to once a call's record is closed (what they had when it rang).
    status_before_call: Mapped[str | None] = mapped_column(String(16), default=None)
    # Space-separated skills that queues may require, e.g. "crisis" (helpline.calls.routing).
    skills: Mapped[str] = mapped_column(String(120), default="", server_default="")
    # When the counselor raised their hand for a supervisor (helpline.calls.floor); None while
    # it is down. Shown on the wallboard until they lower it or a supervisor acknowledges it.
    hand_raised_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    password_changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Set by an admin's reset: the next sign-in leads to a new password before anything else.
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Raised when the password changes; a session opened at an older epoch is no longer valid.
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def language_list(self) -> list[str]:
        return self.languages.split()

    @property
    def skill_list(self) -> list[str]:
        return self.skills.split()

    @property
    def client_identity(self) -> str:
        """The Twilio Client identity of this counselor's browser phone."""
        # Twilio accepts only letters, digits and underscores in an identity: a hyphen would
        # register a browser that never rings.
        return f"counselor_{self.id}"
