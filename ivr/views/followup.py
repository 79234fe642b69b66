"""TwiML for the two legs of a bridged follow-up callback.

The scheduler rings the counselor (``/answer`` is that leg's TwiML). When the counselor presses
1, ``/connect`` dials the caller with the helpline's number as caller ID; the caller hears a
neutral greeting (``/caller``) before being connected, and ``/dialed`` records the result.
A counselor who answers but presses nothing hands the callback back: it is offered again to
whoever is available. The caller's number never appears in a URL: each view looks it up by
follow-up id. Signatures are checked by the IVR blueprint for every route under /ivr/.

Consent is asked of the consent door again before the caller is dialled, and the call is
logged as a disclosure. The caller's safe-contact preferences (helpline.safe_contact) shape the
caller's leg: unless they allowed a voicemail, the caller is dialled with Twilio's answering-
machine detection (``machineDetection`` on ``<Number>``: Twilio waits for its verdict and
sends it as ``AnsweredBy`` with the request for the whisper at ``/caller``); a machine is hung
up on before a word is said, recorded as an attempt "voicemail not left"; an unsure verdict,
or a caller for whom someone else answering is a risk, must press 1 before being connected,
and anyone who does not is hung up on. The greeting names the helpline only as the caller
allowed (a neutral alias by default).
"""

from __future__ import annotations

from flask import Response, request
from sqlalchemy import func, select
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from helpline.app.runtime import db_session, settings
from helpline.callbacks import webhook_url
from helpline.consent.disclosures import log_disclosure
from helpline.followups import lifecycle, safe_contact
from helpline.models import Disclosure, User
from helpline.models.followups import AttemptResult, FollowUp, FollowUpKind, FollowUpState
from ivr.blueprint import blueprint
from ivr.twiml import flow_for, say

#: Twilio's AnsweredBy values that mean no person picked up.
MACHINE = {"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other",
           "fax"}

_TEXT = {
    "en": {
        "intro": "This is a follow-up call back requested by a caller. Press 1 to connect now.",
        "no_key": "No key was pressed. The follow-up will be offered again. Goodbye.",
        "gone": "This follow-up is no longer waiting. Goodbye.",
        "caller": "Hello, this is {name} with the call back you asked for. Please hold while "
                  "we connect you.",
        "caller_key": "Hello, this is {name} with the call back you asked for. To be connected, "
                      "press 1 now.",
        "caller_screen": "Hello. If you are the person expecting this call, press 1 now.",
        "connecting": "Connecting you now.",
        "ended": "The call has ended. Please record the outcome on the dashboard. Goodbye.",
        "voicemail": "A machine answered and no message was left. The call back will be tried "
                     "again. Goodbye.",
        "not_confirmed": "The person who answered did not confirm they were the caller, so the "
                         "call was ended without a word about why we called. It will be tried "
                         "again. Goodbye.",
    },
    "es": {
        "intro": "Esta es una devolución de llamada que pidió una persona. Pulse 1 para conectar.",
        "no_key": "No se pulsó ninguna tecla. La llamada se ofrecerá de nuevo. Adiós.",
        "gone": "Esta llamada ya no está pendiente. Adiós.",
        "caller": "Hola, le llama {name}, con la llamada que pidió. Espere un momento, "
                  "por favor.",
        "caller_key": "Hola, le llama {name}, con la llamada que pidió. Para conectar, "
                      "oprima 1 ahora.",
        "caller_screen": "Hola. Si usted es la persona que espera esta llamada, oprima 1 ahora.",
        "connecting": "Le conectamos ahora.",
        "ended": "La llamada terminó. Registre el resultado en el panel. Adiós.",
        "voicemail": "Contestó una máquina y no se dejó mensaje. Se intentará de nuevo. Adiós.",
        "not_confirmed": "Quien contestó no confirmó ser la persona que llamó; se colgó sin decir "
                         "el motivo. Se intentará de nuevo. Adiós.",
    },
}


def _twiml(response: VoiceResponse) -> Response:
    return Response(str(response), mimetype="text/xml")


def _url(followup_id: int, step: str) -> str:
    """The absolute address of a step, as Twilio must call it (the id only, never a number)."""
    return webhook_url(settings(), f"followups/{followup_id}/{step}", origin=request.host_url)


def _say(response: VoiceResponse | Gather, followup: FollowUp | None, key: str,
         **fill: str) -> None:
    """Say ``key`` in the follow-up's language, with that language's voice from the call
    flow (a ``language`` without a voice that speaks it is read by an English voice)."""
    lang = followup.language if followup is not None and followup.language in _TEXT else "en"
    say(response, flow_for(lang), _TEXT[lang][key].format(**fill))


def _waiting_bridge(followup_id: int) -> FollowUp | None:
    """The callback, if it is still waiting for its bridge and its consent still allows it."""
    session = db_session()
    followup = session.get(FollowUp, followup_id)
    if (followup is None or followup.kind != FollowUpKind.BRIDGED_CALLBACK
            or followup.state != FollowUpState.AWAITING_RESULT
            or lifecycle.consent_refusal(session, followup) is not None):
        return None
    return followup


