"""The caller's consents and disclosures in one place, the warm handoff page, the texting box
and the follow-up request recording consent from versioned scripts, safe-contact preferences
and the attempt limit: through the real pages, with the access rules and the audit."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from helpline.consent import door
from helpline.followups import lifecycle
from helpline.models import (
    AuditEvent,
    Consent,
    EmergencyDisclosure,
    FollowUp,
    OutboxMessage,
    Referral,
    User,
)
from tests.factories import make_user
from tests.fixtures.consent import CALLER, make_center, on_call

DAY = dt.timedelta(days=1)


def _me(session, staff) -> User:  # type: ignore[no-untyped-def]
    return session.get(User, staff.user_id)


def _flash(page) -> str:  # type: ignore[no-untyped-def]
    return " ".join(re.findall(r'<p class="flash[^"]*"[^>]*>(.*?)</p>', page.get_data(
        as_text=True), re.S))


def _record_with_consents(session, user):  # type: ignore[no-untyped-def]
    rec = on_call(session, user)
    now = dt.datetime.now(dt.UTC)
    texts = door.record_consent(
        session, caller_hash=rec.contact.caller_hash, scope="sms", purpose="referral",
        wording="May we text you the places? - Yes.", by=user, contact=rec.contact,
        script_version="sms-referral-1", expires_at=now + 30 * DAY, now=now)
    calls = door.record_consent(
        session, caller_hash=rec.contact.caller_hash, scope="call", purpose="followup",
        wording="May we call you back? - Yes.", by=user, phone=CALLER, contact=rec.contact,
        script_version="followup-call-1", expires_at=now + 30 * DAY, now=now)
    session.add(EmergencyDisclosure(
        contact_id=rec.contact.id, caller_hash=rec.contact.caller_hash,
        recipient_name="Dispatcher 12", recipient_affiliation="County 911 (fictional)",
        disclosed_by_id=user.id, disclosed_at=now - DAY, nature="suspected_opioid_overdose",
        information=["location", "condition"], recorded_at=now - DAY))
    session.commit()
    return rec, texts, calls


# --- the caller's page: who may see it --------------------------------------------------------


def test_the_counselor_on_the_record_sees_every_consent_and_disclosure_and_it_is_audited(
        session, counselor_client):
    rec, texts, calls = _record_with_consents(session, _me(session, counselor_client))
    assert b'id="consents-link"' in counselor_client.get(f"/records/{rec.contact.id}").data
    page = counselor_client.get(f"/records/{rec.contact.id}/consents")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    for c in (texts, calls):
        assert f'id="consent-{c.id}"' in html and f'id="withdraw-{c.id}"' in html
    assert "Sending the caller the referral details they asked for" in html
    assert "sms-referral-1" in html and "May we call you back? - Yes." in html
    log = html.split('id="disclosure-log"')[1].split("</table>")[0]
    assert "Dispatcher 12" in log and "County 911 (fictional)" in log
    assert "Medical emergency without consent (42 CFR 2.51)" in log
    assert CALLER not in html
    [view] = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "consent.list.view")).all()
    assert (view.actor_id, view.record_type, view.record_id) == (
        counselor_client.user_id, "record", str(rec.contact.id))


def test_a_counselor_not_on_the_callers_contact_gets_404_and_it_is_audited(session,
                                                                           counselor_client):
    rec, _texts, _calls = _record_with_consents(session, make_user(session))
    assert counselor_client.get(f"/records/{rec.contact.id}/consents").status_code == 404
    refused = session.scalars(select(AuditEvent.action).where(
        AuditEvent.actor_id == counselor_client.user_id)).all()
    assert "contact.refused" in refused and "consent.list.view" not in refused


def test_admins_do_not_see_a_callers_consents(session, admin_client, settings):
    rec, _texts, calls = _record_with_consents(session, make_user(session))
    fu = lifecycle.request_followup(session, contact=rec.contact, phone=None, channel="call",
                                    kind="reminder", requested_by=rec.counselor,
                                    consent_wording="", consent=calls, settings=settings)
    session.commit()
    assert admin_client.get(f"/records/{rec.contact.id}/consents").status_code == 404
    assert admin_client.get(f"/followups/{fu.id}/consents").status_code in (403, 404)


def test_supervisors_and_the_counselor_working_the_follow_up_see_it(session, supervisor_client,
                                                                    counselor_client, settings):
    rec, _texts, calls = _record_with_consents(session, make_user(session))
    fu = lifecycle.request_followup(session, contact=rec.contact, phone=None, channel="call",
                                    kind="reminder", requested_by=rec.counselor,
                                    consent_wording="", consent=calls, settings=settings)
    lifecycle.assign(session, fu, _me(session, counselor_client), by=_me(session,
                                                                         supervisor_client))
    session.commit()
    assert supervisor_client.get(f"/records/{rec.contact.id}/consents").status_code == 200
    page = counselor_client.get(f"/followups/{fu.id}/consents")
    assert page.status_code == 200 and b"Dispatcher 12" in page.data
    assert b"consents-link" in counselor_client.get(f"/followups/{fu.id}").data


# --- withdrawing ------------------------------------------------------------------------------


def test_withdrawing_a_consent_from_the_page_stops_the_follow_ups_resting_on_it(session,
                                                                                counselor_client,
                                                                                settings):
    rec, texts, calls = _record_with_consents(session, _me(session, counselor_client))
    fu = lifecycle.request_followup(session, contact=rec.contact, phone=None, channel="call",
                                    kind="reminder", requested_by=rec.counselor,
                                    consent_wording="", consent=calls, settings=settings)
    session.commit()
    url = f"/records/{rec.contact.id}/consents/{calls.id}/withdraw"
    counselor_client.post(url, {"how": "told_on_phone"})  # not confirmed: nothing happens
    session.expire_all()
    assert session.get(Consent, calls.id).withdrawn_at is None
    page = counselor_client.post(url, {"how": "told_on_phone", "confirm": "1"},
                                 follow_redirects=True)
    assert "1 follow-up(s) stopped" in _flash(page)
    session.expire_all()
    got = session.get(Consent, calls.id)
    assert (got.withdrawn_how, got.withdrawn_by_id) == ("told_on_phone", counselor_client.user_id)
    assert session.get(Consent, texts.id).withdrawn_at is None  # scopes are separate
    stopped = session.get(FollowUp, fu.id)
    assert (stopped.state, stopped.outcome) == ("stopped", "consent_withdrawn")
    assert 'data-status="withdrawn"' in page.get_data(as_text=True)


def test_another_callers_consent_cannot_be_withdrawn_through_this_page(session, counselor_client):
    rec, _texts, _calls = _record_with_consents(session, _me(session, counselor_client))
    stranger = door.record_consent(
        session, caller_hash="f" * 64, scope="sms", purpose="followup", wording="Yes.",
        by=rec.counselor)
    session.commit()
    assert counselor_client.post(f"/records/{rec.contact.id}/consents/{stranger.id}/withdraw",
                                 {"how": "told_on_phone", "confirm": "1"}).status_code == 404
    session.expire_all()
    assert session.get(Consent, stranger.id).withdrawn_at is None


# --- recording consent on the record ------------------------------------------------------------


def test_the_texting_box_records_the_scripts_words_and_unticking_withdraws(session,
                                                                           counselor_client,
                                                                          settings):
    rec = on_call(session, _me(session, counselor_client))
    page = counselor_client.get(f"/records/{rec.contact.id}").get_data(as_text=True)
    assert "sms-referral-1" in page and "The text will not say what we talked about" in page
    counselor_client.post(f"/records/{rec.contact.id}/draft", {"sms_consent_present": "1",
                                                               "sms_consent": "1"})
    [given] = session.scalars(select(Consent)).all()
    assert (given.scope, given.purpose, given.recorded_by_id, given.script_version) == (
        "sms", "referral", counselor_client.user_id, "sms-referral-1")
    counselor_client.post(f"/records/{rec.contact.id}/draft", {"sms_consent_present": "1"})
    session.expire_all()
    assert session.get(Consent, given.id).withdrawn_at is not None


def test_a_follow_up_request_records_the_versioned_script_as_the_consent(session, counselor_client):
    rec = on_call(session, _me(session, counselor_client))
    counselor_client.post(f"/records/{rec.contact.id}/followup",
                          {"consent": "1", "channel": "sms", "same_number": "1",
                    "consent_until": (dt.date.today() + 10 * DAY).isoformat()})
    [fu] = session.scalars(select(FollowUp)).all()
    assert (fu.consent.scope, fu.consent.purpose, fu.consent.script_version) == (
        "sms", "followup", "followup-sms-1")
    assert fu.consent.wording.startswith("May we send you a short check-in text")
    assert fu.consent.expires_at is not None and fu.consent.expires_at.date() > dt.date.today()


def test_third_party_consent_is_recorded_with_a_sealed_name(session, counselor_client):
    rec = on_call(session, _me(session, counselor_client))
    counselor_client.post(f"/records/{rec.contact.id}/consents/third-party",
                          {"relation": "family", "name": "Dana", "information": "seeking_treatment",
                    "attest": "1"})
    [given] = session.scalars(select(Consent)).all()
    assert (given.scope, given.recipient_name, given.purpose) == (
        "third_party", "A family member", "care_coordination")
    assert "Dana" not in str([e.detail for e in session.scalars(select(AuditEvent))])


# --- warm handoff through the pages --------------------------------------------------------------


def test_the_handoff_page_asks_for_consent_then_conferences_intake(session, counselor_client):
    me = _me(session, counselor_client)
    rec = on_call(session, me)
    center = make_center(session)
    session.commit()
    counselor_client.post(f"/records/{rec.contact.id}/referrals", {"kind": "center",
                                                                   "target_id": str(center.id)})
    referral = session.scalar(select(Referral))
    url = f"/records/{rec.contact.id}/referrals/{referral.id}/handoff"
    page = counselor_client.get(url).get_data(as_text=True)
    assert 'id="consent-refusal"' in page and "No handoff without consent" in page
    assert 'id="start-handoff"' not in page and "+15555550142" in page
    refused = counselor_client.post(url, follow_redirects=True)
    assert "Not handed off: the caller has not agreed to sharing" in _flash(refused)
    assert session.scalar(select(OutboxMessage.id)) is None

    counselor_client.post(f"/records/{rec.contact.id}/referrals/{referral.id}/consent",
                          {"information": ["seeking_treatment", "insurance"], "until_event": "1",
                    "until": (dt.date.today() + 30 * DAY).isoformat(), "attest": "1"})
    page = counselor_client.get(url).get_data(as_text=True)
    assert 'id="consent-live"' in page and 'id="start-handoff"' in page
    assert "42 CFR part 2 prohibits unauthorized use or disclosure" in page
    done = counselor_client.post(url, follow_redirects=True)
    flashes = _flash(done)
    assert "Handed off" in flashes and "the caller has not agreed to calls" in flashes
    session.expire_all()
    assert session.get(Referral, referral.id).handed_off_by_id == me.id
    assert len(session.scalars(select(OutboxMessage)).all()) == 3


# --- safe contact and attempts ------------------------------------------------------------------


def test_safe_contact_preferences_are_saved_and_the_name_to_ask_for_shown_on_demand(
        session, counselor_client):
    rec = on_call(session, _me(session, counselor_client))
    page = counselor_client.get(f"/records/{rec.contact.id}").get_data(as_text=True)
    assert "No voicemail: a call back that reaches a machine hangs up" in page
    counselor_client.post(f"/records/{rec.contact.id}/safe-contact",
                          {"allow_calls": "1", "allow_texts": "1", "name_choice": "alias",
                    "someone_else_risk": "1", "ask_for": "Marisol", "safe_start": "12",
                    "safe_end": "14"})
    page = counselor_client.get(f"/records/{rec.contact.id}").get_data(as_text=True)
    assert "Only between 12:00 and 14:00" in page and "Marisol" not in page
    assert "ask for the caller by first name only" in page
    shown = counselor_client.post(f"/records/{rec.contact.id}/safe-contact/ask-for",
                                  headers={"HX-Request": "true"})
    assert b"Marisol" in shown.data and b"<html" not in shown.data
    assert session.scalar(select(AuditEvent.actor_id).where(
        AuditEvent.action == "safe_contact.ask_for.read")) == counselor_client.user_id


def test_only_a_supervisor_raises_the_attempt_limit(session, supervisor_client, counselor_client,
                                                     settings):
    rec, _texts, calls = _record_with_consents(session, make_user(session))
    fu = lifecycle.request_followup(session, contact=rec.contact, phone=None, channel="call",
                                    kind="reminder", requested_by=rec.counselor,
                                    consent_wording="", consent=calls, settings=settings)
    lifecycle.assign(session, fu, _me(session, counselor_client), by=_me(session,
                                                                         supervisor_client))
    session.commit()
    assert counselor_client.post(f"/followups/{fu.id}/max-attempts",
                                 {"max_attempts": "7", "reason": "high_risk"}).status_code == 403
    assert b'id="raise-attempts"' in supervisor_client.get(f"/followups/{fu.id}").data
    supervisor_client.post(f"/followups/{fu.id}/max-attempts",
                           {"max_attempts": "7", "reason": "high_risk"})
    session.expire_all()
    assert session.get(FollowUp, fu.id).max_attempts == 7
    page = supervisor_client.get(f"/followups/{fu.id}").get_data(as_text=True)
    assert "More attempts allowed" in page and "High risk: keep trying to reach them" in page
