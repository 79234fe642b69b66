"""Staff: each counselor's shift statistics, and routing details (languages, phone, role).

Creating, unlocking, deactivating and resetting passwords or second factors are on the
dashboard's Accounts page (dashboard/staff.py); this page links there.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from dashboard.access import current_user, permission_required
from dashboard.blueprint import blueprint
from dashboard.forms import date_arg, text_field
from helpline.app.runtime import db_session, settings
from helpline.models import Role, User
from helpline.staff.accounts import AccountError
from helpline.staff.roles import Action, can
from helpline.staff.shifts import shift_statistics, update_routing


def _day(name: str, default: dt.date) -> dt.date:
    return date_arg(name, default) or default


@blueprint.get("/supervisor/staff")
@permission_required(Action.MANAGE_ROUTING)
def supervisor_staff() -> str:
    zone = ZoneInfo(settings().default_timezone)
    today = dt.datetime.now(zone).date()
    start = _day("start", today)
    end = max(start, _day("end", today))
    lo = dt.datetime.combine(start, dt.time(), zone)
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), zone)
    stats = shift_statistics(db_session(), lo.astimezone(dt.UTC), hi.astimezone(dt.UTC))
    return render_template("supervisor/staff.html", stats=stats, start=start, end=end,
                           roles=[str(r) for r in Role], user=current_user())


@blueprint.post("/supervisor/staff/<int:user_id>")
@permission_required(Action.MANAGE_ROUTING)
def supervisor_staff_update(user_id: int) -> Response:
    session = db_session()
    target = session.get(User, user_id)
    if target is None:
        abort(404)
    by = current_user()
    assert by is not None
    role = text_field("role", max_length=32) or None
    try:
        changed = update_routing(
            session, target, by=by, languages=(text_field("languages", max_length=200)
                                              if "languages" in request.form else None),
            phone=text_field("phone", max_length=32) or None,
            clear_phone=text_field("clear_phone") == "1",
            role=role if can(by, Action.MANAGE_ACCOUNTS) else None,
        )
    except AccountError as exc:
        session.rollback()  # the redirect below is a success to the transaction rule
        flash(str(exc), "error")
    else:
        flash(f"Saved: {', '.join(changed)}." if changed else "Nothing changed.", "ok")
    return redirect(url_for("dashboard.supervisor_staff"))
