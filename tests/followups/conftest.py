"""Fixtures for follow-ups: staff, the outbox telephony adapter, a fixed clock and a helper
that makes a consented follow-up."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session

from helpline import crypto
from helpline.config import Settings
from helpline.db import Database
from helpline.followups import lifecycle
from helpline.models import User
from helpline.models.followups import FollowUp
from helpline.telephony import OutboxTelephony
from tests.factories import make_user

# 15:00 UTC on a Tuesday: 10 am in Chicago, 11 am in New York.
NOW = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)
CALLER = "+15555550123"
CONSENT = "May we text you a short check-in at this number in the next few days? - Yes."


@pytest.fixture
def db(settings: Settings, keyring: crypto.Keyring) -> Iterator[Database]:
    """Services need no web app: the database alone (the TwiML tests use ``app``)."""
    database = Database(settings.database_url)
    yield database
    database.dispose()


@pytest.fixture
def now() -> dt.datetime:
    return NOW


@pytest.fixture
def counselor(session: Session) -> User:
    user = make_user(session, "counselor", phone="+15555550177")
    session.commit()
    return user


@pytest.fixture
def supervisor(session: Session) -> User:
    user = make_user(session, "supervisor")
    session.commit()
    return user


@pytest.fixture
def outbox(settings: Settings) -> OutboxTelephony:
    return OutboxTelephony(settings.helpline_number)


MakeFollowUp = Callable[..., FollowUp]


@pytest.fixture
def make_followup(session: Session, counselor: User, supervisor: User,
                  settings: Settings) -> MakeFollowUp:
    """A consented follow-up, scheduled for ``due`` (naive = caller's local time) unless
    ``due`` is None."""

    def make(kind: str = "sms_checkin", *, due: dt.datetime | None = NOW, phone: str = CALLER,
             zip_code: str | None = "60601", assign_to: User | None = None,
             **kw: Any) -> FollowUp:
        channel = "sms" if kind == "sms_checkin" else "call"
        fu = lifecycle.request_followup(
            session, phone=phone, channel=channel, kind=kind, requested_by=counselor,
            consent_wording=kw.pop("consent_wording", CONSENT), zip_code=zip_code,
            settings=settings, now=kw.pop("now", NOW - dt.timedelta(hours=1)), **kw)
        if assign_to is not None:
            lifecycle.assign(session, fu, assign_to, by=supervisor, now=NOW)
        if due is not None:
            lifecycle.schedule(session, fu, at=due, by=supervisor, settings=settings,
                               now=NOW - dt.timedelta(minutes=30))
        session.commit()
        return fu

    return make
