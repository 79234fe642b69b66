"""Overdose protocol fixtures: a counselor on a call with an open record, a fake clock."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session

from helpline.models import AgentStatus, Call, Contact, User
from helpline.records import contacts

# Signed-in staff through the real sign-in pages: the dashboard's fixtures.
from tests.dashboard.conftest import counselor, staff_factory, supervisor  # noqa: F401
from tests.factories import make_call, make_user

T0 = dt.datetime(2026, 3, 4, 19, 0, tzinfo=dt.UTC)  # 14:00 in New York


def at(seconds: int) -> dt.datetime:
    """The fake clock: ``seconds`` after T0."""
    return T0 + dt.timedelta(seconds=seconds)


@dataclass
class OnCall:
    counselor: User
    call: Call
    contact: Contact


def on_call(session: Session, user: User, *, language: str = "en",
            **call_fields: object) -> OnCall:
    """``user`` (a counselor) has taken a caller's call and its record is open."""
    call = make_call(session, "+15555550123", need="crisis", language=language,
                     queue_name=f"crisis-{language}", status="in-progress",
                     started_at=at(-120), enqueued_at=at(-90), answered_at=at(-60),
                     counselor_id=user.id, **call_fields)
    contact = contacts.open_contact_for_call(session, user, call, now=at(-60))
    user.status = AgentStatus.ON_CALL
    session.commit()
    return OnCall(user, call, contact)


@pytest.fixture
def worker(session: Session) -> User:
    user = make_user(session, display_name="Robin Counselor")
    session.commit()
    return user
