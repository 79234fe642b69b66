"""Every HTMX action on the record page says a refusal or a failure where the counselor is
looking, in words: a real refusal from the server (texting without the caller's consent, a
form whose token expired), and every other action answered with an error page or not at all."""

from __future__ import annotations

from helpline.models import AgentStatus
from tests.e2e.test_overdose_protocol import sign_in
from tests.factories import make_user
from tests.fixtures.consent import make_center, on_call
from tests.fixtures.referrals import refer

REFUSAL = ('<!doctype html><title>Refused</title><div data-error-message><h1>Refused for the '
           'test</h1><p>Nothing was changed.</p></div>')


def open_record(page, session) -> int:  # type: ignore[no-untyped-def]
    counselor = make_user(session, "counselor", status=AgentStatus.ON_CALL)
    rec = on_call(session, counselor)
    refer(session, rec, make_center(session))
    session.commit()
    sign_in(page, counselor.username)
    page.goto(f"/records/{rec.contact.id}")
    return rec.contact.id


def test_texting_referrals_without_consent_says_why_beside_the_button(page, session):  # type: ignore[no-untyped-def]
    open_record(page, session)
    page.get_by_role("button", name="Text the unsent referrals to the caller").click()
    said = page.locator("#referrals-panel [role=alert]")
    said.wait_for()
    assert "Not sent" in said.inner_text()
    assert said.is_visible()


def test_an_expired_form_token_is_said_beside_the_action(page, session):  # type: ignore[no-untyped-def]
    open_record(page, session)
    page.evaluate("document.querySelector('meta[name=csrf-token]').content = 'expired'")
    page.get_by_role("button", name="Text the unsent referrals to the caller").click()
    said = page.locator(".action-error")
    said.wait_for()
    assert "form expired" in said.inner_text()


def walk_actions(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Every visible HTMX action of the page, answered with an error page: its message must
    appear beside what was clicked. The paths walked."""
    actions = page.locator("[hx-post], [hx-get]")
    checked = []
    for index in range(actions.count()):
        action = actions.nth(index)
        if not action.is_visible():
            continue
        path = action.get_attribute("hx-post") or action.get_attribute("hx-get")
        page.route(f"**{path}*", lambda route: route.fulfill(
            status=409, content_type="text/html; charset=utf-8", body=REFUSAL))
        tag = action.evaluate("e => e.tagName")
        if action.get_attribute("id") == "record-form":
            page.get_by_label("Caller", exact=True).select_option(index=1)
            said = page.locator("#save-state")
            said.filter(has_text="Refused for the test").wait_for()
        else:
            if tag == "FORM":
                # Past the browser's own checks (a required answer left out): the server's
                # refusal is what is tested here.
                action.evaluate("form => { form.noValidate = true; }")
                button = action.locator("button[type=submit]").first
            else:
                button = action
            button.click()
            said = button.locator("xpath=following-sibling::*[1]")
            said.filter(has_text="Not done: Refused for the test. Nothing was changed.").wait_for()
            assert said.get_attribute("role") == "alert" and said.is_visible()
        checked.append(path)
        page.unroute(f"**{path}*")
    return checked


def test_every_action_on_the_record_page_shows_its_error(page, session):  # type: ignore[no-untyped-def]
    open_record(page, session)
    checked = walk_actions(page)
    assert len(checked) >= 4, checked

    # No answer at all: the counselor is told it may not have happened.
    page.route("**/referrals/text*", lambda route: route.abort())
    page.get_by_role("button", name="Text the unsent referrals to the caller").click()
    page.get_by_role("button", name="Text the unsent referrals to the caller").locator(
        "xpath=following-sibling::*[1]").filter(has_text="may not have happened").wait_for()
    assert not [e for e in page.console_errors if "Content Security Policy" in e]


def test_every_action_on_a_follow_up_page_shows_its_error(page, session, make_followup,  # type: ignore[no-untyped-def]
                                                          supervisor):
    followup = make_followup(due=None)
    session.commit()
    sign_in(page, supervisor.username)
    page.goto(f"/followups/{followup.id}")
    assert walk_actions(page), "no HTMX action on the follow-up page"
