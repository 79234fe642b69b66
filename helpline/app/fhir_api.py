"""``/fhir/Task/{id}``: a treatment center's system reads and updates the FHIR Task of a referral
the helpline sent it (:mod:`helpline.referrals.fhir_tasks` says what an update changes).

Open only to the integration's bearer token (FHIR_TASK_TOKEN); without the setting every
address here answers 404, as if there were none. No cookie is read, so the dashboard's CSRF
check does not apply (dashboard/csrf.py lets these endpoints by). Errors are FHIR
OperationOutcomes; no answer says anything about the caller.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Flask, Response, abort, json, request

from helpline.app.runtime import db_session, end_transaction, runtime
from helpline.config import Settings
from helpline.referrals.fhir_tasks import TaskError, apply_task_update, current_task

FHIR_JSON = "application/fhir+json"
#: The endpoints of this blueprint, open without a staff session (their own rule: the token).
ENDPOINTS = frozenset({"fhir.task"})

bp = Blueprint("fhir", __name__, url_prefix="/fhir")
# Commit a success, roll back the rest: the same rule as the staff pages.
bp.after_request(end_transaction)


def _answer(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype=FHIR_JSON)


def _outcome(status: int, code: str, message: str) -> Response:
    return _answer({"resourceType": "OperationOutcome",
                    "issue": [{"severity": "error", "code": code, "diagnostics": message}]},
                   status)


def _authorised(settings: Settings) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), settings.fhir_task_token.encode())


@bp.route("/Task/<task_id>", methods=["GET", "PUT"])
def task(task_id: str) -> Response:
    settings = runtime().settings
    if not settings.fhir_task_token:
        abort(404)
    if not _authorised(settings):
        refused = _outcome(401, "login", "a bearer token is required")
        refused.headers["WWW-Authenticate"] = 'Bearer realm="fhir"'
        return refused
    try:
        if request.method == "GET":
            return _answer(current_task(db_session(), task_id, settings))
        body = request.get_json(force=True, silent=True)
        update = apply_task_update(db_session(), task_id, body, settings)
    except TaskError as exc:
        return _outcome(exc.status, exc.code, str(exc))
    return _answer(update.task)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
