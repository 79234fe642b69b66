"""The counselors' live streams, hundreds to one process: `helpline streams`.

A web process (gunicorn's gthread workers, or waitress under `helpline serve`) gives each live
stream one of its threads, so it holds only LIVE_STREAMS_MAX of them. This server holds every
offer stream and queue-table stream of a machine in one asyncio event loop, beside the web
processes; nginx sends it ``/offers/events`` and ``/queues/events``
(deploy/nginx/helpline.conf) and the IVR's webhooks never wait behind a stream. (The
wallboard's few streams stay on the web processes.)

Signing in stays in one place. A stream is authenticated once, when it opens, by running the
app's own ``GET /offers/current`` in a worker thread with the browser's headers (its session
cookie, X-Forwarded-*): the sign-in gate, the idle sign-out, the permission and the first state
come from the dashboard's code. Anything but a 200 goes back to the browser as the app answered
it (a 401 for a signed-out browser). Each stream ends after about LIFETIME_SECONDS and the
browser reconnects, passing the gate again.

Once open, a stream costs no thread and no query of its own. The server learns that offers
changed from PostgreSQL's ``LISTEN helpline_offers`` (every routing pass, accept and decline
sends it, helpline.calls.routing.notify_offers) and then asks, in ONE query for every connected
counselor, whose status or ringing offer moved (:func:`offer_summaries`); only for those (one,
usually) does it read the banner whole, with the dashboard's own offer_state, and send it.
On SQLite (one machine, no NOTIFY) that one query runs every POLL_SECONDS instead. Either way
it also runs every REFRESH_SECONDS, for status changes that send no notification.

The home page's queue table (``/queues/events``) is the same for everyone: it is signed in the
same way (the app's own ``/queues/events?lifetime=0``), then rendered once every
QUEUES_SECONDS for all the streams that show it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import random
import signal
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import click
from flask import Flask, render_template, request
from sqlalchemy import and_, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from dashboard import live
from dashboard.access import current_user
from dashboard.offers import offer_state
from helpline.calls import routing
from helpline.calls.queues import queue_snapshot
from helpline.db import Database, within
from helpline.models import AgentStatus, Offer, OfferState, User

log = logging.getLogger(__name__)

OFFERS_PATH = "/offers/events"
QUEUES_PATH = "/queues/events"
# The app's view that signs each kind of stream in and gives its first event: passive views
# (dashboard.access.PASSIVE_ENDPOINTS), so that an open page does not keep its user signed in.
SIGN_IN = {OFFERS_PATH: ("/offers/current", ""), QUEUES_PATH: (QUEUES_PATH, "lifetime=0")}
HEALTH_PATH = "/healthz"
LIFETIME_SECONDS = 55.0
KEEPALIVE_SECONDS = 10.0
# A read for every stream at once gives up after this: a hung database must not hold the
# reader thread (the next change or refresh retries), nor open the IVR's breaker.
READ_SECONDS = 5.0
REFRESH_SECONDS = 10.0
POLL_SECONDS = 0.5  # SQLite
QUEUES_SECONDS = live.POLL_SECONDS  # the queue table is rendered this often, once for all
RETRY_MS = 1000
HEAD_SECONDS = 10.0  # a client has this long to send its request's head
WRITE_SECONDS = 10.0  # a stream whose browser takes longer to read a write is dropped
MAX_HEAD_BYTES = 16 * 1024
AUTH_THREADS = 4
STREAMS_MAX = 5000
# Put in the WSGI environ of a stream's sign-in request; the hook below answers who it was.
_IDENTIFY = "helpline.streams.identify"
# Counted down by the browser: a change of these alone is not worth an event.
_TICKING = ("waited_seconds", "rings_seconds_left")
_HOP_HEADERS = frozenset({"connection", "content-length", "content-type", "cache-control",
                          "transfer-encoding", "keep-alive", "etag", "last-modified"})


# --- what changed for many counselors, in one query ---------------------------------------

# What decides a counselor's banner: their status, whether they just missed an offer, and the
# offer ringing for them. When it moves, the banner is read whole with the dashboard's own
# :func:`dashboard.offers.offer_state`.
Summary = tuple[str, bool, int | None]


def summary_of(state: dict[str, Any]) -> Summary:
    offer = state.get("offer")
    return (str(state["status"]), bool(state["missed"]),
            offer["id"] if isinstance(offer, dict) else None)


def offer_summaries(session: Session, user_ids: Iterable[int]) -> dict[int, Summary]:
    """Each counselor's :data:`Summary`, for many counselors in one query (tests check that
    it agrees with :func:`dashboard.offers.offer_state`)."""
    ids = sorted(set(user_ids))
    found: dict[int, Summary] = dict.fromkeys(ids, (str(AgentStatus.OFFLINE), False, None))
    if not ids:
        return found
    rows = session.execute(
        select(User.id, User.status, User.status_reason, Offer.id.label("offer_id"))
        .select_from(User)
        .outerjoin(Offer, and_(Offer.counselor_id == User.id,
                               Offer.state == OfferState.RINGING))
        .where(User.id.in_(ids)))
    for row in rows:
        found[row.id] = (str(row.status), bool(row.status == AgentStatus.AWAY
                                               and row.status_reason == routing.MISSED_OFFER),
                         row.offer_id)
    return found


def _event(state: dict[str, Any]) -> bytes:
    return f"event: offer\ndata: {json.dumps(state)}\n\n".encode()


def _fragment_event(name: str, html: str) -> bytes:
    data = "\n".join(f"data: {line}" for line in html.splitlines())
    return f"event: {name}\n{data}\n\n".encode()


def _what_changed(state: dict[str, Any]) -> str:
    offer = state.get("offer")
    still = {**state, "offer": {k: v for k, v in offer.items() if k not in _TICKING}} \
        if isinstance(offer, dict) else state
    return json.dumps(still, sort_keys=True)


# --- one request's head -------------------------------------------------------------------

@dataclass
class Head:
    method: str
    path: str
    query: str
    version: str
    headers: list[tuple[str, str]]


class BadRequest(Exception):
    pass


def parse_head(raw: bytes) -> Head:
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(lines[0][:100])
    method, target, version = parts
    path, _, query = target.partition("?")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(line[:100])
        headers.append((name, value.strip()))
    return Head(method, unquote(path), query, version, headers)


def wsgi_environ(head: Head, path: str, peer: tuple[str, int] | None,
                 server: tuple[str, int], query: str = "") -> dict[str, Any]:
    """A GET of ``path`` carrying the stream's request headers (cookie, forwarded, accept)."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": query,
        "SERVER_NAME": server[0], "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": head.version, "REMOTE_ADDR": peer[0] if peer else "",
        "REMOTE_PORT": str(peer[1]) if peer else "", "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr,
        "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
    }
    for name, value in head.headers:
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_LENGTH", "CONTENT_TYPE"):
            continue
        key = f"HTTP_{key}"
        environ[key] = f"{environ[key]}, {value}" if key in environ else value
    return environ


