"""Holding for a counselor: enqueue, the wait message, callback, voicemail, the counselor leg."""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections import OrderedDict
from contextlib import suppress

from flask import Response, abort, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError
from twilio.twiml.voice_response import Dial, Enqueue, Queue, VoiceResponse

from helpline import crypto, phones
from helpline.app.runtime import runtime, settings
from helpline.calls import records, spool
from helpline.calls.journal import NotStored
from helpline.calls.queues import queue_place
from helpline.flows.flow import Flow
from ivr.blueprint import blueprint
from ivr.steps import reading_back, step, write
from ivr.twiml import (
    arg_int,
    call_sid,
    current_flow,
    digits,
    flows,
    form_int,
    gather,
    hang_up,
    line,
    rendered,
    say,
    spaced,
    twiml,
    url,
)

log = logging.getLogger(__name__)
_GROUP = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
# Twilio transcribes only recordings longer than 2 and shorter than 120 seconds (warning
# 13617): a longer message would be kept but never transcribed, so a voicemail stops short.
VOICEMAIL_MAX_SECONDS = 119


def _group(flow: Flow) -> str:
    group = request.args.get("group", "general")
    return group if group in flow.queues else "general"


def _staffed(language: str) -> bool:
    return current_app.extensions["ivr_staffing"].has(runtime().db, language)


def enqueue_response(flow: Flow, group: str, need: str, response: VoiceResponse | None = None,
                     *, check_staffed: bool = True) -> VoiceResponse:
    """Put the caller in the queue for ``group`` in their language (or, with nobody signed in
    for that language, tell them so and offer a callback or a message)."""
    response = response or VoiceResponse()
    if check_staffed and not _staffed(flow.language):
        return _nobody_signed_in(response, flow, group, need)
    _step_enqueued(flow, group, need)
    return _enqueue(response, flow, group)


def enqueue_answer(flow: Flow, group: str, need: str) -> Response:
    """:func:`enqueue_response` as the whole answer, which is then the same document for
    every caller of the group and language: rendered once."""
    if not _staffed(flow.language):
        return twiml(_nobody_signed_in(VoiceResponse(), flow, group, need))
    _step_enqueued(flow, group, need)
    return rendered(("enqueue", flow.language, group),
                    lambda: _enqueue(VoiceResponse(), flow, group))


def _nobody_signed_in(response: VoiceResponse, flow: Flow, group: str,
                      need: str) -> VoiceResponse:
    step("no_counselor", updates={"need": need, "step": "no_counselor"})
    return unstaffed_offer(response, flow, group, need)


def _step_enqueued(flow: Flow, group: str, need: str) -> None:
    spec = flow.queues[group]
    step("queue", enqueued=True, detail={"queue": flow.queue_name(group)},
         updates={"need": need, "queue_name": flow.queue_name(group), "priority": spec.priority,
                  "step": "queue", "language": flow.language})


def _enqueue(response: VoiceResponse, flow: Flow, group: str) -> VoiceResponse:
    say(response, flow, flow.prompts["queue_enter"])
    response.append(Enqueue(flow.queue_name(group),
                            wait_url=url("queue/wait", lang=flow.language, group=group),
                            wait_url_method="POST",
                            action=url("queue/done", lang=flow.language, group=group),
                            method="POST"))
    return response


def unstaffed_offer(response: VoiceResponse, flow: Flow, group: str, need: str,
                    tries: int = 0) -> VoiceResponse:
    say(response, flow, flow.prompts["no_counselor"])
    g = gather(flow, url("queue/unstaffed", lang=flow.language, group=group, need=need,
                         tries=tries))
    choices = ("no_counselor_choices" if line().callbacks_enabled
               else "no_counselor_choices_no_callback")
    say(g, flow, flow.prompts[choices])
    response.append(g)
    response.redirect(url("queue/unstaffed", lang=flow.language, group=group, need=need,
                          tries=tries + 1), method="POST")
    return response


@blueprint.post("/queue/unstaffed")
def unstaffed():  # type: ignore[no-untyped-def]
    flow, key = current_flow(), digits()
    group, tries = _group(flow), arg_int("tries")
    need = request.args.get("need", "self")
    need = need if need in {o.need for o in flow.options} else "self"
    if key == "1" and line().callbacks_enabled:
        return twiml(callback_offer(flow, group, in_queue=False))
    if key == "2":
        return twiml(voicemail_response(flow))
    if key == "3" or tries > 2:
        return twiml(enqueue_response(flow, group, need, check_staffed=False))
    response = VoiceResponse()
    if key:
        say(response, flow, flow.say("not_an_option", key=" ".join(key[:3])))
    return twiml(unstaffed_offer(response, flow, group, need, tries))


