"""The call comes in: greeting, language, the need menu, and crisis routing."""

from __future__ import annotations

from flask import request
from twilio.twiml.voice_response import Dial, VoiceResponse

from helpline.app.runtime import settings
from helpline.flows.flow import Flow, mentions
from helpline.models import Outcome
from ivr.blueprint import blueprint
from ivr.steps import menu, step
from ivr.twiml import (
    arg_int,
    caller_attestation,
    current_flow,
    digits,
    flow_for,
    flow_set,
    flows,
    gather,
    hang_up,
    line,
    rendered,
    say,
    speech,
    twiml,
    url,
)
from ivr.views.info import info_response, locator_response
from ivr.views.queue import enqueue_answer, enqueue_response

MAX_SILENCES = 2  # the menu is repeated at most twice, then a counselor takes the call
MAX_WRONG = 3


@blueprint.post("/voice")
def voice():  # type: ignore[no-untyped-def]
    """A call comes in: greeting and language choice (skipped for a one-language number)."""
    preset = request.args.get("lang")
    heard = flow_set()
    # Which version the caller heard, so that a change's effect can be traced to the calls;
    # and how far the carrier vouched for the caller ID (the screen pop's earlier notes).
    step("call_started", once=True, detail={"flow_version": heard.version,
                                            "preview": heard.preview},
         updates={"caller_attestation": caller_attestation()})
    if preset in flows():
        flow = flow_for(preset)
        step("language", updates={"language": flow.language})
        return rendered(("voice", flow.language), lambda: _greeting_and_menu(flow))
    return rendered(("voice",), _greeting)


def _greeting() -> VoiceResponse:
    response = VoiceResponse()
    english = flow_for("en")
    g = gather(english, url("language"), timeout=4)
    say(g, english, english.say("greeting", helpline=settings().helpline_name))
    # Where emergencies go, before anything must be chosen: in every language, in its voice.
    for flow in flows().values():
        say(g, flow, flow.prompts["safety_line"])
    for flow in flows().values():
        say(g, flow, flow.prompts["language_offer"])
    response.append(g)
    response.redirect(url("language"), method="POST")
    return response


def _greeting_and_menu(flow: Flow) -> VoiceResponse:
    response = VoiceResponse()
    say(response, flow, flow.say("greeting", helpline=settings().helpline_name))
    say(response, flow, flow.prompts["safety_line"])
    return menu(response, flow)


@blueprint.post("/language")
def language():  # type: ignore[no-untyped-def]
    key = digits()[:1]
    chosen = next((f for f in flows().values() if f.language_key == key), flow_for("en"))
    step("language", updates={"language": chosen.language}, detail={"key": key or None})
    return rendered(("menu", chosen.language), lambda: menu(VoiceResponse(), chosen))


@blueprint.post("/menu")
def menu_again():  # type: ignore[no-untyped-def]
    """The menu once more after silence; after the second repeat, a counselor."""
    flow = current_flow()
    tries, wrong = arg_int("tries"), arg_int("wrong")
    if tries > MAX_SILENCES:
        step("no_input", detail={"tries": tries})
        response = VoiceResponse()
        say(response, flow, flow.prompts["to_counselor"])
        return twiml(enqueue_response(flow, "general", "self", response))
    return rendered(("menu_again", flow.language, tries, wrong),
                    lambda: _menu_again(flow, tries, wrong))


def _menu_again(flow: Flow, tries: int, wrong: int) -> VoiceResponse:
    response = VoiceResponse()
    if tries:
        say(response, flow, flow.prompts["no_input"])
    return menu(response, flow, tries, wrong)


def is_crisis(words: str) -> bool:
    """Crisis words in any of our languages (a caller may mix them)."""
    return bool(words) and any(mentions(words, f.crisis_words) for f in flows().values())


def emergency_list(words: str) -> str | None:
    """The medical emergency list (``es.emergency_words``) with a word or phrase in what was
    said, any language's (a caller may mix them), or None."""
    if not words:
        return None
    return next((f"{f.language}.emergency_words" for f in flows().values()
                 if mentions(words, f.emergency_words)), None)


