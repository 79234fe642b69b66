"""The fault rig: `helpline serve` as a real process that can be killed -9 and restarted, the
`helpline` command beside it, signed webhooks as Twilio posts them, and a database of the
test's own that can be made to hang or refuse (PostgreSQL behind a TCP proxy, SQLite behind
another process's write lock)."""

from __future__ import annotations

import base64
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import make_url

from helpline import crypto
from helpline.db import Database
from helpline.models import AgentStatus
from simulator.transport import HttpTransport, Signer
from tests.factories import make_user
from tests.fakes.tcp_proxy import TcpProxy

HELPLINE = str(Path(sys.executable).parent / "helpline")
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
DATA_KEY = b"\x01" * 32
HASH_KEY = b"\x02" * 32
START_SECONDS = 60  # a loaded 2-core machine imports the app slowly


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _b64(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


# --- Databases that fail on demand ------------------------------------------------------------


class FaultyDatabase(Protocol):
    server_url: str  # what `helpline serve` and `helpline spool ...` are given
    check_url: str  # what the test reads the outcome with, whatever the fault

    def hang(self) -> None: ...
    def down(self) -> None: ...
    def up(self) -> None: ...
    def close(self) -> None: ...


class SqliteWriteLock:
    """Another process holds a write transaction (BEGIN IMMEDIATE) on the file: every write
    waits for it, as long as the writer's busy timeout lets it."""

    _HOLDER = ("import sqlite3, sys\n"
               "c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)\n"
               "c.execute('BEGIN IMMEDIATE')\n"
               "print('held', flush=True)\n"
               "sys.stdin.read()\n"
               "c.rollback()\n")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.holder: subprocess.Popen[str] | None = None

    def hold(self) -> None:
        if self.holder is not None:
            return
        holder = subprocess.Popen([sys.executable, "-c", self._HOLDER, str(self.path)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert holder.stdout is not None
        if holder.stdout.readline().strip() != "held":
            holder.kill()
            holder.wait()
            raise RuntimeError(f"could not take the write lock on {self.path}")
        self.holder = holder

    def release(self) -> None:
        holder, self.holder = self.holder, None
        if holder is None:
            return
        assert holder.stdin is not None
        holder.stdin.close()
        try:
            holder.wait(timeout=30)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()


class SqliteFile:
    """A SQLite file of the test's own. Hung and down are the same fault here: another
    process holds the write lock, so writes wait out the busy timeout and fail ("database is
    locked"); reads still answer (WAL). The test's own reads work throughout."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.server_url = self.check_url = f"sqlite:///{path}"
        self.lock = SqliteWriteLock(path)

    def hang(self) -> None:
        self.lock.hold()

    def down(self) -> None:
        self.lock.hold()

    def up(self) -> None:
        self.lock.release()

    def close(self) -> None:
        self.lock.release()


class PostgresBehindProxy:
    """A database of the test's own on the CI server, which the server and the command reach
    through a TCP proxy: hanging or refusing it disturbs no other test's connections."""

    def __init__(self, direct_url: str) -> None:
        url = make_url(direct_url)
        self.check_url = direct_url
        self.proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
        self.server_url = url.set(host="127.0.0.1", port=self.proxy.port).render_as_string(
            hide_password=False)

    def hang(self) -> None:
        self.proxy.set_mode("hang")

    def down(self) -> None:
        self.proxy.set_mode("refuse")

    def up(self) -> None:
        self.proxy.set_mode("pass")

    def close(self) -> None:
        self.proxy.close()


def seed_counselor(database_url: str) -> None:
    """An available counselor for every language, so that callers are queued."""
    crypto.install(crypto.Keyring({1: DATA_KEY}, HASH_KEY))
    db = Database(database_url)
    try:
        with db.session() as session:
            make_user(session, languages="en es", status=AgentStatus.AVAILABLE)
    finally:
        db.dispose()


# --- The server process and the command ------------------------------------------------------


class ServerProcess:
    """`helpline serve` on a fixed port, its output appended to files across restarts."""

    def __init__(self, workdir: Path, database_url: str, spool_dir: Path) -> None:
        self.workdir = workdir
        self.spool_dir = spool_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.stderr_path = workdir / "server.stderr"
        self.stdout_path = workdir / "server.stdout"
        self.process: subprocess.Popen[bytes] | None = None
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("HELPLINE_", "TWILIO_", "DB_", "IVR_"))}
        env.pop("DATABASE_URL", None)
        env.update(
            HELPLINE_ENV="development",
            HELPLINE_INSTANCE_DIR=str(workdir / "instance"),
            HELPLINE_SPOOL_DIR=str(spool_dir),
            DATABASE_URL=database_url,
            SECRET_KEY="fault-test-secret-key-" + "x" * 32,
            HELPLINE_DATA_KEYS=f"1:{_b64(DATA_KEY)}",
            HELPLINE_HASH_KEY=_b64(HASH_KEY),
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            PUBLIC_BASE_URL=self.base,
            LOG_LEVEL="INFO",
        )
        self.env = env

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        with open(self.stdout_path, "ab") as out, open(self.stderr_path, "ab") as err:
            self.process = subprocess.Popen(
                [HELPLINE, "serve", "--port", str(self.port)], env=self.env,
                cwd=self.workdir, stdout=out, stderr=err)
        deadline = time.monotonic() + START_SECONDS
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"helpline serve exited ({self.process.returncode}):\n"
                                   + self.log()[-3000:])
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("helpline serve did not answer /healthz:\n"
                                   + self.log()[-3000:])
            time.sleep(0.2)

    def kill(self) -> None:
        """kill -9: nothing the process had not made durable survives."""
        process = self.process
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            # A server whose database is still out may wait on it; the test is over.
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()

    def log(self) -> str:
        """What the server wrote to stderr (its log), over every start."""
        try:
            return self.stderr_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def command(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`helpline ARGS` with the server's settings."""
        return subprocess.run([HELPLINE, *args], env=self.env, cwd=self.workdir,
                              capture_output=True, text=True, timeout=timeout)

    def start_command(self, *args: str, stdout: IO[str] | None = None
                      ) -> subprocess.Popen[str]:
        return subprocess.Popen([HELPLINE, *args], env=self.env, cwd=self.workdir,
                                stdout=stdout or subprocess.DEVNULL,
                                stderr=subprocess.STDOUT, text=True)

    def spool_pending(self) -> int:
        """`helpline spool status`: the number of entries waiting to be replayed."""
        result = self.command("spool", "status", timeout=60)
        assert result.returncode == 0, (f"helpline spool status failed ({result.returncode}): "
                                        f"{result.stdout}{result.stderr}")
        found = re.search(r"\d+", result.stdout)
        assert found, f"helpline spool status printed no number: {result.stdout!r}"
        return int(found.group())

    def wait_spool_empty(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = self.spool_pending()
        while pending:
            assert time.monotonic() < deadline, (
                f"{pending} spool entries still pending after {timeout:.0f} s")
            time.sleep(0.5)
            pending = self.spool_pending()

    def replaying(self) -> bool:
        """A replay is under way (its files moved aside in the spool folder)."""
        return any(self.spool_dir.glob("*.replaying"))


def fill(folder: Path) -> None:
    """Fill the file system under ``folder`` until it refuses another byte."""
    with open(folder / "filler", "wb", buffering=0) as fh:
        for size in (65536, 4096, 1):
            block = b"\0" * size
            try:
                while True:
                    fh.write(block)
            except OSError:
                continue
        os.fsync(fh.fileno())


def copy_sqlite(template: Path, workdir: Path) -> Path:
    folder = workdir / "database"
    folder.mkdir()
    path = folder / "helpline.db"
    shutil.copyfile(template, path)
    return path


# --- Webhooks as Twilio posts them ----------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    path: str
    status: int
    text: str
    seconds: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Twilio:
    """Signed webhook posts to one server, each with its own I-Twilio-Idempotency-Token
    unless the test gives one (or asks for none)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.signer = Signer(AUTH_TOKEN)
        self._lock = threading.Lock()
        self._answered = 0

    @property
    def answered(self) -> int:
        """Webhooks answered 2xx so far, by every thread."""
        return self._answered

    def post(self, url: str, params: dict[str, str], token: str | None = "new") -> Answer:
        if not url.startswith("http"):
            url = self.base + url
        headers = {"X-Twilio-Signature": self.signer.validator.compute_signature(url, params)}
        if token is not None:
            headers["I-Twilio-Idempotency-Token"] = str(uuid.uuid4()) if token == "new" \
                else token
        started = time.monotonic()
        path = url.removeprefix(self.base).split("?")[0]
        try:
            reply = HttpTransport(self.base).send("POST", url, params, headers)
        except (OSError, http.client.HTTPException):
            # Killed while answering: the answer never arrived.
            return Answer(path, 0, "", time.monotonic() - started)
        answer = Answer(path, reply.status, reply.text, time.monotonic() - started)
        if answer.ok:
            with self._lock:
                self._answered += 1
        return answer

    def get(self, path: str, timeout: float = 5) -> Answer:
        started = time.monotonic()
        try:
            with urllib.request.urlopen(self.base + path, timeout=timeout) as reply:
                status, text = reply.status, reply.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            status, text = 0, ""
        return Answer(path, status, text, time.monotonic() - started)
