"""IVR webhooks under load: latency and throughput with 20 concurrent calls, on SQLite and
PostgreSQL, against the same server's throughput on a bare endpoint that returns fixed TwiML.

A real waitress server (as `helpline serve` runs it: 32 threads) runs in its own process, so the
callers' work does not share its interpreter lock. Twenty caller threads each place calls,
posting signed webhooks over HTTP exactly as Twilio would and following the URLs in the TwiML:
greeting, language, menu, two queue wait messages, hang-up in the queue (the Enqueue action)
and the status callback. Two runs:

- paced: the twenty callers pause between steps, as people listening to prompts do (real
  prompts last seconds; here PACE_SECONDS on average, spread so that callers are not in
  step), so the figures are what a caller waits for;
- flat out: the twenty callers post back to back, for the server's capacity; then the same
  twenty threads post to a bare Flask endpoint (registered only here, outside the IVR
  blueprint: no signature check, no database) for the ratio; three rounds of both, the
  ratio reported being the median. A webhook answers once what it recorded is committed
  (webhooks that arrive together share a commit); the round still checks that the database
  holds every call it placed, closed. Flat out, latency is mostly queueing: twenty requests
  in flight divided by the throughput.

Targets: p99 under 50 ms, and at least half the bare endpoint's throughput.

    python -m bench ivr            # 20 callers x (3 paced + 3 x 40 flat-out calls) per database
    python -m bench.ivr 10         # 10 flat-out calls per caller (quicker)
"""

from __future__ import annotations

import logging
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

from bench._databases import ROOT, pg_reachable, postgres_url, sqlite_url

CALLERS = 20
CALLS_PER_CALLER = 40
PACED_CALLS_PER_CALLER = 3
PACE_SECONDS = 0.5
FLAT_OUT_ROUNDS = 3
SERVER_THREADS = 32  # `helpline serve`'s default
BARE_PATH = "/ivr/_bench/bare"
BARE_TWIML = ('<?xml version="1.0" encoding="UTF-8"?><Response><Say language="en-US">'
              "Thank you for calling.</Say><Hangup /></Response>")



def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(workdir: str, database_url: str, port: str) -> None:
    """The server process: the real app, plus the bare endpoint, under waitress."""
    from flask import Response
    from waitress import create_server

    from helpline.app import create_app
    from helpline.config import settings_for_tests

    settings = settings_for_tests(Path(workdir), database_url=database_url,
                                  public_base_url=f"http://127.0.0.1:{port}",
                                  log_level="WARNING")
    app = create_app(settings)
    # Flat out, twenty callers can outrun the threads; waitress would warn at every request.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    app.add_url_rule(BARE_PATH, "bench_bare", lambda: Response(BARE_TWIML, mimetype="text/xml"),
                     methods=["POST"])
    server = create_server(app, host="127.0.0.1", port=int(port), threads=SERVER_THREADS,
                           ident="helpline", connection_limit=200)
    print("ready", flush=True)
    server.run()


class Caller:
    """One simulated caller's phone line: signed posts, timed, TwiML followed."""

    def __init__(self, base: str, token: str, number: int, timings: list[float],
                 pace: float = 0.0) -> None:
        from simulator.transport import HttpTransport, Signer

        self.base = base
        self.pace = pace
        self.signer = Signer(token)
        self.transport = HttpTransport(base)
        self.number = f"+1555{number:07d}"
        self.timings = timings
        self.rng = random.Random(number)

    def post(self, url: str, sid: str, **extra: str) -> str:
        params = {"CallSid": sid, "AccountSid": "AC" + "5" * 32, "From": self.number,
                  "To": "+18005550100", "Direction": "inbound", "ApiVersion": "2010-04-01",
                  "CallStatus": "in-progress", **extra}
        if self.pace:
            # The caller listens to the last prompt. Real callers are not in step with each
            # other: without the spread, twenty requests would land in the same millisecond.
            time.sleep(self.rng.uniform(0.5 * self.pace, 1.5 * self.pace))
        started = time.perf_counter()
        reply = self.signer.request(self.transport, "POST", url, params)
        self.timings.append(time.perf_counter() - started)
        if reply.status not in (200, 204):
            raise RuntimeError(f"{url}: HTTP {reply.status}")
        return reply.text

    def call(self) -> None:
        sid = "CA" + uuid.uuid4().hex
        voice = ET.fromstring(self.post(self.base + "/ivr/voice", sid, CallStatus="ringing"))
        menu = ET.fromstring(self.post(voice.find("Gather").attrib["action"], sid, Digits="1"))
        queued = ET.fromstring(self.post(menu.find("Gather").attrib["action"], sid, Digits="1"))
        enqueue = queued.find("Enqueue")
        if enqueue is None:
            raise RuntimeError("the caller was not put in a queue (no counselor signed in?)")
        for held in (15, 45):
            wait = ET.fromstring(self.post(enqueue.attrib["waitUrl"], sid, QueuePosition="1",
                                           QueueTime=str(held), AvgQueueTime="0",
                                           CurrentQueueSize="1", QueueSid="QU" + "1" * 32))
            assert wait.find("Gather") is not None
        self.post(enqueue.attrib["action"], sid, QueueResult="hangup", QueueTime="60",
                  QueueSid="QU" + "1" * 32)
        self.post(self.base + "/ivr/status", sid, CallStatus="completed", CallDuration="75")


