"""The national busy hour as traffic: callers arriving at random and taking the IVR's real
paths, counselors taking queued callers, and check-ins falling due, for `bench/capacity.py`.

The anchor: the 988 Lifeline took over 8 million contacts in 2025, about 22,000 a day. Every
contact is played as a call (texts and chats ask less of the IVR, so this errs high). The
busiest hour carries PEAK_FACTOR times the mean hourly rate: contact centers usually see 1.5
to 2 times the mean at their daily peak, and 1.75 is the middle of that range.

Arrivals run in real time at a multiple of the busy hour's rate, as a Poisson process. Each
call is the simulator's TwiML interpreter (`simulator.interpreter`) playing the helpline's
real webhooks through nginx, signed as Twilio signs them; what happens inside a call is
compressed: a minute of the call (listening to prompts, holding, talking) passes in half a
second (COMPRESS), so the webhooks per call and their order are those of a real call, and the
rate of webhooks is the arrival rate times that.

Without Twilio nobody bridges a queued caller. The counselors here are in this process, so a
caller learns at once that one took the call, and plays what Twilio would then request: the
counselor's leg and the <Queue url> announcement. Only as it enters the queue does the
interpreter ask `/ivr/queue/assignment` (outbox telephony only) once; those requests are
counted apart from the webhooks.
"""

from __future__ import annotations

import http.client
import math
import queue
import random
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from helpline.calls.queues import counselor_leg_url, take_next_call
from helpline.calls.routing import OfferGone, accept_offer
from helpline.config import Settings
from helpline.db import Database, utcnow
from helpline.models import AgentStatus, Call, Offer, OfferState, User
from helpline.telephony import telephony_for
from simulator.callstate import CallState
from simulator.interpreter import Interpreter, Run
from simulator.transport import TIMEOUT_SECONDS, Reply

CONTACTS_PER_DAY = 22_000
PEAK_FACTOR = 1.75
BUSY_HOUR_CALLS = round(CONTACTS_PER_DAY / 24 * PEAK_FACTOR)
COMPRESS = 120  # call seconds per real second
HELPLINE_NUMBER = "+18005550100"
ASSIGNMENT_POLL = "/ivr/queue/assignment"

# What the caller chooses in the menu, and how often (shares of all calls).
MENU_MIX: dict[str, float] = {
    "self": 0.30,         # 1: help for yourself -> general queue
    "crisis": 0.15,       # 9: warm transfer to the crisis line
    "loved_one": 0.12,    # 2: help for someone you care about -> family queue
    "locator": 0.12,      # 3: treatment centers by ZIP code
    "hang_up": 0.08,      # hangs up while the menu is read
    "groups": 0.06,       # 4: support groups
    "resources": 0.06,    # 5: other resources
    "wrong_key": 0.06,    # presses 7, hears "not an option", then 1
    "counselor": 0.05,    # 0: talk with a counselor -> general queue
}
MENU_KEYS = {"self": "1", "crisis": "9", "loved_one": "2", "locator": "3", "groups": "4",
             "resources": "5", "counselor": "0"}
SPANISH = 0.15            # share of callers who choose Spanish (key 2)
CALLBACK = 0.10           # share of holding callers who ask for a call back instead
PATIENCE_MINUTES = 6.0    # mean hold before a caller hangs up (exponential)
TALK_MINUTES = 10.0       # mean conversation with a counselor (exponential, 2 to 20)
TRANSFER_MINUTES = 8.0    # a crisis caller's conversation with the crisis line
WAIT_CYCLE_SECONDS = 30   # the wait message and its pause: Twilio fetches it again after
CHECKINS_PER_CALL = 0.10  # text check-ins falling due per call of the hour
# Counselors scheduled for the offered load: Erlangs times this, plus two.
STAFFING_MARGIN = 1.3
# Calls that reach a queue: self, loved one, counselor, wrong key (0.53), and a quarter of the
# self-service callers (0.06). Crisis calls go to the crisis line unless handled in house.
QUEUED_SHARE = 0.59


def calls_per_second(multiple: float) -> float:
    return multiple * BUSY_HOUR_CALLS / 3600


