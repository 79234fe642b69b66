"""Conference rooms: the overdose protocol's, and the one that bridges each answered call.

The overdose protocol's room holds the caller, the counselor and the emergency number in one
call, so that the caller stays on the line while 911 is connected.

The dashboard moves the caller's and the counselor's live calls here and dials the emergency
number into the same room (helpline.overdose.connect_emergency); each leg asks this webhook
for its TwiML. Nothing here writes to the database.
"""

from __future__ import annotations

import re

from flask import Response, abort, jsonify, request
from twilio.twiml.voice_response import Dial, VoiceResponse

from helpline.app.runtime import runtime, settings
from helpline.calls import control, records
from ivr.blueprint import blueprint
from ivr.fallback import fallback_twiml
from ivr.steps import reading_back
from ivr.twiml import call_sid, current_flow, flow_for, say, twiml, url
from ivr.views.queue import enqueue_response

ROOM = re.compile(r"overdose-\d{1,12}")
ROLES = {"caller", "counselor", "emergency"}


@blueprint.post("/conference/join")
def conference_join():  # type: ignore[no-untyped-def]
    """<Dial><Conference> into the protocol's room; nobody's leaving ends it for the others."""
    room, role = request.args.get("room", ""), request.args.get("role", "")
    if not ROOM.fullmatch(room) or role not in ROLES:
        return Response(fallback_twiml(), mimetype="text/xml")
    response = VoiceResponse()
    if role == "emergency":
        # What the dispatcher hears first; the counselor then gives the caller's location.
        # In English, with the English voice, whatever the caller's language: a Spanish voice
        # reading English is hard to follow for a dispatcher with seconds to spare.
        say(response, flow_for("en"),
            f"This is {settings().helpline_name}. A caller needs emergency help. The caller "
            "and a counselor are on this line.")
    dial = Dial()
    # The dispatcher, the caller and the counselor each start it: no hold music for anyone,
    # and a dropped caller leaves the counselor with the dispatcher.
    dial.conference(room, start_conference_on_enter=True, end_conference_on_exit=False,
                    beep=False)
    response.append(dial)
    return twiml(response)


# --- the room that bridges each answered call (helpline.calls.control) -----------------------

CALL_ROOM = re.compile(r"call-\d{1,12}")
CALL_ROLES = {"caller", "counselor"}


@blueprint.post("/conference/call")
def conference_call():  # type: ignore[no-untyped-def]
    """<Dial><Conference> into a call's room. The caller waits there with hold music until the
    counselor enters, and their leaving ends the room for everyone; a counselor leaving does
    not (a warm transfer's first counselor leaves the caller with the colleague)."""
    room, role = request.args.get("room", ""), request.args.get("role", "")
    if not CALL_ROOM.fullmatch(room) or role not in CALL_ROLES:
        return Response(fallback_twiml(), mimetype="text/xml")
    flow = current_flow()
    response = VoiceResponse()
    caller = role == "caller"
    if caller:
        say(response, flow, flow.prompts["queue_connected"])
    dial = Dial()
    dial.conference(room, start_conference_on_enter=not caller, end_conference_on_exit=caller,
                    beep=False, wait_url=url("conference/hold", lang=flow.language),
                    wait_method="POST")
    response.append(dial)
    return twiml(response)


@blueprint.post("/conference/hold")
def conference_hold():  # type: ignore[no-untyped-def]
    """What a caller on hold (``holdUrl``) or waiting for the room hears: a word, then the
    flow's hold music; Twilio loops it."""
    flow = current_flow()
    response = VoiceResponse()
    say(response, flow, flow.prompts["queue_calm"])
    if flow.music_url:
        response.play(flow.music_url)
    else:
        response.pause(length=10)
    return twiml(response)


@blueprint.post("/conference/requeue")
def conference_requeue():  # type: ignore[no-untyped-def]
    """A caller transferred back into a queue: <Enqueue> again (their place is kept by the
    routing, which orders the waiting contacts, not by Twilio's queue)."""
    flow = current_flow()
    group = request.args.get("group", "general")
    group = group if group in flow.queues else "general"
    return twiml(enqueue_response(flow, group, "self", check_staffed=False))


@blueprint.post("/call/control")
def call_control_heard():  # type: ignore[no-untyped-def]
    """For the simulators (outbox telephony only): what happened on this connected call since
    event ``since`` (hold, transfer, a supervisor, the counselor ending it)."""
    if runtime().telephony.name != "outbox":
        abort(404)
    sid = call_sid()
    since = request.args.get("since", "0")
    with reading_back() as session:
        call = records.find_call(session, sid) if sid else None
        if call is None:
            return jsonify(events=[], ended=False)
        heard = control.heard_since(session, call, int(since) if since.isdigit() else 0)
        return jsonify(events=heard, ended=call.ended_at is not None)
