"""Home: the counselor's status, the live queues (server-sent events) and "take next call"."""

from __future__ import annotations

from flask import (
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response

from dashboard import live, softphone
from dashboard.access import current_user, permission_required
from dashboard.blueprint import blueprint
from helpline.app.runtime import db_session, runtime
from helpline.calls import floor, routing
from helpline.calls.queues import queue_snapshot, take_next_call
from helpline.followups import on_record
from helpline.models import AgentStatus, User
from helpline.records import contacts
from helpline.staff.roles import Action, can

# Statuses a counselor picks; "on a call" and "wrap-up" follow the call itself.
CHOSEN_STATUSES = {AgentStatus.AVAILABLE: "Available", AgentStatus.AWAY: "Away",
                   AgentStatus.OFFLINE: "Offline"}
STATUS_LABELS: dict[str, str] = {**CHOSEN_STATUSES, AgentStatus.ON_CALL: "On a call",
                                 AgentStatus.WRAP_UP: "Wrap-up"}


def _sees_queue_callbacks(user: User) -> bool:
    # Whoever takes calls, or schedules follow-ups, meets the callers who chose a callback.
    return can(user, Action.TAKE_CALLS) or can(user, Action.MANAGE_FOLLOWUPS)


@blueprint.get("/")
def home() -> Response:
    user = current_user()
    assert user is not None
    db = db_session()
    open_contact = contacts.current_contact(db, user) if can(user, Action.TAKE_CALLS) else None
    phone_on = softphone.phone_on_page(user)
    callbacks = on_record.queue_callbacks(db) if _sees_queue_callbacks(user) else []
    ringing = {f.followup.bridged_to_id for f in callbacks} - {None}
    page = make_response(render_template(
        "dashboard/home.html", user=user, statuses=CHOSEN_STATUSES,
        status_label=STATUS_LABELS.get(user.status, user.status), queues=queue_snapshot(db),
        open_contact=open_contact, softphone=phone_on, callbacks=callbacks,
        sees_callbacks=_sees_queue_callbacks(user),
        staff={u.id: u.display_name for u in db.query(User).filter(User.id.in_(ringing))}
        if ringing else {}))
    return softphone.allow_twilio_voice(page) if phone_on else page


@blueprint.post("/status")
@permission_required(Action.SET_STATUS)
def set_status() -> Response:
    user = current_user()
    assert user is not None
    wanted = request.form.get("status", "")
    if wanted not in CHOSEN_STATUSES:
        flash("Choose available, away or offline.", "error")
    else:
        mid_call = user.status in (AgentStatus.ON_CALL, AgentStatus.WRAP_UP)
        contacts.set_status(db_session(), user, wanted)
        if mid_call:
            flash(f"You will be {STATUS_LABELS[wanted]} once this call's record is closed.",
                  "info")
        routing.notify_offers(db_session())  # other processes' streams show the new status
        runtime().nudge_routing()
    return redirect(url_for("dashboard.home"))


def _local_path(raw: str | None) -> str | None:
    """A page of this site to go back to (never another site), or None."""
    if not raw or len(raw) > 500 or not raw.startswith("/") or raw.startswith("//"):
        return None
    if "\\" in raw or any(ord(ch) < 32 for ch in raw):
        return None
    return raw


@blueprint.post("/hand")
@permission_required(Action.RAISE_HAND)
def hand() -> Response:
    """Raise or lower the counselor's hand (a supervisor sees it on the wallboard)."""
    user = current_user()
    assert user is not None
    if request.form.get("raised") == "1":
        floor.raise_hand(db_session(), user)
        flash("Your hand is raised: supervisors see it on the wallboard.", "info")
    else:
        floor.lower_hand(db_session(), user)
        flash("Your hand is down.", "info")
    return redirect(_local_path(request.form.get("next")) or url_for("dashboard.home"))


@blueprint.get("/queues")
def queues_fragment() -> str:
    return render_template("dashboard/_queues.html", queues=queue_snapshot(db_session()))


@blueprint.get("/queues/events")
def queue_events() -> Response:
    """Server-sent events: the queue table, re-rendered when it changes."""
    return live.fragment_events(
        "queues", lambda s: render_template("dashboard/_queues.html", queues=queue_snapshot(s)))


def _after_take_next(message: str, category: str,
                     contact_id: int | None = None) -> Response | str:
    # From the browser phone's home page (HTMX), the page stays: its call rings there, and the
    # record opens in a new tab. Otherwise the record opens here, as a screen pop.
    if request.headers.get("HX-Request"):
        return render_template("dashboard/_take_next_result.html", message=message,
                               category=category, contact_id=contact_id)
    if contact_id is not None:
        return redirect(url_for("dashboard.record", contact_id=contact_id))
    flash(message, category)
    return redirect(url_for("dashboard.home"))


@blueprint.post("/take-next")
@permission_required(Action.TAKE_CALLS)
def take_next() -> Response | str:
    user = current_user()
    assert user is not None
    db = db_session()
    if user.status in (AgentStatus.ON_CALL, AgentStatus.WRAP_UP):
        return _after_take_next("Finish the current call's record first.", "error")
    if user.status != AgentStatus.AVAILABLE:
        # Away and Offline take no calls: the wallboard's Available count means what it says.
        return _after_take_next("Set yourself Available to take calls.", "error")
    rt = runtime()
    call = take_next_call(db, user, rt.telephony, rt.settings)
    if call is None:
        return _after_take_next("No caller is waiting in your languages.", "info")
    contact = contacts.open_contact_for_call(db, user, call)
    return _after_take_next("The caller is being put through: answer on this page's phone.",
                            "info", contact.id)
