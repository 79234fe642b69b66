"""Capacity: how many times the national busy hour one 2-core machine carries, through nginx
with two web processes and the scheduler, on PostgreSQL, with webhook p99 under 50 ms (at
the client, through nginx) and nothing lost; and where the first limit is.

The traffic is `bench/_busy_hour.py`'s: the 988 Lifeline's ~22,000 contacts a day, the busy
hour at 1.75 times the mean hour, callers taking the IVR's real paths, counselors taking the
queued ones, text check-ins falling due for the scheduler. Each level runs WINDOW_SECONDS of
arrivals at a multiple of the busy hour, then waits for its calls to end; the multiple goes up
(MULTIPLES) until a level fails, then the midpoint between the last pass and the first
failure is tried. The whole run takes five to seven minutes.

A level fails when a webhook's p99 reaches 50 ms, a webhook is not answered 2xx, or a step
is lost: acknowledged (answered 2xx with the IVR's own answer) but not in the database, a
call whose end was acknowledged not closed, a booked call back with no follow-up, or a
step recorded twice (`tests/faults/calls.py` reads the database). Check-ins not delivered by
the end of the run count as lost too.

CPU is read from /proc for each part (web processes and their workers, schedulers, nginx,
the PostgreSQL backends of this database, and the load generator, which shares the two
cores) over each level's arrival window; the first limit named is the one measured, not
guessed. `python -m bench capacity`.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._cpu import CpuMeter
from bench._databases import ROOT, pg_reachable, postgres_url

# 1x, then doubling from 4x (2x tells little that 1x and 4x do not, and costs 40 s).
MULTIPLES = (1, 4, 8, 16, 32, 64, 128, 256)
WINDOW_SECONDS = 30.0
# Calls still going this long after the last arrival count against the level: the longest
# call (an hour's hold, at most 20 minutes of talk) is about 40 s at COMPRESS.
DRAIN_SECONDS = 45.0
BUDGET_SECONDS = 345.0  # no new level once the run has taken this long
P99_LIMIT_MS = 50.0
CHECKIN_SECONDS = 5.0  # check-ins are added in batches this often during a window
DELIVERY_WAIT_SECONDS = 40.0  # the scheduler delivers every 15 s
ENV = {
    # The run may fall in the quiet hours of the check-ins' time zone: none, for the bench.
    "QUIET_HOURS_START": "0", "QUIET_HOURS_END": "0",
    "LOG_LEVEL": "WARNING",
    # No Twilio account: texts and calls go to the outbox (and /ivr/queue/assignment, for
    # simulated callers, answers).
    "HELPLINE_TELEPHONY": "outbox",
}
CEILING_SPREAD = 20.0  # webhooks a second between two levels, for the CPU each one costs
NEIGHBOURS_NOTED = 25.0  # percent of a core used by other work, worth a note
NEIGHBOURS_RETRIED = 50.0  # ... and a failure under that much is run again (once)
ONCE = ("call_started", "ended", "callback_requested", "queue_hangup", "left_queue")


@dataclass
class Level:
    multiple: float
    calls: int = 0
    webhooks: list[float] = field(default_factory=list)  # seconds each
    polls: int = 0
    rate: float = 0.0  # webhooks a second during the arrival window
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)  # of the errors
    lost: list[str] = field(default_factory=list)
    still_going: int = 0
    bench_failures: int = 0
    checkins: list[int] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # percent of one core
    busiest_web: float = 0.0
    answered: int = 0  # calls a counselor took
    floor_errors: int = 0  # "take next call" failing on the database (tried again)
    seconds: float = 0.0  # the level's arrivals, drain and checks
    paths: dict[str, int] = field(default_factory=dict)

    def p(self, q: float) -> float:
        ms = sorted(s * 1000 for s in self.webhooks)
        return ms[min(len(ms) - 1, max(0, round(q * len(ms)) - 1))] if ms else 0.0

    @property
    def passed(self) -> bool:
        return (bool(self.webhooks) and self.p(0.99) < P99_LIMIT_MS and not self.errors
                and not self.lost and not self.still_going and not self.bench_failures)


# --- What the database must hold --------------------------------------------------------------


def _flow_words(key: str) -> tuple[str, ...]:
    """A prompt's fixed words (before any placeholder) in every shipped language."""
    folder = ROOT / "helpline" / "flows"
    return tuple(tomllib.loads(path.read_text())["prompts"][key].split("{")[0].strip()
                 for path in sorted(folder.glob("*.toml")))