def _run_threads(work: list[threading.Thread]) -> float:
    started = time.perf_counter()
    for t in work:
        t.start()
    for t in work:
        t.join()
    return time.perf_counter() - started


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p * len(ordered)) - 1))]


def _load(base: str, token: str, calls: int, pace: float = 0.0) -> tuple[list[float], float]:
    timings: list[list[float]] = [[] for _ in range(CALLERS)]
    errors: list[BaseException] = []

    def caller(n: int) -> None:
        phone = Caller(base, token, n, timings[n], pace)
        try:
            for _ in range(calls):
                phone.call()
        except BaseException as exc:
            errors.append(exc)

    elapsed = _run_threads([threading.Thread(target=caller, args=(n,)) for n in range(CALLERS)])
    if errors:
        raise errors[0]
    return [t for ts in timings for t in ts], elapsed


def _all_written(database_url: str, calls: int, started: float) -> float:
    """Seconds from ``started`` until the database holds every call closed (at once: each
    webhook answered after its commit)."""
    from sqlalchemy import create_engine, func, select

    from helpline.models import Call

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            while True:
                closed = conn.scalar(select(func.count()).select_from(Call)
                                     .where(Call.ended_at.is_not(None)))
                conn.rollback()
                if closed >= calls:
                    return time.perf_counter() - started
                time.sleep(0.002)
    finally:
        engine.dispose()


def _bare(base: str, token: str, requests_each: int) -> float:
    def hammer(n: int) -> None:
        phone = Caller(base, token, n, [])
        for _ in range(requests_each):
            phone.post(base + BARE_PATH, "CA" + "0" * 32, Digits="1")

    elapsed = _run_threads([threading.Thread(target=hammer, args=(n,)) for n in range(CALLERS)])
    return CALLERS * requests_each / elapsed


def run(database_url: str, label: str, calls: int) -> None:
    from helpline import migrate
    from helpline.config import settings_for_tests
    from helpline.db import Database
    from helpline.models import AgentStatus
    from tests.factories import make_user

    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for_tests(Path(tmp), database_url=database_url)
        db = Database(database_url)
        migrate.upgrade(db)
        from helpline import crypto

        crypto.install(crypto.Keyring(settings.data_keys, settings.hash_key))
        with db.session() as session:
            make_user(session, languages="en es", status=AgentStatus.AVAILABLE)
        db.dispose()
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "bench.ivr", "serve", tmp, database_url, str(port)],
            cwd=ROOT, stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            if server.stdout.readline().strip() != "ready":
                raise RuntimeError("the benchmark server did not start")
            base = f"http://127.0.0.1:{port}"
            token = settings.twilio_auth_token
            _load(base, token, 1)  # warm up: imports, first connections, statement caches
            paced, _ = _load(base, token, PACED_CALLS_PER_CALLER, PACE_SECONDS)
            # Flat out, IVR then bare endpoint, in rounds: a neighbour on a shared machine
            # moves one run's figures by a tenth or more; the ratio reported is the median.
            placed = CALLERS * (1 + PACED_CALLS_PER_CALLER)
            rounds = []
            for _ in range(FLAT_OUT_ROUNDS):
                started = time.perf_counter()
                timings, _ = _load(base, token, calls)
                placed += CALLERS * calls
                elapsed = _all_written(database_url, placed, started)
                bare = _bare(base, token, len(timings) // CALLERS)
                rounds.append((timings, len(timings) / elapsed, bare))
        finally:
            server.terminate()
            server.wait(timeout=10)
    load = os.getloadavg()[0]
    print(f"{label}: load average {load:.1f} on {os.cpu_count()} cores during the run (the "
          "callers and the server share them)")
    print(f"{label}, paced ({CALLERS} calls at once, {PACE_SECONDS} s between a caller's "
          f"steps): {len(paced)} webhooks, {_latency(paced)}")
    for n, (timings, throughput, bare) in enumerate(rounds, 1):
        print(f"{label}, flat out ({CALLERS} callers back to back), round {n}: "
              f"{len(timings)} webhooks, {_latency(timings)}; {throughput:.0f} webhooks/s, "
              f"the bare endpoint {bare:.0f} requests/s, ratio {throughput / bare:.2f}")
    ratio = statistics.median(throughput / bare for _, throughput, bare in rounds)
    print(f"{label}, flat out: ratio {ratio:.2f} (median of {len(rounds)} rounds) "
          f"{'OK' if ratio >= 0.5 else 'UNDER the 0.5 target'}")


def _latency(seconds: list[float]) -> str:
    ms = [t * 1000 for t in seconds]
    p99 = _percentile(ms, 0.99)
    return (f"p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms "
            f"{'OK' if p99 < 50 else 'OVER the 50 ms target'}")


def main(calls: int = CALLS_PER_CALLER) -> None:
    with sqlite_url() as url:
        run(url, "SQLite", calls)
    if pg_reachable():
        with postgres_url("hl_bench_ivr") as url:
            run(url, "PostgreSQL", calls)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(*sys.argv[2:5])
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else CALLS_PER_CALLER)