WAIT_MESSAGES_KEPT = 30  # places in line (and minutes) whose wait message is rendered once
# A holding caller's wait URL is fetched every few seconds; a trace of it once a minute is
# enough (the queue step itself is the first).
HEARTBEAT_SECONDS = 60.0
_HEARTBEATS_KEPT = 10_000
_heartbeats: OrderedDict[str, float] = OrderedDict()
_heartbeats_lock = threading.Lock()


def _heartbeat_due(sid: str | None, held: int) -> bool:
    """Has this caller held a minute, and this process recorded no trace of it for one?"""
    if not sid or held < HEARTBEAT_SECONDS:
        return False
    now = time.monotonic()
    with _heartbeats_lock:
        last = _heartbeats.get(sid)
        if last is not None and now - last < HEARTBEAT_SECONDS:
            return False
        _heartbeats[sid] = now
        _heartbeats.move_to_end(sid)
        while len(_heartbeats) > _HEARTBEATS_KEPT:
            _heartbeats.popitem(last=False)
    return True


@blueprint.post("/queue/wait")
def wait():  # type: ignore[no-untyped-def]
    """The wait URL: place in line, estimated wait, the callback (or message) key.

    Only Say, Play, Pause, Gather, Redirect, Leave and Hangup are allowed here; when the
    document ends Twilio requests it again with a fresh QueuePosition and QueueTime.
    """
    flow = current_flow()
    group = _group(flow)
    position = form_int("QueuePosition") or 0
    held = form_int("QueueTime") or 0
    if _heartbeat_due(call_sid(), held):
        # A caller who holds leaves a trace now and then: the job that closes calls whose
        # end was lost (helpline.calls.lost) tells a caller still holding from one gone.
        step("holding", detail={"position": position, "seconds": held})
    still_holding = held >= line().max_hold_seconds
    average = form_int("AvgQueueTime") or 0
    minutes = max(1, round(average / 60)) if average > 0 else 0
    build = functools.partial(_wait_message, flow, group, position, still_holding, minutes)
    if position > WAIT_MESSAGES_KEPT or minutes > WAIT_MESSAGES_KEPT:
        return twiml(build())
    return rendered(("wait", flow.language, group, position, still_holding, minutes), build)


def _wait_message(flow: Flow, group: str, position: int, still_holding: bool,
                  minutes: int) -> VoiceResponse:
    response = VoiceResponse()
    g = gather(flow, url("queue/key", lang=flow.language, group=group),
               timeout=flow.pause_seconds)
    if still_holding:
        say(g, flow, flow.prompts["queue_still_holding"])
    if position:
        say(g, flow, flow.say("queue_position", position=position))
    if minutes > 1:  # the prompt counts in "minutes": under two, the place in line says enough
        say(g, flow, flow.say("queue_estimate", minutes=minutes))
    callbacks = line().callbacks_enabled
    say(g, flow, flow.prompts["queue_callback_offer" if callbacks else "queue_voicemail_offer"])
    say(g, flow, flow.prompts["queue_calm"])
    if flow.music_url:
        g.play(flow.music_url)
    response.append(g)
    return response


@blueprint.post("/queue/key")
def queue_key():  # type: ignore[no-untyped-def]
    flow, key = current_flow(), digits()
    group = _group(flow)
    if key == "1" and line().callbacks_enabled:
        return twiml(callback_offer(flow, group, in_queue=True))
    if key == "2" and not line().callbacks_enabled:
        step("voicemail_requested", updates={"step": "voicemail_requested"})
        response = VoiceResponse()
        response.leave()
        return twiml(response)
    response = VoiceResponse()
    if key:
        say(response, flow, flow.say("not_an_option", key=" ".join(key[:3])))
    response.redirect(url("queue/wait", lang=flow.language, group=group), method="POST")
    return twiml(response)


def _caller_number() -> str | None:
    number = crypto.normalise_number(request.form.get("From"))
    return number if number and number.startswith("+") and len(number) >= 11 else None


def _back(flow: Flow, group: str, in_queue: bool) -> str:
    if in_queue:
        return url("queue/wait", lang=flow.language, group=group)
    return url("queue/unstaffed", lang=flow.language, group=group, tries=1)


def callback_offer(flow: Flow, group: str, *, in_queue: bool) -> VoiceResponse:
    """Confirm the number the caller is calling from, or ask for another."""
    number = _caller_number()
    if number is None:
        return enter_number(flow, group, in_queue)
    response = VoiceResponse()
    g = gather(flow, url("callback/confirm", lang=flow.language, group=group, q=int(in_queue)))
    say(g, flow, flow.say("callback_confirm", last_four=spaced(number[-4:])))
    response.append(g)
    response.redirect(_back(flow, group, in_queue), method="POST")
    return response


