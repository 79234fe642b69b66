"""Closed-loop referrals: the outcome a follow-up records (contacted, appointment, admitted,
not admitted and why, lost to contact) shows in the referral report, per center and per type
of care; who may record it; a final outcome ends the consent that was to last until then."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from helpline.consent.door import ConsentError, Recipient, require_consent
from helpline.followups import lifecycle
from helpline.models import AuditEvent, Referral, TreatmentCenter
from helpline.referrals import outcomes
from helpline.reporting.reports import build_report, table_csv
from tests.factories import make_user
from tests.fixtures.consent import CALLER, NOW, make_center, on_call
from tests.fixtures.referrals import agree_to_calls, agree_to_share, offer_care, refer
from tests.fixtures.reporting import local

WEEK = (dt.date(2026, 1, 5), dt.date(2026, 1, 11))
TZ = "America/New_York"


def _in_week(referral: Referral, day: int = 6) -> None:
    referral.created_at = local(2026, 1, day, 10)


def _assigned_followup(session, settings, rec, to):  # type: ignore[no-untyped-def]
    calls = agree_to_calls(session, rec, rec.counselor)
    fu = lifecycle.request_followup(
        session, contact=rec.contact, phone=None, channel="call", kind="reminder",
        requested_by=rec.counselor, consent_wording="", consent=calls, settings=settings,
        now=NOW)
    supervisor = make_user(session, "supervisor")
    lifecycle.assign(session, fu, session.get(type(to), to.id), by=supervisor, now=NOW)
    session.commit()
    return fu


def test_an_outcome_recorded_on_a_follow_up_shows_in_the_referral_report(
        session, settings, counselor_client, supervisor_client):
    # The call was taken by someone else; the follow-up is assigned to the signed-in counselor.
    rec = on_call(session, make_user(session, display_name="Day Shift"))
    harbor = make_center(session)
    lakeside = make_center(session, "Lakeside Center (fictional)", intake="")
    offer_care(session, harbor, "Outpatient", "Detox")
    offer_care(session, lakeside, "Residential")
    admitted, waiting = refer(session, rec, harbor), refer(session, rec, lakeside)
    _in_week(admitted)
    _in_week(waiting)
    session.commit()
    me = session.get(type(rec.counselor), counselor_client.user_id)
    fu = _assigned_followup(session, settings, rec, me)

    page = counselor_client.get(f"/followups/{fu.id}").get_data(as_text=True)
    assert f'id="fu-referral-{admitted.id}"' in page and "Outcome not known yet" in page
    resp = counselor_client.post(f"/followups/{fu.id}/referrals/{admitted.id}/outcome",
                                 {"outcome": "admitted"})
    assert resp.status_code == 302
    resp = counselor_client.post(f"/followups/{fu.id}/referrals/{waiting.id}/outcome",
                                 {"outcome": "not_admitted", "reason": "waitlist"})
    session.expire_all()
    got = session.get(Referral, admitted.id)
    assert (got.outcome, got.outcome_by_id, got.outcome_followup_id) == (
        "admitted", counselor_client.user_id, fu.id)
    assert session.get(Referral, waiting.id).outcome_reason == "waitlist"

    report = build_report(session, *WEEK, timezone=TZ)
    assert report.tables["admissions_center"].rows == [
        ["Harbor Recovery (fictional)", 1, 0, 1, 1, "100.0%"],
        ["Lakeside Center (fictional)", 1, 0, 1, 0, "0.0%"],
    ]
    assert report.tables["admissions_care"].rows == [
        ["Detox", 1, 1, "100.0%"], ["Outpatient", 1, 1, "100.0%"], ["Residential", 1, 0, "0.0%"]]
    assert table_csv(report, "admissions_center").splitlines()[0] == (
        "Center,Referrals,Warm handoffs,Outcome known,Admitted,Admission rate")

    html = supervisor_client.get("/supervisor/reports?start=2026-01-05&end=2026-01-11") \
        .get_data(as_text=True)
    table = html.split('id="table-admissions_center"')[1].split("</table>")[0]
    assert ('<th scope="row">Harbor Recovery (fictional)</th><td>1</td><td>0</td><td>1</td>'
            '<td>1</td><td>100.0%</td>') in table
    assert 'aria-label="Referrals to centers that became admissions' in html  # the chart
    csv = supervisor_client.get("/supervisor/reports/admissions_care.csv?start=2026-01-05"
                                "&end=2026-01-11")
    assert csv.status_code == 200 and b"Detox,1,1,100.0%" in csv.data


def test_not_admitted_needs_a_reason_and_each_change_is_audited(session, counselor):
    rec = on_call(session, counselor)
    referral = refer(session, rec)
    with pytest.raises(outcomes.OutcomeError, match="why"):
        outcomes.record_outcome(session, referral, "not_admitted", by=counselor, now=NOW)
    outcomes.record_outcome(session, referral, "appointment", by=counselor, now=NOW)
    outcomes.record_outcome(session, referral, "not_admitted", reason="cost",
                                     by=counselor, now=NOW)
    events = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "referral.outcome").order_by(AuditEvent.id)).all()
    assert [(e.detail["from"], e.detail["to"], e.detail["reason"]) for e in events] == [
        (None, "appointment", None), ("appointment", "not_admitted", "cost")]


def test_a_counselor_with_no_part_in_the_record_cannot_set_its_outcome(session, counselor_client,
                                                                       settings):
    rec = on_call(session, make_user(session))
    referral = refer(session, rec)
    fu = _assigned_followup(session, settings, rec, make_user(session))
    assert counselor_client.post(f"/records/{rec.contact.id}/referrals/{referral.id}/outcome",
                                 {"outcome": "admitted"}).status_code == 404
    assert counselor_client.post(f"/followups/{fu.id}/referrals/{referral.id}/outcome",
                                 {"outcome": "admitted"}).status_code == 404
    session.expire_all()
    assert session.get(Referral, referral.id).outcome is None
    refused = session.scalars(select(AuditEvent.action).where(
        AuditEvent.actor_id == counselor_client.user_id, AuditEvent.action.like("%refused"))).all()
    assert refused == ["contact.refused", "followup.refused"]


def test_the_record_shows_and_sets_the_outcome_even_after_wrap_up(session, counselor_client):
    me = session.get(type(make_user(session)), counselor_client.user_id)
    rec = on_call(session, me)
    referral = refer(session, rec)
    rec.contact.status = "closed"
    session.commit()
    page = counselor_client.get(f"/records/{rec.contact.id}").get_data(as_text=True)
    assert f'id="outcome-{referral.id}"' in page and "outcome not known yet" in page
    counselor_client.post(f"/records/{rec.contact.id}/referrals/{referral.id}/outcome",
                          {"outcome": "lost_to_contact"})
    page = counselor_client.get(f"/records/{rec.contact.id}").get_data(as_text=True)
    assert "Lost to contact" in page


def test_a_final_outcome_ends_the_consent_that_lasted_until_the_referral_closed(session,
                                                                                counselor):
    rec = on_call(session, counselor)
    referral = refer(session, rec)
    agree_to_share(session, rec, referral.target_id, counselor)
    center = session.get(TreatmentCenter, referral.target_id)
    outcomes.record_outcome(session, referral, "admitted", by=counselor, now=NOW)
    with pytest.raises(ConsentError, match="expired on"):
        require_consent(session, rec.contact.caller_hash, "provider",
                        Recipient.provider(center.id, center.name), "treatment_intake",
                        NOW + dt.timedelta(minutes=1))
    assert CALLER  # the caller's number never appears in what was recorded
    assert all(CALLER not in str(e.detail) for e in session.scalars(select(AuditEvent)))
