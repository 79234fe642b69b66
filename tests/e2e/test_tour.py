"""A tour of the product in a real browser: the pictures of the README's "Tour in pictures"
(saved in test-artifacts/), then every page of the navigation as a supervisor sees it: marked
where it is, on one line at 1366 px, the accounts table aligned, statuses as pills of their own
colour, and the styled error page."""

from __future__ import annotations

import random
import re

from sqlalchemy.orm import Session

from helpline.models import AgentStatus
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_counselor_shift import sign_in_with_enrolment
from tests.factories import make_call, make_user
from tests.factories.directory import make_center
from tests.fixtures.reporting import local, seconds
from tests.fixtures.twilio import Phone, TwilioSigner

# The README's pictures: 1280 px wide, the top of each page as a person first sees it.
TOUR_VIEWPORT = {"width": 1280, "height": 860}
NEEDS = ("self", "self", "self", "loved_one", "crisis")


def picture(page, name: str, height: int = TOUR_VIEWPORT["height"]) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"tour-{name}.png"), full_page=True,
                    clip={"x": 0, "y": 0, "width": TOUR_VIEWPORT["width"], "height": height})


def a_week_of_calls(session: Session) -> None:
    """Calls over the week of Monday 2 March 2026 (New York), as a quiet helpline has them."""
    rng = random.Random(19)
    for day in range(2, 9):
        for _ in range(rng.randint(6, 11)):
            at = local(2026, 3, day, rng.choice((8, 9, 10, 11, 13, 14, 15, 17, 19, 21, 23)),
                       rng.randint(0, 59))
            need, language = rng.choice(NEEDS), rng.choice(("en", "en", "en", "es"))
            wait = rng.randint(5, 150)
            if need == "crisis":
                make_call(session, started_at=at, need=need, language=language,
                          outcome="crisis_transfer")
            elif rng.random() < 0.15:
                make_call(session, started_at=at, need=need, language=language,
                          queue_name=f"{need}-{language}", outcome="abandoned_queue",
                          wait_seconds=wait)
            else:
                enqueued = at + seconds(20)
                talk = rng.randint(120, 1500)
                make_call(session, started_at=at, enqueued_at=enqueued,
                          answered_at=enqueued + seconds(wait),
                          ended_at=enqueued + seconds(wait + talk), wait_seconds=wait,
                          talk_seconds=talk, outcome="answered", status="completed", need=need,
                          language=language, queue_name=f"{need}-{language}")


def test_tour_in_pictures_home_record_wallboard_and_reports(  # type: ignore[no-untyped-def]
        browser, live_server, app, settings, session: Session):
    counselor = make_user(session, languages="en es", display_name="Sam Rivera")
    lead = make_user(session, "supervisor", display_name="Alex Moreno")
    make_user(session, languages="en", status=AgentStatus.AWAY, display_name="Robin Vale")
    make_center(session, "Harbor Recovery Center", zip_code="10001")
    a_week_of_calls(session)
    session.commit()

    desk = browser.new_context(base_url=live_server, viewport=TOUR_VIEWPORT)
    page = desk.new_page()
    sign_in_with_enrolment(page, counselor.username)
    page.get_by_label("New status").select_option("available")
    page.get_by_role("button", name="Set status").click()
    page.locator("#current-status").filter(has_text="Available").wait_for()
    caller = Phone(TwilioSigner(app.test_client(), settings), settings, "+15555550123")
    assert caller.press(caller.english_menu(), "1").has("Enqueue")
    page.reload()
    page.locator("#queues td").first.wait_for()
    picture(page, "home-caller-waiting")

    page.get_by_role("button", name="Take next call").click()
    page.wait_for_url(re.compile(r"/records/\d+$"))
    page.locator("h1").first.wait_for()
    picture(page, "record", height=1200)

    second = Phone(TwilioSigner(app.test_client(), settings), settings, "+15555550188")
    assert second.press(second.spanish_menu(), "1").has("Enqueue")
    wall = browser.new_context(base_url=live_server, viewport=TOUR_VIEWPORT).new_page()
    sign_in_with_enrolment(wall, lead.username)
    wall.goto("/supervisor/wallboard")
    wall.locator('#board [data-figure="waiting"]').filter(has_text="1").wait_for()
    picture(wall, "wallboard")

    wall.goto("/supervisor/reports?start=2026-03-02&end=2026-03-08")
    wall.locator("#table-summary").wait_for()
    picture(wall, "reports", height=1500)  # down to the calls by hour of day
    wall.context.close()
    desk.close()

    for name in ("home-caller-waiting", "record", "wallboard", "reports"):
        assert (ARTIFACTS / f"tour-{name}.png").stat().st_size > 10_000, name


def test_supervisor_walks_every_page_of_the_navigation_marked_and_on_one_line(  # type: ignore[no-untyped-def]
        page, session: Session):
    lead = make_user(session, "supervisor")
    session.commit()
    page.set_viewport_size({"width": 1366, "height": 768})
    sign_in_with_enrolment(page, lead.username)
    nav = page.get_by_role("navigation", name="Main")
    labels = [link.inner_text().strip() for link in nav.get_by_role("link").all()]
    assert "Supervisor" in labels and "Directory" in labels

    for label in labels:
        nav.get_by_role("link", name=label, exact=True).click()
        page.wait_for_load_state("load")
        current = nav.locator('[aria-current="page"]')
        assert current.count() == 1 and current.inner_text().strip() == label, page.url
        # One line: every item of the top bar level with the first.
        tops = page.evaluate("""() => [...document.querySelectorAll(
            '.topbar .brand, .topbar nav li, .topbar .signout')].map(e => e.offsetTop)""")
        assert max(tops) - min(tops) < 20, (page.url, tops)

    for path in ("/supervisor/audit", "/supervisor/staff", "/directory/groups",
                 "/directory/resources", "/followups/mine", "/history"):
        page.goto(path)
        assert page.locator("h1").first.is_visible(), path

    page.goto("/accounts")
    rows = page.evaluate("""() => [...document.querySelectorAll('#accounts tbody tr')].map(
        row => [...row.cells].map(cell => [cell.offsetTop, cell.offsetHeight]))""")
    assert rows and all(len(set(map(tuple, cells))) == 1 for cells in rows), rows

    def pill() -> tuple[str, str]:  # the status pill's words and colour
        status = page.locator("#current-status")
        return status.inner_text(), status.evaluate("e => getComputedStyle(e).backgroundColor")

    page.goto("/")
    offline = pill()
    page.get_by_label("New status").select_option("available")
    page.get_by_role("button", name="Set status").click()
    page.locator("#current-status").filter(has_text="Available").wait_for()
    assert offline[0] == "Offline" and pill()[1] != offline[1]

    missing = page.goto("/no/such/page")
    assert missing is not None and missing.status == 404
    assert page.get_by_role("heading", name="Page not found").is_visible()
    assert nav.get_by_role("link", name="Home").is_visible()
    assert not [e for e in page.console_errors if "Content Security Policy" in e]

