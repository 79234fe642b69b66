"""The IVR's blueprint: the signature gate, the time limit on the database, the flows loaded
at start, one write per webhook stored before the answer, and the answer that is never a 500.

Every route of :data:`blueprint` is a Twilio webhook and refuses unsigned requests. The flow
(prompts, menu, queues) is read from ``ivr/flows/*.toml`` and checked when the app is built.

A webhook waits on the database ``IVR_DB_WAIT_SECONDS`` in all (:func:`helpline.db.within`),
and only so many webhooks of a process wait on it at once: the server's other threads stay
free for ``/healthz``, ``/ivr/fallback`` and the staff, whatever the database does.
"""

from __future__ import annotations

import logging
import threading
from contextlib import ExitStack
from typing import Any

from flask import Blueprint, Response, current_app, g, request
from twilio.twiml.messaging_response import MessagingResponse
from werkzeug.exceptions import HTTPException

from helpline.app.runtime import runtime
from helpline.calls import journal
from helpline.db import within
from helpline.flows.flow import RenderError
from helpline.flows.live import LiveFlows
from helpline.flows.versions import defaults_from
from ivr.fallback import fallback_twiml
from ivr.security import NoStaffSessionOnWebhooks, require_twilio_signature
from ivr.staffing import Staffing
from ivr.steps import write_steps

log = logging.getLogger(__name__)

blueprint = Blueprint("ivr", __name__, url_prefix="/ivr")
blueprint.before_request(require_twilio_signature)

# `helpline serve` runs 32 threads; a quarter of them (at least 2) never wait on the database.
DEFAULT_SERVER_THREADS = 32
# A webhook waits this long for its turn to use the database before it does without.
SLOT_WAIT_SECONDS = 0.2


def _slots(threads: int) -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(max(1, threads - max(2, threads // 4)))


@blueprint.before_request
def _time_limit() -> None:
    """The webhook's database time starts now; without a free slot it has none (its writes go
    to the spool, and a step that must read answers with the fallback)."""
    slots: threading.BoundedSemaphore | None = current_app.extensions.get("ivr_db_slots")
    if slots is None:
        # Made on first use: `helpline serve` says how many threads it runs after the app
        # is built.
        threads = int(current_app.config.get("HELPLINE_SERVER_THREADS", DEFAULT_SERVER_THREADS))
        slots = current_app.extensions.setdefault("ivr_db_slots", _slots(threads))
    stack = g.ivr_limits = ExitStack()
    if slots.acquire(timeout=SLOT_WAIT_SECONDS):
        stack.callback(slots.release)
        stack.enter_context(within(runtime().settings.ivr_db_wait_seconds))
    else:
        log.warning("every database slot is taken: webhook %s answered without the database",
                    request.path)
        stack.enter_context(within(0))


@blueprint.teardown_request
def _end_time_limit(_exc: BaseException | None) -> None:
    stack = g.pop("ivr_limits", None)
    if stack is not None:
        stack.close()


@blueprint.record_once
def _replay_spool(state: Any) -> None:
    # What a process killed earlier left in the spool goes in as soon as the database answers.
    rt = state.app.extensions["helpline"]
    journal.replay_in_background(rt.db, rt.settings)


@blueprint.record_once
def _load_flows(state: Any) -> None:
    # A bad flow file (or line setting) stops the app from starting, with the entry named.
    settings = state.app.extensions["helpline"].settings
    live = LiveFlows(defaults_from(settings), check_seconds=settings.ivr_flow_check_seconds,
                     cache_file=settings.instance_dir / "ivr-live.json")
    # The live version (published by supervisors, checked every few seconds); ivr_flows stays
    # what ships (version 0) for code that only needs the languages and their structure.
    state.app.extensions["ivr_live"] = live
    state.app.extensions["ivr_flows"] = live.shipped.flows


@blueprint.record_once
def _staffing(state: Any) -> None:
    state.app.extensions["ivr_staffing"] = Staffing()


@blueprint.record_once
def _no_staff_session(state: Any) -> None:
    state.app.session_interface = NoStaffSessionOnWebhooks()


@blueprint.after_request
def _write_steps(response: Response) -> Response:
    """The steps the webhook took are stored, with one write, before Twilio gets the answer."""
    try:
        write_steps()
    except journal.NotStored:
        # Logged by the journal, naming the spool and why. The caller still hears the
        # answer: it promises nothing, and a line that stops answering helps nobody.
        pass
    except Exception:
        # A bug, kept for a person by the journal; the caller keeps the answer already made
        # rather than hearing the fallback.
        log.exception("IVR steps could not be recorded")
    return response


def _answer_with_last_good(exc: RenderError) -> Any:
    """The live version could not make this answer: the last good version takes over (for
    this caller and the next), and this webhook is answered again with it when it has not yet
    changed the call; otherwise the fallback speaks the last good version's words."""
    live: LiveFlows = current_app.extensions["ivr_live"]
    good = live.broke(runtime().db, g.ivr_flow_set, exc)
    if good is None:
        return None
    g.ivr_flow_set = good
    if g.get("ivr_wrote") or request.endpoint is None:
        log.error("IVR step failed on a broken version; the fallback speaks version %d",
                  good.version)
        return Response(fallback_twiml(), mimetype="text/xml")
    g.pop("ivr_steps", None)  # taken again below, with the version that answers
    try:
        return current_app.view_functions[request.endpoint](**(request.view_args or {}))
    except Exception:
        log.exception("IVR step failed again with version %d", good.version)
        return Response(fallback_twiml(), mimetype="text/xml")


@blueprint.errorhandler(Exception)
def _never_500(exc: Exception) -> Any:
    """Whatever breaks, the caller hears a way to help rather than Twilio's error message."""
    if isinstance(exc, HTTPException):
        return exc
    if isinstance(exc, RenderError) and "ivr_flow_set" in g:
        answer = _answer_with_last_good(exc)
        if answer is not None:
            return answer
    log.exception("IVR step failed; the caller is sent to the fallback")
    if request.path.startswith("/ivr/sms"):
        return Response(str(MessagingResponse()), mimetype="text/xml")
    if request.path.startswith("/ivr/status") or request.path.startswith("/ivr/voicemail/t"):
        return Response(status=204)
    return Response(fallback_twiml(), mimetype="text/xml")
