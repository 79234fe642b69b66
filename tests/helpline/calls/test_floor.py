"""The floor: raised hands, and a counselor's status set by a supervisor (audited as theirs)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline.calls import floor
from helpline.db import utcnow
from helpline.models import AgentStatus, AuditEvent, User
from helpline.records.contacts import wrap_up
from tests.factories import make_call, make_contact, make_user


def _audit(session: Session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                .order_by(AuditEvent.id)))


def test_a_hand_is_raised_once_and_lowered_by_the_counselor(session: Session) -> None:
    user = make_user(session, status=AgentStatus.AVAILABLE)
    assert floor.raise_hand(session, user)
    first = user.hand_raised_at
    assert first is not None
    assert not floor.raise_hand(session, user)  # already up: its time is kept
    assert user.hand_raised_at == first
    assert floor.lower_hand(session, user)
    assert user.hand_raised_at is None
    assert not floor.lower_hand(session, user)
    assert [e.actor_id for e in _audit(session, "agent.hand_raise")] == [user.id]
    assert [e.actor_id for e in _audit(session, "agent.hand_lower")] == [user.id]


def test_a_supervisor_acknowledges_a_raised_hand(session: Session) -> None:
    user = make_user(session, status=AgentStatus.ON_CALL)
    boss = make_user(session, "supervisor")
    floor.raise_hand(session, user)
    assert floor.lower_hand(session, user, by=boss)
    assert user.hand_raised_at is None
    assert not floor.lower_hand(session, user, by=boss)  # a second supervisor came too late
    (event,) = _audit(session, "agent.hand_acknowledge")
    assert (event.actor_id, event.record_id) == (boss.id, str(user.id))
    assert _audit(session, "agent.hand_lower") == []


def test_a_supervisor_sets_an_idle_counselors_status_at_once(session: Session) -> None:
    user = make_user(session, status=AgentStatus.AWAY, status_reason="missed_offer")
    boss = make_user(session, "supervisor")
    assert not floor.set_status_for(session, user, AgentStatus.AVAILABLE, boss)
    assert user.status == AgentStatus.AVAILABLE
    assert user.status_reason is None
    (event,) = _audit(session, "agent.status")
    assert (event.actor_id, event.record_id, event.detail) == (
        boss.id, str(user.id), {"status": "available"})


def test_mid_call_it_applies_once_the_record_is_closed(session: Session) -> None:
    user = make_user(session, status=AgentStatus.AVAILABLE)
    boss = make_user(session, "supervisor")
    call = make_call(session, status="in-progress", counselor_id=user.id)
    contact = make_contact(session, user, call, outcome="support", suicide_risk="none",
                           overdose_risk="none")
    user.status_before_call = AgentStatus.AVAILABLE
    user.status = AgentStatus.ON_CALL
    assert floor.set_status_for(session, user, AgentStatus.OFFLINE, boss)
    assert user.status == AgentStatus.ON_CALL  # the call goes on
    assert user.status_before_call == AgentStatus.OFFLINE
    (event,) = _audit(session, "agent.status")
    assert event.actor_id == boss.id and event.detail == {"status": "offline",
                                                           "after_call": True}
    wrap_up(session, contact, user, now=utcnow())
    assert user.status == AgentStatus.OFFLINE


@pytest.mark.parametrize("status", ["on_call", "wrap_up", "busy"])
def test_only_a_chosen_status_may_be_set(session: Session, status: str) -> None:
    user = make_user(session, status=AgentStatus.AVAILABLE)
    with pytest.raises(floor.FloorError):
        floor.set_status_for(session, user, status, make_user(session, "supervisor"))
    assert user.status == AgentStatus.AVAILABLE


def test_an_admin_or_an_inactive_account_takes_no_status(session: Session) -> None:
    boss = make_user(session, "supervisor")
    for target in (make_user(session, "admin"), make_user(session, active=False)):
        with pytest.raises(floor.FloorError):
            floor.set_status_for(session, target, AgentStatus.AVAILABLE, boss)
    assert session.scalar(select(User.id).where(User.status == AgentStatus.AVAILABLE)) is None
