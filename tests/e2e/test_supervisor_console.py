"""The supervisor console in a real browser: the wallboard follows a call into a queue live,
a report's totals match hand-counted calls, and an IVR prompt change is previewed in the
browser phone, published and rolled back while callers hear exactly what is live."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from helpline.models import AgentStatus
from tests.e2e.conftest import shot
from tests.e2e.test_counselor_shift import sign_in_with_enrolment
from tests.factories import make_call, make_user
from tests.fixtures.reporting import local, seconds
from tests.fixtures.twilio import Phone, TwilioSigner

NEW_GREETING = ("Welcome to {helpline}. You reached the right place, and this call is free and "
                "confidential. Emergencies: 9 1 1. Suicidal crisis: 9 8 8.")


def caller_of(app, settings) -> Phone:  # type: ignore[no-untyped-def]
    """A caller on the real number: signed webhooks, no preview."""
    return Phone(TwilioSigner(app.test_client(), settings), settings, "+15555550123")


def test_the_wallboard_shows_a_caller_entering_a_queue_without_reloading(
        page, app, settings, session: Session):
    lead = make_user(session, "supervisor")
    make_user(session, languages="en", status=AgentStatus.AVAILABLE, display_name="Robin Vale")
    session.commit()
    sign_in_with_enrolment(page, lead.username)
    page.get_by_role("link", name="Supervisor").click()
    page.wait_for_url(re.compile(r"/supervisor/wallboard$"))
    board = page.locator("#board")
    board.locator('[data-figure="available"]').filter(has_text="1").wait_for()
    assert board.locator('[data-figure="waiting"]').inner_text() == "0"
    assert board.get_by_text("Nobody is waiting.").is_visible()
    page.evaluate("window.__sameDocument = true")
    shot(page, "10-wallboard-quiet")

    caller = caller_of(app, settings)
    queued = caller.press(caller.english_menu(), "2")
    assert queued.first("Enqueue").text == "family-en"

    # Pushed by server-sent events: the row appears without anyone touching the page.
    row = board.locator('[data-queue="family-en"]')
    row.wait_for()
    assert row.locator("td").nth(0).inner_text() == "Family"
    assert row.locator("td").nth(2).inner_text() == "1"
    assert board.locator('[data-figure="waiting"]').inner_text() == "1"
    assert page.evaluate("window.__sameDocument") is True  # the page was not reloaded
    assert page.locator("#live-state").inner_text() == "live"
    shot(page, "11-wallboard-caller-waiting")

    caller.queue_result(queued, "hangup")
    caller.hang_up()
    board.get_by_text("Nobody is waiting.").wait_for()
    board.locator('[data-figure="abandoned"]').filter(has_text="1").wait_for()
    assert page.evaluate("window.__sameDocument") is True
    assert not [e for e in page.console_errors if "Content Security Policy" in e]


def test_a_reports_totals_match_the_calls_counted_by_hand(page, session: Session):
    lead = make_user(session, "supervisor")

    def answered(at, wait: int, talk: int, need: str):  # type: ignore[no-untyped-def]
        enqueued = at + seconds(20)
        make_call(session, started_at=at, enqueued_at=enqueued,
                  answered_at=enqueued + seconds(wait), ended_at=enqueued + seconds(wait + talk),
                  wait_seconds=wait, talk_seconds=talk, outcome="answered", status="completed",
                  need=need, language="en", queue_name=f"{need}-en")

    # The week of Monday 2 March 2026, New York time.
    answered(local(2026, 3, 2, 9, 0), wait=20, talk=300, need="self")        # within 30 s
    answered(local(2026, 3, 3, 14, 30), wait=40, talk=600, need="loved_one")  # within 60 s
    answered(local(2026, 3, 5, 22, 10), wait=90, talk=120, need="self")
    make_call(session, started_at=local(2026, 3, 6, 8, 0), need="self", language="es",
              queue_name="self-es", outcome="abandoned_queue", wait_seconds=70)
    make_call(session, started_at=local(2026, 3, 7, 11, 0), need="self", language="en",
              queue_name="self-en", outcome="callback", wait_seconds=45)
    make_call(session, started_at=local(2026, 3, 7, 23, 50), need="crisis", language="en",
              outcome="crisis_transfer")
    make_call(session, started_at=local(2026, 3, 8, 23, 59), language="es",
              outcome="abandoned_menu")
    # Outside the week (Monday 9 March, 00:05 New York): not counted.
    answered(local(2026, 3, 9, 0, 5), wait=5, talk=60, need="self")
    session.commit()

    sign_in_with_enrolment(page, lead.username)
    page.goto("/supervisor/reports")
    page.get_by_label("From").fill("2026-03-02")
    page.get_by_label("To (inclusive)").fill("2026-03-08")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"start=2026-03-02&end=2026-03-08"))

    summary = {row.locator("th").inner_text(): row.locator("td").inner_text()
               for row in page.locator("#table-summary tr").all()}
    assert summary == {
        "Calls": "7",
        "Calls that entered a queue": "5",   # 3 answered, 1 abandoned in queue, 1 callback
        "Answered": "3",
        "Abandoned in queue": "1",
        "Abandonment rate": "20.0%",          # 1 of 5
        "Average speed of answer (s)": "50.0",  # (20 + 40 + 90) / 3
        # None rang through routing: their whole wait is queue time, their ring time 0.
        "Average queue time (s)": "50.0",
        "Average ring time (s)": "0.0",
        "Answered from an offer": "0",
        "Answered with take next (no ring)": "3",
        "Average ring time of offers accepted (s)": "",
        "Offers missed (rang out)": "0",
        "Offers declined": "0",
        "Service level (30 s)": "20.0%",      # 1 of 5 answered within 30 s
        "Service level (60 s)": "40.0%",      # 2 of 5 within 60 s
        "Average talk time (s)": "340.0",     # (300 + 600 + 120) / 3
        "Average wrap-up time (s)": "",       # no record was closed
    }

    def table(key: str) -> dict[str, str]:
        return {row.locator("th").inner_text(): row.locator("td").first.inner_text()
                for row in page.locator(f"#table-{key} tbody tr").all()}

    assert table("outcome") == {"Answered": "3", "Abandoned queue": "1", "Callback": "1",
                                "Crisis transfer": "1", "Abandoned menu": "1"}
    assert table("language") == {"English": "5", "Spanish": "2"}
    weekday = table("weekday")
    assert [weekday[d] for d in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                                 "Saturday", "Sunday")] == ["1", "1", "0", "1", "1", "2", "1"]
    assert page.locator("#t-summary").is_visible()
    assert page.locator("svg.chart").count() >= 8
    shot(page, "12-report-week")
    assert not [e for e in page.console_errors if "Content Security Policy" in e]


def press_tab_until(page, name: str, limit: int = 200) -> None:  # type: ignore[no-untyped-def]
    """Move the keyboard focus forward until it rests on the control named ``name``."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.textContent.trim()"
                         ) == name:
            return
    raise AssertionError(f"the keyboard never reached {name!r}")


