"""Staff: each counselor's shift statistics and offers, routing details (languages, skills,
phone, role), and their status set by a supervisor (dashboard.supervisor.floor_views).

Creating, unlocking, deactivating and resetting passwords or second factors are on the
dashboard's Accounts page (dashboard/staff.py); this page links there.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from dashboard.access import current_user, permission_required
from dashboard.blueprint import blueprint
from dashboard.forms import date_arg, text_field
from helpline.app.runtime import db_session, runtime, settings
from helpline.calls.floor import SETTABLE
from helpline.calls.routing import CALL_TAKERS
from helpline.models import Role, User
from helpline.reporting.offers import offers_by_counselor
from helpline.staff.accounts import AccountError, set_skills
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
    db = db_session()
    stats = shift_statistics(db, lo.astimezone(dt.UTC), hi.astimezone(dt.UTC))
    offers = offers_by_counselor(db, lo.astimezone(dt.UTC), hi.astimezone(dt.UTC))
    skills = {user_id: value for user_id, value in db.execute(select(User.id, User.skills))}
    return render_template("supervisor/staff.html", stats=stats, start=start, end=end,
                           roles=[str(r) for r in Role], user=current_user(), offers=offers,
                           skills=skills, queue_skills=settings().queue_skills,
                           settable=SETTABLE, call_takers=CALL_TAKERS)


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
        skills_changed = "skills" in request.form and set_skills(
            session, target, text_field("skills", max_length=200), by)
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
        if skills_changed:
            changed.append("skills")
            runtime().nudge_routing()  # whom each queue may ring has changed
        flash(f"Saved: {', '.join(changed)}." if changed else "Nothing changed.", "ok")
    return redirect(url_for("dashboard.supervisor_staff"))
