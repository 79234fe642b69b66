"""Open Referral HSDS 3.0 to the letter: the official example and a multi-row network import
with every field the directory can hold, the export validates against Open Referral's own
descriptor and schemas, and export -> import into a fresh database -> export is identical."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from frictionless import Package
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline.db import Database
from helpline.directory.generate import generate_centers
from helpline.directory.hsds import GENERATED_DESCRIPTION
from helpline.directory.hsds_export import descriptor_text, export_hsds, hsds_files
from helpline.directory.imports import import_file
from helpline.directory.records import bulk_insert_centers
from helpline.directory.schedules import describe
from helpline.models import TreatmentCenter
from tests.factories.directory import make_center
from tests.fixtures.cli import CliInvoker
from tests.fixtures.database import TemplateDatabase

DATA = Path(__file__).parent / "data"
OFFICIAL = DATA / "hsds_official"
EXAMPLE = OFFICIAL / "example"
NETWORK = DATA / "hsds_network"


def centers(db: Database) -> dict[str, TreatmentCenter]:
    with db.sessions() as s:
        found = {c.name: c for c in s.scalars(select(TreatmentCenter))}
        for c in found.values():
            _ = c.schedules, c.services  # loaded before the session closes
        return found


def strict_errors(folder: Path) -> list[str]:
    """Every error frictionless finds in the export read with the OFFICIAL descriptor (the
    copy in the test data, not the one the code ships): headers, types, formats (uuid, uri,
    email), enums, required and unique values, primary and foreign keys."""
    (folder / "datapackage.json").write_text((OFFICIAL / "datapackage.json").read_text())
    package = Package(str(folder / "datapackage.json"))
    report = package.validate(limit_errors=100_000)
    errors = [f"{task.name}: {error.message}" for task in report.tasks for error in task.errors]
    errors += [error.message for error in report.errors]
    assert report.stats["tasks"] == len(package.resources) == 21
    return errors


@pytest.fixture
def fresh_db(template_db: TemplateDatabase, tmp_path: Path) -> Iterator[Database]:
    (tmp_path / "second").mkdir()
    url = template_db.new_url(tmp_path / "second")
    database = Database(url)
    yield database
    database.dispose()
    template_db.drop(url)


def test_the_official_example_keeps_names_phone_extension_schedule_language_and_identifiers(
        run_cli: CliInvoker, db: Database) -> None:
    result = run_cli("directory", "import", str(EXAMPLE))
    assert result.exit_code == 0, result.output
    assert "added 1, updated 0, unchanged 0, rejected 0" in result.output
    center = centers(db)["MyCity Civic Center"]
    assert center.alternate_name == "Civic Center"
    assert center.address == "1-30 Main Street, MyVillage, New York, NY 10001"
    assert (center.latitude, center.longitude) == (40.7501, -73.997)
    assert center.phone == "555-555-0150 x100"
    assert center.website == "http://example.com/counselling"
    hsds = center.source_extra["hsds"]
    assert hsds["organization"]["name"] == "Example Organization Inc."
    assert hsds["organization"]["identifiers"] == [{
        "id": "d4dbcebc-0802-47cb-8651-b937ac4f2f3e", "identifier_scheme": "GB-COH",
        "identifier_type": "Company number", "identifier": "1234567"}]
    assert [s["name"] for s in hsds["services"]] == ["Community Counselling"]
    assert hsds["services"][0]["at_location"] == "e94c9f38-1e8f-4564-91d4-d53501ab1765"
    assert hsds["location"] == {"external_identifier": "10092008082",
                                "external_identifier_type": "UPRN"}
    assert {"code": "ur", "label": "Urdu", "code_list": "ISO 639"} in \
        center.source_extra["unmapped"]
    [schedule] = center.schedules
    assert (schedule.freq, schedule.byday, schedule.interval) == ("WEEKLY", "TH,FR", 1)
    assert (schedule.opens_at, schedule.closes_at) == (dt.time(10), dt.time(18))
    assert schedule.timezone == -5
    assert (schedule.source_id, schedule.link_type) == (
        "48102e86-bb50-41c4-8f1e-e269368c41d1", "location")
    assert describe(schedule).startswith("Thu, Fri 10:00–18:00. The service is available")


def test_the_import_report_lists_the_tables_and_columns_it_ignored(
        run_cli: CliInvoker) -> None:
    result = run_cli("directory", "import", str(EXAMPLE))
    assert "Not imported (the directory has no place for them):" in result.output
    for line in ("ignored funding.csv (1 row)", "ignored cost_options.csv (1 row)",
                 "ignored accessibility.csv (1 row)",
                 "ignored services.csv columns program_id, email, interpretation_services",
                 "ignored addresses.csv columns attention, region"):
        assert line in result.output


def test_a_network_keeps_phones_by_every_link_iso_639_3_languages_and_schedules(
        run_cli: CliInvoker, db: Database) -> None:
    result = run_cli("directory", "import", str(NETWORK))
    assert result.exit_code == 0, result.output
    assert "added 3, updated 0, unchanged 0, rejected 0" in result.output
    got = centers(db)
    main = got["Demo Harborview Main Campus"]
    assert main.phone == "555-555-0161 x12"            # the location's, with its extension
    assert main.website == "https://harborview.example.org"  # https:// added
    assert main.codes("language") == ["es"]            # "spa"
    assert {"code": "urd", "label": "Urdu", "code_list": "ISO 639"} in \
        main.source_extra["unmapped"]                  # a language of its phone
    assert [s["name"] for s in main.source_extra["hsds"]["services"]] == [
        "Demo Harborview Outpatient", "Demo Harborview Detox"]
    assert main.source_extra["hsds"]["organization"]["name"] == "Demo Harborview Recovery Inc."
    assert [describe(s) for s in main.schedules] == [
        "Mon, Tue, Wed, Thu, Fri 09:00–17:00. Closed on federal holidays."]
    prairie = got["Demo Prairie Clinic"]
    assert prairie.phone == "555-555-0164"             # the organization's
    assert prairie.intake_phone == "555-555-0162"      # only through service_at_location_id
    assert prairie.source_extra["hotline"] == "555-555-0163"  # the service's
    assert prairie.codes("language") == ["asl", "vi"]  # "ase" and "vi"
    assert "email" not in prairie.source_extra["hsds"]["organization"]  # not an address
    assert [describe(s) for s in prairie.schedules] == ["Sat 10:00–14:00"]
    annex = got["Demo Harborview Annex"]
    assert annex.phone == "555-555-0165 x7"            # through its contact
    assert annex.approximate_location
    assert [describe(s) for s in annex.schedules] == [
        "monthly on day 1, 15 08:30–12:00. Walk-in days."]
    assert annex.schedules[0].link_type == "service_at_location"


def test_importing_the_network_again_changes_nothing(run_cli: CliInvoker) -> None:
    run_cli("directory", "import", str(NETWORK))
    assert "added 0, updated 0, unchanged 3, rejected 0" in run_cli(
        "directory", "import", str(NETWORK)).output


@pytest.fixture
def every_kind_of_entry(run_cli: CliInvoker, session: Session) -> None:
    """The official example, the network, SAMHSA rows (a category with several labels), an
    older HSDS package, generated entries and a center typed in with a website lacking its
    scheme and another whose website cannot be made valid."""
    for source in (EXAMPLE, NETWORK, DATA / "hsds", DATA / "samhsa_envelope.json"):
        assert run_cli("directory", "import", str(source)).exit_code == 0
    bulk_insert_centers(session, generate_centers(12, seed=5))
    make_center(session, name="Demo No Scheme", zip_code="94103", website="www.example.org",
                languages=("asl", "es", "hmn"))
    make_center(session, name="Demo Bad Website", zip_code="10001", website="not a website",
                source_extra={"unmapped": [
                    {"code": "PAY", "label": "Federal funds", "code_list": "samhsa-locator"},
                    {"code": "PAY", "label": "State funds", "code_list": "samhsa-locator"},
                    {"code": "DT", "label": "Day treatment", "code_list": "Demo Other"}]})
    session.commit()


def test_the_export_validates_strict_against_the_official_hsds_3_descriptor(
        db: Database, every_kind_of_entry: None, tmp_path: Path) -> None:
    with db.sessions() as s:
        export_hsds(s, tmp_path / "out")
    assert (tmp_path / "out" / "datapackage.json").read_text() == \
        (OFFICIAL / "datapackage.json").read_text()
    assert strict_errors(tmp_path / "out") == []


def test_the_export_fills_what_hsds_requires_and_says_what_it_generated(
        db: Database, every_kind_of_entry: None) -> None:
    with db.sessions() as s:
        files, _ = hsds_files(s)
    organizations = files["organizations.csv"]
    assert GENERATED_DESCRIPTION in organizations       # Demo Prairie Health had none
    assert "Example Org is a non-profit organization" in organizations  # kept as published
    assert "https://www.example.org" in files["services.csv"]
    assert "not a website" not in files["services.csv"]
    languages = files["languages.csv"]
    assert ",American Sign Language,ase," in languages and ",Hmong,hmn," in languages
    assert "label" not in files["attributes.csv"].splitlines()[0].split(",")
    assert ",555-555-0150,100,voice," in files["phones.csv"]
    assert "10092008082,UPRN" in files["locations.csv"]
    assert ",GB-COH,Company number,1234567" in files["organization_identifiers.csv"]
    terms = list(csv.DictReader(io.StringIO(files["taxonomy_terms.csv"])))
    codes = [t["code"] for t in terms if t["code"]]
    assert len(codes) == len(set(codes))
    assert "Demo Other:DT" in codes and "DT" in codes  # ours keeps its code
    assert [t["name"] for t in terms if t["code"] == "PAY"] == ["PAY"]  # two labels
    values = files["attributes.csv"]
    assert ",Federal funds" in values and ",State funds" in values


def test_export_import_into_a_fresh_database_export_gives_identical_files(
        db: Database, every_kind_of_entry: None, fresh_db: Database, tmp_path: Path) -> None:
    with db.sessions() as s:
        first, count = hsds_files(s)
        export_hsds(s, tmp_path / "first")
    with fresh_db.sessions() as s:
        report = import_file(s, tmp_path / "first")
        s.commit()
    assert (report.added, report.rejected) == (count, 0)
    with fresh_db.sessions() as s:
        second, again = hsds_files(s)
    assert again == count
    changed = {name: sorted(set(text.splitlines()) ^ set(first[name].splitlines()))
               for name, text in second.items() if text != first[name]}
    assert changed == {}


def test_the_export_ships_the_official_descriptor_unchanged() -> None:
    assert descriptor_text() == (OFFICIAL / "datapackage.json").read_text()
