"""The routing thread and the offers signal: a nudge runs a pass, a pass moves the signal, a
change made by another connection (another process) moves it within a second; and, across two
real web processes on PostgreSQL, an offer made on the process that served the caller's
webhooks reaches the counselor's live stream on the other within a second."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select

from helpline import crypto
from helpline.app import router as router_module
from helpline.app.router import Router, Signal
from helpline.calls import routing
from helpline.config import Settings
from helpline.db import Database, utcnow
from helpline.models import AgentStatus, Offer, OfferState, User
from helpline.records import contacts
from tests.factories import PASSWORD, make_call, make_user
from tests.faults.calls import gather_action, twiml
from tests.faults.rig import DATA_KEY, HASH_KEY, Twilio
from tests.fixtures.routing_processes import EventStream, WebProcess, sign_in

CROSS_PROCESS_SECONDS = 1.0  # the bound


def _caller_and_counselor(db: Database) -> tuple[int, int]:
    with db.session() as session:
        counselor = make_user(session, languages="en", status=AgentStatus.AVAILABLE)
        call = make_call(session, queue_name="general-en", status="queued", language="en",
                         enqueued_at=utcnow())
        return call.id, counselor.id


def _ringing(db: Database) -> list[tuple[int, int]]:
    with db.sessions() as session:
        return [(row.call_id, row.counselor_id) for row in session.execute(
            select(Offer.call_id, Offer.counselor_id).where(Offer.state == OfferState.RINGING))]


def _quiet(signal: Signal, for_seconds: float = 0.6, within: float = 10.0) -> int:
    """The signal's version once it has stopped moving (the watcher's first look moves it)."""
    deadline = time.monotonic() + within
    version = signal.version
    while time.monotonic() < deadline:
        moved = signal.wait(version, for_seconds)
        if moved == version:
            return version
        version = moved
    raise AssertionError("the offers signal never settled")


def test_a_signal_wakes_whoever_waits_when_it_moves() -> None:
    signal = Signal()
    assert signal.wait(0, 0.01) == 0  # nothing moved: the wait times out
    signal.bump()
    assert signal.wait(0, 5) == 1
    assert signal.wait(1, 0.01) == 1


def test_a_pass_that_offers_moves_the_signal_and_one_with_nothing_to_do_does_not(
        db: Database, settings: Settings) -> None:
    call_id, counselor_id = _caller_and_counselor(db)
    router = Router(db, settings)  # not started: its passes run here
    done = router.run_pass()
    assert done is not None and done.offered == [(call_id, counselor_id)]
    assert router.signal.version == 1
    assert router.run_pass() is None  # the caller rings already: nothing to do
    assert router.signal.version == 1


def test_a_nudge_runs_a_pass_at_once(db: Database, settings: Settings,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(router_module, "TICK_SECONDS", 30.0)  # only a nudge runs a pass
    router = Router(db, settings).start()
    try:
        _quiet(router.signal)
        call_id, counselor_id = _caller_and_counselor(db)
        assert _ringing(db) == []
        started = time.monotonic()
        router.nudge()
        deadline = started + 5
        while not _ringing(db) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _ringing(db) == [(call_id, counselor_id)]
        assert time.monotonic() - started < 1.0
        assert router.passes >= 1
    finally:
        router.stop()


def test_the_watcher_sees_another_connections_change_within_a_second(
        db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(router_module, "TICK_SECONDS", 30.0)  # no pass of its own meanwhile
    router = Router(db, settings).start()
    other = Database(settings.database_url)  # another engine: as another process would
    try:
        seen = _quiet(router.signal)
        started = time.monotonic()
        with other.session() as session:
            user = make_user(session, languages="en")
            contacts.set_status(session, user, AgentStatus.AVAILABLE)
            routing.notify_offers(session)  # as the dashboard's status change does
        moved = router.signal.wait(seen, 5)
        took = time.monotonic() - started
        assert moved != seen, "the watcher never saw the change"
        assert took < 1.0, f"the watcher saw the change after {took:.2f} s"
    finally:
        router.stop()
        other.dispose()


def _until(condition: Callable[[], bool], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


@pytest.mark.postgres
def test_one_process_ticks_and_another_takes_over_when_it_stops(
        db: Database, settings: Settings) -> None:
    # Three "processes" (each its own engine and watching connection, as a web worker has).
    engines = [Database(settings.database_url) for _ in range(3)]
    routers = [Router(engine, settings).start() for engine in engines]
    try:
        assert _until(lambda: sum(r.ticking for r in routers) == 1), "nobody was elected"
        time.sleep(1.5)  # the others keep asking, and keep being refused
        assert sum(r.ticking for r in routers) == 1
        leader = next(r for r in routers if r.ticking)
        leader.stop()  # its connection closes: the lock is free
        rest = [r for r in routers if r is not leader]
        assert _until(lambda: sum(r.ticking for r in rest) == 1, within=3.0), (
            "nobody took over the ticking")
        # The one ticking now rings a caller out on time without any nudge.
        call_id, counselor_id = _caller_and_counselor(db)
        assert _until(lambda: _ringing(db) == [(call_id, counselor_id)], within=3.0)
    finally:
        for router, engine in zip(routers, engines, strict=True):
            router.stop()
            engine.dispose()


# --- two real processes ---------------------------------------------------------------------


@pytest.fixture
def two_processes(database_url: str, tmp_path: Path) -> Iterator[tuple[WebProcess, WebProcess]]:
    """A: serves the caller's webhooks and routes. B: serves the counselor's stream and only
    watches (its routing thread makes no pass), so what B's stream shows came from A."""
    a = WebProcess(tmp_path, database_url, name="a")
    b = WebProcess(tmp_path, database_url, name="b", watch_only=True)
    try:
        a.start()
        b.start()
        a.wait_ready()
        b.wait_ready()
        yield a, b
    finally:
        a.terminate()
        b.terminate()
        a.stop()
        b.stop()


