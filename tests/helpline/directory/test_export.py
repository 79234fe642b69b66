"""`helpline directory export --format hsds`: Open Referral HSDS 3.0 CSVs that import back
without a single change."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline.db import Database
from helpline.directory.generate import generate_centers
from helpline.directory.hsds import REQUIRED
from helpline.directory.records import bulk_insert_centers
from helpline.models import TreatmentCenter
from tests.factories.directory import make_center
from tests.fixtures.cli import CliInvoker

DATA = Path(__file__).parent / "data"


def snapshot(db: Database) -> dict[int, tuple]:
    with db.sessions() as s:
        return {c.id: (c.name, c.alternate_name, c.address, c.phone, c.intake_phone, c.website,
                       c.latitude, c.longitude, c.approximate_location, c.active,
                       c.facility_type, c.description, c.source, c.source_id, c.source_extra,
                       tuple((o.facet, o.code) for o in c.services), c.updated_at)
                for c in s.scalars(select(TreatmentCenter))}


@pytest.fixture
def mixed_directory(run_cli: CliInvoker, session: Session) -> None:
    """Entries from every source: SAMHSA, HSDS, the demo generator and typed in by hand."""
    run_cli("directory", "import", str(DATA / "samhsa_envelope.json"))
    run_cli("directory", "import", str(DATA / "hsds"))
    bulk_insert_centers(session, generate_centers(40, seed=3))
    make_center(session, name="Demo Typed In", zip_code="94103", care=("detox",),
                languages=("es", "vi"), payment=("free",), description="Walk-ins 9-5.")
    make_center(session, name="Demo Closed Center", zip_code="10001", active=False,
                latitude=40.75, longitude=-73.99)
    session.commit()


@pytest.mark.parametrize("target", ["out", "out.zip"])
def test_exporting_and_importing_again_changes_nothing(
        run_cli: CliInvoker, db: Database, mixed_directory: None, tmp_path: Path,
        target: str) -> None:
    before = snapshot(db)
    result = run_cli("directory", "export", "--format", "hsds", str(tmp_path / target))
    assert result.exit_code == 0, result.output
    assert f"Exported {len(before)} treatment centers" in result.output
    again = run_cli("directory", "import", str(tmp_path / target))
    assert again.exit_code == 0, again.output
    assert f"added 0, updated 0, unchanged {len(before)}, rejected 0" in again.output
    assert snapshot(db) == before


def test_the_export_is_hsds_tabular_data_with_a_datapackage(
        run_cli: CliInvoker, db: Database, mixed_directory: None, tmp_path: Path) -> None:
    run_cli("directory", "export", str(tmp_path / "out.zip"))
    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        names = set(archive.namelist())
        package = json.loads(archive.read("datapackage.json"))
        locations = list(csv.DictReader(io.StringIO(archive.read("locations.csv").decode())))
        attributes = list(csv.DictReader(io.StringIO(
            archive.read("attributes.csv").decode())))
        terms = {t["id"]: t for t in csv.DictReader(io.StringIO(
            archive.read("taxonomy_terms.csv").decode()))}
    assert {f"{name}.csv" for name in REQUIRED} <= names
    assert {r["path"] for r in package["resources"]} == names - {"datapackage.json"}
    typed = next(loc for loc in locations if loc["name"] == "Demo Typed In")
    # Placed at its ZIP centre: no coordinates are claimed for it.
    assert (typed["latitude"], typed["longitude"]) == ("", "")
    assert typed["external_identifier_type"] == "helpline-source:manual"
    offered = {terms[a["taxonomy_term_id"]]["name"] for a in attributes}
    assert {"Detoxification", "Free of charge", "Substance use treatment"} <= offered


def test_the_export_is_audited(run_cli: CliInvoker, db: Database, tmp_path: Path) -> None:
    from helpline.models import AuditEvent

    run_cli("directory", "export", str(tmp_path / "out"))
    with db.sessions() as s:
        event = s.scalars(select(AuditEvent).where(
            AuditEvent.action == "directory.export")).one()
    assert event.detail == {"format": "hsds", "centers": 0}


def test_export_refuses_a_file_that_is_not_a_zip(run_cli: CliInvoker, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    result = run_cli("directory", "export", str(tmp_path / "notes.txt"))
    assert result.exit_code != 0
    assert (tmp_path / "notes.txt").read_text() == "keep me"
