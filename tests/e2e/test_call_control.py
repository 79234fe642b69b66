"""Call control in a real browser, all in the simulator (outbox telephony): the counselor
holds the caller and transfers them to a colleague from the record's call bar, and a
supervisor listens and then coaches from the live calls page; the simulated caller (the
browser phone) hears each step."""

from __future__ import annotations

import re

from sqlalchemy import select

from helpline.models import AgentStatus, Call, Contact, Role, User
from tests.e2e.conftest import shot
from tests.e2e.test_counselor_shift import sign_in_with_enrolment
from tests.factories import make_user


def test_hold_transfer_to_a_colleague_and_a_supervisor_listening_then_coaching(
        page, browser, live_server, session):
    counselor = make_user(session, languages="en", status=AgentStatus.AVAILABLE)
    colleague = make_user(session, languages="en", status=AgentStatus.AVAILABLE,
                          display_name="Robin Colleague")
    boss = make_user(session, role=Role.SUPERVISOR, languages="en")
    session.commit()
    sign_in_with_enrolment(page, counselor.username)

    # The caller: the browser phone in a second tab, holding in the English queue.
    phone = page.context.new_page()
    phone.goto("/phone?from=%2B15555550123")
    phone.get_by_role("button", name="Call the helpline").click()
    phone.locator("#phone-prompt").filter(has_text="For English, press 1.").wait_for()
    phone.keyboard.press("1")
    phone.locator("#phone-prompt").filter(has_text="For help for yourself, press 1.").wait_for()
    phone.get_by_role("button", name="1", exact=True).click()
    phone.locator("#phone-status").filter(has_text="Holding for a counselor").wait_for()

    page.get_by_role("button", name="Take next call").click()
    page.wait_for_url(re.compile(r"/records/\d+$"))
    contact_id = int(page.url.rsplit("/", 1)[1])
    phone.locator("#phone[data-mode='connected']").wait_for()
    bar = page.locator("#call-bar")
    bar.locator("#call-bar-label").filter(has_text="Connected").wait_for()

    # Hold: the bar says so and the caller hears it.
    page.get_by_role("button", name="Hold", exact=True).click()
    bar.locator("#call-bar-label").filter(has_text="Caller on hold").wait_for()
    phone.locator("#phone-log").filter(has_text="You are on hold").wait_for()
    assert page.get_by_role("button", name="Resume").is_visible()
    shot(page, "40-call-bar-on-hold")

    # A supervisor listens, then coaches, from the live calls page.
    supervisor = browser.new_context(base_url=live_server)
    supervisor.set_default_timeout(10_000)
    boss_page = supervisor.new_page()
    sign_in_with_enrolment(boss_page, boss.username)
    boss_page.goto("/calls/live")
    session.expire_all()
    call = session.scalar(select(Call))
    assert call is not None
    boss_page.locator(f"#listen-{call.id}").click()
    boss_page.get_by_text("Listening: nobody hears you.").wait_for()
    phone.locator("#phone-log").filter(has_text="a supervisor is listening").wait_for()
    bar.locator("#call-bar-extra").filter(has_text="is listening").wait_for()
    boss_page.locator(f"#coach-{call.id}").click()
    boss_page.get_by_text("Coaching: only the counselor hears you.").wait_for()
    phone.locator("#phone-log").filter(has_text="your supervisor is coaching you").wait_for()
    bar.locator("#call-bar-extra").filter(has_text="is coaching you").wait_for()
    shot(boss_page, "41-live-calls-coaching")

    # A warm transfer to the colleague: they join while the caller holds, then take over.
    page.get_by_role("button", name="Resume").click()
    bar.locator("#call-bar-label").filter(has_text="Connected").wait_for()
    page.locator("#call-transfer summary").click()
    page.get_by_label("To", exact=True).select_option(label="Robin Colleague (Counselor)")
    page.get_by_role("button", name="Transfer", exact=True).click()
    page.get_by_role("button", name="Complete transfer").wait_for()
    phone.locator("#phone-log").filter(has_text="Connecting you to a colleague.").wait_for()
    shot(page, "42-call-bar-transfer-waiting")
    page.get_by_role("button", name="Complete transfer").click()
    page.locator("#call-bar-message").filter(has_text="Transferred").wait_for()
    phone.locator("#phone-log").filter(has_text="You are now with another counselor.").wait_for()
    bar.locator("#call-bar-controls").wait_for(state="hidden")

    session.expire_all()
    assert session.scalar(select(Contact.counselor_id).where(
        Contact.id == contact_id)) == colleague.id
    assert session.get(User, colleague.id).status == AgentStatus.ON_CALL
    assert session.get(User, counselor.id).status == AgentStatus.AVAILABLE

    phone.get_by_role("button", name="Hang up").click()
    phone.locator("#phone[data-mode='ended']").wait_for()
    supervisor.close()
    assert not [e for e in page.console_errors if "Content Security Policy" in e]
