"""The API's blueprint: who may ask (API_ACCESS, tokens), how often (the rate limit), answers
in JSON, and the one transaction rule (commit a success, roll back the rest)."""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from api.spec import spec
from helpline import api_limits
from helpline.app.runtime import db_session, end_transaction, settings
from helpline.models import ApiToken
from helpline.staff import api_tokens

blueprint = Blueprint("api", __name__)
#: Endpoints that need a token whatever API_ACCESS says (the report figures).
TOKEN_ONLY: set[str] = set()
#: Endpoints open whatever API_ACCESS says (the document that describes the API).
OPEN: set[str] = {"api.openapi_document"}


def problem(status: int, error: str, message: str) -> tuple[Response, int]:
    return jsonify(error=error, message=message), status


def _bearer_token() -> str | None:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" and given.strip() else None


def current_token() -> ApiToken | None:
    """The live API token this request carries, or None."""
    if "api_token" not in g:
        given = _bearer_token()
        g.api_token = api_tokens.authenticate(db_session(), given) if given else None
    token: ApiToken | None = g.api_token
    return token


@blueprint.before_request
def _limit_and_admit() -> tuple[Response, int] | None:
    session = db_session()
    retry_after = api_limits.take_request(session, settings(), request.remote_addr or "unknown")
    # Counted even when the request is then refused or fails.
    session.commit()
    if retry_after is not None:
        response, status = problem(429, "rate_limited",
                                   f"Too many requests: at most "
                                   f"{settings().api_requests_per_minute} a minute.")
        response.headers["Retry-After"] = str(retry_after)
        return response, status
    needs_token = request.endpoint in TOKEN_ONLY or (
        settings().api_access == "token" and request.endpoint not in OPEN)
    if needs_token and current_token() is None:
        response, status = problem(401, "unauthorized",
                                   "A valid API token is needed: Authorization: Bearer <token>.")
        response.headers["WWW-Authenticate"] = 'Bearer realm="helpline-api"'
        return response, status
    return None


blueprint.after_request(end_transaction)


@blueprint.get("/api/openapi.json")
def openapi_document() -> Response:
    """The OpenAPI 3 document of the API, generated from its views and models."""
    return jsonify(spec.spec)


@blueprint.app_errorhandler(HTTPException)
def _json_errors(error: HTTPException) -> tuple[Response, int] | HTTPException:
    """Errors under /api/ (unknown paths and methods included) answer in JSON."""
    if not request.path.startswith("/api/"):
        return error
    response, status = problem(error.code or 500, (error.name or "error").lower()
                               .replace(" ", "_"), error.description or "")
    if error.code == 405 and error.response is None:
        response.headers["Allow"] = ", ".join(sorted(getattr(error, "valid_methods", None)
                                                     or []))
    return response, status
