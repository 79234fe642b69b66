"""Admins and supervisors: actions that cannot be taken back, or that every caller hears, ask
first; a refused new account keeps what was typed and says what is wrong, by field; the
sign-in returns to the page a signed-out tab was on; recovery codes can be kept; reports
draw charts that can be read; the wall display keeps itself signed in by its own rule."""

from __future__ import annotations

import re
import time
from urllib.parse import unquote

import pyotp
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.supervisor.charts import bar_chart, column_chart
from dashboard.supervisor.wallboard_views import DISPLAY_SINCE
from helpline.config import ConfigError, load_settings
from helpline.flows.versions import live_version
from helpline.models import AuditEvent, FlowVersion, StaffSession, User
from helpline.reporting.tables import Table
from helpline.staff.accounts import MIN_PASSWORD, password_matches
from tests.factories import PASSWORD, make_user
from tests.fixtures.staff import csrf_of, csrf_of_session

# --- confirmation before what cannot be taken back -----------------------------------------


@pytest.mark.parametrize(("path", "button"), [
    ("reset-password", "Reset the password of"),
    ("reset-second-factor", "Reset the second factor of"),
    ("active", "Deactivate"),
])
def test_an_admins_destructive_action_asks_first_and_does_nothing_until_confirmed(
        admin_client, session: Session, path: str, button: str) -> None:
    user = make_user(session, totp_secret="JBSWY3DPEHPK3PXP", totp_enabled=True)
    session.commit()
    data = {"active": "0"} if path == "active" else {}
    resp = admin_client.post(f"/accounts/{user.id}/{path}", data)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'id="confirm-step"' in html
    assert f"{button} {user.username}" in html
    assert 'name="confirm" value="1"' in html and 'href="/accounts">Cancel</a>' in html
    assert 'id="temporary-password"' not in html
    session.expire_all()
    unchanged = session.get(User, user.id)
    assert unchanged.active and unchanged.totp_enabled and password_matches(unchanged, PASSWORD)
    assert not session.scalars(select(AuditEvent).where(
        AuditEvent.record_type == "user", AuditEvent.record_id == str(user.id),
        AuditEvent.action != "user.create")).all()


def test_confirmed_the_actions_happen(admin_client, session: Session) -> None:
    user = make_user(session, totp_secret="JBSWY3DPEHPK3PXP", totp_enabled=True)
    session.commit()
    reset = admin_client.post(f"/accounts/{user.id}/reset-password", {"confirm": "1"})
    assert b'id="temporary-password"' in reset.data
    admin_client.post(f"/accounts/{user.id}/reset-second-factor", {"confirm": "1"})
    gone = admin_client.post(f"/accounts/{user.id}/active", {"active": "0", "confirm": "1"},
                             follow_redirects=True)
    assert f"{user.username} is deactivated.".encode() in gone.data
    session.expire_all()
    target = session.get(User, user.id)
    assert not target.active and not target.totp_enabled and target.must_change_password


def test_reactivating_does_not_ask(admin_client, session: Session) -> None:
    user = make_user(session)
    user.active = False
    session.commit()
    resp = admin_client.post(f"/accounts/{user.id}/active", {"active": "1"})
    assert resp.status_code == 302
    session.expire_all()
    assert session.get(User, user.id).active


def test_publishing_and_rolling_back_ask_first(supervisor_client, session: Session) -> None:
    made = supervisor_client.post("/supervisor/ivr/drafts", {"based_on": "0"})
    number = int(made.headers["Location"].rsplit("/", 1)[1])
    asked = supervisor_client.post(f"/supervisor/ivr/{number}/publish")
    html = asked.get_data(as_text=True)
    assert asked.status_code == 200 and f"Publish version {number} to every caller?" in html
    assert f"Every new call hears version {number}" in html
    assert f'href="/supervisor/ivr/{number}/changes">See the changes first</a>' in html
    assert live_version(session) == 0

    supervisor_client.post(f"/supervisor/ivr/{number}/publish", {"confirm": "1"})
    assert live_version(session) == number
    asked = supervisor_client.post("/supervisor/ivr/0/rollback")
    assert b"Roll back every caller to version 0?" in asked.data
    assert live_version(session) == number
    supervisor_client.post("/supervisor/ivr/0/rollback", {"confirm": "1"})
    session.expire_all()
    assert live_version(session) == 0


def test_a_counselor_is_refused_before_any_question(counselor_client, session: Session) -> None:
    other = make_user(session)
    session.commit()
    assert counselor_client.post(f"/accounts/{other.id}/reset-password").status_code == 403
    assert counselor_client.post("/supervisor/ivr/0/rollback").status_code == 403


# --- a refused new account -----------------------------------------------------------------


