"""`helpline streams`: the offer streams in one asyncio process. A stream signs in through the
app's own view (no session, no stream), gets an offer as the routing pass rings it, and many
streams share one query per change and a few database connections."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import select as io_select
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from dashboard import streams
from dashboard.access import SESSION_KEY
from dashboard.offers import offer_state
from helpline.calls import routing
from helpline.config import Settings
from helpline.db import Database, utcnow
from helpline.models import AgentStatus, StaffSession, User
from helpline.staff import auth
from tests.factories import make_call, make_user

AUTH_THREADS = 3


class Served:
    """The stream server on a free port, its event loop in a thread."""

    def __init__(self, app: Flask) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = streams.StreamServer(app, auth_threads=AUTH_THREADS, refresh=30.0,
                                           poll=0.2)
        self.port = self.call(self.server.start("127.0.0.1", 0))

    def call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    def close(self) -> None:
        self.call(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def served_streams(app: Flask) -> Iterator[Served]:
    served = Served(app)
    yield served
    served.close()


class Browser:
    """An EventSource's connection, read line by line with a timeout."""

    def __init__(self, port: int, cookie: str | None, path: str = streams.OFFERS_PATH) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        head = [f"GET {path} HTTP/1.1", "Host: helpline.test", "Accept: text/event-stream"]
        if cookie:
            head.append(f"Cookie: helpline_session={cookie}")
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        self.buffer = b""
        self.status = int(self._line(10).split(" ")[1])
        self.headers: dict[str, str] = {}
        while line := self._line(10):
            name, _, value = line.partition(":")
            self.headers[name.lower()] = value.strip()

    def _line(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not io_select.select([self.sock], [], [], left)[0]:
                raise TimeoutError("no line")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("closed")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode().rstrip("\r")

    def body(self) -> str:
        self.sock.settimeout(10)
        rest = self.buffer
        while chunk := self.sock.recv(65536):
            rest += chunk
        return rest.decode()

    def offer(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next `offer` event's state."""
        return dict(json.loads(self.event("offer", timeout)))

    def event(self, wanted: str, timeout: float = 5.0) -> str:
        """The next event ``wanted``'s data."""
        deadline = time.monotonic() + timeout
        lines: list[str] = []
        while True:
            line = self._line(max(0.01, deadline - time.monotonic()))
            lines.append(line)
            if not line:
                for name, data in streams.iter_events(lines):
                    if name == wanted:
                        return data
                lines = []

    def close(self) -> None:
        self.sock.close()


def signed_in(app: Flask, session: Session, user: User) -> str:
    """A browser's session cookie for ``user``, fully signed in."""
    token = auth.start_session(session, user, "127.0.0.1", "full")
    session.commit()
    client = app.test_client()
    with client.session_transaction() as cookie:
        cookie[SESSION_KEY] = token
    found = client.get_cookie("helpline_session")
    assert found is not None
    return found.value


def counselor(session: Session, **fields: Any) -> User:
    fields.setdefault("languages", "en")
    fields.setdefault("status", AgentStatus.AVAILABLE)
    return make_user(session, status_since=utcnow(), **fields)


def ring_a_caller(session: Session, settings: Settings) -> routing.Pass:
    """A caller enters the queue and a routing pass rings a counselor, as a web process's
    router does (its NOTIFY goes out with the commit)."""
    make_call(session, queue_name="general-en", language="en", status="queued",
              enqueued_at=utcnow())
    done = routing.route(session, settings)
    routing.notify_offers(session)
    session.commit()
    return done


def test_a_stream_without_a_signed_in_session_is_refused(served_streams: Served,
                                                        app: Flask, session: Session) -> None:
    anonymous = Browser(served_streams.port, None)
    assert anonymous.status == 401 and "signed out" in anonymous.body()
    forged = Browser(served_streams.port, "not-a-session")
    assert forged.status == 401
    # Signed in, but an admin takes no calls: the view's permission says no.
    admin = Browser(served_streams.port, signed_in(app, session, make_user(session, "admin")))
    assert admin.status == 403
    assert served_streams.server.open_streams == 0


def test_an_idle_session_is_signed_out_as_the_dashboard_does(
        served_streams: Served, app: Flask, session: Session, settings: Settings) -> None:
    cookie = signed_in(app, session, counselor(session))
    session.execute(update(StaffSession).values(
        last_seen_at=utcnow() - dt.timedelta(minutes=settings.session_idle_minutes + 1)))
    session.commit()
    browser = Browser(served_streams.port, cookie)
    assert browser.status == 401
    ended = session.scalars(select(StaffSession.ended_at)).all()
    assert ended and all(ended)


def test_other_paths_are_not_served(served_streams: Served) -> None:
    assert Browser(served_streams.port, None, "/supervisor/wallboard/events").status == 404
    health = Browser(served_streams.port, None, streams.HEALTH_PATH)
    assert health.status == 200 and health.body() == "ok\n"


def test_an_offer_reaches_the_counselors_stream(served_streams: Served, app: Flask,
                                                session: Session, settings: Settings) -> None:
    user = counselor(session)
    browser = Browser(served_streams.port, signed_in(app, session, user))
    assert browser.status == 200
    assert browser.headers["content-type"] == "text/event-stream"
    assert browser.headers["cache-control"] == "no-store"
    first = browser.offer()
    assert first == {"status": "available", "missed": False, "offer": None}

    done = ring_a_caller(session, settings)
    assert [counselor_id for _, counselor_id in done.offered] == [user.id]
    ringing = browser.offer(timeout=2)  # LISTEN (PostgreSQL) or the poll (SQLite)
    assert ringing["offer"]["queue"] == "General, English"
    assert ringing["offer"]["accept_url"] == f"/offers/{ringing['offer']['id']}/accept"
    browser.close()


def test_the_queue_table_streams_to_every_signed_in_page(
        app: Flask, session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "QUEUES_SECONDS", 0.1)
    served = Served(app)
    try:
        assert Browser(served.port, None, streams.QUEUES_PATH).status == 401
        browsers = [Browser(served.port, signed_in(app, session, counselor(session)),
                            streams.QUEUES_PATH) for _ in range(3)]
        for browser in browsers:
            assert browser.status == 200
            assert "No one is waiting" in browser.event("queues")
        make_call(session, queue_name="family-es", language="es", status="queued",
                  enqueued_at=utcnow(), need="loved_one")
        session.commit()
        for browser in browsers:
            table = browser.event("queues")
            assert "Spanish" in table and "No one is waiting" not in table, table
    finally:
        served.close()


def test_one_query_tells_whose_banner_moved_as_the_dashboard_reads_it(
        app: Flask, session: Session, settings: Settings) -> None:
    ringing, idle = counselor(session), counselor(session)
    missed = counselor(session, status=AgentStatus.AWAY, status_reason=routing.MISSED_OFFER)
    ring_a_caller(session, settings)
    ids = [ringing.id, idle.id, missed.id, 999_999]
    summaries = streams.offer_summaries(session, ids)
    with app.test_request_context("/"):
        for uid in ids:
            assert summaries[uid] == streams.summary_of(offer_state(session, uid)), uid
    assert summaries[ringing.id][2] is not None and summaries[idle.id][2] is None
    assert summaries[missed.id][1] is True


def test_many_streams_share_one_query_per_change_and_a_few_connections(
        served_streams: Served, app: Flask, session: Session, settings: Settings,
        db: Database) -> None:
    users = [counselor(session) for _ in range(40)]
    cookies = [signed_in(app, session, user) for user in users]
    opened: list[int] = []
    reads: list[str] = []
    event.listen(db.engine, "connect", lambda *_: opened.append(1))

    def count(conn: object, cursor: object, statement: str, *rest: object) -> None:
        if threading.current_thread().name.startswith("streams-refresh"):
            reads.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    browsers = [Browser(served_streams.port, cookie) for cookie in cookies]
    for browser in browsers:
        assert browser.offer()["offer"] is None
    assert served_streams.server.open_streams == 40
    # Every stream signed in through a handful of threads: a handful of connections.
    assert len(opened) <= AUTH_THREADS + 1

    refreshes, reads[:] = served_streams.server.refreshes, []
    done = ring_a_caller(session, settings)
    (_, chosen), = done.offered
    got = browsers[[u.id for u in users].index(chosen)].offer()
    assert got["offer"] is not None
    made = served_streams.server.refreshes - refreshes
    # One query per refresh for all forty; the banner read whole for the one offered.
    asked_all = [r for r in reads if "LEFT OUTER JOIN offers" in r]
    assert made >= 1 and len(asked_all) == made
    assert len(reads) - len(asked_all) <= 4, reads
    for browser in browsers:
        browser.close()
    deadline = time.monotonic() + 5
    while served_streams.server.open_streams and time.monotonic() < deadline:
        time.sleep(0.05)
    assert served_streams.server.open_streams == 0  # gone browsers give their stream back


def test_a_stream_ends_after_its_lifetime(app: Flask, session: Session) -> None:
    served = Served(app)
    served.server.lifetime = 0.3
    try:
        browser = Browser(served.port, signed_in(app, session, counselor(session)))
        browser.offer()
        with pytest.raises(EOFError):
            browser.offer(timeout=5)
    finally:
        served.close()
