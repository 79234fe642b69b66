"""The overdose protocol from the counselor's side, in a real browser: take a call, mark an
overdose, go through the steps from the keyboard, see each one timed; the supervisor's
wallboard shows it meanwhile."""

from __future__ import annotations

import re

import pyotp
from sqlalchemy import select

from helpline.models import FollowUp, OutboxMessage, OverdoseProtocol
from tests.e2e.conftest import shot
from tests.factories import PASSWORD, make_user
from tests.fixtures.twilio import TwilioSigner

ADDRESS = "27 Cedar Lane, Brookfield"
CLOCK = re.compile(r"^\d\d:\d\d:\d\d [A-Z]{3,4}$")  # on the helpline's clock, labelled
SINCE = re.compile(r"^\+\d+:\d\d$")


def sign_in(page, username: str) -> None:  # type: ignore[no-untyped-def]
    """Password, then the second factor's enrolment (required of everyone in these tests)."""
    page.goto("/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/sign-in/enrol$"))
    secret = page.locator("#totp-secret").inner_text().strip()
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("link", name=re.compile("continue")).click()
    page.wait_for_url(re.compile(r"/$"))


def take_a_call(page, app, settings, username: str) -> int:  # type: ignore[no-untyped-def]
    """Sign in, go available, and take the caller who just asked for help for themselves;
    the id of the record that opens."""
    from tests.fixtures.twilio import Phone

    sign_in(page, username)
    page.get_by_label("New status").select_option("available")
    page.get_by_role("button", name="Set status").click()
    caller = Phone(TwilioSigner(app.test_client(), settings), settings, "+15555550177")
    assert caller.press(caller.english_menu(), "1").has("Enqueue")
    page.reload()
    page.get_by_role("button", name="Take next call").click()
    page.wait_for_url(re.compile(r"/records/\d+$"))
    return int(page.url.rsplit("/", 1)[1])


def focused_id(page) -> str:  # type: ignore[no-untyped-def]
    return page.evaluate("document.activeElement && document.activeElement.id")


def test_counselor_runs_the_overdose_protocol_and_sees_each_step_timed(
        page, browser, live_server, app, settings, session):
    counselor = make_user(session, languages="en", display_name="Sam Rivera")
    lead = make_user(session, "supervisor", display_name="Lee Supervisor")
    session.commit()

    contact_id = take_a_call(page, app, settings, counselor.username)

    page.get_by_role("button", name="Mark an overdose in progress").click()
    page.wait_for_url(re.compile(rf"/records/{contact_id}/overdose$"))
    assert page.get_by_text("not the caller's area").is_visible()
    shot(page, "od-01-protocol-started")

    # Keyboard first: the location field has the focus; Enter confirms it.
    assert focused_id(page) == "od-location"
    page.keyboard.type(ADDRESS)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#od-location-value").inner_text() == ADDRESS

    # Next, connecting 911 has the focus.
    assert focused_id(page) == "od-connect"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.get_by_text("911 is being connected. Stay on the line.").is_visible()
    assert focused_id(page) == "od-emergency-outcome"
    page.get_by_label("What happened with the emergency call?").select_option("ems_reached")
    with page.expect_navigation():
        page.get_by_role("button", name="Record what happened").click()

    # The supervisor's wallboard shows the overdose while it runs.
    wall = browser.new_context(base_url=live_server).new_page()
    sign_in(wall, lead.username)
    wall.goto("/supervisor/wallboard")
    line = wall.locator("#wb-overdoses tr.wb-overdose")
    assert line.count() == 1
    assert "Sam Rivera" in line.inner_text() and "help is on the way" in line.inner_text()
    shot(wall, "od-02-wallboard")
    wall.context.close()

    assert focused_id(page) == "od-recipient"
    page.get_by_label("Who received it").fill("Dispatcher 30")
    page.get_by_label("Their service").fill("Brookfield County 911")
    with page.expect_navigation():
        page.get_by_role("button", name="Record the disclosure").click()
    assert "Dispatcher 30, Brookfield County 911" in page.locator("#od-disclosures").inner_text()

    with page.expect_navigation():
        page.get_by_role("button", name="Naloxone given").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Breathing on their own").click()
    assert page.locator("#read-aloud").get_by_text("Give naloxone (Narcan)").is_visible()
    shot(page, "od-03-guidance")

    page.get_by_label("How did it end?").select_option("ems_took_over")
    with page.expect_navigation():
        page.get_by_role("button", name="The emergency is over").click()
    assert page.locator("#od-status").inner_text() == "emergency over"
    assert focused_id(page) == "od-fu-consent"

    rows = page.locator("#od-timeline tbody tr")
    steps = [rows.nth(i).get_attribute("data-step") for i in range(rows.count())]
    assert steps == ["started", "location_confirmed", "emergency_dialed", "emergency_outcome",
                     "disclosure_recorded", "naloxone_given", "breathing", "ended",
                     "followup_proposed"]
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td")
        assert CLOCK.match(cells.nth(0).inner_text()), cells.nth(0).inner_text()
        assert SINCE.match(cells.nth(1).inner_text()), cells.nth(1).inner_text()
        assert cells.nth(4).inner_text() == "Sam Rivera"
    shot(page, "od-04-after-care-and-timeline")

    # After-care: the proposed follow-up, with the caller's consent.
    page.get_by_label("The caller agreed to be contacted again").check()
    page.get_by_role("button", name="Request the follow-up").click()
    page.wait_for_url(re.compile(rf"/records/{contact_id}$"))
    assert page.locator("#overdose-banner").filter(has_text="the emergency is over").count() == 1
    shot(page, "od-05-record-after")

    session.expire_all()
    protocol = session.scalar(select(OverdoseProtocol).where(
        OverdoseProtocol.contact_id == contact_id))
    assert protocol.ended_at is not None and protocol.end_outcome == "ems_took_over"
    emergency = session.scalar(select(OutboxMessage).where(
        OutboxMessage.purpose == "overdose_911"))
    assert emergency.to_number == "911"
    assert session.scalar(select(FollowUp).where(FollowUp.contact_id == contact_id)) is not None
    assert ADDRESS not in page.url
    assert not [e for e in page.console_errors if "Content Security Policy" in e]
