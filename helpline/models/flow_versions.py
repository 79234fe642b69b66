"""Versions of the IVR settings that supervisors edit, and the log of which one is live.

Version 0 is the shipped flow files with the line settings of the environment; it has no row.
A version is a draft until it is first published, and is never edited after that. Which
version callers hear is the newest row of ``ivr_flow_publications`` (none: version 0), so
publishing and rolling back only ever append, and the history stays whole.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from helpline.db import Base, utcnow


class FlowVersion(Base):
    """One version of the editable IVR settings: every editable value, by field name."""

    __tablename__ = "ivr_flow_versions"

    id: Mapped[int] = mapped_column(primary_key=True)  # the version number
    based_on: Mapped[int] = mapped_column(default=0)
    note: Mapped[str] = mapped_column(String(200), default="")
    # {"en.prompts.greeting": "...", "line.crisis_number": "988", ...}: see ivr/editable.py.
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    # Set once, when the version is first published: from then on it is read-only.
    published_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)

    @property
    def is_draft(self) -> bool:
        return self.published_at is None


class FlowPublication(Base):
    """A version made live (by publishing it, or by rolling back to it); the newest row wins."""

    __tablename__ = "ivr_flow_publications"

    id: Mapped[int] = mapped_column(primary_key=True)
    # None: version 0, the shipped flow files.
    version_id: Mapped[int | None] = mapped_column(ForeignKey("ivr_flow_versions.id"),
                                                   default=None)
    kind: Mapped[str] = mapped_column(String(16))  # "publish" or "rollback"
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)

    @property
    def version(self) -> int:
        return self.version_id or 0
