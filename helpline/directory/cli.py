"""`helpline directory ...` commands."""

from __future__ import annotations

import click


@click.group()
def directory() -> None:
    """Import, search and export the treatment directory."""
