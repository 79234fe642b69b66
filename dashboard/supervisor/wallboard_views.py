"""The wallboard: live floor figures for a wall screen, pushed by server-sent events.

Two ways to look at it. On a supervisor's own screen it is a page like any other and signs
out after SESSION_IDLE_MINUTES without activity (its live updates are not activity). In
display mode (``?display=1``: the board alone, read-only, no navigation or forms) it is a wall
screen: it keeps itself signed in for WALLBOARD_DISPLAY_IDLE_MINUTES after a supervisor last
opened it, a rule the server holds (the time it was opened is in the signed session cookie).
"""

from __future__ import annotations

import datetime as dt
import time

from flask import g, redirect, render_template, request, session, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from dashboard import live
from dashboard.access import current_user, permission_required
from dashboard.blueprint import blueprint
from helpline.app.runtime import commit_now, db_session, settings
from helpline.calls.floor import SETTABLE
from helpline.calls.wallboard import REASONS, wallboard
from helpline.db import utcnow
from helpline.flows.versions import runtime_failures
from helpline.reporting.audit_review import wrap_up_overrides
from helpline.staff import auth
from helpline.staff.roles import Action, can

DISPLAY_SINCE = "wallboard_display_since"
OVERRIDE_ALERT = dt.timedelta(hours=24)
STATUS_LABELS = {"available": "Available", "on_call": "On a call", "wrap_up": "Wrap-up",
                 "away": "Away", "offline": "Offline"}


def _controls() -> bool:
    """Whether the board carries the floor's forms: a supervisor's own screen, not a display."""
    return request.args.get("display") != "1" and can(current_user(), Action.MANAGE_FLOOR)


def _render_board(session: Session, controls: bool = False) -> str:
    board = wallboard(session, timezone=settings().default_timezone,
                      queue_skills=settings().queue_skills,
                      wrap_up_limit_minutes=settings().wrap_up_limit_minutes)
    return render_template("supervisor/_board.html", board=board, labels=STATUS_LABELS,
                           reasons=REASONS, controls=controls, settable=SETTABLE)


@blueprint.get("/supervisor")
@permission_required(Action.VIEW_WALLBOARD)
def supervisor_home() -> Response:
    return redirect(url_for("dashboard.supervisor_wallboard"))


@blueprint.get("/supervisor/wallboard")
@permission_required(Action.VIEW_WALLBOARD)
def supervisor_wallboard() -> str:
    db = db_session()
    user = current_user()
    if request.args.get("display") == "1":
        session[DISPLAY_SINCE] = int(time.time())
        idle_seconds = settings().session_idle_minutes * 60
        return render_template(
            "supervisor/wallboard_display.html", board_html=_render_board(db),
            ivr_failures=runtime_failures(db), can_edit_ivr=False,
            display_minutes=settings().wallboard_display_idle_minutes,
            # Well inside the session's idle time, so one lost beat does not sign it out.
            keepalive_seconds=max(20, min(300, idle_seconds // 3)))
    # Records closed with a safety step undocumented: said where supervisors watch the floor.
    overrides = wrap_up_overrides(db, utcnow() - OVERRIDE_ALERT) \
        if user is not None and can(user, Action.REVIEW_AUDIT) else []
    return render_template("supervisor/wallboard.html", board_html=_render_board(db, _controls()),
                           ivr_failures=runtime_failures(db), overrides=overrides,
                           can_edit_ivr=user is not None and can(user, Action.EDIT_IVR))


@blueprint.post("/supervisor/wallboard/display/keepalive")
@permission_required(Action.VIEW_WALLBOARD)
def supervisor_wallboard_display_keepalive() -> tuple[str, int]:
    """A wall display's beat: 204 while its own idle rule allows, else the session ends."""
    since = session.get(DISPLAY_SINCE)
    limit = settings().wallboard_display_idle_minutes * 60
    if isinstance(since, int) and 0 <= time.time() - since <= limit:
        return "", 204
    auth.end_session(db_session(), g.staff_session, "idle")
    commit_now()  # the session's end is kept although the answer is a 401
    session.clear()
    return "signed out", 401


@blueprint.get("/supervisor/wallboard/board")
@permission_required(Action.VIEW_WALLBOARD)
def supervisor_wallboard_board() -> str:
    return _render_board(db_session(), _controls())


@blueprint.get("/supervisor/wallboard/events")
@permission_required(Action.VIEW_WALLBOARD)
def supervisor_wallboard_events() -> Response:
    """Server-sent events: the board, re-rendered when it changes (``?display=1``: read-only)."""
    controls = _controls()
    return live.fragment_events("board", lambda session: _render_board(session, controls))
