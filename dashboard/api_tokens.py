"""API tokens: an admin gives a staff-approved integration a token for the API's report
figures (and the directory, with API_ACCESS=token), sees which are in use, revokes them."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from dashboard import confirm
from dashboard.access import permission_required, require_user
from dashboard.blueprint import blueprint
from helpline.app.runtime import db_session, settings
from helpline.models import ApiToken
from helpline.staff import api_tokens
from helpline.staff.roles import Action


def _page(new_token: str | None = None, problem: str | None = None, typed: str = "",
          status: int = 200) -> tuple[str, int]:
    return render_template("dashboard/api_tokens.html",
                           tokens=api_tokens.list_tokens(db_session()), new_token=new_token,
                           problem=problem, typed=typed,
                           api_access=settings().api_access), status


@blueprint.get("/api-tokens")
@permission_required(Action.MANAGE_API_TOKENS)
def api_tokens_page() -> tuple[str, int]:
    return _page()


@blueprint.post("/api-tokens/new")
@permission_required(Action.MANAGE_API_TOKENS)
def create_api_token() -> tuple[str, int]:
    me = require_user()
    name = request.form.get("name", "")
    db = db_session()
    try:
        _row, token = api_tokens.create_token(db, name, by=me)
    except api_tokens.ApiTokenError as exc:
        db.rollback()  # the page below is a refusal, not a change
        return _page(problem=str(exc)[:1].upper() + str(exc)[1:] + ".", typed=name[:80],
                     status=400)
    # Shown once, on this answer only: it is kept as a hash.
    return _page(new_token=token)


@blueprint.post("/api-tokens/<int:token_id>/revoke")
@permission_required(Action.MANAGE_API_TOKENS)
def revoke_api_token(token_id: int) -> str | Response:
    me = require_user()
    row = db_session().get(ApiToken, token_id)
    if row is None:
        return redirect(url_for("dashboard.api_tokens_page"))
    if not confirm.confirmed():
        return confirm.ask(
            title=f"Revoke the API token {row.name}?",
            consequences=["Every request with this token is refused from now on; the "
                          "integration needs a new token to read the API again."],
            button=f"Revoke {row.name}", cancel_url=url_for("dashboard.api_tokens_page"))
    api_tokens.revoke_token(db_session(), token_id, by=me)
    flash(f"API token {row.name} revoked.", "info")
    return redirect(url_for("dashboard.api_tokens_page"))
