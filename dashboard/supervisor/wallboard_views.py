"""The wallboard: live floor figures for a wall screen, pushed by server-sent events."""

from __future__ import annotations

from flask import redirect, render_template, url_for
from werkzeug.wrappers import Response

from dashboard import live
from dashboard.access import current_user, permission_required
from dashboard.blueprint import blueprint
from helpline.app.runtime import db_session, settings
from helpline.calls.wallboard import wallboard
from helpline.flows.versions import runtime_failures
from helpline.staff.roles import Action, can

STATUS_LABELS = {"available": "Available", "on_call": "On a call", "wrap_up": "Wrap-up",
                 "away": "Away", "offline": "Offline"}


def _render_board(session) -> str:  # type: ignore[no-untyped-def]
    board = wallboard(session, timezone=settings().default_timezone)
    return render_template("supervisor/_board.html", board=board, labels=STATUS_LABELS)


@blueprint.get("/supervisor")
@permission_required(Action.VIEW_WALLBOARD)
def supervisor_home() -> Response:
    return redirect(url_for("dashboard.supervisor_wallboard"))


@blueprint.get("/supervisor/wallboard")
@permission_required(Action.VIEW_WALLBOARD)
def supervisor_wallboard() -> str:
    session = db_session()
    user = current_user()
    return render_template("supervisor/wallboard.html", board_html=_render_board(session),
                           ivr_failures=runtime_failures(session),
                           can_edit_ivr=user is not None and can(user, Action.EDIT_IVR))


@blueprint.get("/supervisor/wallboard/board")
@permission_required(Action.VIEW_WALLBOARD)
def supervisor_wallboard_board() -> str:
    return _render_board(db_session())


@blueprint.get("/supervisor/wallboard/events")
@permission_required(Action.VIEW_WALLBOARD)
def supervisor_wallboard_events() -> Response:
    """Server-sent events: the board, re-rendered when it changes."""
    return live.fragment_events("board", _render_board)
