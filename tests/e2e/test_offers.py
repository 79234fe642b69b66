"""Calls offered to counselors, in a real browser with the routing thread running: a caller on
the browser phone rings an Available counselor's page without a click; Accept opens the record
and the caller hears the counselor; two counselors share two callers; an offer left to ring
moves on and its counselor becomes Away; an Offline counselor is neither rung nor may take a
call; a browser the offer streams turn away asks every second and still rings in time."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from itertools import count
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from helpline.app import create_app
from helpline.app.router import wait_for_pass
from helpline.config import settings_for_tests
from helpline.db import utcnow
from helpline.models import AgentStatus, Call, Offer, OfferState, User
from tests.e2e.accessibility import AXE_OPTIONS, AXE_SOURCE, describe, path_pattern
from tests.e2e.conftest import shot, streams_open
from tests.e2e.test_counselor_shift import sign_in_with_enrolment
from tests.factories import make_user

RING_SECONDS = 5  # the shortest ring time settings allow
_numbers = count(140)

# A desktop notification stand-in (headless chromium shows none): what the page asks of
# Notification is kept in window.__notifications; the permission is the test's choice.
NOTIFICATIONS = """
(() => {
  window.__notifications = [];
  function Fake(title, options) {
    this.title = title; this.options = options || {}; this.closed = false;
    window.__notifications.push(this);
  }
  Fake.permission = "%s";
  Fake.requestPermission = function () {
    Fake.permission = "granted";
    return Promise.resolve("granted");
  };
  Fake.prototype.close = function () { this.closed = true; };
  window.Notification = Fake;
})();
"""


@pytest.fixture
def settings(tmp_path, database_url):  # type: ignore[no-untyped-def]
    return settings_for_tests(tmp_path, database_url=database_url,
                              require_second_factor_for_all=True, log_level="WARNING",
                              routing_in_process=True, ring_timeout_seconds=RING_SECONDS)


@pytest.fixture
def app(settings):  # type: ignore[no-untyped-def]
    app = create_app(settings)
    yield app
    runtime = app.extensions["helpline"]
    if runtime.router is not None:
        runtime.router.stop()
    runtime.db.dispose()


@pytest.fixture
def live_server(live_server, app):  # type: ignore[no-untyped-def]
    # The shared server, closed only once the streams have ended (they write every second
    # here): these tests count open streams, and a stream cut off mid-write logs errors.
    yield live_server
    deadline = time.monotonic() + 5
    while streams_open(app) and time.monotonic() < deadline:
        time.sleep(0.1)


def counselor_row(session, idle_minutes: float = 0, **fields: Any) -> User:  # type: ignore[no-untyped-def]
    fields.setdefault("status", AgentStatus.AVAILABLE)
    user = make_user(session, "counselor", languages="en",
                     status_since=utcnow() - dt.timedelta(minutes=idle_minutes), **fields)
    session.commit()
    return user


def home_of(browser, live_server: str, user: User, permission: str = "granted"):  # type: ignore[no-untyped-def]
    """A counselor's own browser, signed in, on Home."""
    context = browser.new_context(base_url=live_server)
    context.set_default_timeout(10_000)
    context.add_init_script(NOTIFICATIONS % permission)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.console_errors = errors
    sign_in_with_enrolment(page, user.username)
    expect(page.locator("#offers")).to_be_attached()
    return page


def phone_of(browser, live_server: str, session):  # type: ignore[no-untyped-def]
    """The callers' side: the browser phone of a supervisor (who is not rung: not Available)."""
    caller = make_user(session, "supervisor")
    session.commit()
    context = browser.new_context(base_url=live_server)
    context.set_default_timeout(10_000)
    page = context.new_page()
    sign_in_with_enrolment(page, caller.username)
    return page


def call_in(phone) -> None:  # type: ignore[no-untyped-def]
    """Call the helpline from the browser phone and hold for a counselor (General, English)."""
    phone.goto(f"/phone?from=%2B1555555{next(_numbers):04d}")
    phone.get_by_role("button", name="Call the helpline").click()
    phone.locator("#phone-prompt").filter(has_text="For English, press 1.").wait_for()
    phone.get_by_role("button", name="1", exact=True).click()
    phone.locator("#phone-prompt").filter(has_text="For help for yourself, press 1.").wait_for()
    phone.get_by_role("button", name="1", exact=True).click()


def held(phone) -> None:  # type: ignore[no-untyped-def]
    phone.locator("#phone-status").filter(has_text="Holding for a counselor").wait_for()


