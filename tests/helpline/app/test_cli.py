"""The `helpline` command, as an admin or a script would use it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func, select

from helpline.db import Database
from helpline.models import AuditEvent, Call, User
from tests.factories import make_call, make_user
from tests.fixtures.cli import CliInvoker

HELPLINE = str(Path(sys.executable).parent / "helpline")


def test_create_user_reads_the_password_from_stdin(run_cli: CliInvoker, db: Database) -> None:
    result = run_cli("create-user", "--username", "maria", "--role", "counselor",
                     "--languages", "en es", "--password-stdin", input="blue-river-stone-42\n")
    assert result.exit_code == 0, result.output
    with db.sessions() as session:
        user = session.scalars(select(User).where(User.username == "maria")).one()
        assert user.languages == "en es"
        assert "blue-river" not in user.password_hash


@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (["--username", "maria", "--role", "counselor"], "short", "at least 12"),
        (["--username", "maria", "--role", "counselor"], "password1234", "too common"),
        (["--username", "maria", "--role", "janitor"], "blue-river-stone-42", "janitor"),
        (["--username", "M!", "--role", "counselor"], "blue-river-stone-42", "username"),
        (["--username", "maria", "--role", "counselor", "--languages", "fr"],
         "blue-river-stone-42", "languages"),
    ],
)
def test_bad_account_requests_are_refused_and_nothing_is_written(
    run_cli: CliInvoker, db: Database, args: list[str], password: str, message: str
) -> None:
    result = run_cli("create-user", *args, "--password-stdin", input=password + "\n")
    assert result.exit_code != 0
    assert message in result.output
    with db.sessions() as session:
        assert session.scalar(select(func.count(User.id))) == 0
        assert session.scalar(select(func.count(AuditEvent.id))) == 0


def test_a_duplicate_username_is_refused(run_cli: CliInvoker, db: Database) -> None:
    with db.session() as session:
        make_user(session, username="maria")
    result = run_cli("create-user", "--username", "Maria", "--role", "counselor",
                     "--password-stdin", input="blue-river-stone-42\n")
    assert result.exit_code != 0
    assert "taken" in result.output
    with db.sessions() as session:
        assert session.scalar(select(func.count(User.id))) == 1


def test_export_calls_prints_one_json_object_a_line_without_confidential_fields(
    run_cli: CliInvoker, db: Database
) -> None:
    with db.session() as session:
        make_call(session, number="+15555550147", need="self", language="es")
        make_call(session, number="+15555550147", need="treatment")
    result = run_cli("export", "calls", "--format", "jsonl")
    assert result.exit_code == 0
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["need"] for r in rows] == ["self", "treatment"]
    assert [r["repeat_caller"] for r in rows] == [False, True]
    assert "5550147" not in result.output
    assert not {"caller_number", "caller_hash", "notes"} & set(rows[0])


def test_export_calls_as_csv_since_a_date(run_cli: CliInvoker, db: Database) -> None:
    import datetime as dt

    with db.session() as session:
        make_call(session, started_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC))
        make_call(session, started_at=dt.datetime(2026, 3, 5, tzinfo=dt.UTC))
    result = run_cli("export", "calls", "--format", "csv", "--since", "2026-02-01")
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("id,call_sid")
    assert len(lines) == 2
    bad = run_cli("export", "calls", "--since", "last tuesday")
    assert bad.exit_code != 0 and "2026-11-01" in bad.output


def test_init_demo_loads_staff_and_calls_once(run_cli: CliInvoker, db: Database) -> None:
    first = run_cli("init", "--demo")
    assert first.exit_code == 0, first.output
    assert "password:" in first.output
    second = run_cli("init", "--demo")
    assert second.exit_code == 0
    with db.sessions() as session:
        assert session.scalar(select(func.count(User.id))) == 4
        assert session.scalar(select(func.count(Call.id))) > 0


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HELPLINE_", "TWILIO_"))}
    env.pop("DATABASE_URL", None)
    env.update(HELPLINE_INSTANCE_DIR=str(tmp_path / "instance"), **extra)
    return env


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL": "bogus"}, "DATABASE_URL"),
        ({"HELPLINE_DATA_KEYS": "1:c2hvcnQ"}, "32 bytes"),
        ({"HELPLINE_ENV": "production"}, "required in production"),
        ({"DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/x"}, "database:"),
    ],
)
def test_bad_settings_stop_the_command_with_one_line(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    result = subprocess.run([HELPLINE, "init"], env=_env(tmp_path, **env), cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(env: dict[str, str], tmp_path: Path) -> tuple[subprocess.Popen[str], int]:
    """`helpline init --demo`, then `helpline serve` once it answers its health check."""
    init = subprocess.run([HELPLINE, "init", "--demo"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=180)
    assert init.returncode == 0, init.stderr
    port = _free_port()
    server = subprocess.Popen([HELPLINE, "serve", "--port", str(port)], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                assert r.status == 200
                return server, port
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise
            time.sleep(0.2)


def test_init_demo_then_serve_answers_health_checks(tmp_path: Path) -> None:
    env = _env(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'h.db'}",
               SCHEDULER_IN_PROCESS="false")
    server, port = _serve(env, tmp_path)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
            assert json.load(r)["database"] == "ok"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_serve_writes_what_the_ivr_queued_when_it_is_stopped(tmp_path: Path) -> None:
    from simulator.transport import HttpTransport, Signer

    url = f"sqlite:///{tmp_path / 'h.db'}"
    token = "0123456789abcdef" * 2
    env = _env(tmp_path, DATABASE_URL=url, SCHEDULER_IN_PROCESS="false",
               TWILIO_AUTH_TOKEN=token)
    server, port = _serve(env, tmp_path)
    sid = "CA" + "7" * 32
    try:
        base = f"http://127.0.0.1:{port}"
        reply = Signer(token).request(HttpTransport(base), "POST", base + "/ivr/voice", {
            "CallSid": sid, "From": "+15555550174", "To": "+18005550100"})
        assert reply.status == 200 and "<Gather" in reply.text
    finally:
        server.terminate()  # SIGTERM, at once: the call's first steps are still queued
        assert server.wait(timeout=20) == 0
    db = Database(url)
    try:
        with db.sessions() as session:
            assert session.scalar(select(func.count()).select_from(Call)
                                  .where(Call.call_sid == sid)) == 1
    finally:
        db.dispose()


def test_help_lists_every_command_including_those_plugged_in(tmp_path: Path) -> None:
    result = subprocess.run([HELPLINE, "--help"], env=_env(tmp_path), cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines()
              if line.strip()}
    assert {"audit", "directory", "init", "scheduler", "serve", "simulate-call",
            "spool"} <= listed


def test_a_directory_command_starts_without_flask_twilio_or_the_scheduler() -> None:
    # Scripts run `helpline directory search` often: its start-up is most of its time.
    probe = ("import sys, click; from helpline.app.cli import cli; "
             "cli.get_command(click.Context(cli), 'directory'); "
             "print(sorted(m for m in ('flask', 'twilio', 'apscheduler', 'dashboard', 'ivr') "
             "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.strip() == "[]"
