"""`helpline audit ...` commands: verify the audit log, sign a checkpoint of its end."""

from __future__ import annotations

from pathlib import Path

import click

from helpline.app.cli_context import CliContext, friendly_errors, pass_ctx
from helpline.reporting.audit_integrity import AuditLogBroken, verify_audit_log, write_checkpoint


@click.group("audit")
def audit_command() -> None:
    """Check that the audit log is whole; sign checkpoints of its end."""


@audit_command.command("verify")
@click.option("--checkpoints", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Checkpoints to compare with (default: AUDIT_CHECKPOINT_FILE). Lines "
                   "copied from the application log work too.")
@pass_ctx
@friendly_errors
def verify_command(ctx: CliContext, checkpoints: Path | None) -> None:
    """Check the hash chain and every signed checkpoint; exit 1 naming the first bad event."""
    with ctx.db.sessions() as session:
        result = verify_audit_log(session, ctx.settings, checkpoints)
    if not result.intact:
        click.echo(result.summary(), err=True)
        raise SystemExit(1)
    click.echo(result.summary())


@audit_command.command("checkpoint")
@pass_ctx
@friendly_errors
def checkpoint_command(ctx: CliContext) -> None:
    """Sign the chain's end now, to the log and AUDIT_CHECKPOINT_FILE (the scheduler does so
    every few minutes)."""
    path = ctx.settings.audit_checkpoint_file
    try:
        with ctx.db.sessions() as session:
            checkpoint = write_checkpoint(session, ctx.settings)
    except AuditLogBroken as exc:
        click.echo(f"No checkpoint written: the audit log is not intact: {exc}.", err=True)
        raise SystemExit(1) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror}") from None
    if checkpoint is None:
        click.echo(f"Nothing new to sign: the newest checkpoint in {path} is the log's end "
                   "(or the log is empty).")
    else:
        click.echo(f"Checkpoint of event {checkpoint.event_id} written to {path}.")
