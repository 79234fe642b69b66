"""Accounts: admins create accounts, reset passwords and second factors; supervisors and admins
lift lockouts. Nobody here sees a note."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from dashboard import confirm
from dashboard.access import current_user, permission_required
from dashboard.blueprint import blueprint
from helpline import audit
from helpline.app.runtime import db_session
from helpline.models import Role, User
from helpline.staff import accounts, auth
from helpline.staff.roles import Action, can

# The new-account form's fields: (label, element id), in the order of the form.
NEW_ACCOUNT_FIELDS = {
    "username": ("Username", "new-username"),
    "display_name": ("Display name", "new-name"),
    "role": ("Role", "new-role"),
    "languages": ("Languages", "new-lang-en"),
    "password": ("First password", "new-password"),
}
# An AccountError names its field in its first words (helpline.staff.accounts.create_user).
_FIELD_OF_PROBLEM = (("the username", "username"), ("unknown role", "role"),
                     ("languages", "languages"), ("the password", "password"))


def _column_length(name: str) -> int:
    """The longest value the users table holds in ``name``: the form's maxlength."""
    return int(getattr(User.__table__.c[name].type, "length", 0) or 0)


def _limits() -> dict[str, int]:
    return {"password_min": accounts.MIN_PASSWORD, "username_max": _column_length("username"),
            "name_max": _column_length("display_name")}


def _target(user_id: int) -> User:
    user = db_session().get(User, user_id)
    if user is None:
        abort(404)
    return user


def _accounts(typed: dict[str, object] | None = None, errors: dict[str, str] | None = None,
              status: int = 200) -> tuple[str, int]:
    """The Accounts page; after a refused new account, what was typed and why, by field."""
    user = current_user()
    users = list(db_session().scalars(select(User).order_by(User.username)))
    return render_template("dashboard/accounts.html", users=users, me=user,
                           is_admin=can(user, Action.MANAGE_ACCOUNTS),
                           typed=typed or {"languages": ["en"], "role": "counselor"},
                           errors=errors or {}, fields=NEW_ACCOUNT_FIELDS,
                           roles=[str(r) for r in Role], limits=_limits(),
                           languages=sorted(accounts.LANGUAGES)), status


@blueprint.get("/accounts", endpoint="accounts")
@permission_required(Action.VIEW_ACCOUNTS)
def accounts_page() -> tuple[str, int]:
    return _accounts()


def _new_account_problems(exc: accounts.AccountError, password: str,
                          username: str) -> dict[str, str]:
    """Each problem of a refused new account on its field, the password's always checked."""
    message = str(exc)
    field = next((f for prefix, f in _FIELD_OF_PROBLEM if message.startswith(prefix)),
                 "username")
    problems = {field: message[:1].upper() + message[1:] + "."}
    weak = accounts.password_problem(password, username.strip().lower())
    if weak and "password" not in problems:
        problems["password"] = weak[:1].upper() + weak[1:] + "."
    return {name: problems[name] for name in NEW_ACCOUNT_FIELDS if name in problems}


@blueprint.post("/accounts/new")
@permission_required(Action.MANAGE_ACCOUNTS)
def create_account() -> tuple[str, int] | Response:
    me = current_user()
    db = db_session()
    username = request.form.get("username", "")
    password = request.form.get("password", "")
    languages = request.form.getlist("languages")
    try:
        accounts.create_user(db, username, request.form.get("role", ""), password,
                             display_name=request.form.get("display_name", ""),
                             languages=" ".join(languages), created_by=me)
    except accounts.AccountError as exc:
        db.rollback()  # the page below is a refusal, not a change
        # Everything typed comes back but the password, which is never sent back to a page.
        typed: dict[str, object] = {
            "username": username, "display_name": request.form.get("display_name", ""),
            "role": request.form.get("role", ""), "languages": languages}
        return _accounts(typed, _new_account_problems(exc, password, username), status=400)
    flash("Account created.", "info")
    return redirect(url_for("dashboard.accounts"))


@blueprint.post("/accounts/<int:user_id>/unlock")
@permission_required(Action.UNLOCK_ACCOUNTS)
def unlock_account(user_id: int) -> Response:
    me = current_user()
    assert me is not None
    target = _target(user_id)
    auth.lift_lockout(db_session(), target, me, request.form.get("address") or None)
    flash(f"{target.username} can sign in again.", "info")
    return redirect(url_for("dashboard.accounts"))


@blueprint.post("/accounts/<int:user_id>/reset-password")
@permission_required(Action.MANAGE_ACCOUNTS)
def reset_account_password(user_id: int) -> str:
    me = current_user()
    assert me is not None
    target = _target(user_id)
    if not confirm.confirmed():
        return confirm.ask(
            title=f"Reset the password of {target.username}?",
            consequences=[f"{target.display_name or target.username} is signed out everywhere "
                          "at once, in the middle of a call if they are on one.",
                          "You get a temporary password, shown once, to give them in person; "
                          "they must choose a new one when they sign in."],
            button=f"Reset the password of {target.username}",
            cancel_url=url_for("dashboard.accounts"))
    temporary = auth.reset_password(db_session(), target, me)
    return render_template("dashboard/temporary_password.html", target=target,
                           temporary=temporary)


@blueprint.post("/accounts/<int:user_id>/reset-second-factor")
@permission_required(Action.MANAGE_ACCOUNTS)
def reset_account_second_factor(user_id: int) -> str | Response:
    me = current_user()
    assert me is not None
    target = _target(user_id)
    if not confirm.confirmed():
        return confirm.ask(
            title=f"Reset the second factor of {target.username}?",
            consequences=["Their authenticator app and recovery codes stop working.",
                          f"{target.display_name or target.username} must set up a new second "
                          "factor at the next sign-in: do this only when you know who asks."],
            button=f"Reset the second factor of {target.username}",
            cancel_url=url_for("dashboard.accounts"))
    auth.reset_second_factor(db_session(), target, me)
    flash(f"{target.username} will set up a new second factor at the next sign-in.", "info")
    return redirect(url_for("dashboard.accounts"))


@blueprint.post("/accounts/<int:user_id>/active")
@permission_required(Action.MANAGE_ACCOUNTS)
def set_account_active(user_id: int) -> str | Response:
    me = current_user()
    target = _target(user_id)
    if target.id == (me.id if me else None):
        flash("You cannot deactivate your own account.", "error")
        return redirect(url_for("dashboard.accounts"))
    activate = request.form.get("active") == "1"
    if not activate and target.active and not confirm.confirmed():
        return confirm.ask(
            title=f"Deactivate {target.username}?",
            consequences=[f"{target.display_name or target.username} is signed out everywhere "
                          "at once and cannot sign in until an admin reactivates the account.",
                          "Their records, notes and follow-ups stay as they are."],
            button=f"Deactivate {target.username}", hidden={"active": "0"},
            cancel_url=url_for("dashboard.accounts"))
    target.active = activate
    if not target.active:
        auth.end_all_sessions(db_session(), target, "deactivated")
    audit.record(db_session(), "user.active", actor=me, record_type="user", record_id=target.id,
                 detail={"active": target.active})
    flash(f"{target.username} is {'active again' if target.active else 'deactivated'}.", "info")
    return redirect(url_for("dashboard.accounts"))
