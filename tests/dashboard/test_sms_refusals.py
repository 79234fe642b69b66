"""What the counselor is told when a text is refused by the limits, or a typed number is not
a phone number: in words, on the record."""

from __future__ import annotations

import html

from sqlalchemy import func, select

from helpline.models import AgentStatus, AuditEvent, FollowUp, OutboxMessage, User
from helpline.records import contacts
from tests.factories import make_call
from tests.factories.directory import make_center


def open_record(session, staff, number):  # type: ignore[no-untyped-def]
    user = session.get(User, staff.user_id)
    call = make_call(session, number, need="treatment", zip_code="10001")
    contact = contacts.open_contact_for_call(session, user, call)
    user.status = AgentStatus.ON_CALL
    session.commit()
    return contact


def test_a_referral_text_to_a_satellite_number_is_refused_in_words(counselor_client, session):
    contact = open_record(session, counselor_client, "+88212345678")
    center = make_center(session, "Harbor Recovery")
    session.commit()
    counselor_client.post(f"/records/{contact.id}/referrals",
                          {"kind": "center", "target_id": str(center.id)})
    counselor_client.post(f"/records/{contact.id}/draft", {"sms_consent_present": "1",
                                                           "sms_consent": "1"})
    resp = counselor_client.post(f"/records/{contact.id}/referrals/text")
    assert resp.status_code == 422
    assert "Not sent: texts to numbers of that country are not allowed." in html.unescape(
        resp.get_data(as_text=True))
    session.expire_all()
    # The refusal is kept (counted) although the answer was a refusal.
    refused = session.scalars(select(OutboxMessage)).all()
    assert [(m.status, m.purpose, m.body) for m in refused] == [("refused", "referral", None)]
    assert session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "contact.referral_sms_refused")) == 1
    assert all(r.sent_by_sms_at is None for r in contact.referrals)


def test_a_follow_up_number_without_its_area_code_is_refused_naming_the_field(
        counselor_client, session):
    contact = open_record(session, counselor_client, "+15555550111")
    resp = counselor_client.post(f"/records/{contact.id}/followup",
                                 {"consent": "1", "channel": "sms", "phone": "555-0123"})
    assert resp.status_code == 302
    page = html.unescape(counselor_client.get(resp.headers["Location"]).get_data(as_text=True))
    assert "Follow-up not requested: the follow-up number needs its area code" in page
    assert session.scalar(select(FollowUp.id)) is None


def test_a_typed_follow_up_number_is_stored_in_e164(counselor_client, session):
    contact = open_record(session, counselor_client, "+15555550111")
    counselor_client.post(f"/records/{contact.id}/followup",
                          {"consent": "1", "channel": "call", "phone": "(555) 555-0199"})
    followup = session.scalar(select(FollowUp))
    assert followup is not None and followup.phone == "+15555550199"
