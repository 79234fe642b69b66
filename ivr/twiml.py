"""Building TwiML with twilio.twiml in the caller's language, and the request context helpers."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, g, request
from twilio.twiml.voice_response import Gather, Hangup, VoiceResponse

from helpline.app.runtime import runtime
from helpline.callbacks import webhook_base, webhook_url
from helpline.flows.flow import Flow, LineSettings
from helpline.flows.live import flow_set_for
from helpline.flows.versions import FlowSet

_DIGITS = re.compile(r"^[0-9*#]{1,32}$")


def flow_set() -> FlowSet:
    """What this call hears: the live version, or the draft a preview call names (once per
    request, so that every step of one webhook speaks the same version)."""
    if "ivr_flow_set" not in g:
        g.ivr_flow_set = flow_set_for(current_app.extensions["ivr_live"], runtime().db,
                                      request.args.get("flow_version"))
    return g.ivr_flow_set


def flows() -> dict[str, Flow]:
    return flow_set().flows


def line() -> LineSettings:
    """The line settings of this call's version (crisis number, hold limit, callbacks)."""
    return flow_set().line


def flow_for(lang: str | None) -> Flow:
    """The flow of the caller's language (English for anything unknown)."""
    all_flows = flows()
    return all_flows.get(lang or "en") or all_flows["en"]


def current_flow() -> Flow:
    return flow_for(request.args.get("lang"))


def arg_int(name: str, default: int = 0, maximum: int = 99) -> int:
    raw = request.args.get(name, "")
    return min(int(raw), maximum) if raw.isdigit() and len(raw) < 4 else default


def form_int(name: str) -> int | None:
    raw = request.form.get(name, "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


def digits() -> str:
    """The keys pressed, or "" when none or when what came is not keys at all."""
    raw = request.form.get("Digits", "")
    return raw if _DIGITS.match(raw) else ""


def speech() -> str:
    return request.form.get("SpeechResult", "")[:500]


def call_sid() -> str:
    raw = request.form.get("CallSid", "")
    return raw if re.fullmatch(r"[A-Za-z0-9]{2,64}", raw) else ""


def _base() -> str:
    """The helpline's address as Twilio reaches it (before /ivr/); without a public base URL,
    the address this request came to."""
    return webhook_base(runtime().settings, request.host_url)


def url(path: str, **params: Any) -> str:
    """The absolute address of an IVR step as Twilio must call it (plain ASCII query).

    A preview call carries its ``flow_version`` into every address, so each step it reaches
    plays the same draft.
    """
    current = flow_set()
    if current.preview:
        params = {**params, "flow_version": current.version}
    return webhook_url(runtime().settings, path, origin=request.host_url, **params)


def say(verb: VoiceResponse | Gather, flow: Flow, text: str) -> None:
    kwargs = {"language": flow.say_language}
    if flow.voice:
        kwargs["voice"] = flow.voice
    verb.say(text, **kwargs)


def gather(flow: Flow, action: str, *, num_digits: int | None = 1, speech: bool = False,
           timeout: int = 6, finish_on_key: str | None = None) -> Gather:
    kwargs: dict[str, Any] = {"action": action, "method": "POST", "timeout": timeout}
    if num_digits is not None:
        kwargs["num_digits"] = num_digits
    if finish_on_key is not None:
        kwargs["finish_on_key"] = finish_on_key
    if speech:
        kwargs.update(input="dtmf speech", language=flow.gather_language,
                      speech_timeout="auto", hints=flow.hints)
    else:
        kwargs["input"] = "dtmf"
    return Gather(**kwargs)


def twiml(response: VoiceResponse) -> Response:
    return Response(str(response), mimetype="text/xml")


_HANG_UP = str(VoiceResponse().append(Hangup()))


def hang_up() -> Response:
    """The document that ends the call."""
    return Response(_HANG_UP, mimetype="text/xml")


RENDERED_MAX = 512  # documents kept per flow version


def rendered(key: tuple[Any, ...], build: Callable[[], VoiceResponse]) -> Response:
    """The TwiML ``build`` makes, which depends only on this call's flow version and ``key``:
    built and serialized once per version and address, then reused.

    Most webhooks answer every caller with the same document (the greeting, the menu, the
    queue's wait message for a place in line), and building it with twilio.twiml took longer
    than the rest of the webhook (bench/ivr.py).
    """
    documents = flow_set().rendered
    full_key = (_base(), *key)
    text = documents.get(full_key)
    if text is None:
        text = str(build())
        if len(documents) < RENDERED_MAX:
            documents[full_key] = text
    return Response(text, mimetype="text/xml")


def spaced(digits_text: str) -> str:
    """Digits read one by one: "5550123" -> "5 5 5 0 1 2 3"."""
    return " ".join(c for c in digits_text if c.isdigit())