def counselors_needed(multiple: float) -> int:
    """Counselors for ``multiple`` times the busy hour, in compressed time."""
    erlangs = calls_per_second(multiple) * QUEUED_SHARE * TALK_MINUTES * 60 / COMPRESS
    return math.ceil(erlangs * STAFFING_MARGIN) + 2


@dataclass(frozen=True)
class Sent:
    """One request as the load generator made it, and its answer."""

    call_sid: str
    path: str
    form: dict[str, str]
    status: int
    text: str
    started: float
    seconds: float


class KeepAliveTransport:
    """Posts to nginx over kept-alive connections (one per request in flight; https with
    ``context``), recording each request. Implements `simulator.transport.Transport`: the URL
    signed is the public one, the connection goes to ``origin``."""

    def __init__(self, origin: str, context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(origin)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.https else 80)
        self.context = context
        self._idle: queue.SimpleQueue[http.client.HTTPConnection] = queue.SimpleQueue()
        self.sent: list[Sent] = []

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        try:
            return self._idle.get_nowait(), True
        except queue.Empty:
            if self.https:
                return http.client.HTTPSConnection(self.host, self.port, context=self.context,
                                                   timeout=TIMEOUT_SECONDS), False
            return http.client.HTTPConnection(self.host, self.port,
                                              timeout=TIMEOUT_SECONDS), False

    def send(self, method: str, url: str, params: dict[str, str],
             headers: dict[str, str]) -> Reply:
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        body = urlencode(params).encode() if method == "POST" else None
        headers = {**headers, "Content-Type": "application/x-www-form-urlencoded",
                   "User-Agent": "TwilioProxy/1.1 (helpline capacity bench)"}
        started = time.perf_counter()
        status, text, kind = 0, "", ""
        for _attempt in range(2):
            conn, reused = self._connection()
            try:
                conn.request(method, target, body=body, headers=headers)
                response = conn.getresponse()
                text = response.read().decode("utf-8", "replace")
                status, kind = response.status, response.headers.get_content_type()
            except (OSError, http.client.HTTPException):
                conn.close()
                # A kept-alive connection the server had closed: sent again on a new one,
                # as any HTTP client does. A new connection that fails is a failure.
                if reused:
                    continue
                break
            self._idle.put(conn)
            break
        self.sent.append(Sent(params.get("CallSid", ""), parts.path, params, status, text,
                              started, time.perf_counter() - started))
        return Reply(status, text, kind)

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


