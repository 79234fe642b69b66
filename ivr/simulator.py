"""Play the IVR in the terminal through the real, signed webhooks."""

from __future__ import annotations

import click


@click.command("simulate-call")
@click.option("--from", "from_number", default="+15555550123", show_default=True)
@click.option("--lang", type=click.Choice(["en", "es"]), default=None)
def simulate_call(from_number: str, lang: str | None) -> None:
    """Call the helpline from the terminal: prompts printed, keys typed."""
    raise click.ClickException("the simulator is not built yet")
