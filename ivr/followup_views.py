"""TwiML for the two legs of a bridged follow-up callback.

The scheduler rings the counselor (``/answer`` is that leg's TwiML). When the counselor presses
1, ``/connect`` dials the caller with the helpline's number as caller ID; the caller hears a
neutral greeting (``/caller``) before being connected, and ``/dialed`` records the result.
The caller's number never appears in a URL: each view looks it up by follow-up id.
Signatures are checked by the IVR blueprint for every route under /ivr/.
"""

from __future__ import annotations

from flask import Response, request, url_for
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from helpline import followups
from helpline.models.followups import FollowUp, FollowUpKind, FollowUpState
from helpline.web import db_session, settings
from ivr import blueprint

_LANG = {"en": "en-US", "es": "es-US"}
_TEXT = {
    "en": {
        "intro": "This is a follow-up call back requested by a caller. Press 1 to connect now.",
        "no_key": "No key was pressed. The follow-up will be offered again. Goodbye.",
        "gone": "This follow-up is no longer waiting. Goodbye.",
        "caller": "Hello, this is the call back you asked for. Please hold while we connect you.",
        "ended": "The call has ended. Please record the outcome on the dashboard. Goodbye.",
    },
    "es": {
        "intro": "Esta es una devolución de llamada que pidió una persona. Pulse 1 para conectar.",
        "no_key": "No se pulsó ninguna tecla. La llamada se ofrecerá de nuevo. Adiós.",
        "gone": "Esta llamada ya no está pendiente. Adiós.",
        "caller": "Hola, esta es la llamada que pidió. Espere un momento, por favor.",
        "ended": "La llamada terminó. Registre el resultado en el panel. Adiós.",
    },
}


def _twiml(response: VoiceResponse) -> Response:
    return Response(str(response), mimetype="text/xml")


def _say(response: VoiceResponse | Gather, followup: FollowUp | None, key: str) -> None:
    lang = followup.language if followup is not None and followup.language in _TEXT else "en"
    response.say(_TEXT[lang][key], language=_LANG[lang])


def _waiting_bridge(followup_id: int) -> FollowUp | None:
    followup = db_session().get(FollowUp, followup_id)
    if (followup is None or followup.kind != FollowUpKind.BRIDGED_CALLBACK
            or followup.state != FollowUpState.AWAITING_RESULT
            or followup.consent.withdrawn_at is not None):
        return None
    return followup


def _goodbye(followup: FollowUp | None, key: str) -> Response:
    response = VoiceResponse()
    _say(response, followup, key)
    response.hangup()
    return _twiml(response)


@blueprint.post("/followups/<int:followup_id>/answer")
def followup_answer(followup_id: int) -> Response:
    """The counselor picked up: make sure a person is there before dialing the caller."""
    followup = _waiting_bridge(followup_id)
    if followup is None:
        return _goodbye(None, "gone")
    response = VoiceResponse()
    gather = Gather(num_digits=1, timeout=10,
                    action=url_for("ivr.followup_connect", followup_id=followup_id))
    _say(gather, followup, "intro")
    response.append(gather)
    _say(response, followup, "no_key")
    response.hangup()
    return _twiml(response)


@blueprint.post("/followups/<int:followup_id>/connect")
def followup_connect(followup_id: int) -> Response:
    """Dial the caller from the counselor's leg, with the helpline's number as caller ID."""
    followup = _waiting_bridge(followup_id)
    if followup is None or not followup.phone:
        return _goodbye(followup, "gone")
    if request.form.get("Digits") != "1":
        return _goodbye(followup, "no_key")
    response = VoiceResponse()
    dial = Dial(caller_id=settings().helpline_number, timeout=30,
                action=url_for("ivr.followup_dialed", followup_id=followup_id))
    dial.number(followup.phone, url=url_for("ivr.followup_caller", followup_id=followup_id))
    response.append(dial)
    return _twiml(response)


@blueprint.post("/followups/<int:followup_id>/caller")
def followup_caller(followup_id: int) -> Response:
    """Played to the caller when they answer, before the bridge: neutral, no service named
    beyond the helpline's configured name."""
    followup = db_session().get(FollowUp, followup_id)
    response = VoiceResponse()
    _say(response, followup, "caller")
    return _twiml(response)


@blueprint.post("/followups/<int:followup_id>/dialed")
def followup_dialed(followup_id: int) -> Response:
    """The caller leg ended: record the attempt (reached, busy, no answer ...)."""
    session = db_session()
    followup = followups.record_dial_result(
        session, followup_id, request.form.get("DialCallStatus", ""), settings=settings())
    session.commit()
    return _goodbye(followup, "ended")


@blueprint.post("/followups/<int:followup_id>/status")
def followup_status(followup_id: int) -> Response:
    """Status callback of the counselor's leg: a missed leg goes to the next counselor."""
    session = db_session()
    followups.counselor_leg_ended(session, followup_id, request.form.get("CallStatus", ""))
    session.commit()
    return Response("", status=204)
