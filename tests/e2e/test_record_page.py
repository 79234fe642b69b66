"""The record page in a real browser: a header that stays in view with the call's state, the
caller's key facts and Wrap up; earlier contacts folded; the keyboard shortcuts (listed on the
page, the Alt ones working in a field, the plain ones not); a repeat caller's consent shown on
file, withdrawn, then asked again; follow-ups on the record and callbacks on Home."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from helpline import crypto
from helpline.consent.door import record_consent
from helpline.db import utcnow
from helpline.followups import lifecycle
from helpline.models import AgentStatus, Consent, Contact
from helpline.referrals import texts
from tests.e2e.test_overdose_protocol import focused_id, sign_in
from tests.factories import make_call, make_contact, make_user
from tests.factories.directory import make_center

NUMBER = "+15555550161"


def _repeat_caller(session, settings):  # type: ignore[no-untyped-def]
    """A counselor on a call with a caller who agreed to referral texts on an earlier call."""
    counselor = make_user(session, display_name="Sam Rivera")
    dana = make_user(session, display_name="Dana Okafor")
    earlier = make_contact(session, dana, make_call(session, NUMBER), outcome="referred",
                           notes="asked about a detox bed")
    record_consent(session, caller_hash=crypto.caller_hash(NUMBER), scope="sms",
                   purpose="referral", wording=texts.script(settings),
                   script_version=texts.SCRIPT_VERSION, by=dana, contact=earlier, phone=NUMBER)
    call = make_call(session, NUMBER, need="treatment", zip_code="10001",
                     answered_at=utcnow(), caller_attestation="TN-Validation-Passed-A")
    contact = make_contact(session, counselor, call, need="treatment", language="en",
                           zip_code="10001")
    counselor.status = AgentStatus.ON_CALL
    make_center(session, "Harbor Recovery", zip_code="10001", care=("outpatient",))
    session.commit()
    return counselor, contact


def _in_view(page, selector: str) -> bool:  # type: ignore[no-untyped-def]
    return page.evaluate("""(sel) => {
        const r = document.querySelector(sel).getBoundingClientRect();
        return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight; }""", selector)


def test_the_header_stays_in_view_earlier_contacts_fold_and_the_keys_work(
        page, session, settings):  # type: ignore[no-untyped-def]
    counselor, contact = _repeat_caller(session, settings)
    sign_in(page, counselor.username)
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"/records/{contact.id}")
    header = page.locator("#record-header")
    assert page.locator("#call-state").inner_text() == "On the call"
    facts = page.locator("#record-facts").inner_text()
    assert "treatment" in facts.lower() and "10001" in facts and "1 earlier contact" in facts

    # Earlier contacts: folded, one click away.
    assert not page.get_by_text("asked about a detox bed").is_visible()
    page.locator("#earlier-details summary").click()
    assert page.get_by_text("asked about a detox bed").is_visible()

    # Far down the page, the header (and its Wrap up) is still there.
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    assert page.evaluate("window.scrollY") > 200
    assert _in_view(page, "#record-header") and _in_view(page, "#wrap-up-top")
    assert header.bounding_box()["y"] <= 1

    # The shortcuts are listed on the page.
    page.get_by_text("Keyboard shortcuts").click()
    listed = page.locator("#shortcut-list").inner_text()
    assert "Search the directory" in listed and "Attach" in listed and "Wrap up" in listed
    page.get_by_text("Keyboard shortcuts").click()

    # A plain key typed in a field stays text; an Alt key acts from inside the field.
    notes = page.get_by_label("Confidential notes")
    notes.click()
    page.keyboard.type("call back 2/3")
    assert focused_id(page) == "notes" and notes.input_value() == "call back 2/3"
    page.keyboard.press("Alt+s")
    assert page.evaluate("!!document.activeElement.closest('#referral-search')")
    page.get_by_role("button", name="Search", exact=True).click()
    page.locator("#referral-results li").first.wait_for()
    page.get_by_label("Confidential notes").click()
    page.keyboard.press("Alt+a")  # first: to the first result, nothing attached unseen
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == \
        "Attach Harbor Recovery"
    assert "Harbor Recovery" not in page.locator("#attached-referrals").inner_text()
    page.keyboard.press("Alt+a")
    page.locator("#attached-referrals", has_text="Harbor Recovery").wait_for()

    # Outside a field, "/" goes to the directory search too.
    page.locator("#record-title").click()
    page.keyboard.press("/")
    assert page.evaluate("!!document.activeElement.closest('#referral-search')")

    # Alt+W wraps up from the notes: refused (no outcome), and the refusal is brought to view.
    page.get_by_label("Confidential notes").click()
    page.keyboard.press("Alt+w")
    page.locator("#wrap-up-missing").wait_for()
    assert "outcome" in page.locator("#wrap-up-missing").inner_text()
    expect(page.locator("#wrap-up-refused")).to_be_focused()
    assert _in_view(page, "#wrap-up-refused")
    session.expire_all()
    assert session.get(Contact, contact.id).status == "open"
    assert not [e for e in page.console_errors if "Content Security Policy" in e]


def test_a_consent_on_file_is_said_withdrawn_and_asked_again(page, session, settings):  # type: ignore[no-untyped-def]
    counselor, contact = _repeat_caller(session, settings)
    sign_in(page, counselor.username)
    page.goto(f"/records/{contact.id}")
    on_file = page.locator("#texting-on-file")
    assert re.match(r"Consent on file since .+, recorded by Dana Okafor\.$", on_file.inner_text())
    assert page.locator("#sms_consent").count() == 0  # no box ticked for words not read now

    page.get_by_role("button", name="The caller no longer agrees: withdraw it").click()
    page.locator("#texting-ask-again").wait_for()
    assert "withdrew consent" in page.locator("#texting-ask-again").inner_text()
    box = page.get_by_label("I read this to the caller and they agreed to receive the referrals "
                            "by text")
    assert not box.is_checked()
    session.expire_all()
    assert session.query(Consent).one().withdrawn_at is not None

    # Asked again and agreed: this call's box, ticked, kept after a reload.
    with page.expect_response(lambda r: r.url.endswith("/draft") and r.ok):
        box.check()
    page.reload()
    assert page.get_by_label("I read this to the caller and they agreed to receive the "
                             "referrals by text").is_checked()


def test_a_requested_follow_up_and_a_queue_callback_show_where_counselors_look(
        page, session, settings):  # type: ignore[no-untyped-def]
    counselor, contact = _repeat_caller(session, settings)
    sign_in(page, counselor.username)
    page.goto(f"/records/{contact.id}")
    assert page.locator("#no-followups").is_visible()
    page.get_by_label("I read the words to the caller and they agreed to be contacted "
                      "again").check()
    page.get_by_label("How", exact=True).select_option("sms")
    page.get_by_role("button", name="Request follow-up").click()
    item = page.locator("#record-followups li").first
    item.wait_for()
    text = item.inner_text()
    assert "Text check-in" in text and "Waiting to be scheduled" in text and "Sam Rivera" in text
    assert page.locator("#followup-already").is_visible()
    assert page.locator("#record-facts").get_by_text("Follow-up open (1)").is_visible()

    holding = make_call(session, "+15555550162", need="loved_one", language="es",
                        enqueued_at=utcnow())
    callback = lifecycle.request_callback_from_queue(session, holding, "+15555550162",
                                                     settings=settings)
    session.commit()
    page.goto("/")
    row = page.locator(f"#queue-callback-{callback.id}")
    assert row.is_visible()
    assert "loved one" in row.inner_text().lower() and "Spanish" in row.inner_text()
    assert "5555550162" not in page.content()
