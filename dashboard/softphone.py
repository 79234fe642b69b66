"""The browser phone on the dashboard's home page (Twilio's Voice SDK, vendored).

Only with Twilio and an API key (:func:`helpline.softphone.softphone_available`); in outbox mode
nothing here shows and the token endpoint answers 404. The home page carries the phone for
staff whose calls ring their browser, and only that page lets the SDK reach Twilio
(:data:`dashboard.headers.SOFTPHONE_CONTENT_SECURITY_POLICY`).
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, jsonify, redirect, request, url_for
from werkzeug.wrappers import Response

from dashboard import headers
from dashboard.access import client_address, current_user, permission_required
from dashboard.blueprint import blueprint
from helpline.app.runtime import db_session, settings
from helpline.models import User
from helpline.staff import softphone
from helpline.staff.roles import Action, can


def phone_on_page(user: User | None) -> bool:
    """Whether a page shown to ``user`` carries the browser phone."""
    return (can(user, Action.USE_PHONE)
            and softphone.softphone_available(settings())
            and softphone.rings_browser(user, settings()))


def allow_twilio_voice(response: Response) -> Response:
    """Let this page's browser phone reach Twilio (the app's policy is kept everywhere else)."""
    response.headers["Content-Security-Policy"] = headers.SOFTPHONE_CONTENT_SECURITY_POLICY
    return response


@blueprint.app_context_processor
def _softphone_helpers() -> dict[str, Any]:
    return {
        "softphone_available": lambda: softphone.softphone_available(settings()),
        "rings_browser": lambda user: softphone.rings_browser(user, settings()),
    }


@blueprint.post("/softphone/token")
@permission_required(Action.USE_PHONE)
def softphone_token() -> Response | tuple[Response, int]:
    """A short-lived Voice access token for the signed-in staff member's own identity."""
    user = current_user()
    assert user is not None
    if not softphone.softphone_available(settings()):
        abort(404)
    try:
        token = softphone.issue_voice_token(db_session(), user, settings(),
                                            address=client_address())
    except softphone.SoftphoneUnavailable as exc:
        return jsonify(error=str(exc)), 409
    return jsonify(token=token.jwt, identity=token.identity, ttl_seconds=token.ttl_seconds)


@blueprint.post("/account/take-calls-on")
@permission_required(Action.USE_PHONE)
def set_take_calls_on() -> Response:
    user = current_user()
    assert user is not None
    if not softphone.softphone_available(settings()):
        abort(404)
    choice = request.form.get("take_calls_on", "")
    try:
        softphone.set_take_calls_on(db_session(), user, choice, by=user)
    except ValueError as exc:
        flash(f"Not changed: {exc}.", "error")
        return redirect(url_for("dashboard.account_settings"))
    flash("Your calls ring this browser's phone (on Home)." if choice == "browser"
          else "Your calls ring your phone.", "info")
    return redirect(url_for("dashboard.account_settings"))
