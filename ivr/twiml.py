"""Building TwiML with twilio.twiml in the caller's language, and the request context helpers."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, g, request
from twilio.twiml.voice_response import Gather, Hangup, VoiceResponse

from helpline.app.runtime import runtime
from helpline.callbacks import webhook_base, webhook_url
from helpline.flows.flow import Flow, LineSettings, RenderError
from helpline.flows.live import flow_set_for
from helpline.flows.rendering import MAX_DOCUMENT
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


def _ascii_digits(raw: str, most: int) -> bool:
    # isdigit() alone accepts "²" and other digits int() refuses.
    return raw.isascii() and raw.isdigit() and len(raw) <= most


def arg_int(name: str, default: int = 0, maximum: int = 99) -> int:
    """A small counter the IVR put in its own URL; anything else is ``default``: a webhook
    answers the caller whatever it is sent."""
    raw = request.args.get(name, "")
    return min(int(raw), maximum) if _ascii_digits(raw, 3) else default


def form_int(name: str) -> int | None:
    """A whole number Twilio posted (a duration, a position), or None when it is not one; at
    most 9 digits, so it fits the database's INTEGER columns."""
    raw = request.form.get(name, "").strip()
    return int(raw) if _ascii_digits(raw, 9) else None


def digits() -> str:
    """The keys pressed, or "" when none or when what came is not keys at all."""
    raw = request.form.get("Digits", "")
    return raw if _DIGITS.match(raw) else ""


def speech() -> str:
    return request.form.get("SpeechResult", "")[:500]


def call_sid() -> str:
    raw = request.form.get("CallSid", "")
    return raw if re.fullmatch(r"[A-Za-z0-9]{2,64}", raw) else ""


def caller_attestation() -> str | None:
    """The STIR/SHAKEN attestation Twilio passed for the caller ID (``StirVerstat``, e.g.
    ``TN-Validation-Passed-A``), or None when it passed none or something that is not one."""
    raw = request.form.get("StirVerstat", "")
    return raw if re.fullmatch(r"[A-Za-z0-9-]{1,40}", raw) else None


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
    return Response(bounded(str(response)), mimetype="text/xml")


def bounded(document: str) -> str:
    """The document, or :class:`RenderError` when Twilio would refuse it (over 64 kB): the
    blueprint then answers with the last good version rather than Twilio's error message."""
    if len(document) > MAX_DOCUMENT // 4 and len(document.encode("utf-8")) > MAX_DOCUMENT:
        raise RenderError(f"{current_flow().language}.prompts ({request.path})",
                          f"an answer of {len(document) // 1024} kB; Twilio takes at most "
                          f"{MAX_DOCUMENT // 1024} kB")
    return document


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
        text = bounded(str(build()))
        if len(documents) < RENDERED_MAX:
            documents[full_key] = text
    return Response(text, mimetype="text/xml")


def spaced(digits_text: str) -> str:
    """Digits read one by one: "5550123" -> "5 5 5 0 1 2 3"."""
    return " ".join(c for c in digits_text if c.isdigit())
