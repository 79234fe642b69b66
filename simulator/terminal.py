"""`helpline simulate-call`: call the helpline from the terminal through the real, signed webhooks.

By default the webhooks run in this process against the configured database, so a running
`helpline serve` (and its dashboard) sees the call; with ``--url`` they go to a running server.
"""

from __future__ import annotations

import select
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

import click

from helpline import phones
from helpline.config import Settings
from simulator.callstate import WITHHELD, CallState, Event, caller_id
from simulator.interpreter import Interpreter
from simulator.transport import AppTransport, HttpTransport, Transport

if TYPE_CHECKING:
    from helpline.app.cli_context import CliContext

DEFAULT_FROM = "+15555550123"
QUIT = {"q", "quit", "hangup", "hang up", "bye"}
# While the caller holds, how often the terminal asks whether a counselor took the call (the
# browser phone asks as often).
PICKUP_POLL_SECONDS = 2.0
# Reads the caller's next line; None when ``timeout`` seconds passed without one.
LineReader = Callable[[float | None], str | None]


def check_caller_id(value: str) -> str:
    """The From a simulated caller presents: an E.164 number, or Twilio's withheld marker."""
    if caller_id(value) == WITHHELD:
        return WITHHELD
    try:
        return phones.to_e164(value, field="the caller ID")
    except phones.PhoneNumberError as exc:
        raise ValueError(f"{exc}: give a phone number such as +15555550123, or "
                         "anonymous") from None


def refuse_without_outbox(settings: Settings) -> str | None:
    """Why simulated calls are refused here, or None when they may be placed.

    With Twilio carrying the calls, a simulated caller would sit in the dashboard's queues while
    Twilio's real queues hold other people: a counselor taking it would dequeue a stranger.
    """
    if settings.telephony != "outbox":
        return ("Simulated calls need the outbox telephony (no Twilio account). With Twilio "
                "carrying the calls, call the helpline's number instead.")
    return None


def start_url(base: str, lang: str | None = None, flow_version: int | None = None) -> str:
    query = "&".join(f"{k}={v}" for k, v in (("lang", lang), ("flow_version", flow_version))
                     if v is not None)
    return f"{base.rstrip('/')}/ivr/voice" + (f"?{query}" if query else "")


def show(events: list[Event], verbose: bool) -> None:
    for event in events:
        if event.kind == "say":
            click.echo(f"  [{event.language}] {event.text}")
        elif event.kind in {"play", "pause", "counselor"}:
            click.echo(f"  {event.text}")
        elif event.kind == "request":
            if verbose:
                click.secho(f"    {event.text}", dim=True)
        elif event.kind == "error":
            click.secho(f"! {event.text}", fg="red")
        else:
            click.secho(f"* {event.text}", bold=event.kind in {"connected", "transfer",
                                                                 "ended"})


def hint(state: CallState) -> str:
    if state.mode == "gather":
        speech = " or say: words" if "speech" in state.accepts else ""
        return f"keys{speech}; Enter for silence; q to hang up"
    if state.mode == "record":
        return "say: your message; # to finish; Enter for silence"
    if state.mode == "hold":
        return "holding: a counselor's pickup shows here; Enter to keep holding; q to hang up"
    return "on the line: q to hang up"


def waiting_for_pickup(state: CallState) -> bool:
    """Whether the helpline is asked now and then what happened (a pickup while holding; a
    hold, transfer or supervisor while connected)."""
    return ((state.in_queue and state.mode in {"gather", "hold"})
            or (state.mode == "connected" and state.queue is not None))


def line_reader(stream: TextIO) -> LineReader:
    """Read the caller's lines from ``stream``, giving up after a timeout on a terminal.

    Only a terminal is waited on with a timeout: a pipe's lines may already sit in Python's
    buffer, where ``select`` cannot see them, so piped input (and tests' input) is read as it
    comes.
    """
    try:
        waitable = stream.isatty() and stream.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        waitable = False

    def read(timeout: float | None) -> str | None:
        if waitable and timeout is not None:
            ready, _, _ = select.select([stream], [], [], timeout)
            if not ready:
                return None
        return stream.readline()

    return read


