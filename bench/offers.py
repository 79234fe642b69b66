"""Offer latency at a real center's size: a caller enters the queue -> the offer is on a
counselor's live stream, with 100 counselor streams open and 200 callers waiting, while the
IVR's webhooks go on at a steady rate.

As deployed (deploy/), on one machine: the web app under gunicorn (gthread workers, each with
its routing thread) and `helpline streams` (the live streams in one asyncio process), on
PostgreSQL when it answers (SQLite otherwise, whose streams poll). 100 counselors are signed in
(sessions made in the database, as a sign-in would) and each has the home page's two streams
open (the offer banner's and the queue table's, 200 streams in all): 99 Available who speak
English, one who also speaks Spanish and is on a call. 200 Spanish callers wait, so
every routing pass weighs them and finds nobody free for them.

Then, one after another, English callers take the IVR's real path (greeting, language, menu);
each measured from the moment the webhook that put them in the queue answers to the moment an
``event: offer`` carrying a new offer arrives on any counselor's stream (one English caller is
in flight at a time, so the offer is theirs). The caller then hangs up (the offer is
withdrawn). Meanwhile the waiting callers fetch their hold music (the queue's wait webhook) and
new Spanish callers arrive, at steady rates, open loop; every IVR webhook's time is kept.

Targets (the issue's): offer latency p95 under 500 ms; IVR webhook p99 under 50 ms. Figures are
printed, nothing is asserted: the bench and the servers share this machine's cores.

    python -m bench offers            # 100 measured callers
    python -m bench.offers 30         # fewer (quicker)
"""

from __future__ import annotations

import base64
import os
import random
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

from bench._databases import pg_reachable, postgres_url, sqlite_url

STREAMS = 100
PATHS = ("/offers/events", "/queues/events")  # each counselor's page on Home has both
WAITING = 200
MEASURED = 100
ROUNDS = 4  # measured callers in rounds, each after as many callers without the streams
WEB_WORKERS = 2  # deploy/ runs 4 a machine; this machine also runs the bench
WEB_THREADS = 16  # as deploy/systemd/helpline-web@.service
WAIT_RATE = 15.0  # waiting callers' wait webhooks a second (200 callers, ~13 s apart each)
ARRIVAL_RATE = 1.0  # new Spanish callers a second (three webhooks each)
IVR_THREADS = 12
OFFER_TIMEOUT = 5.0
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
ACCOUNT_SID = "AC" + "5" * 32
QUEUE_SID = "QU" + "1" * 32


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p * len(ordered)) - 1))]


