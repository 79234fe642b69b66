"""Self-service: the treatment-center locator by ZIP code, support groups and resources."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import request
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from helpline import crypto
from helpline.app.runtime import runtime, settings
from helpline.calls import records
from helpline.consent.optouts import is_opted_out
from helpline.directory.geo import zip_point
from helpline.directory.search import locator_centers
from helpline.flows.flow import Flow
from ivr.blueprint import blueprint
from ivr.steps import menu, reading_back, step
from ivr.twiml import arg_int, call_sid, current_flow, digits, gather, say, spaced, twiml, url
from ivr.views.queue import enqueue_response

log = logging.getLogger(__name__)
TOPICS = ("groups", "resources")


def locator_response(flow: Flow, tries: int = 0,
                     response: VoiceResponse | None = None) -> VoiceResponse:
    response = response or VoiceResponse()
    step("locator", updates={"need": "treatment", "step": "locator"})
    g = gather(flow, url("locator/zip", lang=flow.language, tries=tries), num_digits=5,
               timeout=10)
    say(g, flow, flow.prompts["zip_ask"])
    response.append(g)
    response.redirect(url("locator/again", lang=flow.language, tries=tries + 1), method="POST")
    return response


@blueprint.post("/locator/again")
def locator_again():  # type: ignore[no-untyped-def]
    flow, tries = current_flow(), arg_int("tries")
    if tries > 2:
        return twiml(menu(VoiceResponse(), flow))
    response = VoiceResponse()
    say(response, flow, flow.prompts["no_input"])
    return twiml(locator_response(flow, tries, response))


@dataclass(frozen=True)
class _Center:
    """What the caller hears of a center, read while its session is open."""

    name: str
    distance: float | None
    phone: str
    waitlist: bool
    waitlist_days: int | None


def _centers(session: Session, zip_code: str) -> list[_Center]:
    return [_Center(hit.center.name, hit.distance_miles, hit.center.phone,
                    bool(hit.center.waitlist), hit.center.waitlist_days)
            for hit in locator_centers(session, zip_code, limit=3)]


def spoken_miles(distance: float | None) -> str:
    if distance is None:
        return "?"
    return f"{distance:.0f}" if distance >= 10 else f"{distance:.1f}"


def _read_centers(flow: Flow, zip_code: str, response: VoiceResponse) -> VoiceResponse:
    try:
        with runtime().db.sessions() as session:
            centers = _centers(session, zip_code)
    except SQLAlchemyError:
        say(response, flow, flow.prompts["locator_unavailable"])
        return _choices(flow, response)
    if not centers:
        say(response, flow, flow.prompts["zip_none_found"])
    for n, center in enumerate(centers, start=1):
        say(response, flow, flow.say("center", n=n, name=center.name,
                                     distance=spoken_miles(center.distance),
                                     phone=spaced(center.phone)))
        if center.waitlist_days:
            say(response, flow, flow.say("center_waitlist_days", days=center.waitlist_days))
        elif center.waitlist:
            say(response, flow, flow.prompts["center_waitlist"])
    return _choices(flow, response)


def _choices(flow: Flow, response: VoiceResponse) -> VoiceResponse:
    g = gather(flow, url("locator/choice", lang=flow.language))
    say(g, flow, flow.prompts["locator_choices"])
    response.append(g)
    response.redirect(url("menu", lang=flow.language), method="POST")
    return response


@blueprint.post("/locator/zip")
def locator_zip():  # type: ignore[no-untyped-def]
    flow, entered, tries = current_flow(), digits(), arg_int("tries")
    response = VoiceResponse()
    if len(entered) != 5 or zip_point(entered) is None:
        step("zip_unknown")
        say(response, flow, flow.prompts["zip_unknown"])
        if tries < 1:
            return twiml(locator_response(flow, tries + 1, response))
        return twiml(menu(response, flow))
    step("locator_zip", updates={"zip_code": entered})
    return twiml(_read_centers(flow, entered, response))


def zip_of_call() -> str | None:
    """The ZIP code this call entered earlier (stored with its step), if any."""
    sid = call_sid()
    if not sid:
        return None
    with reading_back() as session:
        call = records.find_call(session, sid)
        return call.zip_code if call else None


@blueprint.post("/locator/choice")
def locator_choice():  # type: ignore[no-untyped-def]
    flow, key = current_flow(), digits()
    response = VoiceResponse()
    if key == "3":
        return twiml(enqueue_response(flow, "general", "treatment"))
    if key == "0":
        return twiml(menu(response, flow))
    if key in {"1", "2"}:
        try:
            zip_code = zip_of_call()
        except SQLAlchemyError:
            zip_code = None
        if zip_code is None:
            return twiml(locator_response(flow))
        if key == "1":
            return twiml(_read_centers(flow, zip_code, response))
        try:
            with runtime().db.sessions() as session:
                body = flow.sms["centers"].format(centers="; ".join(
                    f"{c.name} {c.phone}" for c in _centers(session, zip_code)))
        except SQLAlchemyError:
            say(response, flow, flow.prompts["locator_unavailable"])
            return twiml(_choices(flow, response))
        say(response, flow, flow.prompts[text_caller(body, "ivr_locator")])
        return twiml(_choices(flow, response))
    say(response, flow, flow.say("not_an_option", key=" ".join(key[:3])) if key
        else flow.prompts["not_understood"])
    return twiml(_choices(flow, response))


def text_caller(body: str, purpose: str) -> str:
    """Text the caller (with their key press as consent); return the prompt that says how it went.

    No REST call inside a webhook: with the local outbox the message is recorded at once;
    with Twilio it is queued as a pending outbox message that a scheduler job sends. The
    port's limits (texts per call and per number a day, allowed countries) may refuse it: the
    caller hears so.
    """
    to = crypto.normalise_number(request.form.get("From"))
    if to is None or not to.startswith("+"):
        return "sms_no_number"
    rt = runtime()
    try:
        with rt.db.session() as session:
            if is_opted_out(session, to):
                step("sms_refused_opted_out")
                return "sms_opted_out"
            message = rt.telephony.queue_sms(session, to, body[:600], purpose=purpose,
                                             call_sid=call_sid() or None)
            message_id, refused = message.id, message.status == "refused"
    except SQLAlchemyError:
        return "trouble"
    if refused:
        step("sms_refused_limit", detail={"purpose": purpose, "outbox_id": message_id})
        return "sms_refused"
    step("sms_sent", detail={"purpose": purpose, "outbox_id": message_id})
    return "sms_sent"


def info_response(flow: Flow, topic: str, response: VoiceResponse | None = None) -> VoiceResponse:
    """Short spoken information on support groups or resources, and what next."""
    response = response or VoiceResponse()
    topic = topic if topic in TOPICS else "resources"
    step("info", updates={"need": topic, "step": topic})
    say(response, flow, flow.prompts[f"{topic}_info"])
    return _info_choices(flow, topic, response)


def _info_choices(flow: Flow, topic: str, response: VoiceResponse) -> VoiceResponse:
    g = gather(flow, url("info/choice", lang=flow.language, topic=topic))
    # Support groups offer tonight's meetings near a ZIP code too (ivr/views/meetings.py).
    say(g, flow, flow.prompts["groups_choices" if topic == "groups" else "info_choices"])
    response.append(g)
    response.redirect(url("menu", lang=flow.language), method="POST")
    return response


@blueprint.post("/info/choice")
def info_choice():  # type: ignore[no-untyped-def]
    flow, key = current_flow(), digits()
    topic = request.args.get("topic", "resources")
    topic = topic if topic in TOPICS else "resources"
    response = VoiceResponse()
    if key == "1":
        body = flow.sms[topic].format(number=settings().helpline_number)
        say(response, flow, flow.prompts[text_caller(body, f"ivr_{topic}")])
        return twiml(_info_choices(flow, topic, response))
    if key == "2":
        return twiml(enqueue_response(flow, "general", topic))
    if key == "0":
        return twiml(menu(response, flow))
    if key == "3" and topic == "groups":
        response.redirect(url("meetings/ask", lang=flow.language), method="POST")
        return twiml(response)
    if key:
        say(response, flow, flow.say("not_an_option", key=" ".join(key[:3])))
        return twiml(_info_choices(flow, topic, response))
    return twiml(info_response(flow, topic, response))
