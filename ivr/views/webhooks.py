"""The other numbers' webhooks: call status, incoming texts, and Twilio's fallback URL."""

from __future__ import annotations

import datetime as dt
import logging
from email.utils import parsedate_to_datetime

from flask import Response, request
from sqlalchemy.exc import SQLAlchemyError
from twilio.twiml.messaging_response import MessagingResponse

from helpline.app.runtime import runtime, settings
from helpline.calls.journal import NotStored
from helpline.consent.optouts import keyword_of
from helpline.sms_limits import admit_sms
from ivr.blueprint import blueprint
from ivr.fallback import fallback_twiml
from ivr.steps import write
from ivr.twiml import call_sid, form_int, twiml
from ivr.twiml import flows as current_flows

log = logging.getLogger(__name__)

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
    try:
        write("status", call_sid=sid, status=call_status, sequence=form_int("SequenceNumber"),
              from_number=request.form.get("From"), duration=form_int("CallDuration"),
              **kwargs)
    except NotStored:
        # Not acknowledged: Twilio shows the failure in its debugger (and retries, where set).
        return Response("not stored", status=503)
    return Response(status=204)


@blueprint.post("/sms")
def sms():  # type: ignore[no-untyped-def]
    """HELP, STOP and START are honoured and recorded; anything else gets the number to call.

    The reply is a text like any other (Twilio sends it from the TwiML): it passes the same
    limits, and over them the sender gets no reply.
    """
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
            try:
                write("sms_keyword", number=number,
                      keyword=body.strip().upper()[:20] or keyword)
            except NotStored:
                return Response("not stored", status=503)
        # Twilio answers STOP and START itself on long codes; a second text would be noise.
        text = flow.sms["stopped" if keyword == "STOP" else "started"]
    elif keyword == "HELP":
        text = flow.sms["help"].format(helpline=s.helpline_name, number=s.helpline_number)
    else:
        text = flow.sms["other"].format(number=s.helpline_number)
    if text and _reply_allowed(number or ""):
        reply.message(text)
    return Response(str(reply), mimetype="text/xml")


def _reply_allowed(number: str) -> bool:
    try:
        with runtime().db.session() as session:
            return admit_sms(session, settings(), number, purpose="sms_reply",
                             provider="twiml") is None
    except SQLAlchemyError:
        # The limits cannot be checked: no text rather than an unlimited one.
        log.warning("incoming text not answered: the database is unreachable")
        return False


@blueprint.post("/fallback")
def fallback():  # type: ignore[no-untyped-def]
    return twiml_text(fallback_twiml())


def twiml_text(text: str) -> Response:
    return Response(text, mimetype="text/xml")


__all__ = ["fallback", "sms", "status", "twiml"]
