"""A warm handoff from the counselor's side, in a real browser and from the keyboard: the
handoff page refuses without consent, the counselor reads the script and records the caller's
consent, conferences intake, and finds the disclosure in the caller's consents page."""

from __future__ import annotations

import re

from sqlalchemy import select

from helpline.models import OutboxMessage, Referral, TreatmentCenter, User
from helpline.records import contacts
from tests.e2e.conftest import shot
from tests.e2e.test_overdose_protocol import focused_id, take_a_call
from tests.factories import make_user


def test_counselor_hands_a_caller_off_to_intake_with_consent_from_the_keyboard(
        page, app, settings, session):
    counselor = make_user(session, languages="en", display_name="Sam Rivera")
    session.commit()
    contact_id = take_a_call(page, app, settings, counselor.username)

    center = TreatmentCenter(name="Harbor Recovery (fictional)", city="Albany", state="NY",
                             phone="+15555550140", intake_phone="+15555550142")
    session.add(center)
    session.flush()
    me = session.get(User, counselor.id)
    contact = contacts.current_contact(session, me)
    assert contact is not None and contact.id == contact_id
    contacts.attach_referral(session, contact, me, "center", center.id)
    session.commit()

    page.reload()
    link = page.get_by_role("link", name="Warm handoff to intake…")
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/records/{contact_id}/referrals/\d+/handoff$"))
    assert "No handoff without consent" in page.locator("#consent-refusal").inner_text()
    assert page.get_by_role("button", name="Conference the intake line").count() == 0
    shot(page, "60-handoff-needs-consent")

    script = page.locator("#provider-script").inner_text()
    assert "Harbor Recovery (fictional)" in script and "may not pass it on" in script
    attest = page.get_by_label(re.compile("I read these words to the caller"))
    attest.focus()
    page.keyboard.press("Space")
    page.get_by_role("button", name="Record the consent").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#consent-live")
    summary = page.locator("#handoff-summary").inner_text()
    assert "42 CFR part 2 prohibits unauthorized use or disclosure" in summary

    page.get_by_role("button", name="Conference the intake line").focus()
    assert focused_id(page) == "start-handoff"
    page.keyboard.press("Enter")
    page.wait_for_selector("#handed-off")
    flashes = page.locator(".flash").all_inner_texts()
    assert any("Handed off" in f for f in flashes)
    assert any("No follow-up to confirm admission was proposed" in f for f in flashes)
    shot(page, "61-handoff-done")

    session.expire_all()
    referral = session.scalar(select(Referral).where(Referral.contact_id == contact_id))
    assert referral.handed_off_by_id == counselor.id
    intake = session.scalar(select(OutboxMessage).where(OutboxMessage.purpose ==
                                                        "handoff_intake"))
    assert intake.to_number == "+15555550142"

    page.get_by_role("link", name="The caller's consents and disclosures").first.click()
    page.wait_for_url(re.compile(rf"/records/{contact_id}/consents$"))
    log = page.locator("#disclosure-log").inner_text()
    assert "Harbor Recovery (fictional)" in log and "Conference call" in log
    assert "§2.32 statement" in log
    shot(page, "62-caller-consents")
    assert not [e for e in page.console_errors if "Content Security Policy" in e]
