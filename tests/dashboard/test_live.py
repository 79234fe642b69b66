"""Live updates never take the threads the IVR needs: streams beyond the cap become polls."""

from __future__ import annotations

import threading

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
