"""APScheduler wiring: one active scheduler, thin jobs over services."""

from __future__ import annotations

from typing import Any

import click


def start_scheduler(runtime: Any) -> Any:
    """Start the in-process scheduler for the embedded default (filled in by follow-ups)."""
    return None


@click.command("scheduler")
def scheduler_command() -> None:
    """Run the scheduler on its own (production)."""
    raise click.ClickException("the scheduler is not built yet")