class Floor:
    """The counselors on shift, free again when their call ends (the record's wrap-up is not
    played). With routing on (ROUTING_IN_PROCESS, the default) they take the calls offered to
    them, as the offer banner's Accept does (`accept_offer`): one thread looks for the offers
    ringing for free counselors, as the stream server does for their browsers. With routing off
    each free counselor takes the next caller, as the dashboard's "take next call" does
    (`take_next_call`)."""

    POLL_SECONDS = 0.05  # a free counselor looks again this often (6 s of call time)

    def __init__(self, db: Database, settings: Settings, counselor_ids: list[int]) -> None:
        self.db, self.settings = db, settings
        self.telephony = telephony_for(settings)
        self._free: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._taken: dict[str, tuple[int, str]] = {}  # call -> counselor, their leg's URL
        self._lock = threading.Lock()
        self.stop = threading.Event()
        self.taken = 0
        self.errors = 0
        with db.session() as session:
            session.execute(update(User).where(User.id.in_(counselor_ids))
                            .values(status=AgentStatus.AVAILABLE, status_since=utcnow()))
            # Those of an earlier level are off shift: routing would ring them for nothing.
            session.execute(update(User).where(User.id.not_in(counselor_ids))
                            .values(status=AgentStatus.OFFLINE, status_since=utcnow()))
        self._idle: set[int] = set(counselor_ids)  # free counselors, with routing on
        for cid in counselor_ids:
            self._free.put(cid)
        self.threads = ([threading.Thread(target=self._accept_offers, daemon=True)]
                        if settings.routing_in_process else
                        [threading.Thread(target=self._take_calls, daemon=True)
                         for _ in range(2)])
        for t in self.threads:
            t.start()

    def _take_calls(self) -> None:
        while not self.stop.is_set():
            try:
                cid = self._free.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                taken = self._take_call(cid)
            except SQLAlchemyError:
                self.errors += 1  # as a counselor's "take next call" failing: tried again
                taken = None
            if taken is None:
                self._free.put(cid)
                time.sleep(self.POLL_SECONDS)
                continue
            with self._lock:
                self._taken[taken[0]] = cid, taken[1]
                self.taken += 1

    def _accept_offers(self) -> None:
        while not self.stop.wait(self.POLL_SECONDS):
            with self._lock:
                idle = list(self._idle)
            if not idle:
                continue
            try:
                with self.db.sessions() as session:
                    ringing = session.execute(
                        select(Offer.id, Offer.counselor_id)
                        .where(Offer.state == OfferState.RINGING, Offer.call_id.is_not(None),
                               Offer.counselor_id.in_(idle))).all()
            except SQLAlchemyError:
                self.errors += 1
                continue
            for offer_id, cid in ringing:
                try:
                    taken = self._accept(offer_id, cid)
                except SQLAlchemyError:
                    self.errors += 1  # as the banner's Accept failing: the offer rings on
                    continue
                if taken is not None:
                    with self._lock:
                        self._idle.discard(cid)
                        self._taken[taken[0]] = cid, taken[1]
                        self.taken += 1

    def _accept(self, offer_id: int, cid: int) -> tuple[str, str] | None:
        """The call the counselor accepted, and their leg's TwiML address; None when the
        caller was gone."""
        with self.db.session() as session:
            counselor = session.get(User, cid)
            assert counselor is not None
            try:
                call = accept_offer(session, offer_id, counselor, self.telephony,
                                    self.settings)
            except OfferGone:
                return None
            assert isinstance(call, Call)
            return call.call_sid, counselor_leg_url(self.settings, call.queue_name or "",
                                                    call.language)

    def _take_call(self, cid: int) -> tuple[str, str] | None:
        """The call the counselor took, and their leg's TwiML address; None when nobody waits."""
        with self.db.session() as session:
            counselor = session.get(User, cid)
            assert counselor is not None
            call = take_next_call(session, counselor, self.telephony, self.settings)
            if call is None:
                return None
            return call.call_sid, counselor_leg_url(self.settings, call.queue_name or "",
                                                    call.language)

    def counselor_leg(self, call_sid: str) -> str | None:
        """The TwiML address of the leg of the counselor who took the call, if one did."""
        with self._lock:
            taken = self._taken.get(call_sid)
        return taken[1] if taken else None

    def release(self, call_sid: str) -> None:
        """The call ended: its counselor is available again."""
        with self._lock:
            taken = self._taken.pop(call_sid, None)
        if taken is None:
            return
        cid = taken[0]
        with self.db.session() as session:
            session.execute(update(User).where(User.id == cid)
                            .values(status=AgentStatus.AVAILABLE, status_since=utcnow()))
        with self._lock:
            self._idle.add(cid)
        self._free.put(cid)

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=5)


