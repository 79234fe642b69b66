"""`helpline directory ...` commands: import, search and export the treatment directory."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from helpline.directory import capacity, vocabulary

if TYPE_CHECKING:
    from helpline.app.cli_context import CliContext
    from helpline.directory.center_query import RowHit


@click.group()
def directory() -> None:
    """Import, search and export the treatment directory."""


def _run(click_ctx: click.Context, body: Callable[[CliContext], None]) -> None:
    # Imported here: helpline.cli imports this module while it registers its commands.
    from helpline.app.cli_context import CliContext, friendly_errors

    friendly_errors(body)(click_ctx.ensure_object(CliContext))


@directory.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
@click.option("--format", "fmt", type=click.Choice(["auto", "samhsa", "hsds"]), default="auto",
              show_default=True, help="auto: a .json file is SAMHSA, a folder, .zip or "
                                      "datapackage.json is HSDS.")
@click.pass_context
def import_command(click_ctx: click.Context, file: Path, dry_run: bool, fmt: str) -> None:
    """Import SAMHSA locator JSON or Open Referral HSDS 3.0 CSV (one transaction per file).

    Entries are matched on their source id: importing the same file again changes nothing.
    Bad rows are listed with their record or line number; the valid rows go in.
    """
    from helpline.directory.imports import import_file
    from helpline.directory.records import ImportRefused

    def body(ctx: CliContext) -> None:
        try:
            with ctx.session() as session:
                report = import_file(session, file, dry_run=dry_run,
                                     fmt=None if fmt == "auto" else fmt)
        except ImportRefused as exc:
            raise click.ClickException(f"{file.name}: refused, nothing imported: {exc}") \
                from None
        for line in report.lines():
            click.echo(line)
        if report.nothing_imported:
            # A script that imports a nightly file must see that nothing of it went in.
            raise click.ClickException(f"{file.name}: nothing imported (no record was usable)")

    _run(click_ctx, body)


def _values(raw: tuple[str, ...]) -> list[str]:
    """Repeated options and comma-separated lists alike: --care detox,outpatient."""
    return [v.strip() for item in raw for v in item.split(",") if v.strip()]


def _center_json(hit: RowHit, by_zip: bool) -> dict[str, Any]:
    c = hit.center
    return {
        "id": c.id, "name": c.name, "alternate_name": c.alternate_name,
        "address": c.address, "street1": c.street1, "street2": c.street2, "city": c.city,
        "state": c.state, "zip": c.zip_code, "phone": c.phone, "intake_phone": c.intake_phone,
        "website": c.website,
        "distance_miles": None if hit.distance_miles is None else round(hit.distance_miles, 1),
        # Measured from or to a ZIP centre: the true distance may differ by a few miles.
        "approximate": hit.distance_miles is not None and (by_zip or c.approximate_location),
        "location": {"latitude": c.latitude, "longitude": c.longitude,
                     "approximate": c.approximate_location},
        "offerings": {facet: c.codes(facet) for facet in vocabulary.FACETS},
        "capacity": capacity.as_dict(c),
        "last_verified_at": c.last_verified_at.isoformat() if c.last_verified_at else None,
    }


def _search_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for name, facet in reversed((("care", "care"), ("medication", "medication"),
                                 ("payment", "payment"), ("language", "language"),
                                 ("age", "age"), ("population", "population"))):
        fn = click.option(f"--{name}", multiple=True, metavar="VALUE",
                          help=f"{vocabulary.FACET_LABELS[facet]}: "
                               f"{', '.join(vocabulary.choices(facet)[:8])}...")(fn)
    return fn


@directory.command("search")
@click.option("--zip", "zip_code", help="Search around this ZIP code's center.")
@click.option("--within", "within", type=click.FloatRange(min=0, max=3000), default=25.0,
              show_default=True, help="Radius in miles.")
@_search_options
@click.option("--capacity", "capacity_filter", multiple=True, metavar="VALUE",
              help=f"{', '.join(capacity.FILTERS)} (all must hold).")
@click.option("--text", help="Name or city contains this.")
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--per-page", type=click.IntRange(1, 200), default=20, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="text",
              show_default=True)
@click.pass_context
def search_command(click_ctx: click.Context, zip_code: str | None, within: float,
                   care: tuple[str, ...], medication: tuple[str, ...],
                   payment: tuple[str, ...], language: tuple[str, ...], age: tuple[str, ...],
                   population: tuple[str, ...], capacity_filter: tuple[str, ...],
                   text: str | None, page: int, per_page: int, fmt: str) -> None:
    """Search the directory, nearest first: the same search as the referral panel."""
    # The search's Core statements on a bare connection: scripts run this command often, and
    # importing the ORM and the models took most of its time (test_cli_search.py keeps them
    # out of its process).
    from helpline.directory.center_query import UnknownZipError, search_center_rows

    def body(ctx: CliContext) -> None:
        with ctx.engine.connect() as conn:
            try:
                result = search_center_rows(
                    conn, zip_code=zip_code, within_miles=within, care=_values(care),
                    medications=_values(medication), payment=_values(payment),
                    languages=_values(language), ages=_values(age),
                    populations=_values(population), capacity=_values(capacity_filter),
                    text=text, page=page, per_page=per_page, with_offerings=fmt == "json")
            except UnknownZipError:
                raise click.ClickException(f"unknown ZIP code {zip_code!r}") from None
            except vocabulary.UnknownOffering as exc:
                raise click.ClickException(str(exc)) from None
            by_zip = result.origin is not None
            if fmt == "json":
                click.echo(json.dumps({
                    "zip": zip_code, "within_miles": within if by_zip else None,
                    "total": result.total, "page": result.page, "pages": result.pages,
                    "per_page": result.per_page,
                    "results": [_center_json(h, by_zip) for h in result.items],
                }, indent=2))
                return
            plural = "" if result.total == 1 else "s"
            near = f" within {within:g} miles of {zip_code}" if by_zip else ""
            click.echo(f"{result.total} center{plural}{near} "
                       f"(page {result.page} of {result.pages})")
            for hit in result.items:
                c = hit.center
                miles = (f"{hit.distance_miles:6.1f} mi  " if hit.distance_miles is not None
                         else "")
                click.echo(f"{miles}{c.name} — {c.address} — {c.phone or 'no phone'}")
                click.echo(f"{' ' * len(miles)}{capacity.summary(c)}")
            if by_zip and result.items:
                click.echo("Distances from a ZIP code's center are approximate.")

    _run(click_ctx, body)


@directory.command("export")
@click.option("--format", "fmt", type=click.Choice(["hsds"]), default="hsds",
              show_default=True)
@click.argument("out", type=click.Path(path_type=Path))
@click.pass_context
def export_command(click_ctx: click.Context, fmt: str, out: Path) -> None:
    """Export the directory as Open Referral HSDS 3.0 CSV: OUT is a folder or a .zip."""
    from helpline import audit
    from helpline.directory.hsds_export import export_hsds

    def body(ctx: CliContext) -> None:
        if out.exists() and not out.is_dir() and not out.name.lower().endswith(".zip"):
            raise click.ClickException(f"{out}: give a folder or a .zip file name")
        with ctx.session() as session:
            summary = export_hsds(session, out)
            audit.record(session, "directory.export", actor="cli", record_type="directory",
                         detail={"format": fmt, "centers": summary.centers})
        click.echo(f"Exported {summary.centers} treatment centers as HSDS 3.0 to {out}")

    _run(click_ctx, body)
