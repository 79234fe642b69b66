"""Audit review: filters, pages, export (itself audited) and the hash chain."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from helpline import audit
from helpline.models import AuditEvent
from helpline.reporting.audit_review import (
    AuditFilter,
    AuditQueryError,
    check_chain,
    export_csv,
    list_events,
)
from tests.factories import make_user


@pytest.fixture
def logged(session: Session):  # type: ignore[no-untyped-def]
    alice = make_user(session, "counselor", username="alice")
    bob = make_user(session, "supervisor", username="bob")
    audit.record(session, "contact.view", actor=alice, record_type="contact", record_id=7,
                 address="10.0.0.1")
    audit.record(session, "contact.notes.read", actor=alice, record_type="contact",
                 record_id=7, address="10.0.0.1")
    audit.record(session, "contact.view", actor=bob, record_type="contact", record_id=8)
    audit.record(session, "user.password", actor=bob, record_type="user", record_id=alice.id)
    session.commit()
    return alice, bob


def test_filter_by_user_record_and_action(session: Session, logged) -> None:  # type: ignore[no-untyped-def]
    by_alice = list_events(session, AuditFilter(actor="alice"))
    assert [e.action for e in by_alice.items] == ["contact.notes.read", "contact.view"]
    on_seven = list_events(session, AuditFilter(record_type="contact", record_id="7"))
    assert on_seven.total == 2
    contact_actions = list_events(session, AuditFilter(action="contact."))
    assert contact_actions.total == 3
    assert list_events(session, AuditFilter(action="contact.view")).total == 2


def test_filter_by_local_dates(session: Session, logged) -> None:  # type: ignore[no-untyped-def]
    today = dt.datetime.now(dt.UTC).date()
    assert list_events(session, AuditFilter(start=today - dt.timedelta(days=1),
                                            end=today + dt.timedelta(days=1))).total >= 4
    assert list_events(session, AuditFilter(end=today - dt.timedelta(days=3))).total == 0
    with pytest.raises(AuditQueryError):
        list_events(session, AuditFilter(start=today, end=today - dt.timedelta(days=1)))


def test_pages_newest_first(session: Session, logged) -> None:  # type: ignore[no-untyped-def]
    page = list_events(session, AuditFilter(), page=2, per_page=2)
    assert page.pages >= 2
    assert page.items[0].id > page.items[1].id


def test_export_lists_the_events_and_is_itself_audited(session: Session, logged) -> None:  # type: ignore[no-untyped-def]
    _, bob = logged
    body = "".join(export_csv(session, AuditFilter(actor="alice"), by=bob, address="10.0.0.9"))
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [r["action"] for r in rows] == ["contact.view", "contact.notes.read"]
    assert rows[0]["address"] == "10.0.0.1"
    last = list_events(session, AuditFilter(action="audit.export")).items[0]
    assert last.actor == "bob"
    assert last.detail == {"actor": "alice"}


def test_the_chain_is_whole_until_a_row_is_altered_behind_the_apps_back(
        session: Session, logged) -> None:  # type: ignore[no-untyped-def]
    check = check_chain(session)
    assert check.whole and check.events >= 4
    victim = list_events(session, AuditFilter(action="contact.notes.read")).items[0]
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
    else:
        for name in session.execute(text(
                "SELECT name FROM sqlite_master WHERE type='trigger' "
                "AND tbl_name='audit_events'")).scalars().all():
            session.execute(text(f'DROP TRIGGER "{name}"'))
    session.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE id = :id"),
                    {"id": victim.id})
    session.commit()
    session.expire_all()
    broken = check_chain(session)
    assert not broken.whole
    assert broken.first_broken_id == victim.id


def test_review_offers_no_way_to_edit(session: Session, logged) -> None:  # type: ignore[no-untyped-def]
    event = session.query(AuditEvent).first()
    assert event is not None
    event.actor = "someone-else"
    with pytest.raises(PermissionError):
        session.flush()
