"""Admins and supervisors in a real browser: destructive and all-caller actions ask first; a
refused new account keeps what was typed; the IVR editor is folded into parts and warns
before unsaved changes are lost; recovery codes are downloaded; the reports' charts can be
read and their tables scroll in their box; an idle tab shows a sign-in overlay where it was,
and a wall display stays a wall display."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pyotp
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from helpline.models import StaffSession, User
from tests.e2e.conftest import shot
from tests.factories import PASSWORD, make_user


def enrol(page, username: str, *, keep_codes: bool = False) -> str:  # type: ignore[no-untyped-def]
    """Sign in with the password and enrol a second factor; the key, for signing in again."""
    page.goto("/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/sign-in/enrol$"))
    key = page.locator("#totp-secret")
    secret = key.get_attribute("data-secret") or ""
    # Shown in groups of four, yet read (and copied) whole.
    groups = key.locator("span").all_inner_texts()
    assert "".join(groups) == secret and {len(g) for g in groups[:-1]} == {4}
    assert key.inner_text() == secret
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm").click()
    page.locator("#recovery-codes").wait_for()
    if not keep_codes:
        page.get_by_role("link", name=re.compile("continue")).click()
        page.wait_for_url(re.compile(r"/$"))
    return secret


def no_csp_errors(page) -> None:  # type: ignore[no-untyped-def]
    assert not [e for e in page.console_errors if "Content Security Policy" in e]


def test_recovery_codes_are_downloaded_as_a_text_file_and_can_be_printed(page, session):
    user = make_user(session)
    session.commit()
    enrol(page, user.username, keep_codes=True)
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10
    assert page.get_by_role("button", name="Print").is_visible()  # shown once app.js runs
    with page.expect_download() as info:
        page.get_by_role("link", name="Download as a text file").click()
    download = info.value
    assert download.suggested_filename == "recovery-codes.txt"
    text = Path(download.path()).read_text(encoding="utf-8")
    assert [line for line in text.splitlines() if line in codes] == codes
    page.emulate_media(media="print")
    assert not page.locator("header.topbar").is_visible()
    assert not page.get_by_role("link", name="Download as a text file").is_visible()
    assert page.locator("#recovery-codes").is_visible()
    shot(page, "admin-01-recovery-codes-printed")
    page.emulate_media(media="screen")
    no_csp_errors(page)


def test_an_admin_is_asked_before_a_reset_or_a_deactivation(page, session: Session):
    admin = make_user(session, "admin")
    target = make_user(session, display_name="Sam Rivera")
    session.commit()
    enrol(page, admin.username)
    page.goto("/accounts")

    page.get_by_role("button", name=f"Reset password of {target.username}").click()
    step = page.locator("#confirm-step")
    step.wait_for()
    assert "signed out everywhere" in step.inner_text()
    shot(page, "admin-02-confirm-reset")
    step.get_by_role("link", name="Cancel").click()
    page.wait_for_url(re.compile(r"/accounts$"))
    session.expire_all()
    assert not session.get(User, target.id).must_change_password

    page.get_by_role("button", name=f"Reset password of {target.username}").click()
    page.get_by_role("button", name=f"Reset the password of {target.username}").click()
    assert page.locator("#temporary-password").inner_text().strip()
    session.expire_all()
    assert session.get(User, target.id).must_change_password

    page.goto("/accounts")
    page.get_by_role("button", name=f"Deactivate {target.username}").click()
    page.locator("#confirm-step").wait_for()
    page.get_by_role("button", name=f"Deactivate {target.username}").click()
    page.get_by_text(f"{target.username} is deactivated.").wait_for()
    session.expire_all()
    assert not session.get(User, target.id).active
    no_csp_errors(page)


def test_a_refused_new_account_keeps_what_was_typed(page, session: Session):
    admin = make_user(session, "admin")
    session.commit()
    enrol(page, admin.username)
    page.goto("/accounts")
    form = page.locator("#new-account")
    form.get_by_label("Username").fill("robin.vale")
    form.get_by_label("Display name").fill("Robin Vale")
    form.get_by_label("Role").select_option("supervisor")
    form.get_by_label("Spanish").check()
    form.get_by_label("First password").fill("short")

    # The browser refuses what the server would, before sending anything.
    form.get_by_role("button", name="Create account").click()
    assert page.evaluate("document.getElementById('new-password').validity.tooShort")
    assert page.url.endswith("/accounts")

    # Past the browser (an old one, or a rule only the server knows), the server answers in
    # the page: the problem at the top and beside the field, what was typed still there.
    form.get_by_label("First password").fill("passwordpassword")
    form.get_by_role("button", name="Create account").click()
    summary = page.locator("#error-summary")
    summary.wait_for()
    assert "Not created: 1 problem" in summary.inner_text()
    assert "too common" in page.locator("#new-password-error").inner_text()
    assert page.get_by_label("Username").input_value() == "robin.vale"
    assert page.get_by_label("Display name").input_value() == "Robin Vale"
    assert page.get_by_label("Role").input_value() == "supervisor"
    assert page.get_by_label("Spanish").is_checked() and page.get_by_label("English").is_checked()
    assert page.get_by_label("First password").input_value() == ""
    shot(page, "admin-03-new-account-refused")
    summary.get_by_role("link", name="First password").click()
    page.get_by_label("First password").fill("a-long-good-passphrase")
    page.get_by_role("button", name="Create account").click()
    page.get_by_text("Account created.").wait_for()
    assert session.scalar(select(User).where(User.username == "robin.vale")) is not None
    no_csp_errors(page)


def test_the_ivr_editor_is_folded_and_warns_before_unsaved_changes_are_lost(page, session):
    lead = make_user(session, "supervisor")
    session.commit()
    enrol(page, lead.username)
    page.goto("/supervisor/ivr")
    page.get_by_role("button", name="Make a draft").click()
    page.wait_for_url(re.compile(r"/supervisor/ivr/\d+$"))
    number = int(page.url.rsplit("/", 1)[1])
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 6000, height  # was 18,500 px with every part open
    greeting = page.locator("#f-en-prompts-greeting")
    assert not greeting.is_visible()
    page.locator("nav.ivr-toc").get_by_role("link", name="Greeting and menu").first.click()
    greeting.wait_for()
    greeting.fill("Welcome to {helpline}. Emergencies: 9 1 1. Suicidal crisis: 9 8 8.")
    assert "not saved" in page.locator("#unsaved-state").inner_text()
    shot(page, "admin-04-ivr-editor-folded")

    asked: list[str] = []

    def stay(dialog) -> None:  # type: ignore[no-untyped-def]
        asked.append(dialog.type)
        dialog.dismiss()

    page.once("dialog", stay)
    page.get_by_role("link", name="All versions").click(no_wait_after=True)
    page.wait_for_function("document.readyState === 'complete'")
    assert asked == ["beforeunload"]
    assert re.search(rf"/supervisor/ivr/{number}(#.*)?$", page.url)
    assert greeting.input_value().startswith("Welcome to")

    # Saved, it leaves without asking.
    page.get_by_role("button", name=f"Save draft {number}").click()
    page.get_by_text(f"Draft {number} saved").wait_for()
    page.get_by_role("link", name="All versions").click()
    page.wait_for_url(re.compile(r"/supervisor/ivr$"))

    # Publishing asks first, and says what every caller will hear.
    page.get_by_role("button", name=f"Publish version {number}").click()
    step = page.locator("#confirm-step")
    step.wait_for()
    assert "Every new call hears version" in step.inner_text()
    shot(page, "admin-05-confirm-publish")
    step.get_by_role("link", name="Cancel").click()
    page.goto("/supervisor/ivr")
    assert page.locator(f'[data-version="{number}"][data-state="draft"]').is_visible()
    no_csp_errors(page)


def test_report_charts_can_be_read_and_tables_scroll_in_their_box(page, session):
    lead = make_user(session, "supervisor")
    session.commit()
    enrol(page, lead.username)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto("/supervisor/reports")
    hour = page.locator("#report-hour svg.chart")
    scale = page.evaluate("""(svg) => svg.getBoundingClientRect().width /
                                      svg.viewBox.baseVal.width""", hour.element_handle())
    assert scale * 14 >= 12, scale  # hour labels drawn at 12 CSS px or more
    shot(page, "admin-06-reports")
    page.set_viewport_size({"width": 760, "height": 900})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    boxes = page.locator(".table-scroll")
    assert boxes.count() >= 10
    no_csp_errors(page)


def test_an_idle_tab_shows_a_sign_in_overlay_where_it_was(page, session: Session):
    lead = make_user(session, "supervisor")
    session.commit()
    page.clock.install()
    enrol(page, lead.username, keep_codes=True)
    # The code just used may not be used again: a recovery code signs in the second time.
    recovery = page.locator("#recovery-codes li").first.inner_text()
    page.goto("/supervisor/wallboard")

    # Another tab kept the session alive: past the idle time this tab stays as it is.
    page.clock.fast_forward("16:00")
    page.wait_for_timeout(300)
    page.clock.fast_forward("00:05")
    assert page.url.endswith("/supervisor/wallboard")
    assert not page.locator("#signin-overlay").is_visible()

    # The session did end: a sign-in overlay over the board, not another page.
    session.execute(update(StaffSession).values(
        last_seen_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)))
    session.commit()
    page.clock.fast_forward("16:00")
    overlay = page.locator("#signin-overlay")
    overlay.wait_for()
    assert "You are signed out" in overlay.inner_text()
    assert page.url.endswith("/supervisor/wallboard")
    shot(page, "admin-07-signed-out-overlay")

    overlay.get_by_role("link", name="Sign in again").click()
    page.get_by_label("Username").fill(lead.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label(re.compile("Six-digit code")).fill(recovery)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/supervisor/wallboard$"))  # back where the tab was
    no_csp_errors(page)


def test_a_wall_display_stays_a_read_only_wall_display(page, session: Session):
    lead = make_user(session, "supervisor")
    session.commit()
    page.clock.install()
    enrol(page, lead.username)
    page.goto("/supervisor/wallboard")
    page.get_by_role("link", name="Display mode for a wall screen").click()
    page.wait_for_url(re.compile(r"/supervisor/wallboard\?display=1$"))
    assert page.locator("nav").count() == 0 and page.locator("form").count() == 0
    page.locator('#board [data-figure="waiting"]').wait_for()
    with page.expect_response(re.compile(r"/display/keepalive$")) as beat:
        page.clock.fast_forward("05:00")
    assert beat.value.status == 204
    page.clock.fast_forward("20:00")
    page.wait_for_timeout(300)
    assert page.url.endswith("/supervisor/wallboard?display=1")
    assert not page.locator("#signin-overlay").is_visible()
    shot(page, "admin-08-wall-display")
    no_csp_errors(page)