def _acknowledged(sent: Any, trouble: tuple[str, ...], booked: tuple[str, ...],
                  texted: tuple[str, ...]) -> set[str]:
    """The steps a webhook's answer vouches for (none for an error or a "trouble" answer)."""
    if not 200 <= sent.status < 300 or any(words in sent.text for words in trouble):
        return set()
    form = sent.form
    if sent.path == "/ivr/voice":
        return {"call_started"}
    if sent.path == "/ivr/language":
        return {"language"}
    if sent.path == "/ivr/menu/choice":
        if form.get("Digits") == "7":
            return {"wrong_choice"}
        return {"menu", "queue"} if "<Enqueue" in sent.text else {"menu"}
    if sent.path == "/ivr/locator/zip":
        return {"locator_zip"}
    if sent.path in {"/ivr/locator/choice", "/ivr/info/choice"}:
        return {"sms_sent"} if any(words in sent.text for words in texted) else set()
    if sent.path == "/ivr/callback/confirm":
        return {"callback_requested"} if any(w in sent.text for w in booked) else set()
    if sent.path == "/ivr/queue/done":
        return {"hangup": {"queue_hangup"}, "leave": {"left_queue"}}.get(
            form.get("QueueResult", ""), set())
    if sent.path == "/ivr/status" and form.get("CallStatus") == "completed":
        return {"ended"}
    return set()


def lost_steps(check_url: str, level_sids: set[str], sent: list[Any]) -> list[str]:
    """What the database got wrong about the level's calls (empty when all is well)."""
    from tests.faults.calls import PlacedCall, recorded

    trouble = _flow_words("trouble")
    booked, texted = _flow_words("callback_recorded"), _flow_words("sms_sent")
    placed: dict[str, PlacedCall] = {}
    for one in sent:
        if one.call_sid not in level_sids:
            continue  # a counselor's leg
        call = placed.setdefault(one.call_sid, PlacedCall(one.call_sid, one.form.get("From", "")))
        kinds = _acknowledged(one, trouble, booked, texted)
        call.acked |= kinds
        call.booked = call.booked or "callback_requested" in kinds
    calls = list(placed.values())
    held = recorded(check_url, calls)
    twice = [f"{sid}: {kind!r} recorded {n} times" for (sid, kind), n in held.events.items()
             if kind in ONCE and n > 1]
    twice += [f"{sid}: {n} follow-ups" for sid, n in held.followups.items() if n > 1]
    return held.lost(calls) + twice


# --- The run ----------------------------------------------------------------------------------


def _missing() -> str | None:
    """Why the capacity figure cannot be measured here, or None."""
    if shutil.which("nginx") is None:
        return "nginx is not installed (apt-get install nginx)"
    if not (Path(sys.prefix) / "bin" / "gunicorn").exists():
        return "gunicorn is not installed (pip install -e '.[dev]')"
    try:
        import tests.deploy.rig  # noqa: F401
    except ImportError as exc:
        return f"the deployment rig is missing ({exc})"
    return None


def _deployment_class() -> Any:
    from tests.deploy.rig import Deployment

    return Deployment


@contextlib.contextmanager
def deployed(database_url: str, workdir: Path) -> Iterator[Any]:
    """The deployment (nginx, two web processes, two schedulers) on a demo database."""
    deployment = _deployment_class()(workdir, database_url, webs=2, schedulers=2, env=ENV)
    init = deployment.command("init", "--demo")
    if init.returncode != 0:
        raise RuntimeError(f"helpline init --demo failed: {init.stdout}{init.stderr}")
    deployment.start()
    try:
        yield deployment
    finally:
        deployment.stop()


