"""The floor: a supervisor sets a counselor's status or acknowledges their raised hand, from
the wallboard or the Staff page (helpline.calls.floor); routing is nudged at once."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from dashboard import words
from dashboard.access import current_user, permission_required
from dashboard.blueprint import blueprint
from helpline.app.runtime import db_session, runtime
from helpline.calls import floor, routing
from helpline.models import User
from helpline.staff.roles import Action

# Where a form may send the supervisor back to: the page it was on.
BACK_TO = {"wallboard": "dashboard.supervisor_wallboard", "staff": "dashboard.supervisor_staff"}


def _back() -> Response:
    endpoint = BACK_TO.get(request.form.get("back", ""), BACK_TO["wallboard"])
    return redirect(url_for(endpoint))


def _target(user_id: int) -> User:
    user = db_session().get(User, user_id)
    if user is None:
        abort(404)
    return user


@blueprint.post("/supervisor/staff/<int:user_id>/status")
@permission_required(Action.MANAGE_FLOOR)
def supervisor_set_status(user_id: int) -> Response:
    by = current_user()
    assert by is not None
    target = _target(user_id)
    wanted = request.form.get("status", "")
    name = target.display_name or target.username
    try:
        after_call = floor.set_status_for(db_session(), target, wanted, by)
    except floor.FloorError as exc:
        db_session().rollback()  # the redirect below is a success to the transaction rule
        flash(f"{name}: {exc}.", "error")
        return _back()
    routing.notify_offers(db_session())  # the counselor's own page shows the new status
    runtime().nudge_routing()
    if after_call:
        flash(f"{name} will be {words.word(wanted)} once their call's record is closed.", "info")
    else:
        flash(f"{name} is {words.word(wanted)}.", "info")
    return _back()


@blueprint.post("/supervisor/staff/<int:user_id>/hand/acknowledge")
@permission_required(Action.MANAGE_FLOOR)
def supervisor_acknowledge_hand(user_id: int) -> Response:
    by = current_user()
    assert by is not None
    target = _target(user_id)
    name = target.display_name or target.username
    if floor.lower_hand(db_session(), target, by=by):
        flash(f"You acknowledged {name}'s raised hand: go and help them.", "info")
    else:
        flash(f"{name}'s hand is already down.", "info")
    return _back()
