"""The record says what is already on file: a repeat caller's texting consent (whose, since
when) instead of a box ticked for words not read on this call, and asks again only where
nothing on file covers the texts; the caller's follow-ups and the callbacks booked from the
queue shown where counselors look (the record, Home)."""

from __future__ import annotations

import datetime as dt
import re

from helpline import crypto
from helpline.consent.door import CALLER, record_consent, require_consent
from helpline.db import utcnow
from helpline.followups import lifecycle
from helpline.models import AgentStatus, Consent, User
from helpline.records import contacts
from helpline.referrals import texts
from tests.factories import make_call, make_contact, make_user

NUMBER = "+15555550131"


def _new_record(session, staff, number=NUMBER, **call_fields):  # type: ignore[no-untyped-def]
    user = session.get(User, staff.user_id)
    contact = contacts.open_contact_for_call(
        session, user, make_call(session, number, need="treatment", **call_fields))
    user.status = AgentStatus.ON_CALL
    session.commit()
    return contact


def _consent_on_an_earlier_call(session, settings, **fields):  # type: ignore[no-untyped-def]
    dana = make_user(session, display_name="Dana Okafor")
    earlier = make_contact(session, dana, make_call(session, NUMBER))
    consent = record_consent(
        session, caller_hash=crypto.caller_hash(NUMBER), scope="sms", purpose="referral",
        wording=texts.script(settings), script_version=texts.SCRIPT_VERSION, by=dana,
        contact=earlier, phone=NUMBER, **fields)
    session.commit()
    return consent


def _texting_box(page: str) -> str:
    return page.split('id="texting"', 1)[1].split("</fieldset>", 1)[0]


def test_a_repeat_callers_consent_is_shown_on_file_not_as_a_box_ticked_on_this_call(
        counselor_client, session, settings):  # type: ignore[no-untyped-def]
    consent = _consent_on_an_earlier_call(session, settings)
    contact = _new_record(session, counselor_client)
    box = _texting_box(counselor_client.get(f"/records/{contact.id}").get_data(as_text=True))
    assert re.search(r"Consent on file since .+, recorded by Dana Okafor\.", box)
    assert 'id="sms_consent"' not in box and "I read this to the caller" not in box
    assert "sms_consent_present" not in box  # an autosave must not withdraw it
    counselor_client.post(f"/records/{contact.id}/draft", {"notes": "asked about meetings"})
    session.expire_all()
    assert session.get(Consent, consent.id).withdrawn_at is None


def test_a_consent_read_on_this_call_keeps_its_box_so_unticking_withdraws_it(
        counselor_client, session):  # type: ignore[no-untyped-def]
    contact = _new_record(session, counselor_client)
    counselor_client.post(f"/records/{contact.id}/draft", {"sms_consent_present": "1",
                                                           "sms_consent": "1"})
    box = _texting_box(counselor_client.get(f"/records/{contact.id}").get_data(as_text=True))
    assert re.search(r'id="sms_consent"[^>]* checked', box) and "on file" not in box


def test_withdrawing_a_consent_on_file_stops_the_texts_and_asks_again(
        counselor_client, session, settings):  # type: ignore[no-untyped-def]
    _consent_on_an_earlier_call(session, settings)
    contact = _new_record(session, counselor_client)
    resp = counselor_client.post(f"/records/{contact.id}/texting-consent/withdraw")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("#texting")
    session.expire_all()
    assert texts.referral_text_consent(session, contact) is None
    box = _texting_box(counselor_client.get(f"/records/{contact.id}").get_data(as_text=True))
    assert "Ask again: the caller withdrew consent on" in box
    assert re.search(r'id="sms_consent"(?![^>]* checked)', box)


