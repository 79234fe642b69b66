"""deploy/'s files made the rig's: the unit files read as systemd reads them (ExecStart,
Environment, EnvironmentFile, WorkingDirectory, RuntimeDirectory, StateDirectory, KillSignal,
TimeoutStopSec; the specifiers %i, %t, %S), the env file and the nginx site with the rig's
paths and ports, and a main nginx.conf that keeps everything nginx writes in one folder.

The deploy files name plain default paths (/opt/helpline/venv, /etc/helpline, /var/lib, the
certificate paths, ports 80 and 443); each rewrite fails, naming the text, when what it
rewrites is no longer there.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
WEB_UNIT = DEPLOY / "systemd" / "helpline-web@.service"
SCHEDULER_UNIT = DEPLOY / "systemd" / "helpline-scheduler.service"
SITE = DEPLOY / "nginx" / "helpline.conf"
ENV_EXAMPLE = DEPLOY / "helpline.env.example"
# Added by the rig's main nginx.conf (not the site): which web process answered.
UPSTREAM_HEADER = "X-Rig-Upstream"


class RigError(RuntimeError):
    """The deploy files no longer say what the rig expects, or a process would not start."""


@dataclass(frozen=True)
class Paths:
    """Where the deploy files' default paths land in the rig's folder."""

    root: Path

    @property
    def etc(self) -> Path:
        return self.root / "etc" / "helpline"

    @property
    def state(self) -> Path:  # systemd's %S, /var/lib
        return self.root / "var" / "lib"

    @property
    def runtime(self) -> Path:  # systemd's %t, /run
        return self.root / "run"

    @property
    def tls(self) -> Path:
        return self.root / "tls"

    def rewrite(self, text: str) -> str:
        for default, here in (("/opt/helpline/venv", Path(sys.prefix)),
                              ("/etc/helpline", self.etc),
                              ("/var/lib", self.state)):
            text = text.replace(default, str(here))
        return text


def _replace(text: str, pattern: str, replacement: str | Callable[[re.Match[str]], str],
             source: Path) -> str:
    changed, n = re.subn(pattern, replacement, text, flags=re.MULTILINE | re.DOTALL)
    if not n:
        raise RigError(f"{source.relative_to(REPO)}: the rig looks for {pattern!r} to rewrite "
                       "and it is not there any more; update tests/deploy/rig.py")
    return changed


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile= reads them (# and ; comment lines)."""
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def render_env_file(paths: Paths, overrides: Mapping[str, str]) -> Path:
    """deploy/helpline.env.example with the rig's values in place of (or after) its own."""
    lines = []
    given = dict(overrides)
    for raw in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        key = raw.split("=", 1)[0].strip() if "=" in raw and not raw.startswith("#") else ""
        if key in given:
            lines.append(f"{key}={given.pop(key)}")
        else:
            lines.append(paths.rewrite(raw))
    lines += [f"{key}={value}" for key, value in given.items()]
    paths.etc.mkdir(parents=True, exist_ok=True)
    target = paths.etc / "helpline.env"
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target.chmod(0o600)
    return target


@dataclass(frozen=True)
class Service:
    """What a unit file's [Service] section asks systemd to run."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    runtime_dirs: list[Path]
    state_dirs: list[Path]
    kill_signal: signal.Signals
    stop_seconds: float


def _unit_lines(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) of a unit file, continuation lines joined."""
    entries: list[tuple[str, str, str]] = []
    section = ""
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def _expand_variables(word: str, env: Mapping[str, str]) -> str:
    """systemd's ${NAME} and a word that is just $NAME, from the service's environment."""
    word = re.sub(r"\$\{(\w+)\}", lambda m: env.get(m.group(1), ""), word)
    whole = re.fullmatch(r"\$(\w+)", word)
    return env.get(whole.group(1), "") if whole else word


