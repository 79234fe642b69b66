"""The safety items of the call flow, heard on the browser phone: the 911/988 line in both
languages before the language choice, medical-emergency words sent to 911 first and then to
the in-house crisis queue (English and Spanish), and the locator that reads centers accepting
patients first and says when one has a waitlist."""

from __future__ import annotations

from sqlalchemy import select

from helpline.models import AgentStatus, Call
from tests.e2e.test_counselor_shift import sign_in_with_enrolment
from tests.factories import make_user
from tests.ivr.test_locator_capacity import midtown_centers


def start_call(page, session, lang: str = "") -> None:  # type: ignore[no-untyped-def]
    """A call on the browser phone; with ``lang`` the number's language is known and the
    language choice is skipped."""
    staff = make_user(session, languages="en es")
    make_user(session, languages="en es", status=AgentStatus.AVAILABLE)
    session.commit()
    sign_in_with_enrolment(page, staff.username)
    page.goto(f"/phone?lang={lang}" if lang else "/phone")
    page.get_by_role("button", name="Call the helpline").click()


def say(page, words: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_label("Say (type what the caller says)").fill(words)
    page.get_by_role("button", name="Say it").click()


def test_the_safety_line_plays_in_english_and_spanish_before_the_language_choice(page, session):  # type: ignore[no-untyped-def]
    start_call(page, session)
    prompt = page.locator("#phone-prompt")
    prompt.filter(has_text="Para español, oprima 2.").wait_for()
    assert prompt.locator("p[lang='en-US']").filter(
        has_text="Emergencies: dial 9 1 1. Suicidal crisis: 9 8 8.").count() == 1
    assert prompt.locator("p[lang='es-MX']").filter(
        has_text="Emergencias: marque 9 1 1. Crisis suicida: 9 8 8.").count() == 1
    assert not [e for e in page.console_errors if "Content Security Policy" in e]


def test_medical_emergency_words_send_the_caller_to_911_then_the_crisis_queue(page, session):  # type: ignore[no-untyped-def]
    start_call(page, session, "en")
    page.locator("#phone-prompt").filter(has_text="Please tell me or press a key.").wait_for()
    say(page, "my friend overdosed and is not breathing")
    page.locator("#phone-prompt").filter(
        has_text="If nobody has called 9 1 1 yet, hang up now and dial 9 1 1.").wait_for()
    assert page.locator("#phone-log").filter(has_text="Transferred to number 988").count() == 0
    page.locator("#phone-log").filter(has_text="Holding in the queue crisis-en.").wait_for()
    session.expire_all()
    call = session.scalar(select(Call))
    assert call.queue_name == "crisis-en"


def test_spanish_medical_emergency_words_are_heard_in_spanish(page, session):  # type: ignore[no-untyped-def]
    start_call(page, session, "es")
    page.locator("#phone-prompt p[lang='es-MX']").filter(
        has_text="Para ayuda para usted, oprima 1.").wait_for()
    say(page, "mi hermano no respira")
    page.locator("#phone-prompt p[lang='es-MX']").filter(
        has_text="Si nadie ha llamado al 9 1 1 todavía, cuelgue ahora y marque 9 1 1.").wait_for()
    page.locator("#phone-log").filter(has_text="Holding in the queue crisis-es.").wait_for()


def test_the_locator_reads_accepting_centers_first_and_says_the_waitlist(page, session):  # type: ignore[no-untyped-def]
    midtown_centers(session)
    start_call(page, session, "en")
    page.locator("#phone-prompt").filter(has_text="Please tell me or press a key.").wait_for()
    page.get_by_role("button", name="3", exact=True).click()
    page.locator("#phone-prompt").filter(has_text="five-digit ZIP code").wait_for()
    for key in "10001":
        page.keyboard.press(key)
    prompt = page.locator("#phone-prompt")
    prompt.filter(has_text="Number 1: Open Door Program").wait_for()
    text = prompt.inner_text()
    assert "This center has a waitlist of about 14 days." in text
    assert "Full House Clinic" not in text
