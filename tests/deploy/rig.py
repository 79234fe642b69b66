"""The deployment rig: the files in deploy/ rendered into a folder of the test's own and run as
a machine would run them. nginx with TLS in front of ``webs`` gunicorn processes
(helpline-web@PORT) and ``schedulers`` ``helpline scheduler`` processes, each a process group
that can be killed -9 and started again.

The command lines and environments come from the unit files, read the way systemd reads them,
with the rig's paths and ports (tests/deploy/render.py).

nginx runs unprivileged (its pid, temporary files and logs in the folder, ports above 1024) from
a small main configuration that includes the rendered site. It serves https with a certificate
of the test's own authority (``Deployment.ca_file``); PUBLIC_BASE_URL is nginx's https address,
so that the URL Twilio signs is the one the app checks. Without a Twilio account in ``env``
texts and calls stay in the outbox; with one, give ``HTTPS_PROXY`` to a fake api.twilio.com
(tests/fakes/twilio_proxy.py, with ``Deployment.twilio_api_cert``).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pyotp
import pytest
import requests

from tests.deploy.render import (
    SCHEDULER_UNIT,
    UPSTREAM_HEADER,
    WEB_UNIT,
    Paths,
    RigError,
    read_service,
    render_env_file,
    render_nginx_main,
    render_site,
)
from tests.deploy.tls import Authority
from tests.factories import PASSWORD
from tests.faults.rig import AUTH_TOKEN, DATA_KEY, HASH_KEY, Answer, Twilio, free_port

ACCOUNT_SID = "AC" + "5" * 32
START_SECONDS = 90  # gunicorn's workers each import the app: slow on a loaded 2-core machine
WEBHOOK_SECONDS = 15  # what Twilio waits for an answer


def _b64(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


def require_tools() -> None:
    """Skip (or fail, when CI demands the fault tests) without nginx or gunicorn."""
    missing = [name for name, found in (
        ("nginx (apt-get install nginx)", shutil.which("nginx")),
        ("gunicorn (pip install -e '.[dev]')", (Path(sys.prefix) / "bin" / "gunicorn").exists()),
    ) if not found]
    if not missing:
        return
    reason = "the deployment rig needs " + " and ".join(missing)
    if os.environ.get("HELPLINE_TEST_REQUIRE_FAULTS") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


# --- Processes ---------------------------------------------------------------------------


@dataclass
class Proc:
    """One service's process (and its children, one process group), its output in a file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log_path: Path
    ready: Callable[[Proc], bool]
    port: int | None = None
    runtime_dirs: list[Path] = field(default_factory=list)
    kill_signal: signal.Signals = signal.SIGTERM
    stop_seconds: float = 30.0
    process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, wait: bool = True) -> None:
        """Start (as systemd: the runtime folders created empty), and wait until ready."""
        assert not self.running(), f"{self.name} is already running"
        for folder in self.runtime_dirs:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True, mode=0o700)
        self.cwd.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {' '.join(self.argv)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = START_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready(self):
            if not self.running():
                raise RigError(f"{self.name} exited ({self.process and self.process.returncode})"
                               f":\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                self.kill()
                raise RigError(f"{self.name} was not ready within {timeout:.0f} s:\n"
                               + self.log()[-3000:])
            time.sleep(0.2)

    def kill(self) -> None:
        """kill -9 of the process and every process it started (gunicorn's workers)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """As systemd stops it: KillSignal to the process, SIGKILL to all after the timeout."""
        self.ask_to_stop()
        self.wait_stopped()

    def ask_to_stop(self) -> None:
        if self.running():
            assert self.process is not None
            self.process.send_signal(self.kill_signal)

    def wait_stopped(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=self.stop_seconds)
        self.kill()

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""


def _answers(url: str, context: ssl.SSLContext | None = None, timeout: float = 2) -> int:
    """The status of a GET, 0 when nothing answers."""
    parts = url.split("/", 3)
    host, _, port = parts[2].partition(":")
    path = "/" + (parts[3] if len(parts) > 3 else "")
    conn: http.client.HTTPConnection
    if url.startswith("https:"):
        conn = http.client.HTTPSConnection(host, int(port or 443), timeout=timeout,
                                           context=context)
    else:
        conn = http.client.HTTPConnection(host, int(port or 80), timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        conn.close()


# --- The deployment ------------------------------------------------------------------------


class Deployment:
    """deploy/ on this machine: nginx (https) before web processes and schedulers."""

    def __init__(self, workdir: Path, database_url: str, *, webs: int = 2, schedulers: int = 2,
                 env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.paths = Paths(workdir)
        self.database_url = database_url
        self.http_port = free_port()
        self.https_port = free_port()
        self.url = f"https://127.0.0.1:{self.https_port}"
        authority = Authority(self.paths.tls)
        self.ca_file = authority.ca_file
        self.context = ssl.create_default_context(cafile=str(self.ca_file))
        self.cert = authority.issue("nginx", ["127.0.0.1", "localhost"])
        # For a fake api.twilio.com the test may put behind HTTPS_PROXY (tests/fakes).
        self.twilio_api_cert = authority.issue("api.twilio.com", ["api.twilio.com"])
        overrides = {
            # Production refuses a loopback PUBLIC_BASE_URL; everything else is as deployed.
            "HELPLINE_ENV": "development",
            "DATABASE_URL": database_url,
            "SECRET_KEY": "deploy-rig-secret-key-" + uuid.uuid4().hex,
            "HELPLINE_DATA_KEYS": f"1:{_b64(DATA_KEY)}",
            "HELPLINE_HASH_KEY": _b64(HASH_KEY),
            # No account: texts and calls stay in the outbox (nothing leaves the machine) unless
            # the test gives TWILIO_ACCOUNT_SID and an HTTPS_PROXY to a fake api.twilio.com.
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "PUBLIC_BASE_URL": self.url,
            "REQUESTS_CA_BUNDLE": str(self.ca_file),
            **(env or {}),
        }
        self.env_file = render_env_file(self.paths, overrides)
        self.webs: list[Proc] = [self._web(free_port()) for _ in range(webs)]
        self.schedulers: list[Proc] = [self._scheduler(n) for n in range(schedulers)]
        self.nginx = self._nginx()
        scheduler = read_service(SCHEDULER_UNIT, self.paths)
        self.env: dict[str, str] = scheduler.env
        self._command_cwd = scheduler.cwd

    def _web(self, port: int) -> Proc:
        service = read_service(WEB_UNIT, self.paths, instance=str(port))
        health = f"http://127.0.0.1:{port}/readyz"
        return Proc(f"helpline-web@{port}", service.argv, service.env, service.cwd,
                    self.workdir / f"web-{port}.log", lambda _: _answers(health) == 200,
                    port=port, runtime_dirs=service.runtime_dirs,
                    kill_signal=service.kill_signal, stop_seconds=service.stop_seconds)

    def _scheduler(self, n: int) -> Proc:
        service = read_service(SCHEDULER_UNIT, self.paths)
        # `helpline scheduler` says so once it has checked the schema and begins to stand.
        return Proc(f"helpline-scheduler-{n}", service.argv, service.env, service.cwd,
                    self.workdir / f"scheduler-{n}.log",
                    lambda proc: "waiting to become the active one" in proc.log(),
                    kill_signal=service.kill_signal, stop_seconds=service.stop_seconds)

    def _nginx(self) -> Proc:
        folder = self.workdir / "nginx"
        folder.mkdir(parents=True, exist_ok=True)
        site = folder / "helpline.conf"
        site.write_text(render_site(self.paths, web_ports=[w.port or 0 for w in self.webs],
                                    http_port=self.http_port, https_port=self.https_port,
                                    cert=self.cert.cert, key=self.cert.key), encoding="utf-8")
        conf = render_nginx_main(folder, site)
        argv = [shutil.which("nginx") or "nginx", "-p", str(folder), "-c", str(conf),
                "-e", str(folder / "error.log")]
        health = self.url + "/healthz"
        return Proc("nginx", argv, {"PATH": os.environ.get("PATH", "")}, folder,
                    folder / "nginx.log", lambda _: _answers(health, self.context) == 200,
                    kill_signal=signal.SIGQUIT, stop_seconds=10)

    def start(self) -> None:
        """Migrate, then start the web processes, the schedulers and nginx; wait until each
        is ready (webs answer /readyz, schedulers stand in the election, nginx answers)."""
        check = subprocess.run([self.nginx.argv[0], "-t", *self.nginx.argv[1:]],
                               capture_output=True, text=True, check=False)
        if check.returncode != 0:
            raise RigError(f"nginx -t refused the rendered site:\n{check.stderr}")
        init = self.command("init")
        if init.returncode != 0:
            raise RigError(f"helpline init failed:\n{init.stdout}{init.stderr}")
        try:
            for proc in [*self.webs, *self.schedulers]:
                proc.start(wait=False)
            for proc in [*self.webs, *self.schedulers]:
                proc.wait_ready()
            self.nginx.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop everything at once, each as systemd would (then kill what is left)."""
        procs = [self.nginx, *self.schedulers, *self.webs]
        for proc in procs:
            proc.ask_to_stop()
        for proc in procs:
            proc.wait_stopped()

    def command(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`helpline ARGS` with the services' environment, as an operator on the machine."""
        helpline = str(Path(sys.prefix) / "bin" / "helpline")
        self._command_cwd.mkdir(parents=True, exist_ok=True)
        return subprocess.run([helpline, *args], env=self.env, cwd=self._command_cwd,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def active_scheduler(self, timeout: float = 60) -> Proc:
        """The scheduler that won the election (its log says so, naming its pid)."""
        deadline = time.monotonic() + timeout
        while True:
            for proc in self.schedulers:
                if proc.running() and re.search(
                        rf":{proc.pid}:\w+ is now the active one", proc.log()):
                    return proc
            if time.monotonic() > deadline:
                raise RigError("no scheduler became the active one:\n" + "\n".join(
                    f"{p.name}: {p.log()[-1500:]}" for p in self.schedulers))
            time.sleep(0.2)

    def web_at(self, upstream: str) -> Proc:
        """The web process at an address nginx names (the last, if it tried several)."""
        port = upstream.rsplit(",", 1)[-1].strip().rpartition(":")[2]
        found = [web for web in self.webs if str(web.port) == port]
        assert found, f"no web process at {upstream!r} (nginx's {UPSTREAM_HEADER} header)"
        return found[0]

    def answered_by(self, path: str) -> str:
        """Which web process answered a GET of ``path`` through nginx (its address)."""
        conn = http.client.HTTPSConnection("127.0.0.1", self.https_port, timeout=10,
                                           context=self.context)
        try:
            conn.request("GET", path)
            reply = conn.getresponse()
            reply.read()
            return reply.getheader(UPSTREAM_HEADER, "")
        finally:
            conn.close()

    def retried(self) -> list[str]:
        """nginx's access log lines of requests it passed to more than one web process."""
        try:
            lines = (self.workdir / "nginx" / "access.log").read_text().splitlines()
        except FileNotFoundError:
            return []
        return [line for line in lines if re.search(r"upstream=\S+, ", line)]

    def twilio(self) -> NginxTwilio:
        """Twilio, posting signed webhooks to nginx over TLS."""
        return NginxTwilio(self.url, self.context)


class NginxTwilio(Twilio):
    """:class:`tests.faults.rig.Twilio` over https, trusting the rig's authority."""

    def __init__(self, base: str, context: ssl.SSLContext) -> None:
        super().__init__(base)
        self.context = context
        self._host, _, port = base.split("//", 1)[1].partition(":")
        self._port = int(port or 443)

    def post(self, url: str, params: dict[str, str], token: str | None = "new") -> Answer:
        if not url.startswith("http"):
            url = self.base + url
        headers = {"X-Twilio-Signature": self.signer.validator.compute_signature(url, params),
                   "Content-Type": "application/x-www-form-urlencoded",
                   "User-Agent": "TwilioProxy/1.1 (deploy rig)"}
        if token is not None:
            headers["I-Twilio-Idempotency-Token"] = str(uuid.uuid4()) if token == "new" \
                else token
        path = "/" + url.split("//", 1)[1].split("/", 1)[1]
        started = time.monotonic()
        conn = http.client.HTTPSConnection(self._host, self._port, context=self.context,
                                           timeout=WEBHOOK_SECONDS)
        try:
            conn.request("POST", path, body=urlencode(params), headers=headers)
            reply = conn.getresponse()
            status, text = reply.status, reply.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            status, text = 0, ""
        finally:
            conn.close()
        answer = Answer(path.split("?")[0], status, text, time.monotonic() - started)
        if answer.ok:
            with self._lock:
                self._answered += 1
        return answer


def staff_session(deployment: Deployment, username: str, totp_secret: str) -> requests.Session:
    """A browser's session through nginx, signed in with the password and the second factor."""
    browser = requests.Session()
    # The environment's CA bundle and proxies would win over the session's own settings.
    browser.trust_env = False
    browser.verify = str(deployment.ca_file)

    def csrf(page: str) -> str:
        answer = browser.get(deployment.url + page, timeout=30)
        found = re.search(r'name="csrf_token" value="([^"]+)"', answer.text)
        assert found, f"{page} ({answer.status_code}) has no form: {answer.text[:300]!r}"
        return found.group(1)

    answer = browser.post(deployment.url + "/sign-in", timeout=30, allow_redirects=False, data={
        "username": username, "password": PASSWORD, "csrf_token": csrf("/sign-in")})
    assert answer.status_code == 302, f"sign-in answered {answer.status_code}"
    if answer.headers["Location"].endswith("/sign-in/second-factor"):
        token = csrf("/sign-in/second-factor")
        answer = browser.post(deployment.url + "/sign-in/second-factor", timeout=30,
                              allow_redirects=False,
                              data={"code": pyotp.TOTP(totp_secret).now(), "csrf_token": token})
        assert answer.status_code == 302, f"the second factor answered {answer.status_code}"
    return browser