def read_service(unit: Path, paths: Paths, instance: str = "") -> Service:
    """The unit's [Service], with its specifiers and default paths made the rig's."""

    def specifiers(value: str) -> str:
        value = value.replace("%%", "\0")
        value = (value.replace("%i", instance).replace("%I", instance)
                 .replace("%t", str(paths.runtime)).replace("%S", str(paths.state)))
        return paths.rewrite(value).replace("\0", "%")

    fixed: dict[str, str] = {}
    files: list[Path] = []
    exec_start: list[str] = []
    cwd = paths.root
    runtime_dirs: list[Path] = []
    state_dirs: list[Path] = []
    kill_signal = signal.SIGTERM
    stop_seconds = 90.0
    for section, key, raw in _unit_lines(unit):
        if section != "Service":
            continue
        value = specifiers(raw)
        if key == "Environment":
            for assignment in shlex.split(value):
                name, _, setting = assignment.partition("=")
                fixed[name] = setting
        elif key == "EnvironmentFile":
            files.append(Path(value.removeprefix("-")))
        elif key == "ExecStart":
            exec_start = shlex.split(value.lstrip("-@:+!"))
        elif key == "WorkingDirectory":
            cwd = Path(value.removeprefix("-"))
        elif key == "RuntimeDirectory":
            runtime_dirs += [paths.runtime / name for name in value.split()]
        elif key == "StateDirectory":
            state_dirs += [paths.state / name for name in value.split()]
        elif key == "KillSignal":
            kill_signal = signal.Signals[value if value.startswith("SIG") else f"SIG{value}"]
        elif key == "TimeoutStopSec":
            stop_seconds = float(value.removesuffix("s"))
    if not exec_start:
        raise RigError(f"{unit.relative_to(REPO)}: no ExecStart")
    # As systemd: a minimal environment, then Environment=, then the files (which win).
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           "HOME": str(paths.state / "helpline"), "PYTHONUNBUFFERED": "1"}
    env.update(fixed)
    for path in files:
        env.update(read_env_file(path))
    if runtime_dirs:
        env["RUNTIME_DIRECTORY"] = ":".join(map(str, runtime_dirs))
    if state_dirs:
        env["STATE_DIRECTORY"] = ":".join(map(str, state_dirs))
    argv = [_expand_variables(word, env) for word in exec_start]
    return Service(argv, env, cwd, runtime_dirs, state_dirs, kill_signal, stop_seconds)


def render_site(paths: Paths, *, web_ports: list[int], http_port: int, https_port: int,
                cert: Path, key: Path) -> str:
    """deploy/nginx/helpline.conf on loopback ports, upstream of the rig's web processes."""
    text = SITE.read_text(encoding="utf-8")
    text = _replace(text, r"^(\s*)listen 80;", rf"\1listen 127.0.0.1:{http_port};", SITE)
    text = _replace(text, r"^(\s*)listen 443 ([^;]*);", rf"\1listen 127.0.0.1:{https_port} \2;",
                    SITE)
    # No IPv6 in every container: the loopback listens above are enough.
    text = _replace(text, r"^(\s*)listen \[::\]:\d+[^;]*;", r"\1# (IPv6 listen left out)", SITE)
    text = _replace(text, r"^(\s*)ssl_certificate\s+\S+;", rf"\1ssl_certificate {cert};", SITE)
    text = _replace(text, r"^(\s*)ssl_certificate_key\s+\S+;", rf"\1ssl_certificate_key {key};",
                    SITE)

    def upstream(block: re.Match[str]) -> str:
        servers = re.findall(r"^\s*server\s+\S+([^;]*);", block.group(0), flags=re.MULTILINE)
        if not servers:
            raise RigError(f"{SITE.relative_to(REPO)}: no server line in the upstream")
        lines = "".join(f"    server 127.0.0.1:{port}{servers[0]};\n" for port in web_ports)
        rest = re.sub(r"^\s*server\s+\S+[^;]*;\n", "", block.group(0), flags=re.MULTILINE)
        return rest.replace("{\n", "{\n" + lines, 1)

    text = _replace(text, r"^upstream helpline_web \{.*?^\}", upstream, SITE)

    def streams(block: re.Match[str]) -> str:
        # The rig runs no `helpline streams`: nginx finds nothing on its port and sends the
        # streams to its backup, made the rig's first web process.
        return re.sub(r"^(\s*server\s+)\S+(\s+backup\s*;)", rf"\g<1>127.0.0.1:{web_ports[0]}\2",
                      block.group(0), flags=re.MULTILINE)

    return _replace(text, r"^upstream helpline_streams \{.*?^\}", streams, SITE)


def render_nginx_main(folder: Path, site: Path) -> Path:
    """nginx's main configuration: everything it writes in ``folder``, the site included."""
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / "tmp" / name).mkdir(parents=True, exist_ok=True)
    # As root nginx would hand its workers to `nobody`, who cannot enter the test's folder.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    conf = folder / "nginx.conf"
    temp = "".join(f"    {name}_temp_path {folder}/tmp/{name.removeprefix('client_')};\n"
                   for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf.write_text(
        f"{user}worker_processes 1;\ndaemon off;\npid {folder}/nginx.pid;\n"
        f"error_log {folder}/error.log warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        "    log_format rig '$remote_addr \"$request\" $status upstream=$upstream_addr "
        "upstream_status=$upstream_status $request_time';\n"
        f"    access_log {folder}/access.log rig;\n"
        f"    add_header {UPSTREAM_HEADER} $upstream_addr always;\n"
        f"{temp}"
        f"    include {site};\n"
        "}\n", encoding="utf-8")
    return conf
