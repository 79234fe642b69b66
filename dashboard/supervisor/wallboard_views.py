"""The wallboard: live floor figures for a wall screen, pushed by server-sent events."""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import redirect, render_template, request, stream_with_context, url_for
from werkzeug.wrappers import Response

from dashboard import blueprint
from dashboard.access import role_required
from helpline.wallboard import wallboard
from helpline.web import db_session, runtime, settings

SUPERVISORS = ("supervisor", "admin")
POLL_SECONDS = 2.0
# Each stream ends after this; the browser reconnects, passing the sign-in gate again.
LIFETIME_SECONDS = 55.0
STATUS_LABELS = {"available": "Available", "on_call": "On a call", "wrap_up": "Wrap-up",
                 "away": "Away", "offline": "Offline"}


def _render_board(session) -> str:  # type: ignore[no-untyped-def]
    board = wallboard(session, timezone=settings().default_timezone)
    return render_template("supervisor/_board.html", board=board, labels=STATUS_LABELS)


@blueprint.get("/supervisor")
@role_required(*SUPERVISORS)
def supervisor_home() -> Response:
    return redirect(url_for("dashboard.supervisor_wallboard"))


@blueprint.get("/supervisor/wallboard")
@role_required(*SUPERVISORS)
def supervisor_wallboard() -> str:
    return render_template("supervisor/wallboard.html", board_html=_render_board(db_session()))


@blueprint.get("/supervisor/wallboard/board")
@role_required(*SUPERVISORS)
def supervisor_wallboard_board() -> str:
    return _render_board(db_session())


@blueprint.get("/supervisor/wallboard/events")
@role_required(*SUPERVISORS)
def supervisor_wallboard_events() -> Response:
    """Server-sent events: the board, re-rendered when it changes (polled every 2 s)."""
    app_db = runtime().db
    lifetime = float(request.args.get("lifetime", LIFETIME_SECONDS))
    lifetime = max(0.0, min(lifetime, LIFETIME_SECONDS))

    @stream_with_context
    def stream() -> Iterator[str]:
        last = None
        deadline = time.monotonic() + lifetime
        yield "retry: 3000\n\n"
        while True:
            with app_db.sessions() as s:
                html = _render_board(s)
            if html != last:
                last = html
                data = "\n".join(f"data: {line}" for line in html.splitlines())
                yield f"event: board\n{data}\n\n"
            if time.monotonic() >= deadline:
                return
            time.sleep(POLL_SECONDS)

    return Response(stream(), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
