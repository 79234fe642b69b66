"""`helpline referral fhir ID --by USERNAME`: a referral as a FHIR R4 Bundle for its treatment
center, through the consent door, the disclosure logged under the staff member named."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import select

from helpline.app.cli_context import CliContext, friendly_errors, pass_ctx
from helpline.consent.door import ConsentError
from helpline.models import Referral, User
from helpline.referrals.fhir import FhirExportError, export_referral


@click.group("referral")
def referral_command() -> None:
    """Send referrals to other systems."""


@referral_command.command("fhir")
@click.argument("referral_id", type=click.IntRange(1))
@click.option("--by", "username", required=True,
              help="The staff member making the disclosure (who may open the record).")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the bundle here instead of standard output.")
@pass_ctx
@friendly_errors
def fhir_command(ctx: CliContext, referral_id: int, username: str, output: Path | None) -> None:
    """Export a referral to a treatment center as a FHIR R4 Bundle (ServiceRequest and Task,
    after the HL7 SDOH Clinical Care IG) with only what the caller's consent allows; refused,
    with the reason and exit status 1, without a live consent to share with that center."""
    with ctx.session() as session:
        user = session.scalar(select(User).where(User.username == username,
                                                 User.active.is_(True)))
        referral = session.get(Referral, referral_id)
        if user is None or referral is None:
            raise click.ClickException("no such referral, or no active staff member "
                                       f"{username!r}")
        try:
            sent = export_referral(session, referral, user, ctx.settings)
        except PermissionError:
            raise click.ClickException(f"{username} may not open this referral's record") \
                from None
        except (FhirExportError, ConsentError) as exc:
            click.echo(f"Referral not sent: {exc}.", err=True)
            raise SystemExit(1) from None
        text = sent.json()
    if output is None:
        click.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        click.echo(f"Wrote {output} (disclosure #{sent.disclosure.id}, consent "
                   f"#{sent.consent.id}).", err=True)
