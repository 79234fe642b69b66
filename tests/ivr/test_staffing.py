"""Who is signed in, as the IVR sees it: asked at most once a second, never blocking a caller."""

from __future__ import annotations

from sqlalchemy.orm import Session

from helpline.db import Database
from helpline.models import AgentStatus
from ivr.staffing import Staffing
from tests.factories import make_user
from tests.fixtures.twilio import UNREACHABLE


def test_a_language_is_staffed_while_someone_who_speaks_it_is_signed_in(
        db: Database, session: Session) -> None:
    make_user(session, languages="es", status=AgentStatus.ON_CALL)
    make_user(session, languages="en", status=AgentStatus.OFFLINE)
    session.commit()
    staffing = Staffing()
    assert staffing.has(db, "es", now=10.0)
    assert not staffing.has(db, "en", now=10.0)


def test_the_answer_is_reused_for_a_second_then_asked_again(
        db: Database, session: Session) -> None:
    counselor = make_user(session, languages="en", status=AgentStatus.AVAILABLE)
    session.commit()
    staffing = Staffing(check_seconds=1.0)
    assert staffing.has(db, "en", now=10.0)
    counselor.status = AgentStatus.OFFLINE
    session.commit()
    assert staffing.has(db, "en", now=10.5)
    assert not staffing.has(db, "en", now=11.0)


def test_when_the_database_cannot_tell_the_caller_is_queued() -> None:
    down = Database(UNREACHABLE)
    try:
        assert Staffing().has(down, "en")
    finally:
        down.dispose()
