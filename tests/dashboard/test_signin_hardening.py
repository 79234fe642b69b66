"""Sign-in under attack: parallel guesses, replayed codes, sessions after a password change,
an admin's reset, outdated password hashes.

The races are run for real: many browsers post at once to the app served on a local port
(each request on its own thread and database session), on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pyotp
import pytest
import requests
from argon2 import PasswordHasher
from sqlalchemy import func, select

from dashboard.access import SESSION_KEY
from helpline.models import AuditEvent, SignInFailure, StaffSession, User
from helpline.staff import accounts, auth
from tests.factories import PASSWORD, make_user
from tests.fixtures.staff import csrf_of_session, sign_in

WRONG = "not the password at all"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    """One browser against the served app: its own cookies, the CSRF token of its last page."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.csrf = ""

    def get(self, path: str) -> requests.Response:
        return self._seen(self.http.get(self.base + path, allow_redirects=False, timeout=120))

    def post(self, path: str, data: dict[str, str]) -> requests.Response:
        return self._seen(self.http.post(self.base + path, data={**data, "csrf_token": self.csrf},
                                         allow_redirects=False, timeout=120))

    def _seen(self, response: requests.Response) -> requests.Response:
        found = _CSRF.search(response.text)
        if found:
            self.csrf = html.unescape(found.group(1))
        return response

    def sign_in(self, username: str, password: str = PASSWORD) -> requests.Response:
        self.get("/sign-in")
        response = self.post("/sign-in", {"username": username, "password": password})
        if response.status_code == 302:
            self.get(response.headers["Location"])  # the next page's form carries the token
        return response


def all_at_once(browsers: list[Browser],
                act: Callable[[Browser], requests.Response]) -> list[int]:
    """Run ``act`` for every browser at the same moment; their status codes."""
    barrier = threading.Barrier(len(browsers))

    def run(browser: Browser) -> int:
        barrier.wait()
        return act(browser).status_code

    with ThreadPoolExecutor(len(browsers)) as pool:
        return list(pool.map(run, browsers))


def actions(session) -> list[str]:  # type: ignore[no-untyped-def]
    return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def with_second_factor(session, role: str = "supervisor") -> tuple[User, str]:  # type: ignore[no-untyped-def]
    secret = pyotp.random_base32()
    user = make_user(session, role, totp_secret=secret, totp_enabled=True)
    session.commit()
    return user, secret


# --- lockout ------------------------------------------------------------------------------

def test_thirty_parallel_wrong_passwords_all_count_and_lock_the_account(served, session):
    user = make_user(session)
    session.commit()
    browsers = [Browser(served) for _ in range(30)]
    for browser in browsers:
        browser.get("/sign-in")
    statuses = all_at_once(browsers, lambda b: b.post(
        "/sign-in", {"username": user.username, "password": WRONG}))
    assert statuses == [401] * 30
    session.expire_all()
    locked = session.get(User, user.id)
    assert locked.failed_logins == 30
    assert locked.locked_until is not None
    assert actions(session).count("signin.locked") == 1
    # Every failure counts against the address too.
    assert session.scalar(select(func.count(SignInFailure.id))) == 30
    assert Browser(served).sign_in(user.username).status_code == 401


def test_the_right_password_is_refused_if_the_account_locked_while_it_was_checked(
        app, session, monkeypatch):
    settings = app.extensions["helpline"].settings
    user = make_user(session)
    session.commit()
    check = accounts.password_matches

    def slow_check(checked: User, password: str) -> bool:
        # Meanwhile, parallel wrong guesses from elsewhere lock the account.
        with app.extensions["helpline"].db.sessions() as other:
            for _ in range(settings.lockout_threshold):
                auth.record_failure(other, other.get(User, checked.id), checked.username,
                                    "10.0.0.9", settings, "password")
            other.commit()
        return check(checked, password)

    monkeypatch.setattr(accounts, "password_matches", slow_check)
    with pytest.raises(auth.SignInRefused) as refused:
        auth.check_password(session, user.username, PASSWORD, "10.0.0.1", settings)
    assert str(refused.value) == str(auth.SignInRefused())


