"""kill -9 of the server during a burst of calls, and of `helpline spool replay` while it
replays: every step, end and callback a caller was answered for is in the database, once."""

from __future__ import annotations

import random
import threading
import time

import pytest

from tests.faults.calls import PlacedCall, acknowledged, burst, exactly_once, summary
from tests.faults.rig import FaultyDatabase, ServerProcess, Twilio

pytestmark = pytest.mark.faults

BURST_CALLERS = 20
# Acknowledged webhooks before the kill: enough that the kill lands mid-burst.
KILL_AFTER = 150
REPLAY_KILLS = 3
# A replay of the thousand entries takes about a second here (SQLite) to three (PostgreSQL):
# the kills land anywhere in its first part, some of them in the middle of a commit.
REPLAY_KILL_WITHIN = 0.8


def test_kill_9_during_a_burst_loses_no_acknowledged_step(
    server: ServerProcess, twilio: Twilio, faulty_db: FaultyDatabase
) -> None:
    stop = threading.Event()
    placed: list[PlacedCall] = []
    callers = threading.Thread(target=lambda: placed.extend(
        burst(twilio, BURST_CALLERS, stop=stop)), daemon=True)
    callers.start()
    deadline = time.monotonic() + 120
    while twilio.answered < KILL_AFTER and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()
    stop.set()
    callers.join(timeout=120)
    assert not callers.is_alive(), "the callers did not stop"
    assert acknowledged(placed) >= KILL_AFTER // 2, summary(placed)

    server.start()
    server.wait_spool_empty(timeout=120)
    problems = exactly_once(faulty_db.check_url, placed)
    assert not problems, f"{summary(placed)}; {len(problems)} problems:\n" + "\n".join(
        problems[:40])


def test_kill_9_during_spool_replay_loses_nothing_and_applies_nothing_twice(
    server: ServerProcess, twilio: Twilio, faulty_db: FaultyDatabase
) -> None:
    assert server.spool_pending() == 0
    faulty_db.down()
    # 20 callers x 10 calls: about five spooled operations a call.
    placed = burst(twilio, BURST_CALLERS, calls_each=10)
    assert acknowledged(placed) > 0, summary(placed)
    # The dashboard's readiness says the database is gone; the IVR's that it still serves.
    assert twilio.get("/readyz").status == 503
    assert twilio.get("/readyz/ivr").status == 200
    server.kill()  # the server would replay as soon as the database is back
    pending = server.spool_pending()
    assert pending > 0, "nothing was spooled while the database was down"

    faulty_db.up()
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    killed: list[int] = []  # what was pending after each kill that landed
    for _ in range(REPLAY_KILLS):
        replay = server.start_command("spool", "replay")
        # Kill once the replay is under way (its files moved aside), a random moment in.
        deadline = time.monotonic() + 30
        while (not server.replaying() and replay.poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, REPLAY_KILL_WITHIN))
        landed = replay.poll() is None
        if landed:
            replay.kill()
        replay.wait(timeout=30)
        if landed:
            killed.append(server.spool_pending())
    final = server.command("spool", "replay")
    assert final.returncode == 0, final.stdout + final.stderr
    assert "replayed" in final.stdout, final.stdout
    assert server.spool_pending() == 0

    problems = exactly_once(faulty_db.check_url, placed)
    assert not problems, (f"{summary(placed)}, {pending} spooled; replay killed with "
                          f"{killed} pending (seed {seed}); "
                          f"{len(problems)} problems:\n" + "\n".join(problems[:40]))