def enter_number(flow: Flow, group: str, in_queue: bool, tries: int = 0,
                 response: VoiceResponse | None = None) -> VoiceResponse:
    response = response or VoiceResponse()
    g = gather(flow, url("callback/number", lang=flow.language, group=group, q=int(in_queue),
                         tries=tries), num_digits=None, timeout=10, finish_on_key="#")
    say(g, flow, flow.prompts["callback_enter"])
    response.append(g)
    response.redirect(_back(flow, group, in_queue), method="POST")
    return response


@blueprint.post("/callback/confirm")
def callback_confirm():  # type: ignore[no-untyped-def]
    flow, key = current_flow(), digits()
    group, in_queue = _group(flow), request.args.get("q") == "1"
    number = _caller_number()
    if key == "1" and number:
        return twiml(book_callback(flow, number, in_queue))
    if key == "2" or (key == "1" and not number):
        return twiml(enter_number(flow, group, in_queue))
    response = VoiceResponse()
    response.redirect(_back(flow, group, in_queue), method="POST")
    return twiml(response)


@blueprint.post("/callback/number")
def callback_number():  # type: ignore[no-untyped-def]
    flow, entered = current_flow(), digits().rstrip("#")
    group, in_queue, tries = _group(flow), request.args.get("q") == "1", arg_int("tries")
    try:
        number = phones.to_e164(entered, field="the callback number")
    except phones.PhoneNumberError:
        number = ""
    # A callback is a call the helpline pays for: only to a North American number.
    if re.fullmatch(r"\+1[2-9]\d{9}", number):
        return twiml(book_callback(flow, number, in_queue))
    response = VoiceResponse()
    say(response, flow, flow.prompts["callback_bad_number"])
    if tries < 1:
        return twiml(enter_number(flow, group, in_queue, tries + 1, response))
    response.redirect(_back(flow, group, in_queue), method="POST")
    return twiml(response)


def book_callback(flow: Flow, number: str, in_queue: bool) -> VoiceResponse:
    """Record the callback (due now, in holding order), confirm, and leave the queue."""
    sid = call_sid()
    if sid:
        try:
            write("callback", call_sid=sid, phone=number)
        except NotStored:
            return _callback_not_stored(flow, _group(flow), in_queue)
    response = VoiceResponse()
    say(response, flow, flow.say("callback_recorded", digits=spaced(number[-10:])))
    if in_queue:
        response.leave()  # the Enqueue action says goodbye
    else:
        say(response, flow, flow.prompts["callback_goodbye"])
        response.hangup()
    return response


def _callback_not_stored(flow: Flow, group: str, in_queue: bool) -> VoiceResponse:
    """The callback could not be stored anywhere: nothing is promised. A caller in the queue
    goes on holding in their place; one who was not is passed to the fallback number, or
    holds for the next counselor."""
    response = VoiceResponse()
    say(response, flow, flow.prompts["trouble"])
    if in_queue:
        return response  # the end of the wait URL's answer: back to holding
    if settings().fallback_number:
        response.dial(settings().fallback_number)
        return response
    return _enqueue(response, flow, group)


def voicemail_response(flow: Flow, response: VoiceResponse | None = None) -> VoiceResponse:
    response = response or VoiceResponse()
    step("voicemail_started", updates={"step": "voicemail"})
    say(response, flow, flow.prompts["voicemail_prompt"])
    response.record(action=url("voicemail/done", lang=flow.language), method="POST",
                    max_length=VOICEMAIL_MAX_SECONDS, finish_on_key="#", play_beep=True,
                    transcribe=True,
                    transcribe_callback=url("voicemail/transcription", lang=flow.language))
    say(response, flow, flow.prompts["voicemail_thanks"])
    response.hangup()
    return response


def _booked_callback(sid: str) -> bool:
    """Did this call just book a callback? In the database, or, when it could not take it
    then, in the spool."""
    try:
        with reading_back() as session:
            call = records.find_call(session, sid)
            if call is not None and call.outcome == "callback":
                return True
    except SQLAlchemyError:
        pass
    directory = settings().spool_dir
    if not spool.pending(directory):
        return False
    try:
        return any(e.get("op") == "callback" and e.get("call_sid") == sid
                   for e in spool.entries(directory))
    except Exception:
        log.exception("the spool could not be read")
        return False