# --- TOTP ---------------------------------------------------------------------------------

def test_a_totp_code_signs_in_once(client, session):
    user, secret = with_second_factor(session)
    code = pyotp.TOTP(secret).now()
    for expected in (302, 401):
        sign_in(client, user.username)
        resp = client.post("/sign-in/second-factor",
                           data={"code": code, "csrf_token": csrf_of_session(client)})
        assert resp.status_code == expected
        if expected == 401:
            assert b"That code is not right" in resp.data
        client.post("/sign-out", data={"csrf_token": csrf_of_session(client)})


def test_the_previous_windows_code_is_refused_after_a_newer_one(app, session):
    settings = app.extensions["helpline"].settings
    user, secret = with_second_factor(session)
    now = dt.datetime(2026, 3, 2, 12, 0, 10, tzinfo=dt.UTC)
    totp = pyotp.TOTP(secret)
    newest, previous = totp.at(now), totp.at(now - dt.timedelta(seconds=30))
    assert auth.verify_second_factor(session, user, newest, "10.0.0.1", settings, now=now)
    assert not auth.verify_second_factor(session, user, previous, "10.0.0.1", settings, now=now)
    assert not auth.verify_second_factor(session, user, newest, "10.0.0.1", settings, now=now)
    # A code of a later step (the phone's clock a little ahead) is still good once.
    later = totp.at(now + dt.timedelta(seconds=30))
    assert auth.verify_second_factor(session, user, later, "10.0.0.1", settings, now=now)


def test_digits_of_another_script_are_refused_not_an_error(app, client, session):
    settings = app.extensions["helpline"].settings
    user, _ = with_second_factor(session)
    arabic = "\u0661\u0662\u0663\u0664\u0665\u0666"  # what str.isdigit() also takes
    assert not auth.verify_second_factor(session, user, arabic, "10.0.0.1", settings)
    # A form token of any characters is refused as a form token, not a server error.
    assert client.post("/sign-in", data={"csrf_token": arabic}).status_code == 400


def test_one_totp_code_used_in_parallel_signs_in_exactly_once(served, session):
    user, secret = with_second_factor(session)
    browsers = [Browser(served) for _ in range(8)]
    for browser in browsers:
        assert browser.sign_in(user.username).status_code == 302
    code = pyotp.TOTP(secret).now()
    statuses = all_at_once(browsers, lambda b: b.post("/sign-in/second-factor", {"code": code}))
    assert sorted(statuses) == [302] + [401] * 7


# --- recovery codes -----------------------------------------------------------------------

def test_one_recovery_code_used_in_parallel_signs_in_exactly_once(served, session):
    user, _secret = with_second_factor(session, "admin")
    codes = auth.new_recovery_codes(session, user)
    session.commit()
    browsers = [Browser(served) for _ in range(8)]
    for browser in browsers:
        assert browser.sign_in(user.username).status_code == 302
    statuses = all_at_once(browsers, lambda b: b.post("/sign-in/second-factor",
                                                      {"code": codes[3]}))
    assert sorted(statuses) == [302] + [401] * 7
    session.expire_all()
    assert len(session.get(User, user.id).recovery_code_hashes) == 9


def test_parallel_uses_of_two_recovery_codes_both_count(served, session):
    user, _secret = with_second_factor(session, "admin")
    codes = auth.new_recovery_codes(session, user)
    session.commit()
    browsers = [Browser(served) for _ in range(2)]
    for browser in browsers:
        assert browser.sign_in(user.username).status_code == 302
    statuses = all_at_once(browsers, lambda b: b.post(
        "/sign-in/second-factor", {"code": codes[browsers.index(b)]}))
    assert statuses == [302, 302]
    session.expire_all()
    assert len(session.get(User, user.id).recovery_code_hashes) == 8


# --- sessions after a password change -----------------------------------------------------

