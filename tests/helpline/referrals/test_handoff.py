"""Warm handoff to treatment intake: consent for that provider first; then intake is
conferenced in with the caller on the line, the referral is marked handed off, the disclosure
is logged with the §2.32 notice, and a follow-up to confirm admission is proposed."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import select

from helpline.consent.door import ConsentError
from helpline.consent.terms import REDISCLOSURE_NOTICE
from helpline.models import AuditEvent, Disclosure, FollowUp, OutboxMessage
from helpline.referrals import handoff
from helpline.telephony import OutboxTelephony
from tests.fixtures import twiml_rules
from tests.fixtures.consent import NOW, make_center, on_call
from tests.fixtures.referrals import agree_to_calls, agree_to_share, refer


def _outbox(session):  # type: ignore[no-untyped-def]
    session.expire_all()
    return session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()


def _role(message: OutboxMessage) -> str:
    query = parse_qs(urlparse(message.twiml_url or "").query)
    return f"{query['room'][0]}/{query['role'][0]}"


def test_a_handoff_is_refused_without_consent_and_nothing_is_dialled(session, counselor, settings):
    rec = on_call(session, counselor)
    referral = refer(session, rec)
    with pytest.raises(ConsentError, match=r"has not agreed to sharing with Harbor Recovery "
                                           r"\(fictional\) for treatment intake"):
        handoff.warm_handoff(session, referral, counselor, OutboxTelephony(
            settings), settings, now=NOW)
    assert _outbox(session) == [] and referral.handed_off_at is None


def test_a_handoff_creates_the_follow_up_that_confirms_admission(session, counselor, settings):
    rec = on_call(session, counselor)
    referral = refer(session, rec)
    shared = agree_to_share(session, rec, referral.target_id, counselor)
    calls = agree_to_calls(session, rec, counselor)
    result = handoff.warm_handoff(session, referral, counselor,
                                  OutboxTelephony(settings), settings, now=NOW)
    session.commit()

    fu = result.followup
    assert fu is not None and result.no_followup_because is None
    assert (fu.kind, fu.source, fu.state, fu.referral_id, fu.consent_id, fu.contact_id) == (
        "reminder", "handoff", "requested", referral.id, calls.id, rec.contact.id)
    assert fu.phone == rec.call.caller_number
    assert (fu.window_start, fu.window_end) == (NOW + dt.timedelta(days=1),
                                               NOW + dt.timedelta(days=7))
    assert session.scalar(select(FollowUp.id).where(FollowUp.id != fu.id)) is None

    assert (referral.handed_off_at, referral.handed_off_by_id, referral.handoff_consent_id) == (
        NOW, counselor.id, shared.id)
    assert referral.outcome == "contacted_center"
    caller_leg, counselor_leg, intake = _outbox(session)
    assert (caller_leg.kind, caller_leg.provider_sid, _role(caller_leg)) == (
        "redirect", rec.call.call_sid, f"handoff-{referral.id}/caller")
    assert (counselor_leg.to_number, _role(counselor_leg)) == (
        counselor.phone, f"handoff-{referral.id}/counselor")
    assert (intake.kind, intake.to_number, intake.from_number, _role(intake)) == (
        "call", "+15555550142", settings.helpline_number, f"handoff-{referral.id}/intake")

    [logged] = session.scalars(select(Disclosure)).all()
    assert (logged.consent_id, logged.recipient_kind, logged.recipient_center_id,
            logged.channel, logged.notice, logged.referral_id, logged.outbox_id,
            logged.purpose) == (shared.id, "provider", referral.target_id, "conference",
                                "short", referral.id, intake.id, "treatment_intake")
    assert logged.information == shared.information
    assert REDISCLOSURE_NOTICE in result.summary
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "referral.handoff"))
    assert event.detail["consent_id"] == shared.id


def test_without_a_follow_up_consent_the_handoff_says_why_none_was_proposed(session, counselor,
                                                                           settings):
    rec = on_call(session, counselor)
    referral = refer(session, rec)
    agree_to_share(session, rec, referral.target_id, counselor)
    result = handoff.warm_handoff(session, referral, counselor,
                                  OutboxTelephony(settings), settings, now=NOW)
    assert result.followup is None and referral.handed_off_at == NOW
    assert result.no_followup_because == (
        "No follow-up to confirm admission was proposed: the caller has not agreed to calls "
        "for follow-up (no consent recorded). Ask the caller, and request one with their "
        "consent from the record.")


def test_a_handoff_needs_the_caller_on_the_line(session, counselor, settings):
    rec = on_call(session, counselor)
    referral = refer(session, rec)
    agree_to_share(session, rec, referral.target_id, counselor)
    rec.call.ended_at = NOW - dt.timedelta(minutes=1)
    session.commit()
    with pytest.raises(handoff.HandoffError, match="not on the line"):
        handoff.warm_handoff(session, referral, counselor,
                             OutboxTelephony(settings), settings, now=NOW)
    assert _outbox(session) == []


def test_the_summary_for_intake_holds_only_what_the_consent_names(session, counselor, settings):
    rec = on_call(session, counselor)
    rec.contact.substances = ["opioids"]
    rec.contact.insurance = "medicaid"
    referral = refer(session, rec)
    shared = agree_to_share(session, rec, referral.target_id, counselor,
                            information=["seeking_treatment", "insurance"])
    lines = handoff.summary_lines(session, rec.contact, shared, "Harbor Recovery", settings, NOW)
    text = "\n".join(lines)
    assert "looking for substance use treatment" in text and "Insurance: Medicaid." in text
    assert "Opioids" not in text
    assert "Not to be shared: SUD information: which substances the caller uses" in text
    assert lines[-2] == REDISCLOSURE_NOTICE


def test_the_intake_line_hears_who_is_calling_and_the_notice_before_joining(twilio, app):
    intake = twilio.post("/ivr/handoff/join?room=handoff-7&role=intake&lang=es")
    body = intake.get_data(as_text=True)
    twiml_rules.check_voice(body)
    assert intake.status_code == 200 and REDISCLOSURE_NOTICE in body
    assert "<Conference" in body and 'startConferenceOnEnter="false"' in body
    assert 'language="en-US"' in body  # intake staff hear English whatever the caller speaks
    caller = twilio.post("/ivr/handoff/join?room=handoff-7&role=caller").get_data(as_text=True)
    assert "<Say" not in caller and 'startConferenceOnEnter="true"' in caller
    assert "<Conference" not in twilio.post(
        "/ivr/handoff/join?room=overdose-7&role=intake").get_data(as_text=True)
    assert twilio.post("/ivr/handoff/join?room=handoff-7&role=intake",
                       forge=True).status_code == 403


@pytest.mark.parametrize(("stored", "extension"), [
    ("555-555-0102", None), ("(555) 555-0102 ext. 14", "14"), ("555-555-0102 x7", "7")])
@pytest.mark.parametrize("language", ["en", "es"])
def test_a_directory_number_as_written_is_dialled_in_e164_and_the_extension_keyed_in_after(
        session, counselor, settings, twilio, stored, extension, language):
    rec = on_call(session, counselor)
    rec.contact.language = language
    referral = refer(session, rec, make_center(session, name="Bay Intake", intake=stored))
    agree_to_share(session, rec, referral.target_id, counselor)
    handoff.warm_handoff(session, referral, counselor, OutboxTelephony(settings), settings,
                         now=NOW)
    intake = _outbox(session)[-1]
    assert intake.to_number == "+15555550102"
    assert parse_qs(urlparse(intake.twiml_url or "").query).get("ext") == (
        [extension] if extension else None)

    answer = twilio.post(intake.twiml_url.removeprefix(settings.public_base_url))
    body = answer.get_data(as_text=True)
    root = twiml_rules.check_voice(body)
    verbs = [verb.tag for verb in root]
    if extension:
        # Keyed in once the switchboard answers, before the intake worker hears who calls.
        assert verbs == ["Play", "Say", "Dial"]
        assert root[0].attrib == {"digits": f"ww{extension}"}
    else:
        assert verbs == ["Say", "Dial"]
    assert root.find("Say").attrib["language"] == "en-US"  # intake hears English


def test_the_intake_leg_keys_in_only_digits(twilio):
    body = twilio.post("/ivr/handoff/join?room=handoff-7&role=intake&ext=1%3B2").get_data(
        as_text=True)
    assert "<Play" not in body and "<Conference" in body


def test_a_directory_number_that_cannot_be_dialled_refuses_the_handoff(session, counselor,
                                                                      settings):
    rec = on_call(session, counselor)
    referral = refer(session, rec, make_center(session, name="Bay Intake", intake="555-0102"))
    agree_to_share(session, rec, referral.target_id, counselor)
    with pytest.raises(handoff.HandoffError, match="Bay Intake's phone number in the "
                                                   "directory needs its area code"):
        handoff.warm_handoff(session, referral, counselor, OutboxTelephony(settings),
                             settings, now=NOW)
    assert _outbox(session) == []
