"""The call bar's actions on the record (hold, transfer, end call) and supervision of a live
call (listen, coach, barge). Thin: helpline.calls.control does the work.

The call bar (static/callbar.js) reads ``/records/<id>/call/state`` every second and posts its
buttons here with fetch (JSON back); without JavaScript the same forms post and come back to
the record with a message.
"""

from __future__ import annotations

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from dashboard import words
from dashboard.access import current_user, load_visible_contact, permission_required
from dashboard.blueprint import blueprint
from helpline.app.runtime import db_session, runtime
from helpline.calls import control
from helpline.db import utcnow
from helpline.models import AgentStatus, Call, Contact, Role, User
from helpline.staff.roles import Action

ACTIONS = {"hold": control.hold, "resume": control.resume, "end": control.end_call,
           "transfer-complete": control.complete_transfer,
           "transfer-cancel": control.cancel_transfer}
DONE = {"hold": "The caller is on hold.", "resume": "The caller is off hold.",
        "end": "Call ended. Finish the record to wrap up.",
        "transfer-complete": "Transferred: the call and its record are your colleague's now.",
        "transfer-cancel": "Transfer cancelled: the caller is on hold with you."}


def _wants_json() -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _call_of(contact: Contact) -> Call | None:
    return db_session().get(Call, contact.call_id) if contact.call_id else None


def _answer(contact_id: int, message: str, ok: bool = True) -> Response | tuple[Response, int]:
    if _wants_json():
        return (jsonify(message=message), 200) if ok else (jsonify(error=message), 409)
    flash(message if ok else f"Not done: {message}.", "info" if ok else "error")
    return redirect(url_for("dashboard.record", contact_id=contact_id) + "#call-bar")


def transfer_targets(user: User) -> list[User]:
    """Colleagues and supervisors who could take the call now (Available), by name."""
    return [u for u in db_session().query(User).filter(
        User.active.is_(True), User.status == AgentStatus.AVAILABLE, User.id != user.id,
        User.role.in_([Role.COUNSELOR, Role.SUPERVISOR])).order_by(User.display_name)]


def bar_context(contact: Contact, call: Call | None, user: User) -> dict[str, object]:
    """What record.html needs to draw the call bar."""
    db = db_session()
    state = control.bar_state(db, call)
    mine = call is not None and call.counselor_id == user.id
    queues = []
    if call is not None and call.queue_name:
        queues = [(call.queue_name, words.queue(call.queue_name))]
    return {"bar": state.as_json(utcnow()), "bar_controls": mine and state.state not in
            ("ended", "none"), "bar_targets": transfer_targets(user) if mine else [],
            "bar_queues": queues,
            "bar_state_url": url_for("dashboard.call_state", contact_id=contact.id)}


@blueprint.get("/records/<int:contact_id>/call/state")
@permission_required(Action.CONTROL_CALLS)
def call_state(contact_id: int) -> Response:
    contact = load_visible_contact(contact_id)
    user = current_user()
    assert user is not None
    call = _call_of(contact)
    data = control.bar_state(db_session(), call).as_json(utcnow())
    data["controls"] = (call is not None and call.counselor_id == user.id
                        and data["state"] not in ("ended", "none"))
    return jsonify(data)


@blueprint.post("/records/<int:contact_id>/call/<action>")
@permission_required(Action.CONTROL_CALLS)
def call_action(contact_id: int, action: str) -> Response | tuple[Response, int]:
    if action not in ACTIONS:
        abort(404)
    contact = load_visible_contact(contact_id)
    user = current_user()
    assert user is not None
    call = _call_of(contact)
    rt = runtime()
    try:
        if call is None:
            raise control.ControlRefused("this record has no phone call")
        ACTIONS[action](db_session(), rt.telephony, rt.settings, call, user)
    except control.ControlRefused as exc:
        db_session().rollback()
        return _answer(contact_id, str(exc), ok=False)
    return _answer(contact_id, DONE[action])


@blueprint.post("/records/<int:contact_id>/call/transfer")
@permission_required(Action.CONTROL_CALLS)
def call_transfer(contact_id: int) -> Response | tuple[Response, int]:
    """Transfer to a colleague or supervisor (``to`` = user id; warm or cold), or to a queue
    (``to`` = ``queue:<name>``, always cold)."""
    contact = load_visible_contact(contact_id)
    user = current_user()
    assert user is not None
    db, rt = db_session(), runtime()
    call = _call_of(contact)
    target = request.form.get("to", "")
    warm = request.form.get("mode", "warm") == "warm"
    try:
        if call is None:
            raise control.ControlRefused("this record has no phone call")
        if target.startswith("queue:"):
            name = target.removeprefix("queue:")
            group = name.rpartition("-")[0] or "general"
            control.transfer_to_queue(db, rt.telephony, rt.settings, call, user, group, name)
            rt.nudge_routing()
            message = "The caller is back at the front of the queue. Finish the record."
        else:
            colleague = db.get(User, int(target)) if target.isdigit() else None
            if colleague is None:
                raise control.ControlRefused("choose who to transfer to")
            control.transfer_to_colleague(db, rt.telephony, rt.settings, call, user,
                                          colleague, warm=warm)
            message = (f"{colleague.display_name} is joining while the caller holds: talk, "
                       "then Complete transfer." if warm else
                       f"Transferred to {colleague.display_name}, with the record.")
    except control.ControlRefused as exc:
        db.rollback()
        return _answer(contact_id, str(exc), ok=False)
    return _answer(contact_id, message)


# --- supervision ---------------------------------------------------------------------------

@blueprint.get("/calls/live")
@permission_required(Action.SUPERVISE_CALLS)
def live_calls() -> str:
    """The calls in progress, each with Listen, Coach and Barge (the wallboard links here)."""
    user = current_user()
    assert user is not None
    db = db_session()
    rows = []
    for call, counselor in control.live_calls(db):
        state = control.bar_state(db, call)
        present = next((s for s in state.supervisors if s.get("name") == user.display_name),
                       None)
        rows.append({"call": call, "counselor": counselor, "state": state.as_json(utcnow()),
                     "mine": present, "queue": words.queue(call.queue_name)})
    return render_template("dashboard/live_call.html", rows=rows,
                           modes=control.SUPERVISION_MODES)


@blueprint.post("/calls/<int:call_id>/supervise")
@permission_required(Action.SUPERVISE_CALLS)
def supervise_call(call_id: int) -> Response | tuple[Response, int]:
    user = current_user()
    assert user is not None
    db, rt = db_session(), runtime()
    call = db.get(Call, call_id)
    mode = request.form.get("mode", "")
    try:
        if call is None:
            raise control.ControlRefused("that call has ended")
        if mode == "leave":
            control.stop_supervising(db, rt.telephony, rt.settings, call, user)
            message = "You left the call."
        else:
            control.supervise(db, rt.telephony, rt.settings, call, user, mode)
            message = {"listen": "Listening: nobody hears you.",
                       "coach": "Coaching: only the counselor hears you.",
                       "barge": "Barged in: the caller and the counselor hear you."}[mode]
    except control.ControlRefused as exc:
        db.rollback()
        if _wants_json():
            return jsonify(error=str(exc)), 409
        flash(f"Not done: {exc}.", "error")
        return redirect(url_for("dashboard.live_calls"))
    if _wants_json():
        return jsonify(message=message)
    flash(message, "info")
    return redirect(url_for("dashboard.live_calls"))
