"""The other numbers' webhooks: call status, incoming texts, and Twilio's fallback URL."""

from __future__ import annotations

import datetime as dt
from email.utils import parsedate_to_datetime

from flask import Response, current_app, g, request
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Enqueue, VoiceResponse

from helpline.optouts import keyword_of
from helpline.web import settings
from ivr import blueprint
from ivr.flow import load_flows
from ivr.steps import write, write_behind
from ivr.twiml import call_sid, form_int, say, twiml, url
from ivr.twiml import flows as current_flows

_SPANISH_KEYWORDS = {"AYUDA", "PARAR", "ALTO", "BAJA", "CANCELAR", "COMENZAR", "INICIO"}


def _timestamp() -> str | None:
    raw = request.form.get("Timestamp", "")
    try:
        return parsedate_to_datetime(raw).astimezone(dt.UTC).isoformat() if raw else None
    except (TypeError, ValueError, IndexError):
        return None


@blueprint.post("/status")
def status():  # type: ignore[no-untyped-def]
    """Call status callback: idempotent on CallSid and SequenceNumber; the end closes the call."""
    sid = call_sid()
    call_status = request.form.get("CallStatus", "")[:20]
    if not sid or not call_status:
        return Response("CallSid and CallStatus are required", status=400)
    at = _timestamp()
    kwargs = {"at": at} if at else {}
    # Nothing the caller hears depends on it: the writer puts it in behind the answer.
    write_behind("status", call_sid=sid, status=call_status,
                 sequence=form_int("SequenceNumber"), from_number=request.form.get("From"),
                 duration=form_int("CallDuration"), **kwargs)
    return Response(status=204)


@blueprint.post("/sms")
def sms():  # type: ignore[no-untyped-def]
    """HELP, STOP and START are honoured and recorded; anything else gets the number to call."""
    body = request.form.get("Body", "")[:1600]
    number = request.form.get("From")
    keyword = keyword_of(body)
    flows = current_flows()
    flow = flows.get("es") if body.strip().upper() in _SPANISH_KEYWORDS else None
    flow = flow or flows["en"]
    s = settings()
    reply = MessagingResponse()
    if keyword in {"STOP", "START"}:
        if number:
            write("sms_keyword", number=number, keyword=body.strip().upper()[:20] or keyword)
        # Twilio answers STOP and START itself on long codes; a second text would be noise.
        text = flow.sms["stopped" if keyword == "STOP" else "started"]
    elif keyword == "HELP":
        text = flow.sms["help"].format(helpline=s.helpline_name, number=s.helpline_number)
    else:
        text = flow.sms["other"].format(number=s.helpline_number)
    if text:
        reply.message(text)
    return Response(str(reply), mimetype="text/xml")


def fallback_twiml() -> str:
    """Static TwiML: no database, no flow files read; the caller reaches a person."""
    s = settings()
    live = current_app.extensions.get("ivr_live")
    # The version in memory, never a database question: this is what runs when things break.
    flows = (g.setdefault("ivr_flow_set", live.last_good).flows if live is not None
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


@blueprint.post("/fallback")
def fallback():  # type: ignore[no-untyped-def]
    return twiml_text(fallback_twiml())


def twiml_text(text: str) -> Response:
    return Response(text, mimetype="text/xml")


__all__ = ["fallback", "sms", "status", "twiml"]
