"""A staff member's skills, set by a supervisor: checked, and audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline.models import AuditEvent
from helpline.staff.accounts import AccountError, set_skills
from tests.factories import make_user


def test_skills_are_set_sorted_once_and_audited(session: Session) -> None:
    user = make_user(session, skills="spanish")
    boss = make_user(session, "supervisor")
    assert set_skills(session, user, "Crisis  grief crisis", boss)
    assert user.skills == "crisis grief"
    assert not set_skills(session, user, "grief crisis", boss)  # the same: nothing to record
    (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.skills"))
    assert (event.actor_id, event.record_id) == (boss.id, str(user.id))
    assert event.detail == {"added": ["crisis", "grief"], "removed": ["spanish"]}


def test_skills_may_be_cleared(session: Session) -> None:
    user = make_user(session, skills="crisis")
    assert set_skills(session, user, "  ", make_user(session, "supervisor"))
    assert user.skills == ""


@pytest.mark.parametrize("skills", ["crisis-trained", "9lives", "x" * 121])
def test_a_bad_skill_is_refused(session: Session, skills: str) -> None:
    user = make_user(session, skills="crisis")
    with pytest.raises(AccountError):
        set_skills(session, user, skills, make_user(session, "supervisor"))
    assert user.skills == "crisis"
