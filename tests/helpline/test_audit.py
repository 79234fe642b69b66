"""The audit log: written through one function, append-only, tamper-evident."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from helpline import audit
from helpline.db import Database
from helpline.models import AuditEvent
from tests.factories import make_user


def test_events_chain_and_verify(db: Database) -> None:
    with db.session() as session:
        user = make_user(session)
        for n in range(3):
            audit.record(session, "contact.view", actor=user, record_type="contact",
                         record_id=n, address="127.0.0.1", detail={"field": "notes"})
    with db.sessions() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        assert [e.action for e in events] == ["contact.view"] * 3
        assert events[1].prev_hash == events[0].hash
        assert audit.verify_chain(session) is None


def test_the_orm_refuses_to_edit_or_delete_an_event(db: Database) -> None:
    with db.session() as session:
        audit.record(session, "sign_in", actor="someone")
    with db.sessions() as session:
        event = session.scalars(select(AuditEvent)).one()
        event.action = "nothing happened"
        with pytest.raises(PermissionError, match="append-only"):
            session.flush()


def test_the_database_refuses_to_edit_or_delete_an_event(db: Database) -> None:
    with db.session() as session:
        audit.record(session, "sign_in", actor="someone")
    for statement in ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(DatabaseError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement))


def test_a_tampered_chain_is_detected(db: Database) -> None:
    with db.session() as session:
        for n in range(3):
            audit.record(session, "contact.view", actor="a", record_type="contact", record_id=n)
    # Someone with database access drops the trigger and rewrites history.
    with db.engine.begin() as conn:
        if db.is_sqlite:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_change ON audit_events"))
        conn.execute(text("UPDATE audit_events SET record_id = '99' WHERE id = 2"))
    with db.sessions() as session:
        assert audit.verify_chain(session) == 2
