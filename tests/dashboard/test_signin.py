"""Sign-in: password, lockout, second factor, recovery codes, idle sign-out, CSRF."""

from __future__ import annotations

import datetime as dt

import pyotp
from sqlalchemy import select, update

from helpline.models import AuditEvent, StaffSession, User
from tests.factories import make_user
from tests.fixtures.staff import csrf_of, csrf_of_session, sign_in


def actions(session) -> list[str]:  # type: ignore[no-untyped-def]
    return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_counselor_signs_in_with_password_and_lands_home(client, session):
    user = make_user(session)
    session.commit()
    resp = sign_in(client, user.username)
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    assert "signin" in actions(session)


def test_wrong_password_is_refused_without_saying_which_part(client, session):
    user = make_user(session)
    session.commit()
    resp = sign_in(client, user.username, "not the password at all")
    assert resp.status_code == 401
    assert b"username or password is not right" in resp.data
    assert "signin.failure" in actions(session)


def test_account_locks_after_the_threshold_and_a_supervisor_lifts_it(
        app, client, session, supervisor_client):
    user = make_user(session)
    session.commit()
    threshold = app.extensions["helpline"].settings.lockout_threshold
    for _ in range(threshold):
        sign_in(client, user.username, "wrong password here")
    assert sign_in(client, user.username).status_code == 401  # right password, still locked
    session.expire_all()
    assert session.get(User, user.id).locked_until is not None
    assert "signin.locked" in actions(session)
    assert supervisor_client.post(f"/accounts/{user.id}/unlock").status_code == 302
    assert sign_in(client, user.username).status_code == 302


def test_address_locks_after_many_failures_across_accounts(app, client, session):
    threshold = app.extensions["helpline"].settings.lockout_threshold
    from helpline.staff.auth import ADDRESS_THRESHOLD_FACTOR

    for n in range(threshold * ADDRESS_THRESHOLD_FACTOR):
        sign_in(client, f"nobody{n}", "wrong password here")
    user = make_user(session)
    session.commit()
    assert sign_in(client, user.username).status_code == 401


def test_supervisor_enrols_a_second_factor_at_first_sign_in(client, session):
    user = make_user(session, "supervisor")
    session.commit()
    resp = sign_in(client, user.username)
    assert resp.headers["Location"].endswith("/sign-in/enrol")
    page = client.get("/sign-in/enrol")
    assert b"<svg" in page.data
    assert client.get("/").status_code == 302  # not signed in yet
    session.expire_all()
    secret = session.get(User, user.id).totp_secret
    assert secret and secret.encode() in page.data
    resp = client.post("/sign-in/enrol", data={"code": pyotp.TOTP(secret).now(),
                                               "csrf_token": csrf_of_session(client)})
    assert resp.status_code == 200 and resp.data.count(b"<li>") >= 10
    assert client.get("/").status_code == 200
    session.expire_all()
    assert len(session.get(User, user.id).recovery_code_hashes) == 10


def test_a_recovery_code_works_once(client, session, app):
    from helpline.staff import auth

    user = make_user(session, "admin", totp_secret=pyotp.random_base32(), totp_enabled=True)
    codes = auth.new_recovery_codes(session, user)
    session.commit()
    for expected in (302, 401):
        client.post("/sign-out", data={"csrf_token": csrf_of(client)})
        sign_in(client, user.username)
        resp = client.post("/sign-in/second-factor",
                           data={"code": codes[0], "csrf_token": csrf_of_session(client)})
        assert resp.status_code == expected


def test_wrong_second_factor_code_is_refused(client, session):
    user = make_user(session, "admin", totp_secret=pyotp.random_base32(), totp_enabled=True)
    session.commit()
    sign_in(client, user.username)
    resp = client.post("/sign-in/second-factor",
                       data={"code": "000000", "csrf_token": csrf_of_session(client)})
    assert resp.status_code == 401
    assert client.get("/").status_code == 302


def test_everyone_needs_a_second_factor_when_the_setting_says_so(app, client, session):
    from helpline.staff import auth

    settings = app.extensions["helpline"].settings.with_overrides(
        require_second_factor_for_all=True)
    user = make_user(session)
    assert auth.needs_second_factor(user, settings)
    assert not auth.needs_second_factor(user, app.extensions["helpline"].settings)


def test_idle_session_is_signed_out_and_audited(counselor_client, session):
    assert counselor_client.get("/").status_code == 200
    session.execute(update(StaffSession).values(
        last_seen_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16)))
    session.commit()
    resp = counselor_client.get("/")
    assert resp.status_code == 302 and "idle=1" in resp.headers["Location"]
    assert "signout.idle" in actions(session)
    assert counselor_client.get("/").status_code == 302


def test_sign_out_ends_the_session_on_the_server(counselor_client, session):
    with counselor_client.client.session_transaction() as s:
        stolen = dict(s)
    assert counselor_client.post("/sign-out").status_code == 302
    with counselor_client.client.session_transaction() as s:
        s.update(stolen)  # a copied cookie from before signing out
    assert counselor_client.get("/").status_code == 302
    assert "signout" in actions(session)


def test_post_without_csrf_token_is_refused(counselor_client):
    resp = counselor_client.client.post("/status", data={"status": "available"})
    assert resp.status_code == 400
    resp = counselor_client.client.post("/status", data={"status": "available",
                                                         "csrf_token": "forged"})
    assert resp.status_code == 400
    resp = counselor_client.post("/status", {"status": "available"})
    assert resp.status_code == 302


def test_sign_in_form_itself_needs_the_csrf_token(client, session):
    user = make_user(session)
    session.commit()
    resp = client.post("/sign-in", data={"username": user.username, "password": "x"})
    assert resp.status_code == 400


def test_password_change_needs_the_current_password(counselor_client, session):
    resp = counselor_client.post("/account", {"action": "password", "current_password": "wrong",
                                              "new_password": "a-new-long-passphrase",
                                              "repeat_password": "a-new-long-passphrase"})
    assert resp.status_code == 302
    from tests.factories import PASSWORD

    counselor_client.post("/account", {"action": "password", "current_password": PASSWORD,
                                       "new_password": "a-new-long-passphrase",
                                       "repeat_password": "a-new-long-passphrase"})
    session.expire_all()
    from helpline.staff.accounts import password_matches

    assert password_matches(session.get(User, counselor_client.user_id), "a-new-long-passphrase")


def test_admin_reset_gives_a_temporary_password_and_ends_sessions(admin_client, counselor_client,
                                                                  session):
    resp = admin_client.post(f"/accounts/{counselor_client.user_id}/reset-password",
                             {"confirm": "1"})
    assert resp.status_code == 200 and b"temporary-password" in resp.data
    assert counselor_client.get("/").status_code == 302
