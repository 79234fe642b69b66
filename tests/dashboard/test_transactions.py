"""One transaction rule for every dashboard view: a success is committed before it is answered,
an error answer or an exception keeps nothing, and a refusal still stores its audit event."""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

import pytest
from flask import Flask, abort
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline import audit
from helpline.db import Database
from helpline.models import AgentStatus, AuditEvent, User
from helpline.records import contacts
from tests.factories import make_call, make_contact, make_user
from tests.fixtures.staff import Staff, sign_in


def stored_status(db: Database, user_id: int) -> str:
    with db.sessions() as fresh:
        user = fresh.get(User, user_id)
        assert user is not None
        return user.status


def status_events(db: Database) -> list[AuditEvent]:
    with db.sessions() as fresh:
        return list(fresh.scalars(select(AuditEvent).where(AuditEvent.action == "agent.status")))


def test_a_successful_post_is_stored_before_it_is_answered(counselor_client: Staff,
                                                          db: Database) -> None:
    resp = counselor_client.post("/status", {"status": AgentStatus.AWAY})
    assert resp.status_code == 302
    assert stored_status(db, counselor_client.user_id) == AgentStatus.AWAY
    assert len(status_events(db)) == 1


def _write_then(failure: Exception) -> Callable[[Session, User, str], NoReturn]:
    def set_status(session: Session, user: User, status: str) -> NoReturn:
        user.status = status
        audit.record(session, "agent.status", actor=user, record_type="user", record_id=user.id)
        session.flush()
        raise failure

    return set_status


def test_a_view_that_raises_after_writing_leaves_nothing(
        counselor_client: Staff, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    before = stored_status(db, counselor_client.user_id)
    monkeypatch.setattr(contacts, "set_status", _write_then(RuntimeError("bug")))
    with pytest.raises(RuntimeError):
        counselor_client.post("/status", {"status": AgentStatus.AWAY})
    assert stored_status(db, counselor_client.user_id) == before != AgentStatus.AWAY
    assert status_events(db) == []


def test_in_production_the_exception_answers_500_and_leaves_nothing(
        app: Flask, counselor_client: Staff, db: Database,
        monkeypatch: pytest.MonkeyPatch) -> None:
    before = stored_status(db, counselor_client.user_id)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    monkeypatch.setattr(contacts, "set_status", _write_then(RuntimeError("bug")))
    resp = counselor_client.post("/status", {"status": AgentStatus.AWAY})
    assert resp.status_code == 500
    assert stored_status(db, counselor_client.user_id) == before != AgentStatus.AWAY
    assert status_events(db) == []


def test_an_error_answer_after_writing_keeps_nothing(
        counselor_client: Staff, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    def set_status(session: Session, user: User, status: str) -> NoReturn:
        user.status = status
        session.flush()
        abort(409)

    before = stored_status(db, counselor_client.user_id)
    monkeypatch.setattr(contacts, "set_status", set_status)
    assert counselor_client.post("/status", {"status": AgentStatus.AWAY}).status_code == 409
    assert stored_status(db, counselor_client.user_id) == before != AgentStatus.AWAY


def test_a_commit_that_fails_is_answered_as_an_error_not_a_success(
        app: Flask, counselor_client: Staff, db: Database,
        monkeypatch: pytest.MonkeyPatch) -> None:
    def set_status(session: Session, user: User, status: str) -> None:
        user.status = status
        session.add(AuditEvent())  # no action: refused by the database at commit

    before = stored_status(db, counselor_client.user_id)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    monkeypatch.setattr(contacts, "set_status", set_status)
    resp = counselor_client.post("/status", {"status": AgentStatus.AWAY})
    assert resp.status_code == 500
    assert stored_status(db, counselor_client.user_id) == before != AgentStatus.AWAY


def test_a_refusal_stores_its_audit_event_although_the_answer_is_404(
        counselor_client: Staff, session: Session, db: Database) -> None:
    other = make_user(session)
    contact = make_contact(session, other, make_call(session), notes="private words")
    session.commit()
    assert counselor_client.get(f"/records/{contact.id}").status_code == 404
    with db.sessions() as fresh:
        refused = list(fresh.scalars(select(AuditEvent.record_id)
                                     .where(AuditEvent.action == "contact.refused")))
    assert refused == [str(contact.id)]


def test_a_failed_sign_in_is_counted_although_the_answer_is_401(
        client: FlaskClient, session: Session, db: Database) -> None:
    user = make_user(session)
    session.commit()
    assert sign_in(client, user.username, "not the password").status_code == 401
    with db.sessions() as fresh:
        stored = fresh.get(User, user.id)
        assert stored is not None and stored.failed_logins == 1
