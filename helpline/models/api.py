"""What the read-only API keeps: the tokens of staff-approved integrations, and the count of
requests per client address and minute (the rate limit)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from helpline.db import Base, utcnow


class ApiToken(Base):
    """A token an admin gave an integration. Only its SHA-256 is kept (the token is 256 bits
    of randomness, so a slow hash would add nothing); revoking sets ``revoked_at``."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the token, so an admin can tell which one a client holds.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # None when made with the command line.
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class ApiRequestCount(Base):
    """Requests made by one client address in one minute, taken by one conditional upsert
    (as :class:`SmsQuota`), so that parallel requests cannot all take the last one."""

    __tablename__ = "api_request_counts"

    # "<address>|<minute as YYYY-MM-DDTHH:MM>"
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    used: Mapped[int] = mapped_column(Integer, default=0)
    # The minute's start (UTC), so that past minutes can be forgotten.
    minute: Mapped[dt.datetime] = mapped_column(index=True)
