"""Wrap-up in a real browser: refused with imminent risk undocumented, every missing item
listed beside the button; allowed once documented (the control)."""

from __future__ import annotations

import re

from helpline.models import AgentStatus, Contact
from tests.e2e.test_overdose_protocol import sign_in
from tests.factories import make_call, make_contact, make_user


def test_wrap_up_is_refused_until_imminent_risk_is_documented(page, session):  # type: ignore[no-untyped-def]
    counselor = make_user(session, "counselor")
    contact = make_contact(session, counselor, make_call(session, "+15555550188"))
    counselor.status = AgentStatus.ON_CALL
    session.commit()
    sign_in(page, counselor.username)
    page.goto(f"/records/{contact.id}")

    def saved(action) -> None:  # type: ignore[no-untyped-def]
        with page.expect_response(lambda r: r.url.endswith("/draft") and r.ok):
            action()

    saved(lambda: page.get_by_label("Suicide risk").select_option("imminent"))
    page.get_by_role("button", name="Wrap up and close the record").click()
    missing = page.locator("#wrap-up-missing")
    missing.wait_for()
    items = missing.locator("li").all_inner_texts()
    assert any("outcome" in item for item in items)
    assert any("crisis steps" in item for item in items)
    assert page.locator("#wrap-up-override").is_visible()
    assert page.url.endswith(f"/records/{contact.id}")

    saved(lambda: page.get_by_label("Outcome", exact=True).select_option("crisis_transfer"))
    saved(lambda: page.get_by_label("Warm transfer to 988").check())
    page.get_by_role("button", name="Wrap up and close the record").click()
    page.wait_for_url(re.compile(r"/$"))
    assert page.get_by_text("Record closed. You are available.").is_visible()
    session.expire_all()
    assert session.get(Contact, contact.id).status == "closed"
    assert not [e for e in page.console_errors if "Content Security Policy" in e]
