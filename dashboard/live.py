"""Live fragments pushed by server-sent events: the home page's queues and the wallboard.

A stream re-renders its fragment every POLL_SECONDS and sends it when it changed. Each stream
ends after LIFETIME_SECONDS (the browser reconnects, passing the sign-in gate again), and a
process holds at most ``Settings.live_streams_max`` of them at once: a stream occupies one of
the server's threads, and the IVR's webhooks must always find one free. A browser turned away
gets the fragment once and comes back after ``retry``, which is polling by another name.

A slot is taken when the body starts streaming, not when the view answers: a HEAD request (or
any whose body is never read) gets the headers and holds nothing. While the fragment is
unchanged a comment line goes out every poll, so a browser that went away is noticed at the
next write (the server then closes the stream, which gives the slot back) rather than at the
end of the stream's lifetime.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from flask import current_app, stream_with_context
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from dashboard.forms import float_arg
from helpline.app.runtime import runtime

POLL_SECONDS = 2.0
LIFETIME_SECONDS = 55.0
RETRY_MS = 3000
# An SSE comment: browsers ignore it; writing it tells the server whether anyone still listens.
KEEPALIVE = ":\n\n"


def stream_slots(kind: str = "live_streams") -> threading.BoundedSemaphore:
    """The process's slots for streams of ``kind``: ``Settings.live_streams_max`` of them."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    slots = app.extensions.get(kind)
    if slots is None:
        slots = app.extensions.setdefault(
            kind, threading.BoundedSemaphore(runtime().settings.live_streams_max))
    return slots


def _event(name: str, html: str) -> str:
    data = "\n".join(f"data: {line}" for line in html.splitlines())
    return f"event: {name}\n{data}\n\n"


def fragment_events(name: str, render: Callable[[Session], str]) -> Response:
    """A text/event-stream of ``render``'s HTML, sent as event ``name`` whenever it changes."""
    app_db = runtime().db
    lifetime = float_arg("lifetime", LIFETIME_SECONDS, minimum=0.0, maximum=LIFETIME_SECONDS)
    slots = stream_slots()

    @stream_with_context
    def stream() -> Iterator[str]:
        streaming = slots.acquire(blocking=False)
        try:
            yield f"retry: {RETRY_MS}\n\n"
            last = None
            deadline = time.monotonic() + (lifetime if streaming else 0.0)
            while True:
                with app_db.sessions() as session:
                    html = render(session)
                if html != last:
                    last = html
                    yield _event(name, html)
                elif streaming:
                    yield KEEPALIVE
                if time.monotonic() >= deadline:
                    return
                time.sleep(POLL_SECONDS)
        finally:
            if streaming:
                slots.release()

    return Response(stream(), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