class Bench:
    """The load levels against one deployment: traffic, counselors, check-ins, checks."""

    def __init__(self, deployment: Any, database_url: str, workdir: Path) -> None:
        from sqlalchemy import select, text

        from helpline import crypto
        from helpline.config import load_settings
        from helpline.db import Database
        from helpline.models import User
        from helpline.models.directory import TreatmentCenter

        self.deployment, self.database_url = deployment, database_url
        self.settings = load_settings(deployment.env, env_file=None)
        crypto.install(crypto.Keyring(self.settings.data_keys, self.settings.hash_key))
        self.db = Database(database_url)
        self.public_base = self.settings.public_base_url.rstrip("/") or deployment.url
        with self.db.sessions() as session:
            self.zips = sorted(z for z in session.scalars(
                select(TreatmentCenter.zip_code).distinct().limit(200)) if z and len(z) == 5)
            self.counselors = list(session.scalars(
                select(User.id).where(User.role == "counselor").order_by(User.id)))
            name = session.scalar(text("SELECT current_database()"))
        self.database_name = name
        self.meter = CpuMeter(deployment, workdir, self._backends)
        self.batches = 0

    def _backends(self) -> list[int]:
        from sqlalchemy import text

        with self.db.sessions() as session:
            return list(session.scalars(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = :name "
                "AND pid <> pg_backend_pid()"), {"name": self.database_name}))

    def _staff(self, n: int) -> list[int]:
        """``n`` counselor ids (the demo's first), adding bench counselors as needed."""
        from helpline.models import AgentStatus
        from tests.factories import make_user

        if len(self.counselors) < n:
            with self.db.session() as session:
                self.counselors += [make_user(session, username=f"bench-counselor-{i}",
                                              languages="en es",
                                              status=AgentStatus.AVAILABLE).id
                                    for i in range(len(self.counselors), n)]
        return self.counselors[:n]

    def _add_checkins(self, level: Level, stop: threading.Event) -> None:
        """Text check-ins falling due through the window, at the level's multiple."""
        from bench._busy_hour import CHECKINS_PER_CALL, calls_per_second
        from tests.fixtures.followups import due_checkins

        owed = 0.0
        while not stop.wait(CHECKIN_SECONDS):
            owed += calls_per_second(level.multiple) * CHECKINS_PER_CALL * CHECKIN_SECONDS
            n, owed = int(owed), owed - int(owed)
            if n:
                self.batches += 1
                with self.db.sessions() as session:
                    level.checkins += due_checkins(session, n, f"+1555{self.batches:03d}")

    def run_level(self, multiple: float, seed: int, window: float = WINDOW_SECONDS) -> Level:
        from bench._busy_hour import (
            ASSIGNMENT_POLL,
            Floor,
            KeepAliveTransport,
            Traffic,
            calls_per_second,
            counselors_needed,
        )

        level = Level(multiple)
        transport = KeepAliveTransport(self.deployment.url,
                                       getattr(self.deployment, "context", None))
        floor = Floor(self.db, self.settings, self._staff(counselors_needed(multiple)))
        traffic = Traffic(self.public_base, self.settings.twilio_auth_token, transport, floor,
                          self.zips, seed)
        stop = threading.Event()
        seeder = threading.Thread(target=self._add_checkins, args=(level, stop), daemon=True)
        before = self.meter.read()
        started = time.perf_counter()
        seeder.start()
        try:
            traffic.arrive(calls_per_second(multiple), window)
            after = self.meter.read()
            stop.set()
            level.still_going = traffic.drain(DRAIN_SECONDS)
        finally:
            stop.set()
            seeder.join()
            floor.close()
            transport.close()
        level.cpu = CpuMeter.percent(before, after)
        level.busiest_web = level.cpu.pop("busiest_process")
        level.calls = len(traffic.callers)
        level.answered = floor.taken
        level.floor_errors = floor.errors
        for caller in traffic.callers:
            level.paths[caller.path] = level.paths.get(caller.path, 0) + 1
        level.bench_failures = len(traffic.failures)
        if traffic.failures:
            print(f"  the load generator failed: {traffic.failures[0]!r}")
        hooks = [s for s in transport.sent if s.path != ASSIGNMENT_POLL]
        level.polls = len(transport.sent) - len(hooks)
        level.webhooks = [s.seconds for s in hooks]
        for one in transport.sent:
            if not 200 <= one.status < 300:
                level.errors += 1
                level.statuses[one.status] = level.statuses.get(one.status, 0) + 1
        in_window = [s for s in hooks if s.started - started <= window]
        level.rate = len(in_window) / window
        sids = {c.sid for c in traffic.callers}
        level.lost = lost_steps(self.database_url, sids, transport.sent)
        if level.lost:
            # A step stored in the spool is not lost: it goes in once the spool is replayed.
            self._wait_spool_replayed()
            level.lost = lost_steps(self.database_url, sids, transport.sent)
        level.seconds = time.perf_counter() - started
        return level

    def _wait_spool_replayed(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.deployment.command("spool", "status")
            found = re.search(r"\d+", status.stdout)
            if status.returncode != 0 or not found or found.group() == "0":
                return
            time.sleep(2)

    def undelivered(self, levels: list[Level]) -> None:
        """Check-ins still due (or claimed and not sent) count as lost, for their level."""
        from sqlalchemy import select

        from helpline.models.followups import DUE_STATES, FollowUp, FollowUpState

        waiting = (*DUE_STATES, FollowUpState.SENDING)
        deadline = time.monotonic() + DELIVERY_WAIT_SECONDS
        while True:
            with self.db.sessions() as session:
                stuck = set(session.scalars(select(FollowUp.id).where(
                    FollowUp.id.in_([i for lv in levels for i in lv.checkins]),
                    FollowUp.state.in_(waiting))))
            if not stuck or time.monotonic() > deadline:
                break
            time.sleep(2)
        for level in levels:
            level.lost += [f"check-in {i} not delivered" for i in level.checkins if i in stuck]

    def close(self) -> None:
        self.db.dispose()


def _ladder(run: Any, started: float) -> list[Level]:
    """Up the ladder until a level fails, then try the midpoint once. A failure while other
    work took much of the machine is run again, once in the run."""
    levels: list[Level] = []
    retried = False

    def budget_left() -> bool:
        return time.monotonic() - started <= BUDGET_SECONDS

    def attempt(multiple: float, seed: int) -> Level:
        nonlocal retried
        level = run(multiple, seed)
        levels.append(level)
        _print_row(level)
        if (not level.passed and not retried and budget_left()
                and level.cpu.get("others", 0) >= NEIGHBOURS_RETRIED):
            retried = True
            print(f"{'':>12}(run again: other work took much of the machine)")
            level = run(multiple, seed + 50)
            levels.append(level)
            _print_row(level)
        return level

    last_pass: float | None = None
    for n, multiple in enumerate(MULTIPLES):
        if not budget_left():
            print(f"(stopped before {multiple}x: the {BUDGET_SECONDS:.0f} s time budget)")
            break
        if attempt(multiple, n + 1).passed:
            last_pass = multiple
            continue
        if last_pass is not None and budget_left():
            mid = round((last_pass + multiple) / 2)
            if mid not in (last_pass, multiple):
                attempt(mid, 100 + n)
        break
    return levels


HEADER = (f"{'x busy hour':>11} {'calls/h':>8} {'calls':>6} {'hooks':>6} {'hooks/s':>7} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'lost':>5}  CPU % of one core: "
          "web1 web2 sched nginx pg client others | machine (of 200)")


def _print_row(level: Level) -> None:
    from bench._busy_hour import BUSY_HOUR_CALLS

    c = level.cpu
    mark = "ok" if level.passed else "FAIL"
    print(f"{level.multiple:>10g}x {level.multiple * BUSY_HOUR_CALLS:>8,.0f} "
          f"{level.calls:>6} {len(level.webhooks):>6} {level.rate:>7.1f} "
          f"{statistics.median(level.webhooks) * 1000 if level.webhooks else 0:>7.1f} "
          f"{level.p(0.99):>7.1f} {level.errors:>6} {len(level.lost):>5}  "
          f"{c.get('web1', 0):>4.0f} {c.get('web2', 0):>4.0f} {c.get('scheduler', 0):>5.0f} "
          f"{c.get('nginx', 0):>5.0f} {c.get('postgres', 0):>3.0f} {c.get('client', 0):>6.0f}"
          f" {c.get('others', 0):>6.0f} | {c.get('machine', 0):>4.0f}  {mark}")
    print(f"{'':>12}{level.seconds:.0f} s; {level.answered} taken by counselors, "
          f"{len(level.checkins)} check-ins due, "
          f"{level.polls} assignment polls; paths: "
          + ", ".join(f"{k} {v}" for k, v in sorted(level.paths.items())))
    if level.floor_errors:
        print(f"{'':>12}take next call failed {level.floor_errors} times on the database")
    if c.get("others", 0) >= NEIGHBOURS_NOTED:
        print(f"{'':>12}(other work on this machine took {c['others']:.0f}% of a core during "
              "the level: its figures are pessimistic)")
    sys.stdout.flush()


def first_limit(level: Level) -> str:
    """Where the failing level ran out, from what was measured."""
    why = []
    if level.p(0.99) >= P99_LIMIT_MS:
        why.append(f"p99 {level.p(0.99):.0f} ms")
    if level.errors:
        statuses = ", ".join(f"{n} x {status or 'no answer'}"
                             for status, n in sorted(level.statuses.items()))
        why.append(f"{level.errors} webhooks not answered 2xx ({statuses})")
    if level.lost:
        why.append(f"{len(level.lost)} steps lost (first: {level.lost[0]})")
    if level.still_going:
        why.append(f"{level.still_going} calls still going after {DRAIN_SECONDS:.0f} s")
    c = level.cpu
    parts = {k: v for k, v in c.items() if k not in {"machine", "others"}}
    webs = sum(v for k, v in parts.items() if k.startswith("web"))
    top = max(parts, key=lambda k: parts[k])
    cores = 100 * (os.cpu_count() or 1)
    if level.busiest_web >= 85:
        where = (f"a web worker's interpreter: the busiest used {level.busiest_web:.0f}% of a "
                 "core (one Python process is held to about one core by its lock)")
    elif c.get("machine", 0) >= 0.9 * cores:
        where = (f"the machine's CPU: {c['machine']:.0f}% of {cores}%; the web processes used "
                 f"{webs:.0f}%, PostgreSQL {c.get('postgres', 0):.0f}%, nginx "
                 f"{c.get('nginx', 0):.0f}%, the load generator {c.get('client', 0):.0f}%, "
                 f"other work on the machine {c.get('others', 0):.0f}% (largest of ours: {top})")
    else:
        where = (f"not CPU ({c.get('machine', 0):.0f}% of {cores}% busy): waiting, on the "
                 f"database or on locks (PostgreSQL used {c.get('postgres', 0):.0f}%)")
    return f"{', '.join(why) or 'failed'}; the first limit: {where}"


def cpu_ceiling(levels: list[Level]) -> str | None:
    """Where the two cores would be full, from the CPU that each more webhook a second cost
    (every part and the load generator) between the quietest and the busiest level run: a
    ceiling before any queueing, which other work on the machine changes little."""
    ran = sorted((lv for lv in levels if lv.rate > 0), key=lambda lv: lv.rate)
    if len(ran) < 2 or ran[-1].rate - ran[0].rate < CEILING_SPREAD:
        return None
    low, high = ran[0], ran[-1]

    def ours(level: Level) -> float:
        return sum(v for k, v in level.cpu.items() if k not in {"machine", "others"})

    per_webhook = (ours(high) - ours(low)) / (high.rate - low.rate)  # % of a core
    if per_webhook <= 0:
        return None
    full = high.rate + (100 * (os.cpu_count() or 1) - ours(high)) / per_webhook
    return (f"capacity: each more webhook a second cost {10 * per_webhook:.1f} ms of CPU, "
            f"every part and the load generator included ({low.multiple:g}x to "
            f"{high.multiple:g}x); the cores would be full at about "
            f"{full / high.rate * high.multiple:.0f}x ({full:.0f} webhooks/s), a ceiling "
            "before any queueing")


def report(levels: list[Level]) -> None:
    from bench._busy_hour import BUSY_HOUR_CALLS

    # The lowest multiple that failed and never passed (a level run again may pass).
    passed = [lv for lv in levels if lv.passed]
    failing = {lv.multiple for lv in levels if not lv.passed} - {lv.multiple for lv in passed}
    limit = min(failing, default=math.inf)
    below = [lv for lv in passed if lv.multiple < limit]
    if not levels:
        print("capacity: no level ran")
    elif not below:
        print(f"capacity: the machine did not carry even {levels[0].multiple:g}x the national "
              "busy hour")
    else:
        best = max(below, key=lambda lv: lv.multiple)
        print(f"capacity: this machine carries {best.multiple:g}x the national busy hour "
              f"({best.multiple * BUSY_HOUR_CALLS:,.0f} calls an hour, "
              f"{best.rate:.0f} webhooks/s) with webhook p99 {best.p(0.99):.1f} ms "
              f"(< {P99_LIMIT_MS:.0f} ms) and nothing lost")
    if failing:
        worst = next(lv for lv in reversed(levels) if lv.multiple == limit)
        print(f"capacity: at {worst.multiple:g}x: {first_limit(worst)}")
        if worst.cpu.get("others", 0) >= NEIGHBOURS_RETRIED:
            print(f"capacity: other work took {worst.cpu['others']:.0f}% of a core as that "
                  "level failed: the figure is this machine's share, not its capacity; run "
                  "`python -m bench capacity` again when it is quiet")
    else:
        print("capacity: no level failed; the first limit was not reached")
    ceiling = cpu_ceiling(levels)
    if ceiling:
        print(ceiling)
    for lv in levels:
        for problem in lv.lost[:3]:
            print(f"  lost at {lv.multiple:g}x: {problem}")


def run(database_url: str) -> None:
    from bench._busy_hour import (
        BUSY_HOUR_CALLS,
        CHECKINS_PER_CALL,
        COMPRESS,
        CONTACTS_PER_DAY,
        MENU_MIX,
        PEAK_FACTOR,
        counselors_needed,
    )

    started = time.monotonic()
    print(f"busy hour: {CONTACTS_PER_DAY:,} contacts a day (988 Lifeline, 2025) / 24 x "
          f"{PEAK_FACTOR} at the peak = {BUSY_HOUR_CALLS:,} calls an hour at 1x; "
          f"{CHECKINS_PER_CALL:.0%} as many text check-ins falling due")
    print("paths: " + ", ".join(f"{k} {v:.0%}" for k, v in MENU_MIX.items())
          + "; 15% Spanish; 10% of holding callers book a call back")
    print(f"each level: {WINDOW_SECONDS:.0f} s of Poisson arrivals, calls compressed "
          f"{COMPRESS}x (a minute of a call in {60 / COMPRESS:g} s), counselors for the load "
          f"({counselors_needed(1)} at 1x), then the calls end and the database is checked")
    print("the load generator runs on the same 2 cores (its CPU is the 'client' column); "
          "the simulator's one assignment poll per queued call is not counted as a webhook")
    with tempfile.TemporaryDirectory(prefix="hl-capacity-") as tmp:
        workdir = Path(tmp)
        with deployed(database_url, workdir) as deployment:
            bench = Bench(deployment, database_url, workdir)
            try:
                print(f"deployment: nginx at {deployment.url}, {len(deployment.webs)} web "
                      f"processes, {len(deployment.schedulers)} schedulers; "
                      f"{len(bench.zips)} ZIP codes of the demo directory "
                      f"(ready in {time.monotonic() - started:.0f} s)")
                # The first calls import, connect and render what later ones find ready, in
                # each of the eight gunicorn workers.
                warm = bench.run_level(8, 0, window=10)
                print(f"warm-up: {warm.calls} calls, {len(warm.webhooks)} webhooks, p99 "
                      f"{warm.p(0.99):.0f} ms (not counted)")
                print(HEADER)
                levels = _ladder(bench.run_level, started)
                bench.undelivered(levels)
            finally:
                bench.close()
    report(levels)


def main() -> None:
    missing = _missing()
    if missing:
        print(f"capacity: skipped, the capacity figure was not measured: {missing}")
        return
    if not pg_reachable():
        print("capacity: skipped, the capacity figure was not measured: no PostgreSQL")
        return
    with postgres_url("bench_capacity") as url:
        run(url)


if __name__ == "__main__":
    main()