@dataclass
class Answer:
    """The app's answer to a stream's sign-in request."""

    status: str
    headers: list[tuple[str, str]]
    body: bytes
    user_id: int | None


def _status_line(status: str) -> bytes:
    return f"HTTP/1.1 {status}\r\n".encode("latin-1")


def _header_lines(headers: Iterable[tuple[str, str]]) -> bytes:
    return "".join(f"{name}: {value}\r\n" for name, value in headers).encode("latin-1")


# --- the streams --------------------------------------------------------------------------

@dataclass(eq=False)
class Stream:
    """One browser's open stream: the newest event to send it, if it has not had it."""

    user_id: int
    last: str  # what it was last sent, less what the browser counts down itself
    summary: Summary | None = None  # an offer stream's, as last sent
    pending: bytes | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def push(self, now: str, event: bytes) -> None:
        if now != self.last:
            self.last = now
            self.pending = event
            self.wake.set()


class StreamServer:
    """Live streams in one event loop; the app's code (signing in, reading) in worker threads."""

    def __init__(self, app: Flask, *, lifetime: float = LIFETIME_SECONDS,
                 keepalive: float = KEEPALIVE_SECONDS, refresh: float = REFRESH_SECONDS,
                 poll: float = POLL_SECONDS, streams_max: int = STREAMS_MAX,
                 auth_threads: int = AUTH_THREADS) -> None:
        self.app = app
        self.db: Database = app.extensions["helpline"].db
        self.lifetime = lifetime
        self.keepalive = keepalive
        self.refresh_every = poll if self.db.is_sqlite else refresh
        self.streams_max = streams_max
        self.streams: dict[int, set[Stream]] = {}  # offer streams, by counselor
        self.queue_streams: set[Stream] = set()
        self.open_streams = 0
        self.refreshes = 0  # queries of every connected counselor's state, for tests
        self.version = 0  # moves when offers may have changed
        self._changed: asyncio.Event | None = None
        self._auth = ThreadPoolExecutor(auth_threads, thread_name_prefix="streams-auth")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="streams-refresh")
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._handlers: set[asyncio.Task[None]] = set()
        # Not app.after_request(): that refuses an app that has served a request already.
        app.after_request_funcs.setdefault(None, []).append(_identify)

    # --- lifecycle
    async def start(self, host: str, port: int) -> int:
        """Listen; the port (0 picks a free one)."""
        self._changed = asyncio.Event()
        self._server = await asyncio.start_server(self._handle, host, port,
                                                  limit=MAX_HEAD_BYTES, backlog=1024)
        self._tasks = [asyncio.create_task(self._refresh_loop(), name="streams-refresh"),
                       asyncio.create_task(self._queues_loop(), name="streams-queues")]
        if not self.db.is_sqlite:
            self._tasks.append(asyncio.create_task(self._listen_loop(), name="streams-listen"))
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening and end every stream (browsers reconnect, to a server that runs)."""
        if self._server is not None:
            self._server.close()
        tasks = [*self._tasks, *self._handlers]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        if self._server is not None:
            await self._server.wait_closed()
        self._auth.shutdown(wait=False, cancel_futures=True)
        self._reader.shutdown(wait=False, cancel_futures=True)

    def changed(self) -> None:
        """Offers may have changed: read every connected counselor's state again."""
        self.version += 1
        if self._changed is not None:
            self._changed.set()

    # --- learning of changes
    async def _listen_loop(self) -> None:
        import psycopg

        url = self.db.engine.url.set(drivername="postgresql")
        dsn = url.render_as_string(hide_password=False)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                        dsn, autocommit=True, connect_timeout=5) as conn:
                    await conn.execute(f"LISTEN {routing.CHANNEL}")
                    self.changed()  # whatever changed before LISTEN took effect
                    async for _ in conn.notifies():
                        self.changed()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("streams: LISTEN failed; retrying", exc_info=True)
                self.changed()
                await asyncio.sleep(1.0)

    async def _refresh_loop(self) -> None:
        assert self._changed is not None
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.refresh_every):
                    await self._changed.wait()
            self._changed.clear()
            ids = list(self.streams)
            if not ids:
                continue
            known = {uid: {stream.summary for stream in self.streams.get(uid, ())}
                     for uid in ids}
            try:
                states = await loop.run_in_executor(self._reader, self._read_states, known)
            except Exception:
                log.warning("streams: reading the offers failed; retrying", exc_info=True)
                await asyncio.sleep(1.0)
                self._changed.set()
                continue
            self.refreshes += 1
            for uid, state in states.items():
                changed, event, summary = _what_changed(state), _event(state), summary_of(state)
                for stream in self.streams.get(uid, ()):
                    stream.summary = summary
                    stream.push(changed, event)

    async def _queues_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(QUEUES_SECONDS)
            if not self.queue_streams:
                continue
            try:
                html = await loop.run_in_executor(self._reader, self._render_queues)
            except Exception:
                log.warning("streams: rendering the queues failed; retrying", exc_info=True)
                continue
            # As the browser reads it back (the first event came from the app's own view).
            now, event = "\n".join(html.splitlines()), _fragment_event("queues", html)
            for stream in list(self.queue_streams):
                stream.push(now, event)

    def _read_states(self, known: dict[int, set[Summary | None]]) -> dict[int, dict[str, Any]]:
        """The banners of the counselors whose summary moved: one query for all of them, then
        the dashboard's own offer_state for each that moved (one, usually)."""
        with (self.app.test_request_context("/"), within(READ_SECONDS, trips_breaker=False),
              self.db.sessions() as session):
            summaries = offer_summaries(session, known)
            return {uid: offer_state(session, uid) for uid, summary in summaries.items()
                    if known[uid] != {summary}}

    def _render_queues(self) -> str:
        """The home page's queue table, as dashboard.home renders it (the same for everyone)."""
        with (self.app.test_request_context("/"), within(READ_SECONDS, trips_breaker=False),
              self.db.sessions() as session):
            return render_template("dashboard/_queues.html", queues=queue_snapshot(session))

    # --- one connection
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError, BadRequest):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("streams: a connection failed")
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(HEAD_SECONDS):
                raw = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            return
        try:
            head = parse_head(raw)
        except BadRequest:
            await self._plain(writer, "400 Bad Request", "bad request\n")
            return
        if head.method not in ("GET", "HEAD"):
            await self._plain(writer, "405 Method Not Allowed", "GET only\n",
                              [("Allow", "GET, HEAD")])
            return
        if head.path == HEALTH_PATH:
            await self._plain(writer, "200 OK", "ok\n")
            return
        if head.path not in SIGN_IN:
            await self._plain(writer, "404 Not Found", "not found\n")
            return
        seen = self.version
        path, query = SIGN_IN[head.path]
        environ = wsgi_environ(head, path, writer.get_extra_info("peername"),
                               writer.get_extra_info("sockname") or ("127.0.0.1", 0), query)
        answer = await asyncio.get_running_loop().run_in_executor(
            self._auth, self._sign_in, environ)
        if answer.user_id is None or not answer.status.startswith("200"):
            writer.write(_status_line(answer.status) + _header_lines(
                [*((n, v) for n, v in answer.headers if n.lower() != "connection"),
                 ("Connection", "close")]) + b"\r\n")
            if head.method == "GET":
                writer.write(answer.body)
            await writer.drain()
            return
        headers = [(n, v) for n, v in answer.headers if n.lower() not in _HOP_HEADERS]
        headers += [("Content-Type", "text/event-stream"), ("Cache-Control", "no-store"),
                    ("X-Accel-Buffering", "no"), ("Connection", "close")]
        writer.write(_status_line("200 OK") + _header_lines(headers) + b"\r\n")
        if head.method == "HEAD":
            await writer.drain()
            return
        if head.path == OFFERS_PATH:
            state = json.loads(answer.body)
            writer.write(f"retry: {RETRY_MS}\n\n".encode() + _event(state))
            stream = Stream(answer.user_id, _what_changed(state), summary_of(state))
        else:
            # The app's own first event (and its retry), then the same table for everyone.
            writer.write(answer.body)
            first = [data for _, data in iter_events(answer.body.decode().split("\n"))]
            stream = Stream(answer.user_id, first[-1] if first else "")
        await _drain(writer)
        if self.open_streams >= self.streams_max:
            return  # turned away: the browser comes back after `retry`
        group = (self.streams.setdefault(stream.user_id, set()) if head.path == OFFERS_PATH
                 else self.queue_streams)
        await self._hold(stream, group, reader, writer, seen)

    async def _hold(self, stream: Stream, group: set[Stream], reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter, seen: int) -> None:
        group.add(stream)
        self.open_streams += 1
        if self.version != seen:
            self.changed()  # offers moved while it signed in: its first state may be stale
        # The browser sends nothing more; the read ends when it goes away.
        gone = asyncio.create_task(reader.read(1))
        loop = asyncio.get_running_loop()
        # Spread: browsers that connected together (after a restart) do not all come back at
        # once.
        deadline = loop.time() + self.lifetime * random.uniform(0.75, 1.0)
        waiter: asyncio.Task[bool] | None = None
        try:
            while not gone.done():
                left = deadline - loop.time()
                if left <= 0:
                    return
                if stream.pending is None:  # (one pushed during the last write goes now)
                    waiter = asyncio.create_task(stream.wake.wait())
                    await asyncio.wait({waiter, gone}, timeout=min(left, self.keepalive),
                                       return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
                if gone.done():
                    return
                data, stream.pending = stream.pending, None
                stream.wake.clear()
                writer.write(data or b":\n\n")
                await _drain(writer)
        finally:
            gone.cancel()
            if waiter is not None:
                waiter.cancel()
            self.open_streams -= 1
            group.discard(stream)
            if not group and self.streams.get(stream.user_id) is group:
                del self.streams[stream.user_id]

    def _sign_in(self, environ: dict[str, Any]) -> Answer:
        """The app's own answer to GET /offers/current, and whose it was."""
        found: list[int] = []
        environ[_IDENTIFY] = found
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]],
                           exc_info: object = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        body = self.app(environ, start_response)
        try:
            data = b"".join(body)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        return Answer(captured["status"], list(captured["headers"]), data,
                      found[0] if found else None)

    @staticmethod
    async def _plain(writer: asyncio.StreamWriter, status: str, text: str,
                     extra: Iterable[tuple[str, str]] = ()) -> None:
        body = text.encode()
        writer.write(_status_line(status) + _header_lines([
            ("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"), *extra, ("Connection", "close")]) + b"\r\n" + body)
        await writer.drain()


