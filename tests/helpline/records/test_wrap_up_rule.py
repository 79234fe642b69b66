"""A record closes only once documented: its outcome; at imminent risk, a crisis step or why
none was possible; after an overdose protocol, both risk levels. Everything missing is named
at once. A counselor may close it anyway with a reason, and the supervisors see it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from helpline.models import AuditEvent, Contact, User
from helpline.records import contacts, overdose
from helpline.records.contacts import WRAP_UP_NEEDS, WrapUpRefused
from helpline.reporting.audit_review import wrap_up_overrides
from tests.fixtures.overdose import T0, at, on_call


def refusal(session, contact: Contact, worker: User) -> list[str]:  # type: ignore[no-untyped-def]
    with pytest.raises(WrapUpRefused) as refused:
        contacts.wrap_up(session, contact, worker, now=at(300))
    assert contact.status == "open"
    assert refused.value.missing == [WRAP_UP_NEEDS[code] for code in refused.value.codes]
    return refused.value.codes


def test_the_outcome_is_required(session, worker):
    live = on_call(session, worker)
    assert refusal(session, live.contact, worker) == ["outcome"]
    contacts.update_draft(session, live.contact, worker, {"outcome": "support"})
    contacts.wrap_up(session, live.contact, worker, now=at(300))
    assert live.contact.status == "closed"


@pytest.mark.parametrize("risk", ["suicide_risk", "overdose_risk"])
def test_imminent_risk_needs_a_crisis_step(session, worker, risk):
    live = on_call(session, worker)
    contacts.update_draft(session, live.contact, worker, {risk: "imminent", "outcome": "support"})
    assert refusal(session, live.contact, worker) == ["crisis_steps"]
    contacts.update_draft(session, live.contact, worker, {"crisis_steps": ["warm_transfer_988"]})
    contacts.wrap_up(session, live.contact, worker, now=at(300))
    assert live.contact.status == "closed"


def test_a_reason_why_no_crisis_step_was_possible_is_enough_and_is_sealed(session, worker):
    live = on_call(session, worker)
    contacts.update_draft(session, live.contact, worker,
                          {"suicide_risk": "imminent", "outcome": "disconnected"})
    assert refusal(session, live.contact, worker) == ["crisis_steps"]
    contacts.update_draft(session, live.contact, worker,
                          {"no_crisis_step_reason": "Caller hung up before any step"})
    session.commit()
    stored = session.scalar(text("SELECT no_crisis_step_reason FROM contacts WHERE id = :i"),
                            {"i": live.contact.id})
    assert stored and "hung up" not in stored
    contacts.wrap_up(session, live.contact, worker, now=at(300))
    assert live.contact.status == "closed"
    assert contacts.read_reasons(session, worker, live.contact, None) == {
        "no_crisis_step_reason": "Caller hung up before any step"}
    assert session.scalar(select(AuditEvent.id).where(
        AuditEvent.action == "contact.no_crisis_step_reason.read")) is not None


def test_after_an_overdose_protocol_both_risk_levels_are_required(session, worker):
    live = on_call(session, worker)
    overdose.start_protocol(session, live.contact, worker, now=T0)
    contacts.update_draft(session, live.contact, worker,
                          {"overdose_risk": "", "outcome": "emergency"})
    assert refusal(session, live.contact, worker) == ["suicide_risk", "overdose_risk"]
    contacts.update_draft(session, live.contact, worker,
                          {"suicide_risk": "none", "overdose_risk": "high"})
    contacts.wrap_up(session, live.contact, worker, now=at(300))
    assert live.contact.status == "closed"


def test_everything_missing_is_named_in_one_refusal(session, worker):
    live = on_call(session, worker)
    overdose.start_protocol(session, live.contact, worker, now=T0)  # overdose risk: imminent
    live.contact.crisis_steps = []
    codes = refusal(session, live.contact, worker)
    assert codes == ["outcome", "crisis_steps", "suicide_risk"]
    with pytest.raises(WrapUpRefused) as refused:
        contacts.wrap_up(session, live.contact, worker, now=at(300))
    message = str(refused.value)
    assert all(WRAP_UP_NEEDS[code] in message for code in codes)


def test_a_documented_record_closes(session, worker):
    live = on_call(session, worker)
    contacts.update_draft(session, live.contact, worker, {
        "suicide_risk": "imminent", "overdose_risk": "low", "outcome": "crisis_transfer",
        "crisis_steps": ["stayed_on_line", "warm_transfer_988"]})
    contacts.wrap_up(session, live.contact, worker, now=at(300))
    assert live.contact.status == "closed" and worker.status == "available"


def test_closing_anyway_needs_a_reason_and_alerts_the_supervisors(session, worker):
    live = on_call(session, worker)
    contacts.update_draft(session, live.contact, worker, {"suicide_risk": "imminent"})
    with pytest.raises(contacts.ContactError, match="reason"):
        contacts.wrap_up_anyway(session, live.contact, worker, "   ", now=at(300))
    assert live.contact.status == "open"

    missing = contacts.wrap_up_anyway(session, live.contact, worker,
                                      "Caller gave their address then hung up", now=at(300))
    session.commit()
    assert missing == ["outcome", "crisis_steps"]
    assert live.contact.status == "closed" and worker.status == "available"
    event = session.scalar(select(AuditEvent).where(
        AuditEvent.action == "contact.wrap_up_override"))
    assert event is not None and event.detail == {"missing": ["outcome", "crisis_steps"]}
    assert "address" not in str(event.detail)
    # Audit events carry the real clock's time.
    assert [e.id for e in wrap_up_overrides(session, event.at - dt.timedelta(days=1))] == [
        event.id]
    assert wrap_up_overrides(session, event.at + dt.timedelta(seconds=1)) == []
    assert contacts.read_reasons(session, worker, live.contact, None) == {
        "wrap_up_override_reason": "Caller gave their address then hung up"}


def test_closing_anyway_a_documented_record_is_a_plain_wrap_up(session, worker):
    live = on_call(session, worker)
    contacts.update_draft(session, live.contact, worker, {"outcome": "information"})
    assert contacts.wrap_up_anyway(session, live.contact, worker, "no need", now=at(300)) == []
    assert live.contact.status == "closed"
    assert session.scalar(select(AuditEvent.id).where(
        AuditEvent.action == "contact.wrap_up_override")) is None
