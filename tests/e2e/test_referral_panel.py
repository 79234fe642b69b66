"""The referrals panel in a real browser: a filtered search, Attach, and the results and the
ticked filters still there; a meeting search by day says when and where the meeting is."""

from __future__ import annotations

import datetime as dt

from helpline.models import AgentStatus
from tests.e2e.conftest import shot
from tests.e2e.test_overdose_protocol import sign_in
from tests.factories import make_user
from tests.factories.directory import make_center, make_group
from tests.fixtures.consent import on_call

# A Tuesday, 10:00 in Etc/GMT+5 (a fixed offset: no daylight saving in the test).
NOW = dt.datetime(2025, 3, 4, 15, 0, tzinfo=dt.UTC)


def test_attach_keeps_the_results_and_the_ticked_filters(page, session, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr("dashboard.referrals.utcnow", lambda: NOW)
    counselor = make_user(session, "counselor", status=AgentStatus.ON_CALL)
    rec = on_call(session, counselor)
    make_center(session, "Bridge Clinic", phone="555-0101", care=("outpatient",),
                medications=("buprenorphine",), payment=("medicaid",), languages=("es",))
    make_center(session, "Puente Recovery", phone="555-0102", care=("detox", "outpatient"),
                medications=("buprenorphine", "methadone"), payment=("sliding_scale",),
                languages=("es",))
    make_center(session, "English Only Center", medications=("buprenorphine",))
    make_group(session, "Tuesday Night Hope", day=2, time=dt.time(19, 0), timezone="Etc/GMT+5",
               location="St. Mark's hall", street="12 W 31st St", city="New York", state="NY")
    make_group(session, "Wednesday Noon", day=3, time=dt.time(12, 0), timezone="Etc/GMT+5")
    session.commit()
    sign_in(page, counselor.username)
    page.goto(f"/records/{rec.contact.id}")

    panel = page.locator("#referrals-panel")
    assert panel.locator("[data-ref-filters=group]").is_hidden()
    page.locator("#ref-zip").fill("10001")
    page.locator("#ref-language").select_option("es")
    panel.get_by_label("Buprenorphine").check()
    page.locator("#search-directory").click()
    results = page.locator("#center-results")
    results.filter(has_text="Puente Recovery").wait_for()
    assert "English Only Center" not in results.inner_text()
    bridge = results.locator("li").filter(has_text="Bridge Clinic")
    assert "Phone 555-0101" in bridge.inner_text()
    assert "Care: Outpatient" in bridge.inner_text()
    assert "Payment: Medicaid" in bridge.inner_text()

    page.get_by_role("button", name="Attach Bridge Clinic").click()
    page.locator("#attached-referrals").filter(has_text="Bridge Clinic").wait_for()
    assert panel.locator("[role=status]").inner_text() == "Attached."
    # What was found and what was ticked are still there: the next one is one click away.
    assert results.locator("li").count() == 2
    assert panel.get_by_label("Buprenorphine").is_checked()
    assert page.locator("#ref-language").input_value() == "es"
    assert page.locator("#ref-zip").input_value() == "10001"
    page.get_by_role("button", name="Attach Puente Recovery").click()
    page.locator("#attached-referrals").filter(has_text="Puente Recovery").wait_for()
    assert results.locator("li").count() == 2 and panel.get_by_label("Buprenorphine").is_checked()

    # A meeting tonight: the day's filter, then the meeting's day, time and place.
    page.locator("#ref-kind").select_option("group")
    assert panel.locator("[data-ref-filters=center]").is_hidden()
    page.locator("#ref-language").select_option("")
    page.locator("#ref-day").select_option(label="Tuesday")
    page.locator("#ref-time-of-day").select_option("evening")
    page.locator("#search-directory").click()
    meeting = page.locator("#meeting-results li").filter(has_text="Tuesday Night Hope")
    meeting.wait_for()
    assert page.locator("#meeting-results li").count() == 1
    text = meeting.inner_text()
    assert "Tuesdays 19:00 (Etc/GMT+5)" in text and "starts tonight at 19:00" in text
    assert "St. Mark's hall, 12 W 31st St, New York NY 10001" in text
    shot(page, "referral-panel-meetings")
    page.get_by_role("button", name="Attach Tuesday Night Hope").click()
    page.locator("#attached-referrals").filter(has_text="Tuesday Night Hope").wait_for()
    assert meeting.is_visible()
    assert page.locator("#ref-day").input_value() == "2"
    assert not [e for e in page.console_errors if "Content Security Policy" in e]