@blueprint.post("/menu/choice")
def menu_choice():  # type: ignore[no-untyped-def]
    flow = current_flow()
    tries, wrong = arg_int("tries"), arg_int("wrong")
    key, heard = digits(), speech()
    # Someone not breathing needs 911 before a crisis line: medical words win over crisis.
    matched = emergency_list(heard)
    if matched:
        step("menu", detail={"by": "speech", "route": "medical_emergency"})
        return twiml(medical_emergency_response(flow, matched))
    if heard and is_crisis(heard):
        step("menu", detail={"by": "speech", "route": "crisis"})
        return twiml(crisis_response(flow))
    option = flow.option_for_key(key) if len(key) == 1 else None
    if option is None and heard and not key:
        option = next((o for o in flow.options if mentions(heard, o.words)), None)
    if option is None:
        step("wrong_choice", detail={"key": key[:4] or None, "by": "speech" if heard else "key"})
        response = VoiceResponse()
        if wrong + 1 >= MAX_WRONG:
            say(response, flow, flow.prompts["to_counselor"])
            return twiml(enqueue_response(flow, "general", "self", response))
        if key and len(key) <= 3:
            say(response, flow, flow.say("not_an_option", key=" ".join(key)))
        else:
            say(response, flow, flow.prompts["not_understood"])
        return twiml(menu(response, flow, tries, wrong + 1))
    step("menu", detail={"by": "speech" if heard and not key else "key", "key": option.key,
                         "route": option.route}, updates={"need": option.need})
    if option.route == "crisis":
        return twiml(crisis_response(flow))
    if option.route == "queue":
        return enqueue_answer(flow, option.queue or "general", option.need)
    if option.route == "locator":
        return twiml(locator_response(flow))
    return twiml(info_response(flow, option.route))


def crisis_response(flow: Flow) -> VoiceResponse:
    """A warm transfer to the crisis line, or the crisis queue ahead of everyone."""
    settings_of_line = line()
    response = VoiceResponse()
    if settings_of_line.handle_crisis_in_house:
        say(response, flow, flow.prompts["crisis_queue"])
        return enqueue_response(flow, "crisis", "crisis", response, check_staffed=False)
    step("crisis_transfer", updates={"need": "crisis", "outcome": Outcome.CRISIS_TRANSFER,
                                     "step": "crisis_transfer"})
    say(response, flow, flow.prompts["crisis_transfer"])
    dial = Dial(action=url("crisis/done", lang=flow.language), method="POST", timeout=30)
    dial.number(settings_of_line.crisis_number)
    response.append(dial)
    return response


def medical_emergency_response(flow: Flow, matched: str) -> VoiceResponse:
    """911 first, then the in-house crisis queue (served before every other queue), whatever
    the line does with crisis calls: a counselor there can run the overdose protocol.

    In arrival order within that queue: a counselor's leg takes the first caller of a Twilio
    queue, so a caller placed ahead by priority alone would open one caller's record while
    the counselor hears another."""
    # Which list matched, never the words: what a caller says stays off the record.
    step("medical_emergency", detail={"list": matched},
         updates={"need": "crisis", "step": "medical_emergency", "overdose_suspected": True})
    response = VoiceResponse()
    say(response, flow, flow.prompts["medical_emergency"])
    return enqueue_response(flow, "crisis", "crisis", response, check_staffed=False)


@blueprint.post("/crisis/done")
def crisis_done():  # type: ignore[no-untyped-def]
    """After the crisis transfer: if the crisis line did not answer, our crisis queue."""
    flow = current_flow()
    if request.form.get("DialCallStatus") == "completed":
        return hang_up()
    response = VoiceResponse()
    step("crisis_transfer_failed", updates={"outcome": None},
         detail={"status": request.form.get("DialCallStatus", "")[:20]})
    say(response, flow, flow.prompts["crisis_failed"])
    return twiml(enqueue_response(flow, "crisis", "crisis", response, check_staffed=False))