def test_a_refused_new_account_keeps_what_was_typed_and_names_the_field(
        admin_client, session: Session) -> None:
    resp = admin_client.post("/accounts/new", {
        "username": "Robin Vale", "display_name": "Robin <Vale>", "role": "supervisor",
        "languages": "es", "password": "short"})
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    summary = html[html.index('id="error-summary"'):html.index("</div>", html.index(
        'id="error-summary"'))]
    assert "Not created: 2 problems" in summary
    assert '<a href="#new-username">Username</a>: The username must be 3-64' in summary
    assert f'<a href="#new-password">First password</a>: The password must be at least ' \
           f"{MIN_PASSWORD} characters." in summary
    assert 'id="new-username-error"' in html and 'id="new-password-error"' in html
    assert 'value="Robin Vale"' in html and 'value="Robin &lt;Vale&gt;"' in html
    assert '<option value="supervisor" selected>' in html
    assert 'id="new-lang-es" name="languages" value="es" checked' in html
    assert 'id="new-lang-en" name="languages" value="en">' in html
    assert 'value="short"' not in html  # a password is never sent back to a page
    assert session.scalar(select(User).where(User.display_name == "Robin <Vale>")) is None


def test_the_browser_is_told_the_servers_limits(admin_client) -> None:
    html = admin_client.get("/accounts").get_data(as_text=True)
    assert re.search(rf'id="new-password" name="password" type="password" required '
                     rf'minlength="{MIN_PASSWORD}"', html)
    length = User.__table__.c.username.type.length
    assert f'id="new-username" name="username" type="text" required minlength="3" ' \
           f'maxlength="{length}"' in html
    assert f'maxlength="{User.__table__.c.display_name.type.length}"' in html


def test_a_new_account_without_a_language_is_refused_on_that_field(admin_client) -> None:
    resp = admin_client.post("/accounts/new", {"username": "robin", "role": "counselor",
                                                "password": "a-long-good-passphrase"})
    assert resp.status_code == 400
    assert b'<a href="#new-lang-en">Languages</a>: Languages must be' in resp.data


def test_a_good_new_account_is_created(admin_client, session: Session) -> None:
    resp = admin_client.post("/accounts/new", {
        "username": "robin", "role": "counselor", "languages": ["en", "es"],
        "password": "a-long-good-passphrase"}, follow_redirects=True)
    assert b"Account created." in resp.data
    assert session.scalar(select(User).where(User.username == "robin")).languages == "en es"


# --- back where the tab was after signing in ------------------------------------------------


def test_signing_in_again_returns_to_the_page_the_tab_was_on(client, session: Session) -> None:
    secret = pyotp.random_base32()
    user = make_user(session, "supervisor", totp_secret=secret, totp_enabled=True)
    session.commit()
    page = client.get("/sign-in?idle=1&next=/supervisor/wallboard%3Fdisplay%3D1")
    assert b'name="next" value="/supervisor/wallboard?display=1"' in page.data
    resp = client.post("/sign-in", data={"username": user.username, "password": PASSWORD,
                                         "next": "/supervisor/wallboard?display=1",
                                         "csrf_token": csrf_of_session(client)})
    assert resp.headers["Location"] == "/sign-in/second-factor"
    resp = client.post("/sign-in/second-factor", data={
        "code": pyotp.TOTP(secret).now(), "csrf_token": csrf_of_session(client)})
    assert unquote(resp.headers["Location"]) == "/supervisor/wallboard?display=1"


def test_without_a_second_factor_the_password_returns_there_too(client, session: Session) -> None:
    user = make_user(session)
    session.commit()
    csrf_of(client)
    resp = client.post("/sign-in", data={"username": user.username, "password": PASSWORD,
                                         "next": "/phone", "csrf_token": csrf_of_session(client)})
    assert resp.headers["Location"] == "/phone"


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil",
                                    "/sign-out", "wallboard"])
def test_sign_in_never_returns_to_another_site(client, session: Session, target: str) -> None:
    page = client.get("/sign-in", query_string={"next": target})
    assert b'name="next"' not in page.data


# --- recovery codes and the second factor's key -----------------------------------------------


def test_recovery_codes_can_be_downloaded_and_printed(counselor_client) -> None:
    resp = counselor_client.post("/account", {"action": "recovery_codes"})
    html = resp.get_data(as_text=True)
    codes = re.findall(r"<li>([^<]+)</li>", html.split('id="recovery-codes"')[1])
    assert len(codes) == 10
    link = re.search(r'id="download-codes" href="data:text/plain;charset=utf-8,([^"]+)" '
                     r'download="recovery-codes.txt"', html)
    assert link
    text = unquote(link.group(1))
    assert [line for line in text.splitlines() if line in codes] == codes
    assert 'data-print hidden>Print</button>' in html
    assert 'href="/account"' in html  # back where the codes were asked for


