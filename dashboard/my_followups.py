"""A counselor's side of follow-ups: "My follow-ups", the reminders on the home page and their
count in the top bar (template helpers every page can use)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import abort, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from dashboard import words
from dashboard.access import current_user, permission_required
from dashboard.blueprint import blueprint
from dashboard.followup_labels import KINDS, OUTCOMES, RESULTS, SOURCES, STATES
from helpline.app.runtime import db_session, runtime, settings
from helpline.followups import lifecycle, lists
from helpline.models import User
from helpline.staff.roles import Action, can


def staff_clock(when: dt.datetime | None) -> str:
    """A moment in the helpline's own time zone, e.g. "Tue 10 Mar 11:00 EDT"."""
    return words.clock(when)


def caller_clock(followup: Any, when: dt.datetime | None) -> str:
    return "—" if when is None else lifecycle.caller_clock(followup, when)


def followup_clock(followup: Any, when: dt.datetime | None) -> str:
    """The helpline's time, labelled, with the caller's beside it when their clock differs:
    "Tue 10 Mar 11:00 EDT (caller: Tue 10 Mar 08:00 PDT)"."""
    if when is None:
        return "—"
    here = words.clock(when)
    theirs = lifecycle.local_time(followup, when)
    if theirs.utcoffset() == when.astimezone(words.helpline_zone()).utcoffset():
        return here
    return f"{here} (caller: {lifecycle.caller_clock(followup, when)})"


def _notice_count() -> int:
    user = current_user()
    if not can(user, Action.WORK_FOLLOWUPS):
        return 0
    if "followup_notice_count" not in g:
        g.followup_notice_count = lists.notice_count(db_session(), user)
    return g.followup_notice_count


def _notices() -> list[Any]:
    user = current_user()
    if not can(user, Action.WORK_FOLLOWUPS):
        return []
    return lists.notices_for(db_session(), user)


@blueprint.app_context_processor
def _followup_helpers() -> dict[str, Any]:
    return {"followup_notice_count": _notice_count, "followup_notices": _notices,
            "staff_clock": staff_clock, "caller_clock": caller_clock,
            "followup_clock": followup_clock,
            "fu_kinds": KINDS, "fu_states": STATES, "fu_results": RESULTS,
            "fu_outcomes": OUTCOMES, "fu_sources": SOURCES}


@blueprint.get("/followups/mine")
@permission_required(Action.WORK_FOLLOWUPS)
def my_followups() -> str:
    """What is assigned to me (or ringing me), soonest first, and what I closed lately."""
    user = current_user()
    assert user is not None
    db = db_session()
    open_ones, closed = lists.my_followups(db, user)
    me = db.get(User, user.id)
    return render_template("followups/mine.html", open_ones=open_ones, closed=closed,
                           has_phone=bool(me and me.phone), telephony=runtime().telephony.name,
                           settings=settings())


@blueprint.post("/followups/notices/<int:notice_id>/dismiss")
@permission_required(Action.WORK_FOLLOWUPS)
def dismiss_followup_notice(notice_id: int) -> Response:
    user = current_user()
    assert user is not None
    db = db_session()
    if not lists.dismiss_notice(db, notice_id, user):
        abort(404)
    back = request.form.get("back", "")
    return redirect(url_for("dashboard.my_followups") if back == "mine"
                    else url_for("dashboard.home"))
