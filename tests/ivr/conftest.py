"""IVR-only staff: a counselor who speaks English alone, for the language queues."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from helpline.models import AgentStatus, User
from tests.factories import make_user


@pytest.fixture
def english_counselor(session: Session) -> User:
    user = make_user(session, languages="en", status=AgentStatus.AVAILABLE)
    session.commit()
    return user