@pytest.mark.postgres
def test_an_offer_made_by_one_process_reaches_a_stream_on_another_within_a_second(
        database_url: str, two_processes: tuple[WebProcess, WebProcess]) -> None:
    a, b = two_processes
    secret = pyotp.random_base32()
    crypto.install(crypto.Keyring({1: DATA_KEY}, HASH_KEY))
    db = Database(database_url)
    try:
        with db.session() as session:
            make_user(session, "counselor", username="robin", languages="en",
                      status=AgentStatus.OFFLINE, totp_secret=secret, totp_enabled=True)
        browser = sign_in(b.base, "robin", PASSWORD, secret)
        # Read until the fixture stops the servers (closing a reply another thread reads
        # waits for the next keepalive).
        stream = EventStream(browser, b.base + "/offers/events")
        stream.wait_for(lambda e: e.name == "offer", timeout=10)
        reply = browser.post(b.base + "/status", allow_redirects=False, timeout=10,
                             data={"status": "available",
                                   "csrf_token": browser.headers["X-CSRF-Token"]})
        assert reply.status_code == 302, reply.text[:300]

        # The caller, on A: the language, then the menu's key for the general queue.
        twilio = Twilio(a.base)
        params = {"CallSid": "CA" + "7" * 32, "AccountSid": "AC" + "5" * 32,
                  "From": "+12025550199", "To": "+18005550100", "Direction": "inbound",
                  "ApiVersion": "2010-04-01", "CallStatus": "in-progress"}
        voice = twilio.post("/ivr/voice", {**params, "CallStatus": "ringing"})
        language = twilio.post(gather_action(voice), {**params, "Digits": "1"})
        # Timed from the moment the caller pressed the key: stricter than from the answer.
        enqueued = time.monotonic()
        enqueue = twilio.post(gather_action(language), {**params, "Digits": "1"})
        assert twiml(enqueue).find("Enqueue") is not None, enqueue.text[:300]

        offered = stream.wait_for(lambda e: e.data.get("offer") is not None, timeout=10)
        latency = offered.at - enqueued
        assert offered.data["offer"]["queue"], offered.data
        assert latency < CROSS_PROCESS_SECONDS, (
            f"the offer reached the other process's stream after {latency:.3f} s")
        with db.sessions() as session:
            robin = session.scalar(select(User).where(User.username == "robin"))
            assert robin is not None
            shown = routing.ringing_for(session, robin.id)
        assert shown is not None and shown.offer_id == offered.data["offer"]["id"]
    finally:
        db.dispose()
