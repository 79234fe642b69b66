"""The dashboard's blueprint: the deny-by-default gate, CSRF, security headers, error pages."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from dashboard import access, csrf, headers
from helpline.app.runtime import end_transaction, settings
from helpline.staff.roles import can

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


@blueprint.app_context_processor
def _template_helpers() -> dict[str, Any]:
    return {
        "can": can,
        "csrf_token": csrf.token,
        "current_user": access.current_user,
        "helpline_name": settings().helpline_name,
        "idle_seconds": settings().session_idle_minutes * 60,
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
