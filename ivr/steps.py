"""What the views share: recording a call's steps, stored before the answer, and the menu."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import g, request
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from helpline.app.runtime import runtime
from helpline.calls import journal
from helpline.db import utcnow
from helpline.flows.flow import Flow
from ivr.twiml import call_sid, gather, say, url

IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"


def request_key() -> str:
    """What identifies this webhook's delivery: Twilio's idempotency token, the same on its
    retries; without one (a load balancer's retry, another client), the request itself."""
    if "ivr_request_key" not in g:
        token = request.headers.get(IDEMPOTENCY_HEADER, "")
        if token:
            seed = "token\0" + token
        else:
            form = "\0".join(f"{k}={v}" for k, v in sorted(request.form.items(multi=True)))
            seed = "\0".join(("request", request.method, request.full_path, form))
        g.ivr_request_key = hashlib.sha256(seed.encode()).hexdigest()[:48]
    return str(g.ivr_request_key)


def _operation(op: str, kwargs: dict[str, Any]) -> journal.Operation:
    """The request's next operation, keyed by the delivery and its place in the request: a
    retry of the webhook makes the same keys, and is applied once."""
    n = g.get("ivr_operations", 0)
    g.ivr_operations = n + 1
    return journal.Operation(op, kwargs, f"{request_key()}:{n}")


# Operations that change who waits for a counselor (with the steps that enter or leave a queue);
# other writes leave routing nothing to do. A call that ends while it waits left the queue first
# (<Enqueue action>), and the ticking process ends its offer anyway.
QUEUE_OPS = frozenset({"answered", "callback"})


def _moves_queue(steps: list[dict[str, Any]]) -> bool:
    return any(s.get("enqueued") or s.get("left_queue") for s in steps)


def _pending_steps() -> list[journal.Operation]:
    steps = g.pop("ivr_steps", None)
    if not steps:
        return []
    if _moves_queue(steps):
        g.ivr_queue_moved = True
    return [_operation("steps", {"call_sid": call_sid(), "from_number": request.form.get("From"),
                                 "steps": steps, "at": steps[0]["at"]})]


def write(op: str, **kwargs: Any) -> str:
    """Store an operation for this call, after the steps this request has taken so far, before
    going on: :data:`journal.DATABASE` or :data:`journal.SPOOL`; :class:`journal.NotStored`
    when neither could take it (the view must then promise nothing)."""
    g.ivr_wrote = True  # the webhook changed the call: it must not be answered twice
    rt = runtime()
    stored = journal.write_all(rt.db, rt.settings, [*_pending_steps(), _operation(op, kwargs)])
    if op in QUEUE_OPS or g.pop("ivr_queue_moved", False):
        rt.nudge_routing()  # a caller entered, left or was answered
    return stored


def write_steps() -> str | None:
    """Store the steps this request has taken and not stored yet (the blueprint calls this
    after every request, before the answer leaves)."""
    operations = _pending_steps()
    if not operations:
        return None
    rt = runtime()
    stored = journal.write_all(rt.db, rt.settings, operations)
    if g.pop("ivr_queue_moved", False):
        rt.nudge_routing()
    return stored


@contextmanager
def reading_back() -> Iterator[Session]:
    """A session for a webhook that reads what earlier webhooks of its call recorded (stored
    before they answered)."""
    with runtime().db.sessions() as session:
        yield session


def step(kind: str, *, detail: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """Record one step of the current call; a request without a CallSid records nothing.

    The steps of one request are stored together when it ends (:func:`write_steps`), or with
    its next :func:`write`: one operation per webhook, however many steps it took.
    """
    if call_sid():
        g.setdefault("ivr_steps", []).append(
            {"kind": kind, "detail": detail, "at": utcnow().isoformat(), **kwargs})


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
