"""Consent fixtures: a counselor on a call with an open record, a directory center, a fixed
clock, and signed-in staff through the real pages."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session

from helpline.models import AgentStatus, Call, Contact, TreatmentCenter, User
from helpline.records import contacts

# Signed-in staff through the real sign-in pages: the dashboard's fixtures.
from tests.dashboard.conftest import admin, counselor, staff_factory, supervisor  # noqa: F401
from tests.factories import make_call, make_user

NOW = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)  # a Tuesday, 11 am in New York
CALLER = "+15555550123"


@dataclass
class OnCall:
    counselor: User
    call: Call
    contact: Contact


def on_call(session: Session, user: User, number: str = CALLER, **call_fields: object) -> OnCall:
    """``user`` has taken a caller's call (still live) and its record is open."""
    call = make_call(session, number, need="treatment", language="en", status="in-progress",
                     queue_name="treatment-en", started_at=NOW - dt.timedelta(minutes=12),
                     answered_at=NOW - dt.timedelta(minutes=10), counselor_id=user.id,
                     **call_fields)
    contact = contacts.open_contact_for_call(session, user, call,
                                             now=NOW - dt.timedelta(minutes=10))
    user.status = AgentStatus.ON_CALL
    session.commit()
    return OnCall(user, call, contact)


def make_center(session: Session, name: str = "Harbor Recovery (fictional)",
                intake: str = "+15555550142", **fields: object) -> TreatmentCenter:
    center = TreatmentCenter(name=name, street1="1 Main St", city="Albany", state="NY",
                             zip_code="12207", phone="+15555550140", intake_phone=intake,
                             **fields)
    session.add(center)
    session.flush()
    return center


@pytest.fixture
def worker(session: Session) -> User:
    user = make_user(session, display_name="Robin Counselor", phone="+15555550177")
    session.commit()
    return user
