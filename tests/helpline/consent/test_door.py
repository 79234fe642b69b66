"""The consent door: a disclosure rests on a live consent covering its scope, recipient and
purpose, or is refused with a message that says why."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from helpline import crypto
from helpline.consent import door
from helpline.consent.door import CALLER, ConsentError, Recipient, record_consent, require_consent
from helpline.models import AuditEvent, Consent
from tests.factories import make_user
from tests.fixtures.consent import NOW, make_center

DAY = dt.timedelta(days=1)


def _caller(session) -> str:  # type: ignore[no-untyped-def]
    return crypto.caller_hash("+15555550123")


def _texts(session, by, **kw):  # type: ignore[no-untyped-def]
    args = dict(caller_hash=_caller(session), scope="sms", purpose="followup",
                wording="May we text you a check-in? - Yes.", by=by, now=NOW,
                script_version="followup-sms-1")
    args.update(kw)
    return record_consent(session, **args)


def test_nothing_is_disclosed_without_a_consent_and_the_message_says_so(session):
    with pytest.raises(ConsentError, match=r"has not agreed to texts for follow-up \(no consent "
                                           r"recorded\)"):
        require_consent(session, _caller(session), "sms", CALLER, "followup", NOW)


def test_a_live_consent_is_returned_and_its_record_says_who_what_when_and_how(session):
    counselor = make_user(session)
    given = _texts(session, counselor, expires_at=NOW + 30 * DAY)
    assert require_consent(session, _caller(session), "sms", CALLER, "followup", NOW) == given
    assert (given.method, given.recorded_by_id, given.recorded_at, given.script_version) == (
        "verbal", counselor.id, NOW, "followup-sms-1")
    assert given.information == ["followup_contact"]
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "consent.recorded"))
    assert event.record_id == str(given.id) and event.detail["scope"] == "sms"


def test_a_withdrawn_consent_is_refused_with_its_date(session):
    counselor = make_user(session)
    given = _texts(session, counselor)
    door.withdraw(session, given, by=counselor, how="told_on_phone", now=NOW + DAY)
    with pytest.raises(ConsentError, match="withdrew consent on 2026-03-11 15:00 UTC"):
        require_consent(session, _caller(session), "sms", CALLER, "followup", NOW + 2 * DAY)


def test_an_expired_consent_is_refused_with_its_date(session):
    _texts(session, make_user(session), expires_at=NOW + 7 * DAY)
    assert require_consent(session, _caller(session), "sms", CALLER, "followup",
                           NOW + 6 * DAY)
    with pytest.raises(ConsentError, match="expired on 2026-03-17 15:00 UTC"):
        require_consent(session, _caller(session), "sms", CALLER, "followup", NOW + 7 * DAY)


def test_a_consent_to_texts_does_not_cover_calls(session):
    _texts(session, make_user(session))
    with pytest.raises(ConsentError, match="covers texts but not calls"):
        require_consent(session, _caller(session), "call", CALLER, "followup", NOW)


def test_a_consent_for_follow_up_texts_does_not_cover_referral_texts(session):
    _texts(session, make_user(session))
    with pytest.raises(ConsentError, match="is for follow-up, not for referral details"):
        require_consent(session, _caller(session), "sms", CALLER, "referral", NOW)


def test_sharing_with_one_provider_does_not_cover_another(session):
    harbor = make_center(session)
    lakeside = make_center(session, "Lakeside Center (fictional)")
    record_consent(session, caller_hash=_caller(session), scope="provider",
                   purpose="treatment_intake", wording="Yes, tell Harbor.",
                   by=make_user(session), recipient=Recipient.provider(harbor.id, harbor.name),
                   expires_at=NOW + 30 * DAY, now=NOW)
    assert require_consent(session, _caller(session), "provider",
                           Recipient.provider(harbor.id, harbor.name), "treatment_intake", NOW)
    with pytest.raises(ConsentError, match="covers sharing with Harbor Recovery \\(fictional\\), "
                                           "not with Lakeside Center"):
        require_consent(session, _caller(session), "provider",
                        Recipient.provider(lakeside.id, lakeside.name), "treatment_intake", NOW)


def test_each_scope_is_withdrawn_on_its_own(session):
    counselor = make_user(session)
    texts = _texts(session, counselor)
    calls = _texts(session, counselor, scope="call", wording="May we call you? - Yes.")
    door.withdraw(session, texts, by=counselor, now=NOW + DAY)
    assert require_consent(session, _caller(session), "call", CALLER, "followup",
                           NOW + DAY) == calls
    with pytest.raises(ConsentError, match="withdrew"):
        require_consent(session, _caller(session), "sms", CALLER, "followup", NOW + DAY)


def test_a_text_or_call_to_the_caller_may_carry_nothing_about_substance_use(session):
    with pytest.raises(ConsentError, match="nothing about substance use"):
        _texts(session, make_user(session), information=["followup_contact", "substances"])


def test_a_verbal_consent_needs_the_counselor_who_attests_to_it(session):
    with pytest.raises(ConsentError, match="attests"):
        _texts(session, None)
    keypress = _texts(session, None, method="ivr_keypress", scope="call",
                      script_version="ivr-callback-1")
    assert keypress.recorded_via == "ivr" and keypress.recorded_by_id is None


def test_a_provider_consent_names_the_provider_and_what_may_be_shared(session):
    counselor = make_user(session)
    with pytest.raises(ConsentError, match="name the treatment provider"):
        record_consent(session, caller_hash=_caller(session), scope="provider",
                       purpose="treatment_intake", wording="Yes.", by=counselor,
                       recipient=Recipient("provider"), now=NOW)
    center = make_center(session)
    given = record_consent(session, caller_hash=_caller(session), scope="provider",
                           purpose="treatment_intake", wording="Yes.", by=counselor,
                           recipient=Recipient.provider(center.id, center.name), now=NOW,
                           expiry_event="referral_closed")
    assert "substances" in given.information and "seeking_treatment" in given.information
    assert door.describe(["substances"]) == [
        "SUD information: which substances the caller uses"]


def test_an_ending_event_expires_the_consents_that_end_with_it(session):
    center = make_center(session)
    given = record_consent(session, caller_hash=_caller(session), scope="provider",
                           purpose="treatment_intake", wording="Yes.", by=make_user(session),
                           recipient=Recipient.provider(center.id, center.name),
                           expiry_event="referral_closed", now=NOW)
    assert door.expire_on_event(session, "referral_closed", caller=_caller(session),
                                   center_id=center.id, now=NOW + DAY) == [given.id]
    with pytest.raises(ConsentError, match="expired on 2026-03-11 15:00 UTC \\(when the "
                                           "referral's outcome is known"):
        require_consent(session, _caller(session), "provider",
                        Recipient.provider(center.id, center.name), "treatment_intake",
                        NOW + 2 * DAY)


def test_a_third_partys_name_is_sealed_and_never_loaded_by_the_door(session):
    given = record_consent(session, caller_hash=_caller(session), scope="third_party",
                           purpose="care_coordination", wording="Yes, call my sister.",
                           by=make_user(session),
                           recipient=Recipient.third_party("A family member"),
                           third_party_name="Dana", now=NOW)
    session.commit()
    raw = session.scalar(text("SELECT third_party_name FROM consents WHERE id = :i"),
                         {"i": given.id})
    assert raw.startswith("hl1:") and "Dana" not in raw
    session.expire_all()
    found = require_consent(session, _caller(session), "third_party",
                            Recipient.third_party(), "care_coordination", NOW)
    assert "third_party_name" not in found.__dict__  # deferred: not opened
    assert session.get(Consent, given.id).third_party_name == "Dana"