def _b64(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


# --- the servers ---------------------------------------------------------------------------

class Server:
    """A process of ours, ready once ``health`` answers 200."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path,
                 health: str) -> None:
        self.name = name
        self.log = cwd / f"{name}.log"
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(health, timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{name} did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _environment(workdir: Path, database_url: str, web_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HELPLINE_", "TWILIO_", "DB_", "IVR_", "DATABASE_"))}
    env.update(
        HELPLINE_ENV="development",
        HELPLINE_INSTANCE_DIR=str(workdir / "instance"),
        HELPLINE_SPOOL_DIR=str(workdir / "spool"),
        DATABASE_URL=database_url,
        SECRET_KEY="bench-offers-secret-key-" + uuid.uuid4().hex,
        HELPLINE_DATA_KEYS=f"1:{_b64(os.urandom(32))}",
        HELPLINE_HASH_KEY=_b64(os.urandom(32)),
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        PUBLIC_BASE_URL=f"http://127.0.0.1:{web_port}",
        SCHEDULER_IN_PROCESS="false",
        LOG_LEVEL="WARNING",
    )
    return env


# --- the counselors ------------------------------------------------------------------------

def _seed(env: dict[str, str]) -> list[str]:
    """The counselors, signed in: their browsers' session cookies."""
    import datetime as dt

    from flask import Flask
    from flask.sessions import SecureCookieSessionInterface

    from helpline import crypto, migrate
    from helpline.config import load_settings
    from helpline.db import Database, utcnow
    from helpline.models import AgentStatus
    from helpline.staff import auth
    from tests.factories import make_user

    settings = load_settings(env, env_file=None)
    crypto.install(crypto.Keyring(settings.data_keys, settings.hash_key))
    db = Database.for_settings(settings)
    migrate.upgrade(db)
    signer_app = Flask("bench")
    signer_app.secret_key = settings.secret_key
    serializer = SecureCookieSessionInterface().get_signing_serializer(signer_app)
    assert serializer is not None
    cookies = []
    now = utcnow()
    with db.session() as session:
        for n in range(STREAMS):
            busy = n == STREAMS - 1
            user = make_user(session, "counselor", languages="en es" if busy else "en",
                             status=AgentStatus.ON_CALL if busy else AgentStatus.AVAILABLE,
                             status_since=now - dt.timedelta(seconds=600 - n))
            token = auth.start_session(session, user, "127.0.0.1", "full")
            cookies.append(serializer.dumps({"staff_token": token}))
    db.dispose()
    return cookies


class Streams:
    """Every counselor's EventSources (the offer banner's, and the home page's queue table),
    read by one thread that stamps each offer event's arrival."""

    def __init__(self, port: int, cookies: list[str]) -> None:
        self.selector = selectors.DefaultSelector()
        self.offers: list[tuple[float, int]] = []  # (arrived, offer id), new offers only
        self.seen: set[int] = set()
        self.opened = 0
        self.closed = 0
        self.arrived = threading.Condition()
        self._stop = threading.Event()
        self.port = port
        # (when, cookie, path): as EventSource's retry
        self.reopen: list[tuple[float, str, str]] = []
        for cookie in cookies:
            for path in PATHS:
                self._open(cookie, path)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _open(self, cookie: str, path: str) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      f"Accept: text/event-stream\r\n"
                      f"Cookie: helpline_session={cookie}\r\n\r\n").encode())
        sock.setblocking(False)
        self.selector.register(sock, selectors.EVENT_READ,
                               {"buffer": b"", "head": False, "cookie": cookie, "path": path})

    def _read(self) -> None:
        import json

        while not self._stop.is_set():
            now = time.perf_counter()
            for due in [r for r in self.reopen if r[0] <= now]:
                self.reopen.remove(due)
                self._open(due[1], due[2])
            for key, _ in self.selector.select(timeout=0.05):
                arrived = time.perf_counter()
                sock, state = key.fileobj, key.data
                assert isinstance(sock, socket.socket)
                try:
                    chunk = sock.recv(65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    self.selector.unregister(sock)
                    sock.close()
                    self.closed += 1
                    # The stream's lifetime ended: the browser comes back after `retry`.
                    self.reopen.append((arrived + 1.0, state["cookie"], state["path"]))
                    continue
                state["buffer"] += chunk
                if not state["head"]:
                    head, sep, rest = state["buffer"].partition(b"\r\n\r\n")
                    if not sep:
                        continue
                    if not head.startswith(b"HTTP/1.1 200"):
                        raise RuntimeError(f"a stream was refused: {head[:200]!r}")
                    state["head"], state["buffer"] = True, rest
                    self.opened += 1
                *events, state["buffer"] = state["buffer"].split(b"\n\n")
                for raw in events:
                    lines = raw.decode().splitlines()
                    if "event: offer" not in lines:
                        continue
                    data = json.loads(next(line[6:] for line in lines
                                           if line.startswith("data: ")))
                    offer = data.get("offer")
                    if offer and offer["id"] not in self.seen:
                        with self.arrived:
                            self.seen.add(offer["id"])
                            self.offers.append((arrived, offer["id"]))
                            self.arrived.notify_all()

    def wait_offer(self, after: int, timeout: float) -> tuple[float, int] | None:
        """The first new offer beyond the first ``after``, when it arrived."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.offers) > after, timeout)
            return self.offers[after] if len(self.offers) > after else None

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        for key in list(self.selector.get_map().values()):
            assert isinstance(key.fileobj, socket.socket)
            key.fileobj.close()
        self.selector.close()


# --- the callers ---------------------------------------------------------------------------

class Phone:
    """Signed webhooks as Twilio posts them, each one timed."""

    def __init__(self, base: str, timings: list[float]) -> None:
        from simulator.transport import HttpTransport, Signer

        self.base = base
        self.signer = Signer(AUTH_TOKEN)
        self.transport = HttpTransport(base)
        self.timings = timings
        self.lock = threading.Lock()

    def post(self, url: str, sid: str, number: str, **extra: str) -> str:
        params = {"CallSid": sid, "AccountSid": ACCOUNT_SID, "From": number,
                  "To": "+18005550100", "Direction": "inbound", "ApiVersion": "2010-04-01",
                  "CallStatus": "in-progress", **extra}
        started = time.perf_counter()
        reply = self.signer.request(self.transport, "POST", url, params)
        elapsed = time.perf_counter() - started
        with self.lock:
            self.timings.append(elapsed)
        if reply.status not in (200, 204):
            raise RuntimeError(f"{url}: HTTP {reply.status} {reply.text[:200]}")
        return reply.text

    def enqueue(self, sid: str, number: str, language_key: str) -> ET.Element:
        """Greeting, language, menu (1: help for yourself): the <Enqueue> the caller got."""
        voice = ET.fromstring(self.post(self.base + "/ivr/voice", sid, number,
                                        CallStatus="ringing"))
        gather = voice.find("Gather")
        assert gather is not None
        menu = ET.fromstring(self.post(gather.attrib["action"], sid, number,
                                       Digits=language_key))
        gather = menu.find("Gather")
        assert gather is not None
        queued = ET.fromstring(self.post(gather.attrib["action"], sid, number, Digits="1"))
        enqueue = queued.find("Enqueue")
        if enqueue is None:
            raise RuntimeError("the caller was not put in a queue: "
                               + ET.tostring(queued, encoding="unicode")[:300])
        return enqueue

    def hold(self, enqueue: ET.Element, sid: str, number: str, held: int) -> None:
        self.post(enqueue.attrib["waitUrl"], sid, number, QueuePosition="1",
                  QueueTime=str(held), AvgQueueTime="0", CurrentQueueSize="1",
                  QueueSid=QUEUE_SID)

    def hang_up(self, enqueue: ET.Element, sid: str, number: str) -> None:
        self.post(enqueue.attrib["action"], sid, number, QueueResult="hangup", QueueTime="5",
                  QueueSid=QUEUE_SID)
        self.post(self.base + "/ivr/status", sid, number, CallStatus="completed",
                  CallDuration="20")


def _parallel(work: list[Callable[[], Any]], threads: int) -> None:
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        while True:
            with lock:
                if not work or errors:
                    return
                job = work.pop()
            try:
                job()
            except BaseException as exc:
                errors.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]


class Background:
    """The IVR's steady traffic, open loop: wait webhooks of the waiting callers and new
    Spanish callers, at fixed rates whatever the answers' times."""

    def __init__(self, phone: Phone, waiting: list[tuple[ET.Element, str, str]]) -> None:
        import queue

        self.phone = phone
        self.waiting = waiting
        self.jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self.errors: list[BaseException] = []
        self.late = 0  # jobs that found no free thread at their time (the rate was not kept)
        self._stop = threading.Event()
        self.rng = random.Random(7)
        self.arrivals = 0
        self.threads = [threading.Thread(target=self._work, daemon=True)
                        for _ in range(IVR_THREADS)]
        self.threads.append(threading.Thread(target=self._tick, daemon=True))
        for t in self.threads:
            t.start()

    def _tick(self) -> None:
        started = time.perf_counter()
        waits = arrivals = 0
        while not self._stop.is_set():
            elapsed = time.perf_counter() - started
            while waits < elapsed * WAIT_RATE:
                waits += 1
                enqueue, sid, number = self.rng.choice(self.waiting)
                self.jobs.put(partial(self.phone.hold, enqueue, sid, number,
                                      self.rng.randrange(30, 600)))
            while arrivals < elapsed * ARRIVAL_RATE:
                arrivals += 1
                self.jobs.put(self._arrive)
            if self.jobs.qsize() > IVR_THREADS:
                self.late += 1
            time.sleep(0.005)

    def _arrive(self) -> None:
        self.arrivals += 1
        sid, number = "CA" + uuid.uuid4().hex, f"+1556{self.rng.randrange(10**7):07d}"
        self.phone.enqueue(sid, number, "2")

    def _work(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            try:
                job()
            except BaseException as exc:
                self.errors.append(exc)

    def stop(self) -> None:
        self._stop.set()
        for _ in range(IVR_THREADS):
            self.jobs.put(None)
        for t in self.threads:
            t.join(timeout=30)


# --- the run -------------------------------------------------------------------------------

def run(database_url: str, label: str, measured: int) -> None:
    bin_dir = Path(sys.prefix) / "bin"
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        web_port, stream_port = _free_port(), _free_port()
        env = _environment(workdir, database_url, web_port)
        cookies = _seed(env)
        web = Server("web", [str(bin_dir / "gunicorn"), "--bind", f"127.0.0.1:{web_port}",
                             "--workers", str(WEB_WORKERS), "--worker-class", "gthread",
                             "--threads", str(WEB_THREADS), "--timeout", "60",
                             "helpline.app:create_app()"],
                     env, workdir, f"http://127.0.0.1:{web_port}/readyz")
        stack.callback(web.stop)
        streams_server = Server("streams", [str(bin_dir / "helpline"), "streams", "--port",
                                            str(stream_port)],
                                env, workdir, f"http://127.0.0.1:{stream_port}/healthz")
        stack.callback(streams_server.stop)
        base = f"http://127.0.0.1:{web_port}"

        ivr: list[float] = []
        phone = Phone(base, ivr)
        waiting: list[tuple[ET.Element, str, str]] = []

        def wait_in_queue(n: int) -> None:
            sid, number = "CA" + uuid.uuid4().hex, f"+1557{n:07d}"
            enqueue = phone.enqueue(sid, number, "2")
            assert (enqueue.text or "").endswith("-es"), enqueue.text
            waiting.append((enqueue, sid, number))

        started = time.perf_counter()
        _parallel([partial(wait_in_queue, n) for n in range(WAITING)], 8)
        setup = time.perf_counter() - started
        ivr.clear()  # the setup's webhooks ran flat out; the figures are of the steady load

        background = Background(phone, waiting)
        stack.callback(background.stop)
        caller_phone = Phone(base, ivr)
        time.sleep(2.0)  # the steady load settles

        # In rounds, without the streams and then with them: the IVR's webhooks with the same
        # callers rung to counselors, whatever else this machine does meanwhile.
        without: list[float] = []
        with_streams: list[float] = []
        latencies: list[float] = []
        missed = reopened = 0
        opened_in: list[float] = []
        cpu = {"web": 0.0, "streams": 0.0, "seconds": 0.0}
        each = max(1, measured // ROUNDS)
        for _ in range(ROUNDS):
            phone.timings = caller_phone.timings = without
            _callers(caller_phone, each, None)
            phone.timings = caller_phone.timings = with_streams
            opening = time.monotonic()
            streams = Streams(stream_port, cookies)
            try:
                deadline = opening + 60
                while streams.opened < len(PATHS) * STREAMS and time.monotonic() < deadline:
                    time.sleep(0.05)
                if streams.opened < len(PATHS) * STREAMS:
                    raise RuntimeError(f"only {streams.opened} of {len(PATHS) * STREAMS} "
                                       "streams opened")
                opened_in.append(time.monotonic() - opening)
                before = _cpu_seconds(web.process.pid), _cpu_seconds(streams_server.process.pid)
                started = time.monotonic()
                got, lost = _callers(caller_phone, each, streams)
                cpu["seconds"] += time.monotonic() - started
                cpu["web"] += _cpu_seconds(web.process.pid) - before[0]
                cpu["streams"] += _cpu_seconds(streams_server.process.pid) - before[1]
                latencies += got
                missed += lost
                reopened += streams.closed
            finally:
                streams.close()
        load = os.getloadavg()[0]
        background.stop()
        if background.errors:
            raise background.errors[0]

    print(f"{label}: {STREAMS} counselors signed in, each with their offer and queue-table "
          f"streams open ({len(PATHS) * STREAMS} streams, all open in "
          f"{max(opened_in):.1f} s), {WAITING} Spanish callers waiting (queued in "
          f"{setup:.1f} s); "
          f"gunicorn {WEB_WORKERS} gthread workers x {WEB_THREADS} threads and `helpline "
          f"streams`; load average {load:.1f} on {os.cpu_count()} cores (the bench, the "
          "servers and anything else running share them)")
    if latencies:
        ms = [s * 1000 for s in latencies]
        p95 = _percentile(ms, 0.95)
        verdict = "OK" if p95 < 500 and not missed else "OVER the 500 ms target"
        print(f"{label}: offer latency (enqueued -> event: offer on the stream), "
              f"{len(ms)} callers: p50 {statistics.median(ms):.0f} ms, p95 {p95:.0f} ms, "
              f"max {max(ms):.0f} ms {verdict}"
              + (f"; {missed} offers not seen within {OFFER_TIMEOUT:.0f} s" if missed else ""))
    else:
        print(f"{label}: no offer reached a stream ({missed} callers)")
    traffic = (f"{WAIT_RATE:.0f} wait webhooks/s of the waiting callers, {ARRIVAL_RATE:.0f} "
               "new caller/s, and the measured callers'")
    print(f"{label}: IVR webhooks ({traffic}), without the streams: {_latency(without)}")
    print(f"{label}: IVR webhooks, with the {len(PATHS) * STREAMS} streams open: "
          f"{_latency(with_streams)}"
          + (f" (the load generator fell behind {background.late} times)"
             if background.late else ""))
    print(f"{label}: CPU while the streams were open ({cpu['seconds']:.0f} s): web processes "
          f"{cpu['web']:.1f} s, stream server {cpu['streams']:.1f} s; {reopened} streams reached "
          "their lifetime and were opened again (as a browser does after `retry`)")


def _callers(phone: Phone, count: int, streams: Streams | None) -> tuple[list[float], int]:
    """English callers one after another; each hangs up once offered (or after a second when
    no stream watches). The times from enqueued to the offer on a stream, and the misses."""
    latencies: list[float] = []
    missed = 0
    rng = random.Random(count)
    for _ in range(count):
        sid, number = "CA" + uuid.uuid4().hex, f"+1558{rng.randrange(10**7):07d}"
        before = len(streams.offers) if streams else 0
        enqueue = phone.enqueue(sid, number, "1")
        enqueued = time.perf_counter()
        if streams is None:
            time.sleep(0.3)
        else:
            got = streams.wait_offer(before, OFFER_TIMEOUT)
            if got is None:
                missed += 1
            else:
                latencies.append(got[0] - enqueued)
        phone.hang_up(enqueue, sid, number)
        time.sleep(rng.uniform(0.2, 0.6))
    return latencies, missed


def _cpu_seconds(pid: int) -> float:
    """CPU time (user and system) of a process and its children (gunicorn's workers)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


def _latency(seconds: list[float]) -> str:
    ms = [t * 1000 for t in seconds]
    if not ms:
        return "none"
    p99 = _percentile(ms, 0.99)
    return (f"{len(ms)} webhooks, p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms "
            f"{'OK' if p99 < 50 else 'OVER the 50 ms target'}")


def main(measured: int = MEASURED) -> None:
    if pg_reachable():
        with postgres_url("hl_bench_offers") as url:
            run(url, "PostgreSQL", measured)
    else:
        with sqlite_url() as url:
            run(url, "SQLite (streams poll every 0.5 s)", measured)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else MEASURED)
