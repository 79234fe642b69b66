"""What the views share: recording a step without ever blocking the caller, and the menu."""

from __future__ import annotations

from typing import Any

from flask import request
from twilio.twiml.voice_response import VoiceResponse

from helpline.web import runtime
from ivr import journal
from ivr.flow import Flow
from ivr.twiml import call_sid, gather, say, url


def write(op: str, **kwargs: Any) -> bool:
    """Record an operation for this call (database, or the spool when it is down)."""
    rt = runtime()
    return journal.write(rt.db, rt.settings.spool_dir, op, **kwargs)


def step(kind: str, *, detail: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """Record one step of the current call; a request without a CallSid records nothing."""
    sid = call_sid()
    if sid:
        write("step", call_sid=sid, kind=kind, detail=detail,
              from_number=request.form.get("From"), **kwargs)


def menu(response: VoiceResponse, flow: Flow, tries: int = 0, wrong: int = 0) -> VoiceResponse:
    """The need menu: each option's purpose then its key, crisis first; keys or speech."""
    g = gather(flow, url("menu/choice", lang=flow.language, tries=tries, wrong=wrong),
               speech=True, timeout=6)
    say(g, flow, flow.prompts["menu_intro"])
    for option in flow.options:
        say(g, flow, option.label)
    response.append(g)
    # No input: Twilio goes on to the next verb.
    response.redirect(url("menu", lang=flow.language, tries=tries + 1, wrong=wrong),
                      method="POST")
    return response
