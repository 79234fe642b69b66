"""What the views share: recording a step without ever blocking the caller, and the menu."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import g, request
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from helpline.app.runtime import runtime
from helpline.calls import journal
from helpline.config import Settings
from helpline.db import Database, utcnow
from helpline.flows.flow import Flow
from ivr.twiml import call_sid, gather, say, url

# A webhook reading what an earlier one recorded waits at most this long for the writer.
READ_BACK_SECONDS = 2.0


def _journal() -> tuple[Database, Settings]:
    """The database and the settings the journal writes with: the app's, never rebuilt."""
    rt = runtime()
    return rt.db, rt.settings


def write(op: str, **kwargs: Any) -> bool:
    """Record an operation for this call (database, or the spool when it is down), after the
    steps this request has taken so far; return once it is in (True) or spooled (False)."""
    write_steps()
    g.ivr_wrote = True  # the webhook changed the call: it must not be answered twice
    return journal.write(*_journal(), op, **kwargs)


def write_behind(op: str, **kwargs: Any) -> None:
    """Queue an operation for this call, after the steps this request has taken so far, and
    go on: the journal's writer puts it in a moment later."""
    write_steps()
    g.ivr_wrote = True  # the webhook changed the call: it must not be answered twice
    journal.write_behind(*_journal(), op, **kwargs)


@contextmanager
def reading_back() -> Iterator[Session]:
    """A session for a webhook that reads what earlier webhooks of its call recorded: it
    opens once what this process queued for the database is in."""
    db = runtime().db
    journal.settle(db, timeout=READ_BACK_SECONDS)
    with db.sessions() as session:
        yield session


def step(kind: str, *, detail: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """Record one step of the current call; a request without a CallSid records nothing.

    The steps of one request are written together when it ends (:func:`write_steps`): one
    write per webhook, however many steps it took.
    """
    if call_sid():
        g.setdefault("ivr_steps", []).append(
            {"kind": kind, "detail": detail, "at": utcnow().isoformat(), **kwargs})


def write_steps() -> None:
    """Queue the steps this request has taken and not written yet (the blueprint calls this
    after every request): the answer goes back to Twilio without waiting for the database."""
    steps = g.pop("ivr_steps", None)
    if steps:
        journal.write_behind(*_journal(), "steps", call_sid=call_sid(),
                             from_number=request.form.get("From"), steps=steps,
                             at=steps[0]["at"])


def menu(response: VoiceResponse, flow: Flow, tries: int = 0, wrong: int = 0) -> VoiceResponse:
    """The need menu: each option's purpose then its key, crisis first; keys or speech."""
    choice = gather(flow, url("menu/choice", lang=flow.language, tries=tries, wrong=wrong),
                    speech=True, timeout=6)
    say(choice, flow, flow.prompts["menu_intro"])
    for option in flow.options:
        say(choice, flow, option.label)
    response.append(choice)
    # No input: Twilio goes on to the next verb.
    response.redirect(url("menu", lang=flow.language, tries=tries + 1, wrong=wrong),
                      method="POST")
    return response
