"""`helpline meetings ...`: import a Meeting Guide feed, refresh the configured feeds."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from helpline.directory.meeting_guide import FETCH_SECONDS
from helpline.directory.meetings import FELLOWSHIPS

if TYPE_CHECKING:
    from helpline.app.cli_context import CliContext


@click.group()
def meetings() -> None:
    """Support group meetings from Meeting Guide feeds."""


def _run(click_ctx: click.Context, body: Callable[[CliContext], None]) -> None:
    # Imported here: helpline.cli imports this module while it registers its commands.
    from helpline.app.cli_context import CliContext, friendly_errors

    friendly_errors(body)(click_ctx.ensure_object(CliContext))


@meetings.command("import")
@click.argument("location", metavar="FILE|URL")
@click.option("--timezone", "default_timezone", default="", metavar="ZONE",
              help="For meetings that name no time zone, e.g. America/Chicago (else their "
                   "ZIP code's or state's).")
@click.option("--fellowship", type=click.Choice(sorted(FELLOWSHIPS)), default="AA",
              show_default=True, help="The fellowship the feed's meetings belong to.")
@click.option("--source", default="", metavar="URL",
              help="The feed's URL when importing a saved copy of it (a file's own "
                   "file:// address otherwise): meetings are matched within their source.")
@click.option("--timeout", type=click.FloatRange(1, 600), default=FETCH_SECONDS,
              show_default=True, help="Seconds allowed for fetching a URL, in all.")
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
@click.pass_context
def import_command(click_ctx: click.Context, location: str, default_timezone: str,
                   fellowship: str, source: str, timeout: float, dry_run: bool) -> None:
    """Import a Meeting Guide JSON feed (code4recovery/spec) from a file or an http(s) URL.

    Each meeting's slug is its identity within the feed: importing the same feed again
    changes nothing, and meetings gone from it are retired (inactive). Refused meetings are
    counted with their reasons. Exits 1 when no meeting could be imported.
    """
    from helpline.directory.meeting_guide import (
        FeedError,
        FeedOptions,
        import_meetings,
        read_feed,
    )

    def body(ctx: CliContext) -> None:
        try:
            feed, own_source = read_feed(location, timeout=timeout)
        except FeedError as exc:
            raise click.ClickException(f"{location}: {exc}") from None
        options = FeedOptions(source or own_source, default_timezone, fellowship)
        with ctx.session() as session:
            report = import_meetings(session, feed, options, dry_run=dry_run)
        for line in report.lines():
            click.echo(line)
        if not report.imported:
            raise click.ClickException(f"{location}: no meeting imported")

    if default_timezone:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(default_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise click.BadParameter(f"{default_timezone!r} is not a time zone such as "
                                     "America/Chicago", param_hint="--timezone") from None
    _run(click_ctx, body)


@meetings.command("refresh")
@click.pass_context
def refresh_command(click_ctx: click.Context) -> None:
    """Refresh every feed supervisors configured now (the scheduler does it every 6 hours)."""
    from helpline.directory.meeting_feeds import refresh_feeds

    def body(ctx: CliContext) -> None:
        results = refresh_feeds(ctx.db)
        if not results:
            click.echo("No meeting feeds are configured.")
        for result in results:
            if result.report is None:
                click.echo(f"{result.url}: not refreshed: {result.error}")
            else:
                click.echo("\n".join(result.report.lines()[:2]))
        if any(r.report is None or not r.report.imported for r in results):
            raise click.exceptions.Exit(1)

    _run(click_ctx, body)