def _log_dialled(followup: FollowUp) -> None:
    """The caller is being dialled: a disclosure resting on the follow-up's consent (once per
    attempt, although Twilio may retry the webhook)."""
    session = db_session()
    dialled = session.scalar(select(func.count(Disclosure.id)).where(
        Disclosure.followup_id == followup.id, Disclosure.channel == "call")) or 0
    if dialled < followup.attempts:  # one per attempt the scheduler claimed
        counselor = session.get(User, followup.bridged_to_id) if followup.bridged_to_id else None
        log_disclosure(session, followup.consent, channel="call",
                       information=["followup_contact"], by=counselor, by_label="twilio",
                       contact_id=followup.contact_id, followup_id=followup.id)


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
    gather = Gather(input="dtmf", num_digits=1, timeout=10, method="POST",
                    action=_url(followup_id, "connect"))
    _say(gather, followup, "intro")
    response.append(gather)
    # No key: Twilio goes on to the next verb; /connect then hands the callback back.
    response.redirect(_url(followup_id, "connect"), method="POST")
    return _twiml(response)


@blueprint.post("/followups/<int:followup_id>/connect")
def followup_connect(followup_id: int) -> Response:
    """Dial the caller from the counselor's leg, with the helpline's number as caller ID."""
    followup = _waiting_bridge(followup_id)
    if followup is None or not followup.phone:
        return _goodbye(followup, "gone")
    if request.form.get("Digits") != "1":
        session = db_session()
        lifecycle.counselor_leg_ended(session, followup_id, "no-answer")
        session.commit()
        return _goodbye(followup, "no_key")
    session = db_session()
    prefs = safe_contact.preferences_for(session, followup.caller_hash)
    _log_dialled(followup)
    session.commit()
    response = VoiceResponse()
    dial = Dial(caller_id=settings().helpline_number, timeout=30, method="POST",
                action=_url(followup_id, "dialed"))
    detection = {} if prefs.voicemail_ok else {"machine_detection": "Enable"}
    dial.number(followup.phone, url=_url(followup_id, "caller"), method="POST", **detection)
    response.append(dial)
    return _twiml(response)


def _end_unbridged(followup: FollowUp, result: AttemptResult) -> Response:
    """Hang up on the caller's leg before anything is said about why we called, and record
    the attempt (the counselor's leg then hears why at /dialed)."""
    session = db_session()
    if followup.state == FollowUpState.AWAITING_RESULT:
        lifecycle.record_attempt(session, followup, result, by=None, settings=settings(),
                                 via="call")
        session.commit()
    response = VoiceResponse()
    response.hangup()
    return _twiml(response)


@blueprint.post("/followups/<int:followup_id>/caller")
def followup_caller(followup_id: int) -> Response:
    """The whisper: runs on the caller's leg when it answers, before the bridge. A machine is
    hung up on (unless the caller allowed voicemail); a person unsure to be the caller must
    press 1; the greeting names the helpline only as the caller allowed."""
    session = db_session()
    followup = session.get(FollowUp, followup_id)
    response = VoiceResponse()
    if followup is None:
        response.hangup()
        return _twiml(response)
    prefs = safe_contact.preferences_for(session, followup.caller_hash)
    answered_by = request.form.get("AnsweredBy", "")
    if answered_by in MACHINE and not prefs.voicemail_ok:
        return _end_unbridged(followup, AttemptResult.VOICEMAIL_NOT_LEFT)
    name = safe_contact.name_to_use(prefs, settings())
    if prefs.someone_else_risk or (not prefs.voicemail_ok and answered_by != "human"):
        gather = Gather(input="dtmf", num_digits=1, timeout=8, method="POST",
                        action=_url(followup_id, "confirm"))
        if prefs.someone_else_risk:
            _say(gather, followup, "caller_screen")
        else:
            _say(gather, followup, "caller_key", name=name)
        response.append(gather)
        response.redirect(_url(followup_id, "confirm"), method="POST")
        return _twiml(response)
    _say(response, followup, "caller", name=name)
    return _twiml(response)


@blueprint.post("/followups/<int:followup_id>/confirm")
def followup_confirm(followup_id: int) -> Response:
    """The caller's key: 1 connects; anything else (or nothing: a machine, or someone else)
    hangs up without a word about why we called."""
    session = db_session()
    followup = session.get(FollowUp, followup_id)
    response = VoiceResponse()
    if followup is None:
        response.hangup()
        return _twiml(response)
    if request.form.get("Digits") == "1":
        _say(response, followup, "connecting")
        return _twiml(response)
    prefs = safe_contact.preferences_for(session, followup.caller_hash)
    return _end_unbridged(followup, AttemptResult.NOT_CONFIRMED if prefs.someone_else_risk
                          else AttemptResult.VOICEMAIL_NOT_LEFT)


@blueprint.post("/followups/<int:followup_id>/dialed")
def followup_dialed(followup_id: int) -> Response:
    """The caller leg ended: record the attempt (reached, busy, no answer ...), unless the
    whisper already recorded why it hung up."""
    session = db_session()
    followup = lifecycle.record_dial_result(
        session, followup_id, request.form.get("DialCallStatus", ""), settings=settings())
    session.commit()
    last = followup.attempt_log[-1].result if followup and followup.attempt_log else None
    if last == AttemptResult.VOICEMAIL_NOT_LEFT:
        return _goodbye(followup, "voicemail")
    if last == AttemptResult.NOT_CONFIRMED:
        return _goodbye(followup, "not_confirmed")
    return _goodbye(followup, "ended")


@blueprint.post("/followups/<int:followup_id>/status")
def followup_status(followup_id: int) -> Response:
    """Status callback of the counselor's leg: a missed leg goes to the next counselor."""
    session = db_session()
    lifecycle.counselor_leg_ended(session, followup_id, request.form.get("CallStatus", ""))
    session.commit()
    return Response("", status=204)
