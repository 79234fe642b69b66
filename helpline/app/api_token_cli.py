"""`helpline api-token ...`: tokens of staff-approved integrations for the API's figures (and
the directory, with API_ACCESS=token)."""

from __future__ import annotations

import click

from helpline.app.cli_context import CliContext, friendly_errors, pass_ctx
from helpline.staff import api_tokens

ACTOR = "cli"


@click.group("api-token")
def api_token_command() -> None:
    """Make, list and revoke API tokens."""


@api_token_command.command("create")
@click.option("--name", required=True, help="Who the token is for (unique).")
@pass_ctx
@friendly_errors
def create_command(ctx: CliContext, name: str) -> None:
    """Make a token and print it once: it is kept only as a hash."""
    with ctx.session() as session:
        try:
            row, token = api_tokens.create_token(session, name, by=ACTOR)
        except api_tokens.ApiTokenError as exc:
            raise click.ClickException(str(exc)) from None
        token_id = row.id
    # Printed once stored.
    click.echo(f"Token {token_id} for {name.strip()!r} (shown once, keep it safe):")
    click.echo(token)


@api_token_command.command("list")
@pass_ctx
@friendly_errors
def list_command(ctx: CliContext) -> None:
    """Every token: id, name, beginning, made, last used, revoked."""
    with ctx.session() as session:
        for row in api_tokens.list_tokens(session):
            state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "live"
            used = f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never"
            click.echo(f"{row.id}\t{row.name}\t{row.prefix}...\tmade "
                       f"{row.created_at:%Y-%m-%d}\tused {used}\t{state}")


@api_token_command.command("revoke")
@click.argument("token")
@pass_ctx
@friendly_errors
def revoke_command(ctx: CliContext, token: str) -> None:
    """Revoke the token with this name or id, at once."""
    with ctx.session() as session:
        token_id = api_tokens.find_token_id(session, token)
        if token_id is None:
            raise click.ClickException(f"no token named {token!r}")
        name = api_tokens.revoke_token(session, token_id, by=ACTOR).name
    click.echo(f"Revoked token {token_id} ({name})")
