"""The overdose protocol's conference room: the caller, the counselor and the emergency number
in one call, so that the caller stays on the line while 911 is connected.

The dashboard moves the caller's and the counselor's live calls here and dials the emergency
number into the same room (helpline.overdose.connect_emergency); each leg asks this webhook
for its TwiML. Nothing here writes to the database.
"""

from __future__ import annotations

import re

from flask import Response, request
from twilio.twiml.voice_response import Dial, VoiceResponse

from helpline.app.runtime import settings
from ivr.blueprint import blueprint
from ivr.fallback import fallback_twiml
from ivr.twiml import flow_for, say, twiml

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