async def _drain(writer: asyncio.StreamWriter) -> None:
    # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a cancellation that comes
    # as the write completes, and the stream would outlive the server's close.
    async with asyncio.timeout(WRITE_SECONDS):
        await writer.drain()


def _identify(response: Response) -> Response:
    """After the stream's sign-in request: who was signed in (the gate and the view said
    yes)."""
    found = request.environ.get(_IDENTIFY)
    if found is not None and response.status_code == 200:
        user = current_user()
        if user is not None:
            found.append(user.id)
    return response


# --- the command --------------------------------------------------------------------------

def stream_app() -> Flask:
    """The web app as the stream server runs it: no routing thread, no scheduler (the web
    processes and `helpline scheduler` do that)."""
    from dataclasses import replace

    from helpline.app import create_app
    from helpline.config import load_settings

    settings = replace(load_settings(), routing_in_process=False, scheduler_in_process=False)
    return create_app(settings)


async def _run(app: Flask, host: str, port: int) -> None:
    server = StreamServer(app)
    bound = await server.start(host, port)
    click.echo(f"Live streams on http://{host}:{bound} ({OFFERS_PATH}, {QUEUES_PATH})",
               err=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.close()


@click.command("streams")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8100, show_default=True, type=click.IntRange(0, 65535))
def streams_command(host: str, port: int) -> None:
    """Serve the counselors' live streams (/offers/events, /queues/events): hundreds in one
    process, beside the web processes (nginx sends those paths here)."""
    from helpline import migrate
    from helpline.app.cli_context import CliContext, friendly_errors

    @friendly_errors
    def run() -> None:
        ctx = CliContext()
        if not migrate.is_current(ctx.db):
            raise click.ClickException("the database schema is not current: run `helpline init`")
        ctx.db.dispose()
        asyncio.run(_run(stream_app(), host, port))

    run()


def iter_events(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(event, data) of a text/event-stream's lines, for tests and the benchmark."""
    name, data = "message", ""
    for line in lines:
        if not line:
            if data:
                yield name, data.removeprefix("\n")
            name, data = "message", ""
        elif line.startswith("event:"):
            name = line.removeprefix("event:").removeprefix(" ")
        elif line.startswith("data:"):
            data += "\n" + line.removeprefix("data:").removeprefix(" ")  # one space only
