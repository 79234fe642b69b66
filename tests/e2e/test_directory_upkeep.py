"""The treatment directory in a real browser, from the keyboard: a supervisor finds a center
that has not been verified, corrects it (a mistake is named beside its field), marks it
verified and records its capacity; a counselor then sees the capacity in the search."""

from __future__ import annotations

import re

from sqlalchemy import select

from helpline.models import AuditEvent, TreatmentCenter
from tests.e2e.conftest import shot
from tests.e2e.test_counselor_shift import sign_in_with_enrolment
from tests.factories import make_user
from tests.factories.directory import make_center


def _press(locator) -> None:  # type: ignore[no-untyped-def]
    """Reach a control from the keyboard and activate it."""
    locator.focus()
    locator.press("Enter")


def test_supervisor_corrects_and_verifies_a_center_and_records_its_capacity(page, session):
    lead = make_user(session, "supervisor")
    center = make_center(session, name="Demo Harbour Recovery", latitude=40.751,
                         longitude=-73.99, state="NY", care=("detox",), payment=("medicaid",),
                         phone="555-555-0142")
    session.commit()

    sign_in_with_enrolment(page, lead.username)
    _press(page.get_by_role("navigation", name="Main").get_by_role("link", name="Directory"))
    page.wait_for_url(re.compile(r"/directory$"))
    _press(page.get_by_role("link", name="Not verified for six months"))
    page.wait_for_url(re.compile(r"/directory/unverified$"))
    assert "Demo Harbour Recovery" in page.locator("#unverified").inner_text()
    shot(page, "40-directory-unverified")

    _press(page.get_by_role("link", name="Demo Harbour Recovery"))
    page.wait_for_url(re.compile(rf"/directory/centers/{center.id}$"))
    page.get_by_label("Name (required)", exact=True).fill("Demo Harbor Recovery")
    zip_field = page.get_by_label("ZIP code (required)", exact=True)
    zip_field.fill("1000")
    page.get_by_label("Residential short-term", exact=True).check()
    _press(page.locator("#save-center"))
    assert "1000 is not a known US ZIP code." in page.locator("#zip_code-error").inner_text()
    assert zip_field.get_attribute("aria-invalid") == "true"
    shot(page, "41-directory-center-error")

    zip_field.fill("10001")
    _press(page.locator("#save-center"))
    page.wait_for_url(re.compile(rf"/directory/centers/{center.id}$"))
    assert "Saved." in page.locator(".flash").inner_text()
    _press(page.locator("#mark-verified"))
    assert "Marked verified today." in page.locator(".flash").inner_text()
    assert page.locator("#stale-note").count() == 0

    capacity = page.locator("#capacity-form")

    def answer(question: str | re.Pattern[str], choice: str) -> None:
        capacity.get_by_role("group", name=question).get_by_label(choice, exact=True).check()

    answer("Accepting new patients?", "Yes")
    answer("Waitlist?", "No")
    answer(re.compile("^Same-day"), "Yes")
    _press(page.locator("#confirm-capacity"))
    summary = page.locator("#capacity-summary").inner_text()
    assert "Accepting new patients · no waitlist · same-day MOUD · confirmed today" in summary
    shot(page, "42-directory-center-verified")

    session.expire_all()
    saved = session.get(TreatmentCenter, center.id)
    assert saved is not None
    assert (saved.name, saved.codes("care"), saved.verified_by) == (
        "Demo Harbor Recovery", ["DT", "RS"], lead.username)
    recorded = set(session.scalars(select(AuditEvent.action).where(
        AuditEvent.record_type == "treatment_center")))
    assert {"directory.center.update", "directory.center.verify",
            "directory.center.capacity"} <= recorded

    page.goto("/directory?zip=10001&capacity=accepting")
    assert "Accepting new patients" in page.locator("#centers").inner_text()
    assert not [e for e in page.console_errors if "Content Security Policy" in e]
