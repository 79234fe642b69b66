"""The browser phone alone, in a real browser: a Spanish caller reaches the Spanish queue, and
crisis by key shows the transfer to the crisis line."""

from __future__ import annotations

from sqlalchemy import select

from helpline.models import AgentStatus, Call
from tests.e2e.conftest import shot
from tests.e2e.test_counselor_shift import sign_in_with_enrolment
from tests.factories import make_user


def test_spanish_caller_on_the_browser_phone_reaches_the_spanish_queue(page, session):
    make_user(session, languages="es", status=AgentStatus.AVAILABLE)
    staff = make_user(session, languages="en")
    session.commit()
    sign_in_with_enrolment(page, staff.username)

    page.get_by_role("link", name="Phone").click()
    page.get_by_label("Calling from").fill("+15555550188")
    page.get_by_role("button", name="Call the helpline").click()
    page.locator("#phone-prompt").filter(has_text="Para español, oprima 2.").wait_for()
    page.get_by_role("button", name="2", exact=True).click()
    page.locator("#phone-prompt p[lang='es-MX']").filter(
        has_text="Para ayuda para usted, oprima 1.").wait_for()
    page.keyboard.press("1")
    page.locator("#phone-prompt").filter(has_text="Por favor, espere.").wait_for()
    page.locator("#phone-log").filter(has_text="Holding in the queue general-es.").wait_for()
    assert page.locator("#phone-prompt p[lang='en-US']").count() == 0
    shot(page, "10-phone-spanish-queue")

    session.expire_all()
    call = session.scalar(select(Call))
    assert call.language == "es" and call.queue_name == "general-es" and call.status == "queued"
    assert call.call_sid == page.locator("#phone").get_attribute("data-call-sid")

    page.get_by_role("button", name="Hang up").click()
    page.locator("#phone[data-mode='ended']").wait_for()
    assert page.locator("#phone-status").inner_text() == "The call has ended."
    assert not [e for e in page.console_errors if "Content Security Policy" in e]


def test_crisis_key_on_the_browser_phone_shows_the_transfer(page, session):
    staff = make_user(session, languages="en")
    session.commit()
    sign_in_with_enrolment(page, staff.username)

    page.goto("/phone?lang=en")
    assert page.get_by_label("Language").input_value() == "en"
    page.get_by_role("button", name="Call the helpline").click()
    page.locator("#phone-prompt").filter(has_text="press 9").wait_for()
    page.get_by_role("button", name="9", exact=True).click()
    page.locator("#phone[data-mode='transfer']").wait_for()
    assert "crisis line" in page.locator("#phone-prompt").inner_text()
    assert page.locator("#phone-log").filter(has_text="Transferred to number 988").count() == 1
    assert page.get_by_role("button", name="Hang up").is_enabled()
    assert page.get_by_role("button", name="1", exact=True).is_enabled()
    shot(page, "11-phone-crisis-transfer")

    page.get_by_role("button", name="Hang up").click()
    page.locator("#phone[data-mode='ended']").wait_for()
    session.expire_all()
    call = session.scalar(select(Call))
    assert call.need == "crisis" and call.outcome == "crisis_transfer"
    assert call.status == "completed"
    assert not [e for e in page.console_errors if "Content Security Policy" in e]