@blueprint.post("/queue/done")
def queue_done():  # type: ignore[no-untyped-def]
    """The Enqueue action: the caller left the queue (callback, message), hung up, or failed."""
    flow, sid = current_flow(), call_sid()
    result = request.form.get("QueueResult", "")[:32]
    if result == "bridged":
        if sid:
            _answered(sid)
        return hang_up()
    if result == "hangup":
        step("queue_hangup", left_queue=True, updates={"step": "queue_hangup"})
        return hang_up()
    if result == "redirected":
        return hang_up()
    response = VoiceResponse()
    if result == "leave":
        step("left_queue", left_queue=True)
        if sid and _booked_callback(sid):
            say(response, flow, flow.prompts["callback_goodbye"])
            response.hangup()
        else:
            voicemail_response(flow, response)
    else:
        # queue-full, error, system-error: never leave the caller without a way on.
        step("queue_failed", left_queue=True, detail={"result": result or None})
        say(response, flow, flow.prompts["trouble"])
        if settings().fallback_number:
            response.dial(settings().fallback_number)
        else:
            voicemail_response(flow, response)
    return twiml(response)


def _answered(sid: str) -> None:
    # Not stored: logged by the journal; the caller is with a counselor, who records the call.
    with suppress(NotStored):
        write("answered", call_sid=sid)


@blueprint.post("/queue/connected")
def connected():  # type: ignore[no-untyped-def]
    """<Queue url>: said to the caller as a counselor dequeues them."""
    flow, sid = current_flow(), call_sid()
    if sid:
        _answered(sid)
    response = VoiceResponse()
    say(response, flow, flow.prompts["queue_connected"])
    return twiml(response)


@blueprint.post("/counselor/connect")
def counselor_connect():  # type: ignore[no-untyped-def]
    """The counselor's leg: take the head of the caller's queue (<Dial><Queue>)."""
    name = request.args.get("queue", "")
    group, _, language = name.rpartition("-")
    flow = flows().get(language)
    response = VoiceResponse()
    english = flows()["en"]
    if flow is None or not _GROUP.match(group) or group not in flow.queues:
        say(response, english, "That queue does not exist.")
        response.hangup()
        return twiml(response)
    say(response, english, f"Connecting you to a caller in the {group} {flow.name} queue.")
    dial = Dial()
    dial.append(Queue(name, url=url("queue/connected", lang=language), method="POST"))
    response.append(dial)
    return twiml(response)


@blueprint.post("/queue/assignment")
def assignment():  # type: ignore[no-untyped-def]
    """For the simulators (outbox telephony only): has a counselor taken this call?

    With Twilio the bridge happens in Twilio; without it, the terminal and browser phones ask
    here between wait messages, and then play the counselor leg themselves.
    """
    if runtime().telephony.name != "outbox":
        abort(404)
    sid = call_sid()
    with reading_back() as session:
        call = records.find_call(session, sid) if sid else None
        if call is None or not call.queue_name:
            return jsonify(assigned=False)
        if call.counselor_id is None:
            # Twilio tells a holding caller their place in line; the simulators ask here.
            place = queue_place(session, call)
            return jsonify(assigned=False, position=place.position, size=place.size,
                           average=place.average_seconds)
        return jsonify(assigned=True, queue=call.queue_name, language=call.language,
                       counselor_leg=url("counselor/connect", queue=call.queue_name,
                                         lang=call.language))


@blueprint.post("/voicemail/done")
def voicemail_done():  # type: ignore[no-untyped-def]
    flow, sid = current_flow(), call_sid()
    recording_sid = request.form.get("RecordingSid", "")[:64] or None
    if sid:
        try:
            write("voicemail", call_sid=sid, recording_sid=recording_sid,
                  recording_url=request.form.get("RecordingUrl", "")[:500] or None,
                  duration=form_int("RecordingDuration"), language=flow.language)
        except NotStored:
            # "We received your message" would not be true for the helpline.
            response = VoiceResponse()
            say(response, flow, flow.prompts["trouble"])
            if settings().fallback_number:
                response.dial(settings().fallback_number)
            return twiml(response)
    response = VoiceResponse()
    say(response, flow, flow.prompts["voicemail_thanks"])
    response.hangup()
    return twiml(response)


@blueprint.post("/voicemail/transcription")
def voicemail_transcription():  # type: ignore[no-untyped-def]
    recording_sid = request.form.get("RecordingSid", "")[:64]
    text = request.form.get("TranscriptionText", "")[:10_000]
    if recording_sid and request.form.get("TranscriptionStatus", "completed") == "completed":
        try:
            write("transcription", recording_sid=recording_sid, text=text,
                  call_sid=call_sid() or None)
        except NotStored:
            return Response("not stored", status=503)
    return twiml(VoiceResponse())