def act(interpreter: Interpreter, state: CallState, line: str) -> list[Event]:
    """One line typed by the caller."""
    text = line.strip()
    if text.lower() in QUIT:
        return interpreter.hang_up(state)
    if text.lower().startswith("say:"):
        return interpreter.speak(state, text[4:])
    if not text or text.lower() == "wait":
        if state.mode in {"connected", "transfer"}:
            return []
        return interpreter.silence(state)
    return interpreter.press(state, text.replace(" ", ""))


def play_call(interpreter: Interpreter, url: str, from_number: str | None, to_number: str,
              read_line: LineReader, verbose: bool = False) -> CallState:
    """The terminal loop: print what the caller hears, read what they do, until the call ends.

    While the caller holds, the helpline is asked every few seconds whether a counselor took
    the call, so the pickup shows without the caller pressing Enter.
    """
    state, events = interpreter.start(url, from_number, to_number)
    show(events, verbose)
    prompt = True
    while not state.ended:
        if prompt:
            click.secho(f"({hint(state)})", dim=True)
            click.echo("> ", nl=False)
        line = read_line(PICKUP_POLL_SECONDS if waiting_for_pickup(state) else None)
        if line is None:  # nothing typed for a while: did a counselor pick up?
            events = interpreter.poll(state)
            prompt = bool(events)
            if events:
                click.echo("")
                show(events, verbose)
            continue
        prompt = True
        if not line:  # end of input: the caller puts the phone down
            click.echo("")
            show(interpreter.hang_up(state), verbose)
            break
        show(act(interpreter, state, line), verbose)
    return state


@click.command("simulate-call")
@click.option("--from", "from_number", default=DEFAULT_FROM, show_default=True,
              help="The caller's number, or 'anonymous' for a blocked caller ID.")
@click.option("--lang", type=click.Choice(["en", "es"]), default=None,
              help="Skip the language choice, as a number for one language does.")
@click.option("--url", "server", default=None, metavar="URL",
              help="Call a running server (e.g. http://127.0.0.1:5000) instead of playing the "
                   "webhooks in this process.")
@click.option("-v", "--verbose", is_flag=True, help="Show every webhook request.")
@click.pass_context
def simulate_call(click_ctx: click.Context, from_number: str, lang: str | None,
                  server: str | None, verbose: bool) -> None:
    """Call the helpline from the terminal: prompts printed, keys typed.

    Type keys (1, or 10001 for a ZIP code), "say: words" to speak, Enter to stay silent, and q
    (or end of input) to hang up. Take the call from the dashboard's "Take next call".
    """
    from helpline.app.cli_context import CliContext, friendly_errors

    friendly_errors(_simulate)(click_ctx.ensure_object(CliContext), from_number, lang, server,
                               verbose)


def _simulate(ctx: CliContext, from_number: str, lang: str | None, server: str | None,
              verbose: bool) -> None:
    from helpline import migrate
    from helpline.app import create_app

    settings = ctx.settings
    refusal = refuse_without_outbox(settings)
    if refusal:
        raise click.ClickException(refusal)
    try:
        caller = check_caller_id(from_number)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--from") from None
    app = None
    transport: Transport
    if server:
        try:
            transport = HttpTransport(server)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--url") from None
        base, where = settings.public_base_url or server.rstrip("/"), server.rstrip("/")
    else:
        if not migrate.is_current(ctx.db):
            raise click.ClickException("the database schema is not current: run "
                                       "`helpline init`")
        # The app's log lines would land between the prompts: keep them for --verbose.
        app = create_app(settings if verbose else settings.with_overrides(log_level="WARNING"))
        transport = AppTransport(app)
        base, where = settings.public_base_url or "http://localhost", "in this process"
    interpreter = Interpreter(transport, settings.twilio_auth_token,
                              account_sid=settings.twilio_account_sid)
    shown = "a blocked number" if caller == WITHHELD else caller
    click.echo(f"Calling {settings.helpline_name} ({settings.helpline_number}) from {shown}, "
               f"webhooks {where}.")
    click.echo('Type keys, "say: words" to speak, Enter for silence, q to hang up.')
    try:
        state = play_call(interpreter, start_url(base, lang), caller, settings.helpline_number,
                          line_reader(sys.stdin), verbose)
    finally:
        if app is not None:
            app.extensions["helpline"].db.dispose()
    click.echo(f"Call {state.call_sid} ended.")
