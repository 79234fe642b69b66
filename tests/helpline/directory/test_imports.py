"""`helpline directory import`: SAMHSA locator JSON and Open Referral HSDS 3.0, as a person
keeping the directory up to date would use it."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from helpline.db import Database
from helpline.models import AuditEvent, TreatmentCenter
from tests.fixtures.cli import CliInvoker

DATA = Path(__file__).parent / "data"
LAKESIDE = "d3m0000000000000000000000000000000000000000000000000000000000001"
HARBOR = "d3m0000000000000000000000000000000000000000000000000000000000002"


def centers(db: Database) -> dict[str, TreatmentCenter]:
    with db.sessions() as s:
        return {c.name: c for c in s.scalars(select(TreatmentCenter))}


def count(db: Database) -> int:
    with db.sessions() as s:
        return s.scalar(select(func.count()).select_from(TreatmentCenter)) or 0


def test_samhsa_envelope_is_imported_with_offerings_mapped_and_the_rest_kept(
        run_cli: CliInvoker, db: Database) -> None:
    result = run_cli("directory", "import", str(DATA / "samhsa_envelope.json"))
    assert result.exit_code == 0, result.output
    assert "SAMHSA locator JSON" in result.output
    assert "added 3, updated 0, unchanged 0, rejected 0" in result.output
    got = centers(db)
    lakeside = got["Demo Lakeside Recovery Center"]
    assert (lakeside.source, lakeside.source_id) == ("samhsa", LAKESIDE)
    assert lakeside.alternate_name == "Demo Lakeside Health System"
    assert lakeside.address == "100 Demo Plaza, Suite 2, New York, NY 10001"
    assert (lakeside.phone, lakeside.intake_phone) == ("555-555-0101", "555-555-0102")
    assert (lakeside.latitude, lakeside.longitude) == (40.7501, -73.997)
    assert not lakeside.approximate_location
    assert lakeside.facility_type == "SA"
    assert lakeside.codes("care") == ["DT", "IOP", "OP", "TELE"]
    assert lakeside.codes("medication") == ["BU"]
    assert lakeside.codes("payment") == ["MD", "PI", "SF", "SS"]
    assert lakeside.codes("population") == ["VET", "WN"]
    assert lakeside.codes("age") == ["ADLT", "YAD"]
    assert lakeside.codes("language") == ["es"]
    # What our vocabulary has no word for is kept as it came, with its code list, for export.
    assert {"code": "TC", "label": "Substance use treatment",
            "code_list": "samhsa-locator"} in lakeside.source_extra["unmapped"]
    assert lakeside.source_extra["hotline"] == "555-555-0103"
    # "Residential" beside "Long-term residential" adds nothing; a bare label list is fine.
    assert got["Demo Harbor House"].codes("care") == ["RL"]
    assert got["Demo Summit Clinic"].services == []


def test_an_address_without_coordinates_is_placed_at_its_zip_centre_and_marked_approximate(
        run_cli: CliInvoker, db: Database) -> None:
    run_cli("directory", "import", str(DATA / "samhsa_envelope.json"))
    harbor = centers(db)["Demo Harbor House"]
    assert harbor.approximate_location
    assert (harbor.latitude, harbor.longitude) == (41.8858, -87.6181)  # ZIP 60601's centre


def test_a_bare_list_of_rows_is_imported_too(run_cli: CliInvoker, db: Database) -> None:
    result = run_cli("directory", "import", str(DATA / "samhsa_rows.json"))
    assert result.exit_code == 0, result.output
    assert "added 2" in result.output
    got = centers(db)
    assert got["Demo Cedar Outpatient"].facility_type == "SA"  # typeFacility, as in the wild
    assert got["Demo Willow Detox"].codes("care") == ["DT"]


def test_bad_rows_are_reported_with_their_record_number_and_the_good_ones_go_in(
        run_cli: CliInvoker, db: Database) -> None:
    result = run_cli("directory", "import", str(DATA / "samhsa_bad_rows.json"))
    assert result.exit_code == 0, result.output
    assert "added 1, updated 0, unchanged 0, rejected 5" in result.output
    assert "rejected record 2: unknown ZIP code 00000" in result.output
    assert "rejected record 3: no name (name1)" in result.output
    assert "rejected record 4: latitude 'north-ish' is not a number" in result.output
    assert "rejected record 5: the same frid as record 1" in result.output
    assert "rejected record 6: not an object" in result.output
    assert list(centers(db)) == ["Demo Good Center"]


@pytest.mark.parametrize(("name", "reason"), [
    ("not_json.json", "not JSON"),
    ("other_shape.json", "not SAMHSA locator records"),
])
def test_a_file_that_is_not_what_it_claims_is_refused_whole_with_one_line(
        run_cli: CliInvoker, db: Database, name: str, reason: str) -> None:
    result = run_cli("directory", "import", str(DATA / name))
    assert result.exit_code != 0
    assert reason in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert count(db) == 0


def test_importing_the_same_file_again_changes_nothing(run_cli: CliInvoker,
                                                       db: Database) -> None:
    run_cli("directory", "import", str(DATA / "samhsa_envelope.json"))
    before = {name: (c.id, c.updated_at) for name, c in centers(db).items()}
    result = run_cli("directory", "import", str(DATA / "samhsa_envelope.json"))
    assert "added 0, updated 0, unchanged 3, rejected 0" in result.output
    assert {name: (c.id, c.updated_at) for name, c in centers(db).items()} == before


def test_a_changed_row_updates_its_entry_and_keeps_what_staff_added(
        run_cli: CliInvoker, db: Database, tmp_path: Path) -> None:
    run_cli("directory", "import", str(DATA / "samhsa_envelope.json"))
    with db.session() as s:
        harbor = s.scalars(select(TreatmentCenter).where(
            TreatmentCenter.source_id == HARBOR)).one()
        harbor.description = "Ask for the evening group."
        harbor.accepting_patients = True
    document = json.loads((DATA / "samhsa_envelope.json").read_text())
    document["rows"][1]["phone"] = "555-555-0199"
    document["rows"][1]["services"][2]["f3"] = "Medicare; Medicaid"
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(document))
    result = run_cli("directory", "import", str(changed))
    assert "added 0, updated 1, unchanged 2, rejected 0" in result.output
    harbor = centers(db)["Demo Harbor House"]
    assert harbor.phone == "555-555-0199"
    assert harbor.codes("payment") == ["MC", "MD"]
    assert harbor.description == "Ask for the evening group."
    assert harbor.accepting_patients is True


def test_a_dry_run_reports_what_would_change_and_writes_nothing(
        run_cli: CliInvoker, db: Database) -> None:
    result = run_cli("directory", "import", "--dry-run", str(DATA / "samhsa_bad_rows.json"))
    assert result.exit_code == 0, result.output
    assert "would add 1, would update 0, unchanged 0, rejected 5" in result.output
    assert "Dry run: nothing was written." in result.output
    assert count(db) == 0
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_an_import_is_audited_with_its_counts(run_cli: CliInvoker, db: Database) -> None:
    run_cli("directory", "import", str(DATA / "samhsa_bad_rows.json"))
    with db.sessions() as s:
        event = s.scalars(select(AuditEvent).where(
            AuditEvent.action == "directory.import")).one()
    assert event.actor == "cli"
    assert event.detail == {"file": "samhsa_bad_rows.json", "format": "SAMHSA locator JSON",
                            "added": 1, "updated": 0, "unchanged": 0, "rejected": 5,
                            "flagged": 0}


def test_hsds_folder_is_imported_one_center_per_location(run_cli: CliInvoker,
                                                          db: Database) -> None:
    result = run_cli("directory", "import", str(DATA / "hsds"))
    assert result.exit_code == 0, result.output
    assert "Open Referral HSDS 3.0" in result.output
    assert "added 2, updated 0, unchanged 0, rejected 3" in result.output
    assert "rejected locations.csv line 4: unknown ZIP code 00000" in result.output
    assert "rejected locations.csv line 5: a virtual location" in result.output
    assert "rejected locations.csv line 6: no service is offered" in result.output
    got = centers(db)
    riverside = got["Demo Riverside Treatment"]
    assert (riverside.source, riverside.source_id) == (
        "hsds", "0c000000-0000-4000-8000-000000000001")
    assert riverside.alternate_name == "Demo Riverside Health"
    assert (riverside.phone, riverside.intake_phone) == ("555-555-0131", "555-555-0132")
    assert riverside.website == "https://riverside.example.org/detox"
    assert riverside.codes("care") == ["DT"]            # Open Eligibility "Detox"
    assert riverside.codes("payment") == ["MD"]         # an attribute's value
    assert riverside.codes("language") == ["en", "es"]  # languages.csv
    assert riverside.source_extra["unmapped"] == [
        {"code": "1183", "label": "Sober Living", "code_list": "Open Eligibility"}]
    meadow = got["Demo Meadow Clinic"]
    assert meadow.approximate_location and meadow.zip_code == "60601"
    assert not meadow.active  # its only service is inactive
    assert meadow.phone == "555-555-0134"
    assert meadow.codes("medication") == ["BU"]


@pytest.mark.parametrize("form", ["zip", "datapackage"])
def test_hsds_comes_as_a_zip_or_a_datapackage_json_as_well(
        run_cli: CliInvoker, db: Database, tmp_path: Path, form: str) -> None:
    if form == "zip":
        target = tmp_path / "network.zip"
        with zipfile.ZipFile(target, "w") as archive:
            for path in (DATA / "hsds").iterdir():
                archive.write(path, f"network/{path.name}")
    else:
        target = DATA / "hsds" / "datapackage.json"
    result = run_cli("directory", "import", str(target))
    assert result.exit_code == 0, result.output
    assert "added 2, updated 0, unchanged 0, rejected 3" in result.output
    assert run_cli("directory", "import", str(target)).output.count("unchanged 2") == 1


@pytest.mark.parametrize(("damage", "reason"), [
    ("drop addresses.csv", "addresses.csv is missing"),
    ("drop the postal_code column", "addresses.csv has no postal_code column"),
])
def test_hsds_without_its_required_tables_or_columns_is_refused_whole(
        run_cli: CliInvoker, db: Database, tmp_path: Path, damage: str, reason: str) -> None:
    folder = tmp_path / "hsds"
    shutil.copytree(DATA / "hsds", folder)
    if damage.startswith("drop addresses"):
        (folder / "addresses.csv").unlink()
    else:
        text = (folder / "addresses.csv").read_text()
        (folder / "addresses.csv").write_text(text.replace("postal_code", "zip", 1))
    result = run_cli("directory", "import", str(folder))
    assert result.exit_code != 0
    assert reason in result.output
    assert "nothing imported" in result.output
    assert count(db) == 0


def test_a_single_csv_is_not_mistaken_for_a_directory(run_cli: CliInvoker,
                                                      db: Database) -> None:
    result = run_cli("directory", "import", str(DATA / "hsds" / "locations.csv"))
    assert result.exit_code != 0
    assert "unknown kind of file" in result.output


def test_the_import_is_one_transaction(session: Session, db: Database) -> None:
    from helpline.directory.imports import import_file

    import_file(session, DATA / "samhsa_envelope.json")
    session.rollback()
    assert count(db) == 0


def test_coordinates_far_from_their_zip_code_are_flagged_and_the_zip_centre_used(
        run_cli: CliInvoker, db: Database) -> None:
    # SAMHSA's own front-end fixture: a Tucson ZIP code with coordinates in Arctic Alaska.
    result = run_cli("directory", "import", str(DATA / "samhsa_checks.json"))
    assert result.exit_code == 0, result.output
    assert "added 3, updated 0, unchanged 0, rejected 1" in result.output
    assert ("flagged record 1: latitude 71.2906, longitude -156.7886 are 3,182 miles from ZIP "
            "code 85701 (Tucson, AZ): placed at the ZIP code's center instead") in result.output
    assert "flagged record 4: latitude 32.2226, longitude 110.9747 are 7,211 miles" in result.output
    desert = centers(db)["Demo Desert Sky Recovery"]
    assert (desert.latitude, desert.longitude, desert.approximate_location) == (
        32.2139, -110.9694, True)
    search = run_cli("directory", "search", "--zip", "85701", "--within", "5", "--format",
                     "json")
    assert "Demo Desert Sky Recovery" in [r["name"] for r in json.loads(search.output)["results"]]
    with db.sessions() as s:
        audited = s.scalar(select(AuditEvent).where(AuditEvent.action == "directory.import"))
        assert audited is not None and audited.detail["flagged"] == 2


def test_rows_without_a_frid_are_known_by_their_name_and_address(run_cli: CliInvoker,
                                                                  db: Database) -> None:
    first = run_cli("directory", "import", str(DATA / "samhsa_checks.json"))
    # The same name and address, written differently, is the same facility.
    assert ("rejected record 3: the same name and address as record 2"
            in first.output), first.output
    saguaro = centers(db)["Demo Saguaro Outpatient"]
    assert saguaro.source_id is not None and saguaro.source_id.startswith("derived-")
    again = run_cli("directory", "import", str(DATA / "samhsa_checks.json"))
    assert "added 0, updated 0, unchanged 3, rejected 1" in again.output
    assert centers(db)["Demo Saguaro Outpatient"].source_id == saguaro.source_id


def test_detox_named_for_a_substance_is_detox(run_cli: CliInvoker, db: Database) -> None:
    run_cli("directory", "import", str(DATA / "samhsa_checks.json"))
    got = centers(db)
    assert got["Demo Desert Sky Recovery"].codes("care") == ["DT"]
    assert got["Demo Saguaro Outpatient"].codes("care") == ["DT", "OP"]
    assert "unmapped" not in got["Demo Desert Sky Recovery"].source_extra


@pytest.mark.parametrize("dry_run", [False, True])
def test_an_import_in_which_every_record_is_rejected_fails(run_cli: CliInvoker, db: Database,
                                                           dry_run: bool) -> None:
    result = run_cli("directory", "import", str(DATA / "samhsa_all_rejected.json"),
                     *(["--dry-run"] if dry_run else []))
    assert result.exit_code != 0
    assert "rejected record 1: unknown ZIP code 00000" in result.output
    assert "nothing imported (no record was usable)" in result.output
    assert count(db) == 0
