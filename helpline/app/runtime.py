"""What a request needs from the core: the runtime and a request-scoped session."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g
from sqlalchemy.orm import Session

from helpline.config import Settings
from helpline.db import Database
from helpline.telephony import Telephony


@dataclass
class Runtime:
    settings: Settings
    db: Database
    telephony: Telephony


def runtime() -> Runtime:
    return current_app.extensions["helpline"]


def settings() -> Settings:
    return runtime().settings


def db_session() -> Session:
    """The request's session; the view commits what it means to keep."""
    if "db_session" not in g:
        g.db_session = runtime().db.sessions()
    return g.db_session


def close_session(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
