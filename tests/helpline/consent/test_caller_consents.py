"""The caller's consents as staff see them: a third party's sealed name is opened only by
:func:`helpline.consent.disclosures.caller_consents`, and that read is audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from helpline import crypto
from helpline.consent.disclosures import caller_consents
from helpline.consent.door import Recipient, record_consent
from helpline.models import AuditEvent
from tests.factories import make_user
from tests.fixtures.consent import NOW

CALLER = "+15555550123"


def _sister(session):  # type: ignore[no-untyped-def]
    given = record_consent(session, caller_hash=crypto.caller_hash(CALLER), scope="third_party",
                           purpose="care_coordination", wording="Yes, call my sister.",
                           by=make_user(session), recipient=Recipient.third_party("A family "
                                                                                  "member"),
                           third_party_name="Dana", now=NOW)
    session.commit()
    return given


def _events(session, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_reading_a_third_partys_name_is_audited_without_the_name(session):
    given = _sister(session)
    supervisor = make_user(session, "supervisor")
    session.expire_all()
    shown = caller_consents(session, supervisor, crypto.caller_hash(CALLER), allowed=True,
                            record_type="record", record_id=7, address="203.0.113.9")
    assert shown.third_party_names == {given.id: "Dana"}
    assert [c.id for c in shown.consents] == [given.id]
    assert "third_party_name" not in shown.consents[0].__dict__  # not opened a second way
    [event] = _events(session, "consent.list.view")
    assert (event.actor_id, event.record_type, event.record_id, event.address) == (
        supervisor.id, "record", "7", "203.0.113.9")
    assert event.detail == {"consents": 1, "disclosures": 0, "third_party_names_shown": 1}
    assert "Dana" not in str(event.detail)


def test_a_viewer_not_allowed_gets_no_name_and_the_refusal_is_audited(session):
    _sister(session)
    admin = make_user(session, "admin")
    with pytest.raises(PermissionError):
        caller_consents(session, admin, crypto.caller_hash(CALLER), allowed=False,
                        record_type="record", record_id=7, address=None)
    assert [e.actor_id for e in _events(session, "consent.list.refused")] == [admin.id]
    assert _events(session, "consent.list.view") == []
