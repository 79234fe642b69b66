"""Sign-in, the second factor (enrolment and check), sign-out, and the idle keep-alive."""

from __future__ import annotations

from flask import flash, g, jsonify, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from dashboard import csrf
from dashboard.access import SESSION_KEY, client_address, current_user, pending_user
from dashboard.blueprint import blueprint
from helpline.app.runtime import commit_now, db_session, settings
from helpline.models import User
from helpline.staff import accounts, auth

NEXT_KEY = "after_sign_in"


def _next_path(raw: str | None) -> str | None:
    """A page of this site to return to after signing in, or None.

    Only a local path: never another site ("//host", "\\host", a scheme), never the sign-in
    pages themselves.
    """
    if not raw or len(raw) > 500 or not raw.startswith("/") or raw.startswith("//"):
        return None
    if "\\" in raw or any(ord(ch) < 32 for ch in raw):
        return None
    if raw.startswith(("/sign-in", "/sign-out")):
        return None
    return raw


def _after_sign_in() -> str:
    """Where a completed sign-in goes: the page the tab was on when it was signed out, or Home."""
    return _next_path(session.pop(NEXT_KEY, None)) or url_for("dashboard.home")


def _begin(user_id: int, token: str) -> None:
    # A fresh cookie at every stage: a session id seen before signing in is worth nothing.
    session.clear()
    session[SESSION_KEY] = token
    session.permanent = False
    csrf.rotate()
    g.pop("staff_session", None)
    g.pop("user", None)


@blueprint.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> str | Response | tuple[str, int]:
    if request.method == "GET":
        if current_user() is not None:
            return redirect(_next_path(request.args.get("next")) or url_for("dashboard.home"))
        return render_template("dashboard/sign_in.html", idle=bool(request.args.get("idle")),
                               next_path=_next_path(request.args.get("next")))
    db = db_session()
    address = client_address()
    try:
        user = auth.check_password(db, request.form.get("username", ""),
                                   request.form.get("password", ""), address, settings())
    except auth.SignInRefused as refused:
        commit_now()  # the failure counts toward the lockout although the answer is a 401
        return render_template("dashboard/sign_in.html", error=str(refused),
                               next_path=_next_path(request.form.get("next"))), 401
    next_path = _next_path(request.form.get("next"))
    if auth.needs_second_factor(user, settings()):
        token = auth.start_session(db, user, address, "password")
        _begin(user.id, token)
        if next_path:
            session[NEXT_KEY] = next_path
        target = "dashboard.second_factor" if user.totp_enabled else "dashboard.enrol"
        return redirect(url_for(target))
    token = auth.start_session(db, user, address, "full")
    _begin(user.id, token)
    return redirect(next_path or url_for("dashboard.home"))


@blueprint.route("/sign-in/second-factor", methods=["GET", "POST"])
def second_factor() -> str | Response | tuple[str, int]:
    user = pending_user()
    if user is None:
        return redirect(url_for("dashboard.sign_in"))
    if not user.totp_enabled:
        return redirect(url_for("dashboard.enrol"))
    if request.method == "GET":
        return render_template("dashboard/second_factor.html")
    db = db_session()
    if not auth.verify_second_factor(db, user, request.form.get("code", ""), client_address(),
                                     settings()):
        # The failure (and a lockout's ended session) is kept although the answer is a 401.
        if auth.account_locked(user):
            auth.end_session(db, g.staff_session, "locked")
            commit_now()
            session.clear()
            return render_template("dashboard/sign_in.html",
                                   error=str(auth.SignInRefused())), 401
        commit_now()
        return render_template("dashboard/second_factor.html",
                               error="That code is not right. Try the newest one."), 401
    auth.complete_session(db, g.staff_session, user, client_address())
    csrf.rotate()
    return redirect(_after_sign_in())


@blueprint.route("/sign-in/enrol", methods=["GET", "POST"])
def enrol() -> str | Response | tuple[str, int]:
    """First sign-in of someone who needs a second factor: scan, confirm, keep the codes."""
    user = pending_user()
    if user is None:
        return redirect(url_for("dashboard.sign_in"))
    if user.totp_enabled:
        return redirect(url_for("dashboard.second_factor"))
    db = db_session()
    issuer = settings().helpline_name
    if request.method == "GET" or not user.totp_secret:
        enrolment = (auth.enrolment_for(user, issuer) if user.totp_secret
                     else auth.begin_enrolment(db, user, issuer))
        return render_template("dashboard/enrol.html", enrolment=enrolment)
    codes = auth.confirm_enrolment(db, user, request.form.get("code", ""), client_address())
    if codes is None:
        auth.record_failure(db, user, user.username, client_address(), settings(), "enrolment")
        commit_now()  # the failure counts toward the lockout although the answer is a 401
        return render_template("dashboard/enrol.html", enrolment=auth.enrolment_for(user, issuer),
                               error="That code is not right. Check the phone's clock."), 401
    auth.complete_session(db, g.staff_session, user, client_address())
    csrf.rotate()
    return render_template("dashboard/recovery_codes.html", codes=codes,
                           continue_url=_after_sign_in())


@blueprint.post("/sign-out")
def sign_out() -> Response:
    staff = g.get("staff_session")
    if staff is not None:
        auth.end_session(db_session(), staff, "user")
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("dashboard.sign_in"))


@blueprint.post("/session/keepalive")
def keepalive() -> tuple[str, int]:
    return "", 204


@blueprint.get("/session/status")
def session_status() -> Response:
    return jsonify(seconds_left=auth.idle_seconds_left(g.staff_session, settings()))


def _change_own_password(user: User) -> str | None:
    """Change the password as the form asks; why it was not changed, or None."""
    if request.form.get("new_password") != request.form.get("repeat_password"):
        return "The two new passwords differ."
    try:
        auth.change_password(db_session(), user, request.form.get("current_password", ""),
                             request.form.get("new_password", ""), keep=g.staff_session)
    except accounts.AccountError as exc:
        return f"Not changed: {exc}."
    return None


@blueprint.route("/account/password", methods=["GET", "POST"])
def change_password() -> str | Response | tuple[str, int]:
    """A new password; after an admin's reset the gate allows nothing else until it is set."""
    user = current_user()
    assert user is not None
    if request.method == "POST":
        problem = _change_own_password(user)
        if problem is None:
            flash("Your password is changed.", "info")
            return redirect(url_for("dashboard.home"))
        return render_template("dashboard/change_password.html", user=user, error=problem), 400
    return render_template("dashboard/change_password.html", user=user)


@blueprint.route("/account", methods=["GET", "POST"])
def account_settings() -> str | Response:
    user = current_user()
    assert user is not None
    db = db_session()
    if request.method == "POST":
        action = request.form.get("action")
        if action == "password":
            problem = _change_own_password(user)
            if problem is None:
                flash("Your password is changed.", "info")
            else:
                flash(problem, "error")
        elif action == "recovery_codes" and user.totp_enabled:
            codes = auth.new_recovery_codes(db, user)
            return render_template("dashboard/recovery_codes.html", codes=codes,
                                   continue_url=url_for("dashboard.account_settings"))
        return redirect(url_for("dashboard.account_settings"))
    return render_template("dashboard/account.html", user=user)
