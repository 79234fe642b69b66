"""The offer ringing for a counselor: its live stream, accepting and declining it.

Every dashboard page of someone who takes calls listens to ``/offers/events`` (see
static/offers.js): an event ``offer`` whenever what rings for them changes (an offer, none, or
"you missed one and are now Away"). The stream waits on this process's offers signal
(helpline.app.router), which any process's change reaches within a second; without a routing
thread (tests) it re-reads every half second. A browser turned away (the process holds as
many streams as LIVE_STREAMS_MAX) asks ``/offers/current`` every second instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from flask import jsonify, stream_with_context, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from dashboard import live, words
from dashboard.access import current_user, permission_required
from dashboard.blueprint import blueprint
from dashboard.forms import float_arg
from helpline.app.runtime import commit_now, db_session, runtime
from helpline.calls import routing
from helpline.models import AgentStatus, User
from helpline.models.followups import FollowUp
from helpline.records import contacts
from helpline.staff.roles import Action

LIFETIME_SECONDS = 55.0
KEEPALIVE_SECONDS = 10.0
POLL_SECONDS = 0.5
RETRY_MS = 1000


def offer_state(session: Session, user_id: int) -> dict[str, Any]:
    """What the counselor's banner shows: the offer ringing for them, if any, and their status
    (with why, when routing set it)."""
    user = session.get(User, user_id)
    ringing = routing.ringing_for(session, user_id)
    state: dict[str, Any] = {
        "status": user.status if user else AgentStatus.OFFLINE,
        "missed": bool(user and user.status == AgentStatus.AWAY
                       and user.status_reason == routing.MISSED_OFFER),
        "offer": None,
    }
    if ringing is not None:
        state["offer"] = {
            "id": ringing.offer_id,
            # "call": a caller holding; "callback": one who booked a callback from the queue
            # (booked_seconds ago), whose number is called once the counselor answers.
            "kind": ringing.kind,
            "booked_seconds": ringing.booked_seconds,
            "queue": words.queue(ringing.queue_name),
            "crisis": ringing.group == "crisis",
            "language": words.language(ringing.language),
            "waited_seconds": ringing.waited_seconds,
            "rings_seconds_left": ringing.rings_seconds_left,
            "accept_url": url_for("dashboard.accept_offer", offer_id=ringing.offer_id),
            "decline_url": url_for("dashboard.decline_offer", offer_id=ringing.offer_id),
        }
    return state


@blueprint.get("/offers/current")
@permission_required(Action.TAKE_CALLS)
def current_offer() -> Response:
    user = current_user()
    assert user is not None
    return jsonify(offer_state(db_session(), user.id))


@blueprint.get("/offers/events")
@permission_required(Action.TAKE_CALLS)
def offer_events() -> Response:
    user = current_user()
    assert user is not None
    user_id, rt, slots = user.id, runtime(), live.stream_slots("offer_streams")
    lifetime = float_arg("lifetime", LIFETIME_SECONDS, minimum=0.0, maximum=LIFETIME_SECONDS)
    signal = rt.router.signal if rt.router is not None else None

    @stream_with_context
    def stream() -> Iterator[str]:
        streaming = slots.acquire(blocking=False)
        try:
            yield f"retry: {RETRY_MS}\n\n"
            last, version = None, signal.version if signal else 0
            deadline = time.monotonic() + (lifetime if streaming else 0.0)
            quiet_since = time.monotonic()
            while True:
                with rt.db.sessions() as session:
                    data = json.dumps(offer_state(session, user_id))
                if data != last:
                    last, quiet_since = data, time.monotonic()
                    yield f"event: offer\ndata: {data}\n\n"
                elif time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
                    quiet_since = time.monotonic()
                    yield ":\n\n"  # tells the server whether anyone still listens
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                if signal is not None:
                    # An offer's ring time is counted down by the browser; the signal moves
                    # when anything about offers or statuses changed.
                    version = signal.wait(version, min(left, KEEPALIVE_SECONDS))
                else:
                    time.sleep(min(left, POLL_SECONDS))
        finally:
            if streaming:
                slots.release()

    return Response(stream(), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@blueprint.post("/offers/<int:offer_id>/accept")
@permission_required(Action.TAKE_CALLS)
def accept_offer(offer_id: int) -> Response | tuple[Response, int]:
    """Take the call: it is put through (phone, browser phone or simulator) and the record
    opens."""
    user = current_user()
    assert user is not None
    db, rt = db_session(), runtime()
    try:
        call = routing.accept_offer(db, offer_id, user, rt.telephony, rt.settings)
    except routing.OfferGone as exc:
        commit_now()  # the offer's end as the counselor found it, kept whatever follows
        return jsonify(error=str(exc)), 409
    if isinstance(call, FollowUp):
        rt.nudge_routing()
        return jsonify(record_url=url_for("dashboard.followup_page", followup_id=call.id),
                       message="Your phone rings first; then the caller is called back.")
    contact = contacts.open_contact_for_call(db, user, call)
    rt.nudge_routing()
    return jsonify(record_url=url_for("dashboard.record", contact_id=contact.id),
                   message="The caller is being put through.")


@blueprint.post("/offers/<int:offer_id>/decline")
@permission_required(Action.TAKE_CALLS)
def decline_offer(offer_id: int) -> Response | tuple[Response, int]:
    user = current_user()
    assert user is not None
    try:
        routing.decline_offer(db_session(), offer_id, user)
    except routing.OfferGone as exc:
        return jsonify(error=str(exc)), 409
    runtime().nudge_routing()
    return jsonify(message="Declined: the caller goes to the next counselor.")