@dataclass
class Caller:
    """One call from arrival to hang-up, on its own thread, its clock compressed."""

    public_base: str
    token: str
    transport: KeepAliveTransport
    floor: Floor
    zips: list[str]
    rng: random.Random
    number: str
    sid: str = field(default_factory=lambda: "CA" + uuid.uuid4().hex)
    path: str = ""

    def _clock(self) -> Callable[[], float]:
        # Call time starts now and runs COMPRESS times faster than the wall clock.
        epoch, started = time.time(), time.monotonic()
        return lambda: epoch + (time.monotonic() - started) * COMPRESS

    def listen(self, call_seconds: float) -> None:
        time.sleep(call_seconds / COMPRESS)

    def play(self) -> None:
        line = Interpreter(self.transport, self.token, clock=self._clock())
        rng = self.rng
        state, _ = line.start(self.public_base + "/ivr/voice", self.number, HELPLINE_NUMBER,
                              call_sid=self.sid)
        self.listen(12)
        line.press(state, "2" if rng.random() < SPANISH else "1")
        self.path = rng.choices(list(MENU_MIX), weights=list(MENU_MIX.values()))[0]
        self.listen(18)
        if self.path == "hang_up":
            line.hang_up(state)
            return
        if self.path == "wrong_key":
            line.press(state, "7")
            self.listen(12)
        line.press(state, MENU_KEYS.get(self.path, "1"))
        if state.mode == "transfer":
            self.listen(rng.expovariate(1 / TRANSFER_MINUTES) * 60)
            line.hang_up(state)
        elif self.path == "locator":
            self.listen(8)
            line.press(state, rng.choice(self.zips))
            self._after_listening(line, state, 30, text="2", counselor="3")
        elif self.path in {"groups", "resources"}:
            self._after_listening(line, state, 20, text="1", counselor="2")
        self.hold(line, state)

    def _after_listening(self, line: Interpreter, state: CallState, seconds: float, *,
                         text: str, counselor: str) -> None:
        """Self-service heard: half ask for it by text, a quarter for a counselor."""
        self.listen(seconds)
        choice = self.rng.random()
        if choice < 0.5:
            line.press(state, text)
            self.listen(6)
            line.hang_up(state)
        elif choice < 0.75:
            line.press(state, counselor)
        else:
            line.hang_up(state)

    def hold(self, line: Interpreter, state: CallState) -> None:
        """In a queue: until a counselor takes the call, the caller books a call back, or their
        patience runs out; each wait message fetched again as Twilio does."""
        patience = self.rng.expovariate(1 / PATIENCE_MINUTES) * 60
        wants_callback = self.rng.random() < CALLBACK
        held = 0.0
        if state.queue is not None:
            state.queue["polls"] = False  # the floor says when a counselor took the call
        while not state.ended:
            leg = self.floor.counselor_leg(self.sid) if state.in_queue else None
            if leg is not None:
                # Twilio bridges: the counselor's leg dequeues the caller.
                Run(line, state).bridge(leg)
            if state.mode == "connected":
                talk = min(max(self.rng.expovariate(1 / TALK_MINUTES), 2.0), 20.0)
                self.listen(talk * 60)
                line.hang_up(state)
                self.floor.release(self.sid)
                return
            if wants_callback and held >= WAIT_CYCLE_SECONDS and state.mode == "gather":
                wants_callback = False  # once: a booking refused sends the caller back
                line.press(state, "1")  # a call back instead of holding
                self.listen(8)
                line.press(state, "1")  # at the number I am calling from
            elif held >= patience or held > 3600 or not state.in_queue:
                line.hang_up(state)
            else:
                self.listen(WAIT_CYCLE_SECONDS)
                held += WAIT_CYCLE_SECONDS
                line.silence(state)
        self.floor.release(self.sid)


@dataclass
class Traffic:
    """Calls arriving for one load level; every caller's thread, joined by :meth:`drain`."""

    public_base: str
    token: str
    transport: KeepAliveTransport
    floor: Floor
    zips: list[str]
    seed: int
    callers: list[Caller] = field(default_factory=list)
    failures: list[BaseException] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)

    def arrive(self, per_second: float, seconds: float) -> None:
        """Poisson arrivals at ``per_second`` for ``seconds``; returns when the last arrived."""
        rng = random.Random(self.seed)
        start = time.monotonic()
        at = rng.expovariate(per_second)
        while at < seconds:
            delay = start + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            n = self.seed * 100_000 + len(self.callers)
            caller = Caller(self.public_base, self.token, self.transport, self.floor,
                            self.zips, random.Random(n), f"+1202{n % 10_000_000:07d}")
            self.callers.append(caller)
            thread = threading.Thread(target=self._play, args=(caller,), daemon=True)
            self._threads.append(thread)
            thread.start()
            at += rng.expovariate(per_second)

    def _play(self, caller: Caller) -> None:
        try:
            caller.play()
        except BaseException as exc:  # a bench bug, not the server's answer: shown after
            self.failures.append(exc)

    def drain(self, timeout: float) -> int:
        """Wait for every call to end; returns how many were still going at ``timeout``."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        return sum(t.is_alive() for t in self._threads)
