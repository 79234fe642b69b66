"""The dashboard's blueprint: the deny-by-default gate, CSRF, security headers, error pages."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, g, render_template, request
from werkzeug.exceptions import HTTPException

from dashboard import access, csrf, headers, navigation, words
from helpline.app.runtime import end_transaction, settings
from helpline.plurals import plural
from helpline.staff.roles import can

log = logging.getLogger(__name__)

blueprint = Blueprint("dashboard", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/static")


@blueprint.record_once
def _serve_static_from_dashboard(state) -> None:  # type: ignore[no-untyped-def]
    # The app's own /static rule is matched before ours; make it serve our folder.
    state.app.static_folder = blueprint.static_folder


blueprint.before_app_request(access.gate)
blueprint.before_app_request(csrf.check)
blueprint.after_app_request(headers.add)
# The one transaction rule of every dashboard view: commit a success, roll back the rest.
blueprint.after_request(end_transaction)
# Words for stored codes, and every moment in the helpline's own zone (dashboard/words.py).
blueprint.add_app_template_filter(words.word, "word")
blueprint.add_app_template_filter(words.clock, "clock")
blueprint.add_app_template_filter(words.shown, "shown")
blueprint.add_app_template_filter(words.languages, "languages")
# Counts with the noun that fits them: {{ n|plural("minute") }}.
blueprint.add_app_template_filter(plural, "plural")


@blueprint.app_context_processor
def _template_helpers() -> dict[str, Any]:
    return {
        "can": can,
        "csrf_token": csrf.token,
        "current_user": access.current_user,
        "helpline_name": settings().helpline_name,
        "idle_seconds": settings().session_idle_minutes * 60,
        "nav_section": navigation.current_section,
    }


def _error_page(code: int, title: str):  # type: ignore[no-untyped-def]
    def handler(error: Exception):  # type: ignore[no-untyped-def]
        description = getattr(error, "description", "") if code == 400 else ""
        return render_template("dashboard/error.html", code=code, title=title,
                               description=description), code

    return handler


blueprint.register_error_handler(400, _error_page(400, "That request could not be used"))
blueprint.register_error_handler(403, _error_page(403, "Not available to your role"))
blueprint.register_error_handler(404, _error_page(404, "Not found"))


def _other_perimeters_answer(error: HTTPException) -> Any:
    """What the app would answer without our page: the handler for the error's class, if any.

    Flask picks a handler by status code before it looks at classes, so our app-wide 404 and
    500 pages would otherwise hide the API's JSON errors (registered for ``HTTPException``).
    """
    handlers = current_app.error_handler_spec.get(None, {}).get(None, {})
    for cls in type(error).__mro__:
        if cls in handlers:
            return handlers[cls](error)
    return error


@blueprint.app_errorhandler(404)
def _not_found(error: HTTPException) -> Any:
    """An unknown address: the styled page, with the navigation of whoever is signed in."""
    if request.path.startswith(access.OWN_RULES):
        return _other_perimeters_answer(error)
    return render_template("dashboard/error.html", code=404, title="Page not found",
                           description="There is no page at this address. It may have moved, "
                                       "or the link may be mistyped."), 404


@blueprint.app_errorhandler(500)
def _server_error(error: HTTPException) -> Any:
    """An unexpected failure: a calm page that still offers the navigation when it can.

    The failure may have been the database: the request's transaction is rolled back before
    the navigation asks it who is signed in, and a page without navigation is the fallback.
    """
    if request.path.startswith(access.OWN_RULES):
        return _other_perimeters_answer(error)
    title = "Something went wrong"
    description = ("The helpline could not finish this request and nothing was saved from it. "
                   "Try again; if it happens again, tell a supervisor the time it happened.")
    session = g.get("db_session")
    try:
        if session is not None:
            session.rollback()
        return render_template("dashboard/error.html", code=500, title=title,
                               description=description), 500
    except Exception:
        log.exception("the error page's navigation failed; answering without it")
        g.pop("user", None)
        return render_template("dashboard/error.html", code=500, title=title,
                               description=description, plain=True), 500