def test_an_ivr_prompt_change_is_previewed_published_and_rolled_back(
        page, app, settings, session: Session):
    lead = make_user(session, "supervisor")
    session.commit()
    sign_in_with_enrolment(page, lead.username)
    page.get_by_role("link", name="Supervisor").click()
    page.get_by_role("link", name="IVR settings").click()
    assert page.locator('[data-version="0"][data-state="live"]').is_visible()
    page.get_by_label("What you mean to change (optional)").fill("A warmer greeting")
    page.get_by_role("button", name="Make a draft").click()
    page.wait_for_url(re.compile(r"/supervisor/ivr/\d+$"))
    number = int(page.url.rsplit("/", 1)[1])
    assert page.locator("#version-state").inner_text() == "draft"

    # A mistake is named by its field, and nothing is kept. Each language is folded into
    # parts: open the one to change.
    page.locator("#grp-en-greeting-and-menu > summary").click()
    page.locator("#f-en-prompts-safety_line").fill("Emergencies: dial 9 1 1.")
    page.locator("#f-line-crisis_number").fill("98")
    page.get_by_role("button", name=f"Save draft {number}").click()
    summary = page.locator("#error-summary")
    summary.wait_for()
    assert "The draft was not saved: 2 problems" in summary.inner_text()
    assert "Crisis line number: '98' is not 988" in summary.inner_text()
    assert "Safety line: 911 and 988" in summary.inner_text()
    assert "must still tell callers about 988" in summary.inner_text()
    shot(page, "13-ivr-draft-errors")
    summary.get_by_role("link", name=re.compile("Crisis line number")).click()
    page.locator("#f-line-crisis_number").fill("988")
    page.locator("#f-en-prompts-safety_line").fill(
        "Emergencies: dial 9 1 1. Suicidal crisis: 9 8 8.")
    page.locator("#f-en-prompts-greeting").fill(NEW_GREETING)
    page.get_by_role("button", name=f"Save draft {number}").click()
    page.get_by_text(f"Draft {number} saved (1 field changed)").wait_for()

    page.get_by_role("link", name="Changes against the live version").first.click()
    change = page.locator('[data-field="en.prompts.greeting"]')
    assert "Welcome to {helpline}." in change.locator("ins").first.inner_text()
    assert "Thank you for calling" in change.locator("del").first.inner_text()
    shot(page, "14-ivr-changes")

    # Preview in the browser phone: the phone speaks the draft, callers still hear the old.
    with page.expect_navigation():
        page.get_by_role("link", name="Preview in the browser phone").click()
    assert page.url.endswith(f"/phone?flow_version={number}")
    assert f"draft flow version {number}" in page.locator("#phone-preview").inner_text()
    page.get_by_label("Speak the prompts aloud").uncheck()
    page.get_by_label("Silence times out, as on a real call").uncheck()
    page.get_by_role("button", name="Call the helpline").click()
    page.locator("#phone-prompt").filter(has_text="You reached the right place").wait_for()
    page.locator('#phone-log').filter(has_text="You reached the right place").wait_for()
    page.locator('[data-key="1"]').click()  # English: the menu, still from the draft
    page.locator("#phone-prompt").filter(has_text="press 9").wait_for()
    shot(page, "15-ivr-preview-in-the-phone")
    page.get_by_role("button", name="Hang up").click()

    caller = caller_of(app, settings)
    heard = caller.call()
    assert "Thank you for calling" in heard.says
    assert "You reached the right place" not in heard.says

    # Publish: a new call hears it.
    page.goto(f"/supervisor/ivr/{number}")
    page.get_by_role("button", name=f"Publish version {number}").click()
    assert "Every new call hears version" in page.locator("#confirm-step").inner_text()
    page.get_by_role("button", name=f"Yes, publish version {number}").click()
    page.get_by_text(f"Version {number} is live").wait_for()
    assert page.locator(f'[data-version="{number}"][data-state="live"]').is_visible()
    shot(page, "16-ivr-published")
    assert "You reached the right place" in caller_of(app, settings).call().says

    # Roll back, from the keyboard: the old words are back.
    press_tab_until(page, "Roll back to version 0")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # the focus can be seen
    page.keyboard.press("Enter")
    page.locator("#confirm-step").wait_for()  # asked first; the answer has the focus
    page.keyboard.press("Enter")
    page.get_by_text("version 0 is live again").wait_for()
    assert page.locator('[data-version="0"][data-state="live"]').is_visible()
    assert page.locator(f'[data-version="{number}"][data-state="retired"]').is_visible()
    history = page.locator("#publications").inner_text()
    assert "Rolled back to version 0" in history and f"Published version {number}" in history
    shot(page, "17-ivr-rolled-back")
    back = caller_of(app, settings).call()
    assert "Thank you for calling" in back.says and "right place" not in back.says
    assert not [e for e in page.console_errors if "Content Security Policy" in e]
