"""A counselor's shift in a real browser: second factor, a call placed from the browser phone
in a second tab, the record, a referral texted, wrap-up, sign-out; idle sign-out; another
counselor's record refused."""

from __future__ import annotations

import datetime as dt
import re

import pyotp
from sqlalchemy import select, update

from helpline.models import Call, Contact, OutboxMessage, StaffSession, TreatmentCenter
from tests.e2e.conftest import shot
from tests.factories import PASSWORD, make_call, make_contact, make_user


def sign_in_with_enrolment(page, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto("/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/sign-in/enrol$"))
    assert page.locator(".qr svg").count() == 1
    secret = page.locator("#totp-secret").inner_text().strip()
    shot(page, "01-enrol")
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm").click()
    assert page.locator("#recovery-codes li").count() == 10
    page.get_by_role("link", name=re.compile("continue")).click()
    page.wait_for_url(re.compile(r"/$"))


def test_counselor_takes_a_call_logs_it_refers_and_wraps_up(page, session):
    counselor = make_user(session, languages="en")
    session.add(TreatmentCenter(name="Harbor Recovery Center", street1="1 Main St",
                                city="New York", state="NY", zip_code="10001",
                                phone="555-0142", latitude=40.7506, longitude=-73.9972))
    session.commit()

    sign_in_with_enrolment(page, counselor.username)
    page.get_by_label("New status").select_option("available")
    page.get_by_role("button", name="Set status").click()
    assert page.locator("#current-status").inner_text() == "Available"

    # The caller: the browser phone in a second tab of the same browser.
    phone = page.context.new_page()
    phone_errors: list[str] = []
    phone.on("console", lambda m: phone_errors.append(m.text) if m.type == "error" else None)
    phone.goto("/phone?from=%2B15555550123")
    phone.get_by_role("button", name="Call the helpline").click()
    phone.locator("#phone-prompt").filter(has_text="For English, press 1.").wait_for()
    phone.keyboard.press("1")  # the keyboard's digit keys work the keypad
    phone.locator("#phone-prompt").filter(has_text="For help for yourself, press 1.").wait_for()
    phone.get_by_role("button", name="1", exact=True).click()
    phone.locator("#phone-status").filter(has_text="Holding for a counselor").wait_for()
    phone.locator("#phone-prompt").filter(has_text="You are number 1 in line.").wait_for()
    call_sid = phone.locator("#phone").get_attribute("data-call-sid")
    shot(phone, "02a-phone-holding")

    page.reload()
    assert page.locator("#queues").filter(has_text="General, English").count() == 1
    shot(page, "02-home-with-queue")
    page.get_by_role("button", name="Take next call").click()
    page.wait_for_url(re.compile(r"/records/\d+$"))
    contact_id = int(page.url.rsplit("/", 1)[1])

    # The phone asks between wait messages whether a counselor took the call.
    phone.locator("#phone[data-mode='connected']").wait_for()
    assert phone.locator("#phone-status").inner_text() == "Connected to a counselor."
    assert "A counselor is joining you now." in phone.locator("#phone-prompt").inner_text()
    shot(phone, "02b-phone-connected")

    page.get_by_label("Caller", exact=True).select_option("self")
    page.get_by_label("Opioids and fentanyl").check()
    page.get_by_label("Outcome", exact=True).select_option("referred")
    page.get_by_label("Confidential notes").fill("Wants detox near home. <script>x()</script>")
    page.get_by_label(re.compile("agreed to receive the referrals by text")).check()
    page.locator("#save-state").filter(has_text="Saved at").wait_for()

    page.locator("#ref-zip").fill("10001")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("button", name="Attach Harbor Recovery Center").click()
    page.locator("#attached-referrals").filter(has_text="Harbor Recovery Center").wait_for()
    page.get_by_role("button", name="Text the unsent referrals to the caller").click()
    page.locator("#referrals-panel").filter(has_text="Sent by text").wait_for()
    shot(page, "03-record")

    session.expire_all()
    sms = session.scalar(select(OutboxMessage).where(OutboxMessage.purpose == "referral"))
    assert sms is not None and "Harbor Recovery Center" in sms.body
    assert "detox" not in sms.body.lower()
    contact = session.get(Contact, contact_id)
    assert contact.substances == ["opioids"] and contact.caller_type == "self"
    call = session.get(Call, contact.call_id)
    assert call.call_sid == call_sid

    page.reload()  # a closed tab loses nothing: the draft is on the server
    assert "<script>x()</script>" in page.get_by_label("Confidential notes").input_value()
    page.get_by_role("button", name="Wrap up and close the record").click()
    page.wait_for_url(re.compile(r"/$"))
    assert page.locator("#current-status").inner_text() == "Available"
    phone.get_by_role("button", name="Hang up").click()
    phone.locator("#phone[data-mode='ended']").wait_for()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/sign-in$"))
    shot(page, "04-signed-out")
    assert not [e for e in page.console_errors if "Content Security Policy" in e]
    assert not [e for e in phone_errors if "Content Security Policy" in e]
    session.expire_all()
    assert session.get(Call, call.id).outcome == "answered"


def test_idle_counselor_is_signed_out(page, session):
    counselor = make_user(session)
    session.commit()
    sign_in_with_enrolment(page, counselor.username)
    assert page.get_attribute("body", "data-idle-seconds") == "900"
    session.execute(update(StaffSession).values(
        last_seen_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16)))
    session.commit()
    page.goto("/history")
    page.wait_for_url(re.compile(r"/sign-in\?idle=1$"))
    assert page.get_by_text("signed out after a period without activity").is_visible()
    shot(page, "05-idle-signed-out")


def test_counselor_is_refused_another_counselors_record(page, session):
    other = make_user(session)
    contact = make_contact(session, other, make_call(session), notes="not for you")
    me = make_user(session)
    session.commit()
    sign_in_with_enrolment(page, me.username)
    response = page.goto(f"/records/{contact.id}")
    assert response.status == 404
    assert page.get_by_role("heading", name="Not found").is_visible()
    assert "not for you" not in page.content()
    shot(page, "06-refused")
