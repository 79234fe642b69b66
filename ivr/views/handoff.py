"""The warm handoff's conference room: the caller, the counselor and the treatment center's
intake line in one call, so that the caller stays on the line while intake is connected.

The dashboard moves the caller's and the counselor's live calls here and dials the intake line
into the same room (helpline.handoff.warm_handoff); each leg asks this webhook for its TwiML.
The intake worker first hears who is calling and the 42 CFR §2.32 notice: what they are told
is shared with the caller's consent and may not be re-disclosed. Nothing here writes to the
database.
"""

from __future__ import annotations

import re

from flask import Response, request
from twilio.twiml.voice_response import Dial, VoiceResponse

from helpline import phones
from helpline.app.runtime import settings
from helpline.consent.terms import REDISCLOSURE_NOTICE
from ivr.blueprint import blueprint
from ivr.fallback import fallback_twiml
from ivr.twiml import flow_for, say, twiml

ROOM = re.compile(r"handoff-\d{1,12}")
EXTENSION = re.compile(r"[0-9]{1,10}")
ROLES = {"caller", "counselor", "intake"}


def intake_greeting(helpline_name: str) -> str:
    """What the intake worker hears before joining: who, why, and the §2.32 notice."""
    return (f"This is {helpline_name}, with a caller who asked to be connected to your intake. "
            "The caller and a counselor are on this line. What we share is shared with the "
            f"caller's consent, for their treatment intake only. {REDISCLOSURE_NOTICE}")


@blueprint.post("/handoff/join")
def handoff_join():  # type: ignore[no-untyped-def]
    """<Dial><Conference> into the handoff's room; the caller and the counselor start it, so
    nobody hears hold music, and the intake worker leaving does not end it for the caller."""
    room, role = request.args.get("room", ""), request.args.get("role", "")
    if not ROOM.fullmatch(room) or role not in ROLES:
        return Response(fallback_twiml(), mimetype="text/xml")
    response = VoiceResponse()
    if role == "intake":
        extension = request.args.get("ext", "")
        if EXTENSION.fullmatch(extension):
            # The extension is keyed in once the switchboard answers; the greeting follows.
            response.play(digits=phones.extension_digits(extension))
        # In English: the intake worker's language, whatever the caller's.
        say(response, flow_for("en"), intake_greeting(settings().helpline_name))
    dial = Dial()
    dial.conference(room, start_conference_on_enter=role != "intake",
                    end_conference_on_exit=False, beep=False)
    response.append(dial)
    return twiml(response)
