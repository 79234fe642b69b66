"""A referral text goes only through the consent door: refused without consent, allowed with
it, logged as a disclosure, neutral and under the name the caller allowed."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from helpline.followups import safe_contact
from helpline.models import Consent, Disclosure, OutboxMessage
from helpline.records.contacts import ContactError, attach_referral
from helpline.referrals import texts
from helpline.telephony import OutboxTelephony
from tests.fixtures.consent import NOW, make_center, on_call


def _record_with_referral(session, worker):  # type: ignore[no-untyped-def]
    rec = on_call(session, worker)
    attach_referral(session, rec.contact, worker, "center", make_center(session).id)
    session.commit()
    return rec


def test_a_referral_text_is_refused_without_consent_and_allowed_with_it(session, counselor,
                                                                        settings):
    rec = _record_with_referral(session, counselor)
    outbox = OutboxTelephony(settings)
    with pytest.raises(ContactError, match="has not agreed to texts for referral details"):
        texts.text_referrals(session, rec.contact, counselor, outbox, settings, now=NOW)
    assert session.scalar(select(OutboxMessage.id)) is None

    given = texts.set_referral_text_consent(session, rec.contact, counselor, True,
                                                     settings, now=NOW)
    assert (given.scope, given.purpose, given.script_version) == ("sms", "referral",
                                                                  "sms-referral-1")
    assert given.wording == texts.script(settings)
    message = texts.text_referrals(session, rec.contact, counselor, outbox, settings,
                                            now=NOW)
    assert message.body.startswith(f"{settings.safe_contact_alias}: the places we talked about")
    assert "Harbor Recovery" in message.body and "555" in message.body
    [logged] = session.scalars(select(Disclosure)).all()
    assert (logged.consent_id, logged.recipient_kind, logged.channel, logged.information,
            logged.outbox_id, logged.disclosed_by_id, logged.notice) == (
        given.id, "caller", "sms", ["referral_list"], message.id, counselor.id, "")


def test_unticking_the_box_withdraws_the_consent_and_stops_the_text(session, counselor, settings):
    rec = _record_with_referral(session, counselor)
    given = texts.set_referral_text_consent(session, rec.contact, counselor, True,
                                                     settings, now=NOW)
    texts.set_referral_text_consent(session, rec.contact, counselor, False, settings,
                                             now=NOW)
    assert session.get(Consent, given.id).withdrawn_how == "unticked on the record"
    with pytest.raises(ContactError, match="withdrew consent on"):
        texts.text_referrals(session, rec.contact, counselor,
                                      OutboxTelephony(settings), settings,
                                      now=NOW)


def test_texts_use_the_helplines_own_name_only_when_the_caller_allowed_it(session, counselor,
                                                                          settings):
    rec = _record_with_referral(session, counselor)
    texts.set_referral_text_consent(session, rec.contact, counselor, True, settings,
                                             now=NOW)
    safe_contact.set_preferences(session, rec.contact.caller_hash, counselor, settings,
                                 voicemail_ok=False, name_choice="helpline", allow_calls=True,
                                 allow_texts=True, safe_hours=None, someone_else_risk=False)
    message = texts.text_referrals(session, rec.contact, counselor,
                                            OutboxTelephony(settings), settings,
                                            now=NOW)
    assert message.body.startswith(f"{settings.helpline_name}: the places")


def test_no_referral_text_to_a_caller_who_said_texts_are_not_safe(session, counselor, settings):
    rec = _record_with_referral(session, counselor)
    texts.set_referral_text_consent(session, rec.contact, counselor, True, settings,
                                             now=NOW)
    safe_contact.set_preferences(session, rec.contact.caller_hash, counselor, settings,
                                 voicemail_ok=False, name_choice="alias", allow_calls=True,
                                 allow_texts=False, safe_hours=None, someone_else_risk=False)
    with pytest.raises(ContactError, match="texts are not safe"):
        texts.text_referrals(session, rec.contact, counselor,
                                      OutboxTelephony(settings), settings,
                                      now=NOW)


@pytest.mark.parametrize(("status", "said"), [
    ("failed", "nothing was sent"), ("unknown", "may or may not have gone")])
def test_a_text_the_service_did_not_take_is_not_marked_sent(session, counselor, settings,
                                                            status, said):
    rec = _record_with_referral(session, counselor)
    texts.set_referral_text_consent(session, rec.contact, counselor, True, settings, now=NOW)

    class Failing(OutboxTelephony):
        def send_sms(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            message = super().send_sms(*args, **kwargs)
            message.status = status
            return message

    with pytest.raises(ContactError, match=said):
        texts.text_referrals(session, rec.contact, counselor, Failing(settings), settings,
                             now=NOW)
    assert all(r.sent_by_sms_at is None for r in rec.contact.referrals)
    assert session.scalar(select(Disclosure.id)) is None