def test_the_enrolment_key_is_shown_in_groups_of_four(client, session: Session) -> None:
    user = make_user(session, "supervisor")
    session.commit()
    client.get("/sign-in")
    with client.session_transaction() as s:
        token = s["csrf_token"]
    resp = client.post("/sign-in", data={"username": user.username, "password": PASSWORD,
                                         "csrf_token": token}, follow_redirects=True)
    html = resp.get_data(as_text=True)
    key = re.search(r'id="totp-secret" data-secret="([A-Z2-7]+)"', html)
    assert key, html
    groups = re.findall(r"<span>([A-Z2-7]{1,4})</span>",
                        html.split('id="totp-secret"')[1].split("</p>")[0])
    assert "".join(groups) == key.group(1) and all(len(g) == 4 for g in groups[:-1])


# --- charts that can be read ---------------------------------------------------------------


def test_the_hour_chart_is_drawn_large_enough_to_read() -> None:
    hours = Table("hour", "Calls by hour of day", ["Hour", "Calls"],
                  [[f"{h:02d}:00", h * 3] for h in range(24)])
    svg = str(column_chart(hours))
    assert min(int(f) for f in re.findall(r'font-size="(\d+)"', svg)) >= 13
    assert ">23<" in svg and ">69<" in svg


def test_long_center_names_are_wrapped_not_clipped() -> None:
    name = "Brookfield Regional Recovery and Behavioral Health Center of the Valley"
    table = Table("admissions_center", "Admissions by center",
                  ["Center", "Referrals", "Handoffs", "Admissions"],
                  [[name, 4, 2, 1], ["Short name", 1, 0, 0]])
    svg = str(bar_chart(table))
    width = int(re.search(r'viewBox="0 0 (\d+) ', svg).group(1))
    spans = re.findall(r'<tspan x="(\d+)"[^>]*>([^<]+)</tspan>', svg)
    assert len([s for s in spans if s[1] != "Short name"]) == 2  # two lines
    label_x = int(spans[0][0])
    for _, line in spans:
        # Right-aligned at label_x: the line must fit in the space left of it.
        assert len(line) * 13 * 0.6 <= label_x
    assert label_x < width
    assert f"<title>{name}</title>" in svg


def test_the_reports_tables_scroll_in_their_box(supervisor_client) -> None:
    html = supervisor_client.get("/supervisor/reports").get_data(as_text=True)
    assert 'class="table-scroll" role="region" tabindex="0"' in html
    assert 'id="report-hour"' in html and "report-wide" in html.split('id="report-hour"')[0][-80:]


# --- the wall display ------------------------------------------------------------------------


def test_the_display_mode_is_read_only_and_beats_to_stay_signed_in(supervisor_client) -> None:
    html = supervisor_client.get("/supervisor/wallboard?display=1").get_data(as_text=True)
    assert 'data-display-keepalive-url="/supervisor/wallboard/display/keepalive"' in html
    assert "<form" not in html and "<nav" not in html and "data-idle-seconds" not in html
    assert 'id="board"' in html
    resp = supervisor_client.post("/supervisor/wallboard/display/keepalive",
                                  headers={"X-CSRF-Token": supervisor_client.csrf})
    assert resp.status_code == 204


def test_a_display_past_its_own_idle_rule_is_signed_out(supervisor_client, settings,
                                                        session: Session) -> None:
    supervisor_client.get("/supervisor/wallboard?display=1")
    csrf = supervisor_client.csrf
    with supervisor_client.client.session_transaction() as s:
        s[DISPLAY_SINCE] = int(time.time()) - settings.wallboard_display_idle_minutes * 60 - 5
    resp = supervisor_client.post("/supervisor/wallboard/display/keepalive",
                                  headers={"X-CSRF-Token": csrf})
    assert resp.status_code == 401
    assert supervisor_client.get("/supervisor/wallboard").status_code == 302
    ended = session.scalars(select(StaffSession).where(
        StaffSession.user_id == supervisor_client.user_id)).all()
    assert [s.end_reason for s in ended] == ["idle"]


def test_a_keepalive_without_opening_the_display_is_refused(supervisor_client) -> None:
    resp = supervisor_client.post("/supervisor/wallboard/display/keepalive",
                                  headers={"X-CSRF-Token": supervisor_client.csrf})
    assert resp.status_code == 401


def test_the_live_board_is_not_activity() -> None:
    from dashboard.access import PASSIVE_ENDPOINTS

    assert "dashboard.supervisor_wallboard_events" in PASSIVE_ENDPOINTS


def test_the_display_idle_setting_is_checked(tmp_path) -> None:
    with pytest.raises(ConfigError, match="WALLBOARD_DISPLAY_IDLE_MINUTES"):
        load_settings({"HELPLINE_INSTANCE_DIR": str(tmp_path / "instance"),
                       "WALLBOARD_DISPLAY_IDLE_MINUTES": "5"}, env_file=None)


def test_no_draft_is_left_behind(session: Session) -> None:
    assert session.scalar(select(FlowVersion)) is None
