"""What a caller hears when anything breaks: static TwiML that reaches a person."""

from __future__ import annotations

from flask import current_app, g
from twilio.twiml.voice_response import Enqueue, VoiceResponse

from helpline.app.runtime import settings
from helpline.flows.flow import load_flows
from ivr.twiml import say, url


def fallback_twiml() -> str:
    """Static TwiML: no database, no flow files read; the caller reaches a person."""
    s = settings()
    live = current_app.extensions.get("ivr_live")
    # The version in memory, never a database question: this is what runs when things break.
    flows = (g.setdefault("ivr_flow_set", live.in_memory).flows if live is not None
             else load_flows())
    english = flows["en"]
    response = VoiceResponse()
    say(response, english, english.prompts["trouble"])
    if s.fallback_number:
        response.dial(s.fallback_number)
    else:
        response.append(Enqueue(english.queue_name("general"),
                                wait_url=url("queue/wait", lang="en", group="general"),
                                wait_url_method="POST",
                                action=url("queue/done", lang="en", group="general"),
                                method="POST"))
    return str(response)