def test_an_expired_consent_is_asked_again_with_the_reason(
        counselor_client, session, settings):  # type: ignore[no-untyped-def]
    consent = _consent_on_an_earlier_call(session, settings)
    consent.expires_at = utcnow() - dt.timedelta(minutes=1)
    session.commit()
    contact = _new_record(session, counselor_client)
    box = _texting_box(counselor_client.get(f"/records/{contact.id}").get_data(as_text=True))
    assert "Ask again: the caller&#39;s consent expired on" in box
    assert "on file" not in box


def test_a_first_caller_is_asked_without_an_ask_again_line(counselor_client, session):  # type: ignore[no-untyped-def]
    contact = _new_record(session, counselor_client)
    box = _texting_box(counselor_client.get(f"/records/{contact.id}").get_data(as_text=True))
    assert 'id="sms_consent"' in box and "Ask again" not in box


def test_someone_else_cannot_withdraw_from_a_record_that_is_not_theirs(
        counselor_client, session, settings):  # type: ignore[no-untyped-def]
    _consent_on_an_earlier_call(session, settings)
    other = make_contact(session, make_user(session), make_call(session, "+15555550999"))
    session.commit()
    assert counselor_client.post(f"/records/{other.id}/texting-consent/withdraw").status_code == 404
    assert require_consent(session, crypto.caller_hash(NUMBER), "sms", CALLER, "referral")


def test_a_follow_up_requested_on_an_earlier_call_shows_on_the_new_record(
        counselor_client, session, settings):  # type: ignore[no-untyped-def]
    dana = make_user(session, display_name="Dana Okafor")
    earlier = make_contact(session, dana, make_call(session, NUMBER))
    lifecycle.request_followup(
        session, contact=earlier, phone=NUMBER, channel="sms", kind="sms_checkin",
        requested_by=dana, consent_wording="May we text you? - Yes.",
        script_version="followup-sms-1", settings=settings)
    session.commit()
    contact = _new_record(session, counselor_client)
    page = counselor_client.get(f"/records/{contact.id}").get_data(as_text=True)
    panel = page.split('id="record-followups"', 1)[1].split("</section>", 1)[0]
    assert "Text check-in" in panel and "Waiting to be scheduled" in panel
    assert "Dana Okafor" in panel and "on an earlier call" in panel
    assert 'id="followup-already"' in panel
    assert "Follow-up open (1)" in page  # in the header too


def test_a_record_without_follow_ups_says_so(counselor_client, session):  # type: ignore[no-untyped-def]
    contact = _new_record(session, counselor_client, number="+15555550132")
    page = counselor_client.get(f"/records/{contact.id}").get_data(as_text=True)
    assert 'id="no-followups"' in page and 'id="followup-already"' not in page


def test_a_callback_booked_from_the_queue_shows_on_home_and_on_the_callers_record(
        counselor_client, admin_client, session, settings):  # type: ignore[no-untyped-def]
    holding = make_call(session, NUMBER, need="loved_one", language="es",
                        enqueued_at=utcnow() - dt.timedelta(minutes=4))
    callback = lifecycle.request_callback_from_queue(session, holding, NUMBER, settings=settings)
    session.commit()
    home = counselor_client.get("/").get_data(as_text=True)
    table = home.split('id="queue-callbacks"', 1)[1].split("</section>", 1)[0]
    row = table.split(f'id="queue-callback-{callback.id}"', 1)[1].split("</tr>", 1)[0]
    assert "Loved one" in row and "Spanish" in row and "Scheduled" in row
    assert NUMBER not in home and "5555550131" not in home
    assert 'id="queue-callbacks"' not in admin_client.get("/").get_data(as_text=True)
    contact = _new_record(session, counselor_client)  # the caller calls again meanwhile
    page = counselor_client.get(f"/records/{contact.id}").get_data(as_text=True)
    assert f'id="record-followup-{callback.id}"' in page
    assert "A callback chosen while holding" in page


def test_home_says_when_no_caller_waits_for_a_callback(counselor_client):  # type: ignore[no-untyped-def]
    assert 'id="no-queue-callbacks"' in counselor_client.get("/").get_data(as_text=True)