def assert_accessible(page) -> None:  # type: ignore[no-untyped-def]
    """axe-core on the page as it is now (the banner ringing), whatever pages it checked."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_SOURCE)
    result = page.evaluate("options => window.axe.run(document, options)", AXE_OPTIONS)
    assert not result["violations"], describe(str(path_pattern(page.url)),
                                              result["violations"])


def ringing(session) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return sorted((o.call_id, o.counselor_id) for o in session.scalars(
        select(Offer).where(Offer.state == OfferState.RINGING)))


def no_csp_errors(*pages: Any) -> None:
    for page in pages:
        assert not [e for e in getattr(page, "console_errors", [])
                    if "Content Security Policy" in e]


def test_an_available_counselor_is_rung_and_accepting_connects_the_caller(
        browser, live_server, session):
    me = counselor_row(session)
    home = home_of(browser, live_server, me)
    phone = phone_of(browser, live_server, session)
    banner = home.locator("#offer-banner")
    expect(banner).to_be_hidden()

    call_in(phone)
    held(phone)
    # Nobody clicks anything on Home: the offer arrives by itself.
    expect(banner).to_be_visible(timeout=2000)
    expect(home.get_by_role("alertdialog", name="A call is ringing for you")).to_be_visible()
    expect(banner.locator("#offer-summary")).to_have_text("General, English.")
    expect(banner.locator("#offer-waited")).to_have_text(re.compile(r"^Waiting 0:0\d$"))
    expect(banner.locator("#offer-left")).to_have_text(re.compile(r"^rings for 0:0[0-5] more$"))
    expect(home).to_have_title(re.compile(r"^Ringing: General, English — Home · "))
    accept = home.get_by_role("button", name="Accept")
    expect(accept).to_be_focused()
    assert home.locator("#offers").get_attribute("data-sound") in ("playing", "blocked")
    notes = home.evaluate("window.__notifications.map(n => [n.title, n.closed])")
    assert notes == [["Call ringing: General, English", False]]
    assert_accessible(home)
    shot(home, "45-offer-ringing")

    home.keyboard.press("Enter")  # Accept has the focus
    home.wait_for_url(re.compile(r"/records/\d+$"))
    phone.locator("#phone[data-mode='connected']").wait_for()
    assert phone.locator("#phone-status").inner_text() == "Connected to a counselor."
    assert "A counselor is joining you now." in phone.locator("#phone-prompt").inner_text()
    shot(phone, "46-offer-phone-connected")

    session.expire_all()
    call = session.scalar(select(Call))
    assert call.counselor_id == me.id and call.call_sid == \
        phone.locator("#phone").get_attribute("data-call-sid")
    assert session.get(User, me.id).status == AgentStatus.ON_CALL
    assert session.scalar(select(Offer.state)) == OfferState.ACCEPTED
    no_csp_errors(home, phone)
    phone.get_by_role("button", name="Hang up").click()
    phone.locator("#phone[data-mode='ended']").wait_for()
    phone.context.close()
    home.context.close()


def test_two_counselors_and_two_callers_get_one_caller_each(browser, live_server, session):
    first, second = counselor_row(session, idle_minutes=10), counselor_row(session, 5)
    homes = [home_of(browser, live_server, first), home_of(browser, live_server, second)]
    phone = phone_of(browser, live_server, session)
    other = phone.context.new_page()

    call_in(phone)
    call_in(other)
    held(phone)
    held(other)
    for home in homes:
        expect(home.locator("#offer-banner")).to_be_visible(timeout=2000)
    offers = ringing(session)
    assert sorted(c for c, _ in offers) == sorted(session.scalars(select(Call.id)))
    assert sorted(u for _, u in offers) == sorted([first.id, second.id])

    for home in homes:
        home.get_by_role("button", name="Accept").click()
    records = set()
    for home in homes:
        home.wait_for_url(re.compile(r"/records/\d+$"))
        records.add(home.url)
    assert len(records) == 2
    for caller in (phone, other):
        caller.locator("#phone[data-mode='connected']").wait_for()
    session.expire_all()
    assert sorted(session.scalars(select(Call.counselor_id))) == sorted([first.id, second.id])
    no_csp_errors(*homes)
    for caller in (phone, other):
        caller.get_by_role("button", name="Hang up").click()
        caller.locator("#phone[data-mode='ended']").wait_for()
    phone.context.close()
    for home in homes:
        home.context.close()


def test_an_unanswered_offer_moves_on_and_its_counselor_becomes_away(
        browser, live_server, session):
    slow, next_one = counselor_row(session, idle_minutes=10), counselor_row(session, 5)
    slow_home = home_of(browser, live_server, slow)
    next_home = home_of(browser, live_server, next_one)
    phone = phone_of(browser, live_server, session)

    call_in(phone)
    held(phone)
    slow_banner = slow_home.locator("#offer-banner")
    expect(slow_banner).to_be_visible(timeout=2000)  # the one idle longest is rung first
    expect(next_home.locator("#offer-banner")).to_be_hidden()

    # Nobody answers: after the ring time it rings the next counselor.
    expect(next_home.locator("#offer-banner")).to_be_visible(timeout=(RING_SECONDS + 3) * 1000)
    expect(slow_banner).to_be_hidden()
    notice = slow_home.locator("#offer-missed")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text(
        "You missed a call and are now Away. Set yourself Available when ready.")
    expect(slow_home.locator("#current-status")).to_have_text("Away")
    assert slow_home.get_by_label("New status").input_value() == "away"
    assert slow_home.locator("#offers").get_attribute("data-sound") == "off"
    assert not slow_home.title().startswith("Ringing")
    assert slow_home.evaluate("window.__notifications.map(n => n.closed)") == [True]
    session.expire_all()
    assert session.get(User, slow.id).status == AgentStatus.AWAY
    assert ringing(session) == [(session.scalar(select(Call.id)), next_one.id)]
    assert_accessible(slow_home)
    shot(slow_home, "47-offer-missed")

    # The second counselor declines too: the caller keeps holding, nobody else is free.
    next_home.get_by_role("button", name="Decline").click()
    expect(next_home.locator("#offer-banner")).to_be_hidden()
    expect(next_home.locator("#offer-live")).to_have_text(
        "Declined: the caller goes to the next counselor.")

    # Back to Available from the notice.
    slow_home.get_by_role("button", name="Set me Available").click()
    expect(slow_home.locator("#current-status")).to_have_text("Available")
    expect(slow_home.locator("#offer-missed")).to_be_hidden()
    no_csp_errors(slow_home, next_home)
    phone.get_by_role("button", name="Hang up").click()
    phone.locator("#phone[data-mode='ended']").wait_for()
    for page in (phone, slow_home, next_home):
        page.context.close()


def test_an_offline_counselor_is_not_rung_and_cannot_take_a_call(browser, live_server, app,
                                                                 session):
    me = counselor_row(session, status=AgentStatus.OFFLINE)
    counselor_row(session, status=AgentStatus.ON_CALL)  # the line is staffed: callers hold
    home = home_of(browser, live_server, me, permission="default")
    phone = phone_of(browser, live_server, session)

    # Desktop notifications are asked for by a click, never on their own.
    allow = home.get_by_role("button", name="Allow desktop notifications")
    expect(allow).to_be_visible()
    allow.click()
    expect(home.locator("#notifications-state")).to_have_text(
        "Desktop notifications are on: a ringing call shows one.")

    call_in(phone)
    held(phone)
    wait_for_pass(app.extensions["helpline"].router)
    assert ringing(session) == []
    expect(home.locator("#offer-banner")).to_be_hidden()

    home.reload()
    home.get_by_role("button", name="Take next call").click()
    expect(home.get_by_role("alert")).to_have_text("Set yourself Available to take calls.")
    expect(home.locator("#offer-banner")).to_be_hidden()
    session.expire_all()
    assert session.scalar(select(Call.counselor_id)) is None
    no_csp_errors(home)
    phone.get_by_role("button", name="Hang up").click()
    phone.locator("#phone[data-mode='ended']").wait_for()
    phone.context.close()
    home.context.close()


def test_a_browser_turned_away_by_the_streams_asks_every_second(browser, live_server, app,
                                                                session):
    most = app.extensions["helpline"].settings.live_streams_max
    full = threading.BoundedSemaphore(most)
    for _ in range(most):
        full.acquire()  # this process holds no more offer streams
    app.extensions["offer_streams"] = full
    me = counselor_row(session)
    home = home_of(browser, live_server, me)
    phone = phone_of(browser, live_server, session)
    # The stream answered once and ended at once: the page polls instead.
    with home.expect_request(lambda r: "/offers/current" in r.url, timeout=3000):
        pass

    call_in(phone)
    held(phone)
    banner = home.locator("#offer-banner")
    expect(banner).to_be_visible(timeout=2000)
    home.keyboard.press("Alt+Shift+KeyD")  # the banner's key for Decline
    expect(banner).to_be_hidden()
    assert ringing(session) == []
    no_csp_errors(home)
    phone.get_by_role("button", name="Hang up").click()
    phone.locator("#phone[data-mode='ended']").wait_for()
    phone.context.close()
    home.context.close()
    for _ in range(most):
        full.release()