def test_changing_the_password_ends_the_users_other_sessions(staff_factory, app, session):
    here = staff_factory("counselor")
    elsewhere = app.test_client()
    assert sign_in(elsewhere, here.username).status_code == 302
    assert elsewhere.get("/").status_code == 200
    resp = here.post("/account", {"action": "password", "current_password": PASSWORD,
                                  "new_password": "a-new-long-passphrase",
                                  "repeat_password": "a-new-long-passphrase"})
    assert resp.status_code == 302
    assert here.get("/").status_code == 200  # the session that made the change stays
    assert elsewhere.get("/").status_code == 302
    session.expire_all()
    reasons = session.scalars(select(StaffSession.end_reason).where(
        StaffSession.user_id == here.user_id, StaffSession.ended_at.is_not(None)))
    assert "password" in list(reasons)


def test_a_sign_in_under_way_while_the_password_changes_does_not_outlive_it(
        staff_factory, app, session):
    here = staff_factory("counselor")
    with app.extensions["helpline"].db.sessions() as racing:
        # The old password was checked; the session is not open yet.
        checked = racing.get(User, here.user_id)
        assert checked is not None and checked.session_epoch == 0
        user = session.get(User, here.user_id)
        auth.change_password(session, user, PASSWORD, "a-new-long-passphrase")
        session.commit()
        token = auth.start_session(racing, checked, "10.0.0.2", "full")
        racing.commit()
    late = app.test_client()
    with late.session_transaction() as cookie:
        cookie[SESSION_KEY] = token
    assert late.get("/").status_code == 302


# --- an admin's reset ---------------------------------------------------------------------

def test_after_an_admin_reset_the_user_must_choose_a_new_password_first(
        admin_client, client, session):
    user = make_user(session)
    session.commit()
    resp = admin_client.post(f"/accounts/{user.id}/reset-password", {"confirm": "1"})
    temporary = re.search(rb'temporary-password[^>]*>\s*([^<\s]+)', resp.data)
    assert temporary, resp.data
    temporary_password = html.unescape(temporary.group(1).decode())
    resp = sign_in(client, user.username, temporary_password)
    assert resp.status_code == 302
    for path in ("/", "/account", "/accounts"):
        resp = client.get(path)
        assert resp.status_code == 302 and resp.headers["Location"] == "/account/password"
    assert client.get("/account/password").status_code == 200
    resp = client.post("/account/password", data={
        "current_password": temporary_password, "new_password": "my-own-long-passphrase",
        "repeat_password": "my-own-long-passphrase", "csrf_token": csrf_of_session(client)})
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    session.expire_all()
    assert not session.get(User, user.id).must_change_password


def test_a_wrong_temporary_password_does_not_lift_the_obligation(
        admin_client, client, session):
    user = make_user(session)
    session.commit()
    admin_client.post(f"/accounts/{user.id}/reset-password", {"confirm": "1"})
    session.expire_all()
    session.get(User, user.id).password_hash = accounts.hash_password("temporary-for-test")
    session.commit()
    assert sign_in(client, user.username, "temporary-for-test").status_code == 302
    resp = client.post("/account/password", data={
        "current_password": "not-the-temporary", "new_password": "my-own-long-passphrase",
        "repeat_password": "my-own-long-passphrase", "csrf_token": csrf_of_session(client)})
    assert resp.status_code == 400
    assert client.get("/").headers["Location"] == "/account/password"


# --- outdated hashes ----------------------------------------------------------------------

def test_a_hash_with_outdated_parameters_is_replaced_at_sign_in(client, session):
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    user = make_user(session)
    user.password_hash = weak.hash(PASSWORD)
    session.commit()
    old_hash = user.password_hash
    assert sign_in(client, user.username).status_code == 302
    session.expire_all()
    renewed = session.get(User, user.id)
    assert renewed.password_hash != old_hash
    assert not PasswordHasher().check_needs_rehash(renewed.password_hash)
    assert accounts.password_matches(renewed, PASSWORD)
