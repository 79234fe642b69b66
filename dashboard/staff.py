"""Accounts: admins create accounts, reset passwords and second factors; supervisors and admins
lift lockouts. Nobody here sees a note."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from dashboard.access import current_user, permission_required
from dashboard.blueprint import blueprint
from helpline import audit
from helpline.app.runtime import db_session
from helpline.models import User
from helpline.staff import accounts, auth
from helpline.staff.roles import Action, can


def _target(user_id: int) -> User:
    user = db_session().get(User, user_id)
    if user is None:
        abort(404)
    return user


@blueprint.get("/accounts", endpoint="accounts")
@permission_required(Action.VIEW_ACCOUNTS)
def accounts_page() -> str:
    user = current_user()
    users = list(db_session().scalars(select(User).order_by(User.username)))
    return render_template("dashboard/accounts.html", users=users, me=user,
                           is_admin=can(user, Action.MANAGE_ACCOUNTS))


@blueprint.post("/accounts/new")
@permission_required(Action.MANAGE_ACCOUNTS)
def create_account() -> str | Response:
    me = current_user()
    db = db_session()
    try:
        accounts.create_user(db, request.form.get("username", ""), request.form.get("role", ""),
                             request.form.get("password", ""),
                             display_name=request.form.get("display_name", ""),
                             languages=" ".join(request.form.getlist("languages")) or "en",
                             created_by=me)
    except accounts.AccountError as exc:
        db.rollback()  # the redirect below is a success to the transaction rule
        flash(f"Not created: {exc}.", "error")
    else:
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
    temporary = auth.reset_password(db_session(), target, me)
    return render_template("dashboard/temporary_password.html", target=target,
                           temporary=temporary)


@blueprint.post("/accounts/<int:user_id>/reset-second-factor")
@permission_required(Action.MANAGE_ACCOUNTS)
def reset_account_second_factor(user_id: int) -> Response:
    me = current_user()
    assert me is not None
    target = _target(user_id)
    auth.reset_second_factor(db_session(), target, me)
    flash(f"{target.username} will set up a new second factor at the next sign-in.", "info")
    return redirect(url_for("dashboard.accounts"))


@blueprint.post("/accounts/<int:user_id>/active")
@permission_required(Action.MANAGE_ACCOUNTS)
def set_account_active(user_id: int) -> Response:
    me = current_user()
    target = _target(user_id)
    if target.id == (me.id if me else None):
        flash("You cannot deactivate your own account.", "error")
        return redirect(url_for("dashboard.accounts"))
    target.active = request.form.get("active") == "1"
    if not target.active:
        auth.end_all_sessions(db_session(), target, "deactivated")
    audit.record(db_session(), "user.active", actor=me, record_type="user", record_id=target.id,
                 detail={"active": target.active})
    return redirect(url_for("dashboard.accounts"))
