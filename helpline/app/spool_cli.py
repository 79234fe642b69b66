"""`helpline spool ...` commands: what the IVR kept in its local spool, and replaying it."""

from __future__ import annotations

import click

from helpline.app.cli_context import CliContext, friendly_errors, pass_ctx
from helpline.calls import journal, spool


@click.group("spool")
def spool_command() -> None:
    """What the IVR stored locally while the database was out of reach."""


@spool_command.command("status")
@pass_ctx
@friendly_errors
def status_command(ctx: CliContext) -> None:
    """Print how many operations wait in the spool, and how many were rejected."""
    directory = ctx.settings.spool_dir
    click.echo(f"{spool.count(directory)} waiting in {directory}")
    rejected = len(spool.rejected(directory))
    if rejected:
        click.echo(f"{rejected} rejected (for a person to look at) in "
                   f"{directory / spool.REJECTED}")


@spool_command.command("replay")
@pass_ctx
@friendly_errors
def replay_command(ctx: CliContext) -> None:
    """Write what the spool holds into the database now (`helpline serve` and the scheduler
    do so on their own); exit 1 if the database cannot be reached."""
    directory = ctx.settings.spool_dir
    written = journal.replay_spool(ctx.db, ctx.settings, limit=10**9)
    click.echo(f"replayed {written}")
    left = spool.count(directory)
    if left:
        raise click.ClickException(f"{left} still waiting in {directory}: the database "
                                   "could not be reached")
