"""Follow-ups in a real browser, from the keyboard: a supervisor schedules a request in the
caller's time (the night refused with the next allowed time), assigns it, shows the number;
the scheduler delivers it; the counselor sees the reminder and records how the call went."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from sqlalchemy import select

from helpline.followups import lifecycle
from helpline.followups.delivery import deliver_due_followups
from helpline.models import AuditEvent
from helpline.models.followups import FollowUpState
from tests.e2e.conftest import shot
from tests.e2e.test_counselor_shift import sign_in_with_enrolment
from tests.factories import make_user

CALLER = "+15555550123"


def _press(locator) -> None:  # type: ignore[no-untyped-def]
    """Reach a control from the keyboard and activate it."""
    locator.focus()
    locator.press("Enter")


def _top_link(page, name: str):  # type: ignore[no-untyped-def]
    return page.get_by_role("navigation", name="Main").get_by_role(
        "link", name=re.compile(f"^{name}"))


def test_supervisor_schedules_and_assigns_and_the_counselor_records_the_call(
        page, browser, live_server, app, settings, session):
    lead = make_user(session, "supervisor", display_name="Sam Lead")
    robin = make_user(session, "counselor", display_name="Robin Rivera", languages="en")
    asking = make_user(session, "counselor")
    fu = lifecycle.request_followup(
        session, phone=CALLER, channel="call", kind="reminder", requested_by=asking,
        consent_wording="May we call you in the next days? - Yes.", zip_code="60601",
        settings=settings)
    session.commit()
    day = (dt.datetime.now(ZoneInfo("America/Chicago")) + dt.timedelta(days=2)).date()

    sign_in_with_enrolment(page, lead.username)
    _press(_top_link(page, "Follow-ups"))
    page.wait_for_url(re.compile(r"/followups$"))
    row = page.locator(f'[data-followup="{fu.id}"]')
    assert "Waiting to be scheduled" in row.inner_text()
    shot(page, "20-followups-console")
    _press(row.get_by_role("link", name=f"#{fu.id}"))
    page.wait_for_url(re.compile(rf"/followups/{fu.id}$"))

    when = page.get_by_label("Date and time, in the caller's time (America/Chicago)")
    when.fill(f"{day.isoformat()}T22:30")
    _press(page.locator("#schedule-button"))
    error = page.locator(".flash.error")
    assert "quiet hours" in error.inner_text()
    assert f"{day + dt.timedelta(days=1):%a %d %b} 08:00" in error.inner_text()
    page.get_by_label("Date and time, in the caller's time (America/Chicago)").fill(
        f"{day.isoformat()}T10:15")
    _press(page.locator("#schedule-button"))
    assert "Scheduled for" in page.locator(".flash").inner_text()
    assert "10:15" in page.locator("#fu-due").inner_text()

    page.get_by_label("Counselor").select_option(label="Robin Rivera (counselor, English)")
    button = page.get_by_role("button", name="Assign")
    button.focus()
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    button.press("Enter")
    page.locator("#fu-assigned").filter(has_text="Robin Rivera").wait_for()

    assert CALLER not in page.content()
    _press(page.get_by_role("button", name="Show the caller's number"))
    page.locator("#caller-number").filter(has_text=CALLER).wait_for()
    shot(page, "21-followup-scheduled")
    assert not [e for e in page.console_errors if "Content Security Policy" in e]

    session.expire_all()
    session.refresh(fu)
    rt = app.extensions["helpline"]
    assert deliver_due_followups(rt.db, rt.telephony, settings,
                                 now=fu.due_at).delivered == [fu.id]

    context = browser.new_context(base_url=live_server)
    counselor = context.new_page()
    try:
        sign_in_with_enrolment(counselor, robin.username)
        assert counselor.locator("#notice-count").inner_text().startswith("1")
        assert f"follow-up #{fu.id} is due" in counselor.locator("#notices-h + ul").inner_text()
        shot(counselor, "22-counselor-home-reminder")
        _press(counselor.get_by_role("link", name=f"Open #{fu.id}"))
        counselor.wait_for_url(re.compile(rf"/followups/{fu.id}$"))
        counselor.get_by_role("radio", name="Reached").check()
        counselor.get_by_label("Outcome, if reached (optional)").select_option(
            "reached_in_treatment")
        _press(counselor.get_by_role("button", name="Record the attempt"))
        counselor.locator("#fu-state").filter(has_text="Done").wait_for()
        assert "Reached: in treatment" in counselor.locator("#fu-outcome").inner_text()
        shot(counselor, "23-followup-recorded")
    finally:
        context.close()

    _press(_top_link(page, "Follow-ups"))
    _press(page.get_by_role("link", name=re.compile("^Done")))
    assert "Reached: in treatment" in page.locator(f'[data-followup="{fu.id}"]').inner_text()
    session.expire_all()
    assert session.get(type(fu), fu.id).state == FollowUpState.DONE
    reads = session.scalars(select(AuditEvent.actor).where(
        AuditEvent.action == "followup.number.read")).all()
    assert reads == [lead.username]
