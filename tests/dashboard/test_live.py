"""Live updates never take the threads the IVR needs: streams beyond the cap become polls."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import requests
from flask import Flask
from werkzeug.serving import make_server

from dashboard import live
from tests.factories import make_call


def test_a_browser_beyond_the_stream_cap_gets_the_table_once_and_retries(app, counselor_client,
                                                                        session):
    make_call(session, status="queued", queue_name="family-es", need="loved_one")
    session.commit()
    full = threading.BoundedSemaphore(1)
    full.acquire()  # every stream of this process is taken
    app.extensions["live_streams"] = full

    resp = counselor_client.get("/queues/events")  # no lifetime: a granted stream would last 55 s
    body = resp.get_data(as_text=True)

    assert body.startswith("retry: ")
    assert not full.acquire(blocking=False)  # it never held (nor freed) a place
    assert body.count("event: queues") == 1 and "family-es" in body


def test_a_finished_stream_gives_its_place_back(app, supervisor_client):
    app.extensions["live_streams"] = slots = threading.BoundedSemaphore(1)
    supervisor_client.get("/supervisor/wallboard/events?lifetime=0").get_data()
    assert slots.acquire(blocking=False)


class Slots(threading.BoundedSemaphore):
    """The process's stream slots, telling the test when one is given back."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.given_back = threading.Event()

    def release(self, n: int = 1) -> None:
        super().release(n)
        self.given_back.set()

    def free(self) -> int:
        taken = 0
        while self.acquire(blocking=False):
            taken += 1
        for _ in range(taken):
            super().release()
        return taken


def test_head_requests_take_no_stream_slot(app, counselor_client):
    app.extensions["live_streams"] = slots = Slots(8)
    for _ in range(9):
        answer = counselor_client.client.head("/queues/events")
        assert answer.status_code == 200 and answer.mimetype == "text/event-stream"
        answer.close()
    assert slots.free() == 8

    stream = counselor_client.client.get("/queues/events", buffered=False)
    chunks = iter(stream.response)
    assert next(chunks).startswith(b"retry: ")
    assert b"event: queues" in next(chunks)
    assert slots.free() == 7  # a stream, not a browser turned away
    stream.close()
    assert slots.free() == 8


@pytest.fixture
def served(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The app on a local port, one thread per request, polling its fragment quickly."""
    monkeypatch.setattr(live, "POLL_SECONDS", 0.02)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.mark.parametrize(("path", "event", "staff"), [
    ("/queues/events", b"event: queues", "counselor_client"),
    ("/supervisor/wallboard/events", b"event: board", "supervisor_client"),
])
def test_a_stream_whose_browser_went_away_frees_its_slot(app, served, request, path, event,
                                                         staff):
    app.extensions["live_streams"] = slots = Slots(1)
    cookie = request.getfixturevalue(staff).client.get_cookie("helpline_session")
    assert cookie is not None
    with requests.get(served + path, stream=True, timeout=30,
                      headers={"Cookie": f"helpline_session={cookie.value}"}) as answer:
        lines = answer.iter_lines()
        assert next(lines).startswith(b"retry: ")
        assert next(line for line in lines if line.startswith(event))
        assert slots.free() == 0
    # The browser is gone and the fragment may not change again: the stream, which would
    # otherwise run its 55 seconds, notices at its next write.
    assert slots.given_back.wait(timeout=15)
    assert slots.free() == 1
