"""The `helpline` command: init, serve, export, create-user, rotate-keys, and feature commands."""

from __future__ import annotations

import datetime as dt
import signal
import sys
from importlib import import_module
from typing import TYPE_CHECKING

import click

from helpline.app.cli_context import CliContext, friendly_errors, pass_ctx

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from sqlalchemy.orm import Session

# Commands kept in their own modules, imported only when run or listed by --help: the
# scheduler's brings APScheduler and the metrics, the simulator's Flask, and a command such as
# `helpline directory search` is run by scripts, where start-up is most of its time.
LAZY_COMMANDS = {
    "directory": "helpline.app.directory_cli:directory",
    "meetings": "helpline.app.meetings_cli:meetings",
    "audit": "helpline.app.audit_cli:audit_command",
    "spool": "helpline.app.spool_cli:spool_command",
    "api-token": "helpline.app.api_token_cli:api_token_command",
    "scheduler": "helpline.app.scheduler:scheduler_command",
    "referral": "helpline.app.referral_cli:referral_command",
}


def _plugged_in() -> dict[str, EntryPoint]:
    # Commands of the packages above the core (the simulator's simulate-call) plug in by
    # entry point, so that the core never imports them. (importlib.metadata takes a while to
    # import: only when a command is not one of ours.)
    from importlib.metadata import entry_points

    return {entry.name: entry for entry in entry_points(group="helpline.commands")}


class LazyGroup(click.Group):
    """A group whose commands of :data:`LAZY_COMMANDS` and plug-ins load when first named."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS, *_plugged_in()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        if cmd_name in LAZY_COMMANDS:
            module, attribute = LAZY_COMMANDS[cmd_name].split(":")
            command = getattr(import_module(module), attribute)
        else:
            entry = _plugged_in().get(cmd_name)
            if entry is None:
                return None
            command = entry.load()
        assert isinstance(command, click.Command)
        self.add_command(command, cmd_name)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="helpline")
def cli() -> None:
    """Run and manage the helpline."""


@cli.command()
@click.option("--demo", is_flag=True, help="Load demo staff, directory and past calls.")
@pass_ctx
@friendly_errors
def init(ctx: CliContext, demo: bool) -> None:
    """Create or upgrade the database schema (and optionally load demo data)."""
    from helpline import migrate

    migrate.upgrade(ctx.db)
    click.echo(f"Database ready: {ctx.db.engine.url.render_as_string(hide_password=True)}")
    if demo:
        from helpline.app.demo import load_demo

        with ctx.session() as session:
            summary = load_demo(session, ctx.settings)
        for line in summary:
            click.echo(line)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=32, show_default=True, type=click.IntRange(1, 256),
              help="Worker threads; live dashboard streams hold some (LIVE_STREAMS_MAX).")
@pass_ctx
@friendly_errors
def serve(ctx: CliContext, host: str, port: int, threads: int) -> None:
    """Serve the IVR webhooks and the dashboard (with the scheduler in-process by default)."""
    from waitress import serve as waitress_serve

    from helpline import migrate
    from helpline.app import create_app

    if not migrate.is_current(ctx.db):
        raise click.ClickException("the database schema is not current: run `helpline init`")
    app = create_app(ctx.settings)
    # The IVR keeps some threads free of the database for /healthz and /ivr/fallback.
    app.config["HELPLINE_SERVER_THREADS"] = threads
    scheduler = None
    if ctx.settings.scheduler_in_process:
        from helpline.app.scheduler import start_scheduler

        scheduler = start_scheduler(app.extensions["helpline"])
    base = f"http://{host}:{port}"
    click.echo(f"Helpline dashboard: {base}/   (IVR webhooks under {base}/ivr/)")
    click.echo(f"Place a simulated call: {base}/phone   or   helpline simulate-call")
    # SIGTERM (systemd, docker stop) ends the server like Ctrl-C. Nothing is lost either way:
    # a webhook answers once what it recorded is stored.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        waitress_serve(app, host=host, port=port, threads=threads, ident="helpline")
    finally:
        if scheduler is not None:
            scheduler.shutdown()


@cli.command("create-user")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(["counselor", "supervisor", "admin"]))
@click.option("--name", "display_name", default="", help="Name shown to colleagues.")
@click.option("--languages", default="en", show_default=True, help='e.g. "en es"')
@click.option("--skills", default="", help='Skills queues ask for, e.g. "crisis" '
                                           "(QUEUE_SKILLS).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_ctx
@friendly_errors
def create_user_cmd(ctx: CliContext, username: str, role: str, display_name: str,
                    languages: str, skills: str, password_stdin: bool) -> None:
    """Create a staff account. The password is asked for, never given as an argument."""
    from helpline.staff.accounts import AccountError, create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with ctx.session() as session:
            user = create_user(session, username, role, password,
                               display_name=display_name, languages=languages,
                               skills=skills)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Created {user.role} {user.username}.")


@cli.command("rotate-keys")
@pass_ctx
@friendly_errors
def rotate_keys_cmd(ctx: CliContext) -> None:
    """Re-encrypt every confidential value with the newest key in HELPLINE_DATA_KEYS."""
    from helpline.rotation import rotate_keys

    with ctx.session() as session:
        report = rotate_keys(session)
    click.echo(
        f"Re-encrypted {report.resealed} values with key version "
        f"{ctx.settings.current_key_version}; {report.already_current} were already current."
    )


@cli.command("check-keys")
@pass_ctx
@friendly_errors
def check_keys_cmd(ctx: CliContext) -> None:
    """Check that HELPLINE_DATA_KEYS opens every sealed value and HELPLINE_HASH_KEY matches the
    stored caller hashes (after a restore, or before retiring an old key); exit 1 if not."""
    from helpline.rotation import check_keys

    with ctx.session() as session:
        check = check_keys(session)
    opened = ", ".join(f"{n} under key version {v}" for v, n in sorted(check.opened.items()))
    click.echo(f"Opened {sum(check.opened.values())} sealed values"
               + (f" ({opened})" if opened else "") + "; "
               f"{check.hashes_checked - check.hashes_differing} of {check.hashes_checked} "
               "caller hashes match.")
    if not check.ok:
        for problem in check.problems():
            click.echo(f"Error: {problem}.", err=True)
        click.echo("These keys are not the ones this database was written with: restore "
                   "HELPLINE_DATA_KEYS and HELPLINE_HASH_KEY from the key backup "
                   "(docs/operations.md, \"Backups\").", err=True)
        raise SystemExit(1)


@cli.group()
def export() -> None:
    """Export records (never notes or phone numbers)."""


def _parse_since(_ctx: click.Context, _param: click.Parameter,
                 value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            "expected a date such as 2026-11-01 or 2026-11-01T08:00"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@export.command("calls")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl",
              show_default=True)
@click.option("--since", callback=_parse_since, help="Only calls started on or after this date.")
@pass_ctx
@friendly_errors
def export_calls(ctx: CliContext, fmt: str, since: dt.datetime | None) -> None:
    """One record per call: times, routing and outcome."""
    from helpline.reporting.exports import CALL_FIELDS, call_records, write_csv, write_jsonl

    out = sys.stdout
    session: Session
    with ctx.db.sessions() as session:
        records = call_records(session, since)
        if fmt == "jsonl":
            write_jsonl(records, out)
        else:
            write_csv(records, out, CALL_FIELDS)


def main() -> None:
    cli(prog_name="helpline")
