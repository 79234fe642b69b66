"""A database that hangs (keeps its connections, answers nothing): the line keeps answering
within Twilio's patience, and what callers did meanwhile is recorded once it returns."""

from __future__ import annotations

import threading
import time

import pytest

from tests.faults.calls import FALLBACK_WORDS, burst, exactly_once, summary, twiml
from tests.faults.rig import Answer, FaultyDatabase, ServerProcess, Twilio

pytestmark = pytest.mark.faults

CALLS_IN_FLIGHT = 40
WEBHOOK_SECONDS = 3.0  # the requirement; Twilio itself gives up after 15 s
PROBE_SECONDS = 1.0


def test_a_hung_database_keeps_every_webhook_answering_and_loses_nothing(
    server: ServerProcess, twilio: Twilio, faulty_db: FaultyDatabase
) -> None:
    faulty_db.hang()
    probes: list[Answer] = []
    done = threading.Event()
    prober = threading.Thread(target=_probe, args=(twilio, probes, done), daemon=True)
    prober.start()
    try:
        placed = burst(twilio, CALLS_IN_FLIGHT, calls_each=1, callback_every=4)
    finally:
        done.set()
        prober.join(timeout=60)

    # /readyz is the dashboard's: 503 once it sees the database gone, but never slow.
    slow_probes = [f"{a.path} {a.status} in {a.seconds:.2f} s" for a in probes
                   if a.status not in ((200, 503) if a.path == "/readyz" else (200,))
                   or a.seconds >= PROBE_SECONDS]
    assert probes and not slow_probes, f"{len(probes)} probes; slow or failed: {slow_probes}"
    answers = [a for call in placed for a in call.answers]
    slow = [f"{a.path} {a.status} in {a.seconds:.2f} s" for a in answers
            if not a.ok or a.seconds >= WEBHOOK_SECONDS]
    assert not slow, f"{summary(placed)}; slow or failed webhooks: {slow[:20]}"
    for answer in answers:
        if answer.path != "/ivr/status":
            assert answer.status == 200
            twiml(answer)
    fallbacks = sum(FALLBACK_WORDS in a.text for a in answers)

    faulty_db.up()
    server.wait_spool_empty(timeout=120)
    problems = exactly_once(faulty_db.check_url, placed)
    assert not problems, (f"{summary(placed)} ({fallbacks} fallback answers); "
                          f"{len(problems)} problems:\n" + "\n".join(problems[:40]))


def _probe(twilio: Twilio, probes: list[Answer], done: threading.Event) -> None:
    """What a load balancer and Twilio's fallback URL ask, over and over, during the burst."""
    while not done.is_set():
        probes.append(twilio.get("/healthz"))
        probes.append(twilio.post("/ivr/fallback", {"CallSid": "CA" + "9" * 32,
                                                    "From": "+12025550199"}))
        probes.append(twilio.get("/readyz/ivr"))
        probes.append(twilio.get("/readyz"))
        time.sleep(0.2)
