"""`helpline directory search`: the directory search for scripts, JSON or text."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from helpline.db import utcnow
from helpline.directory.geo import haversine_miles, zip_point
from tests.factories.directory import make_center
from tests.fixtures.cli import CliInvoker


@pytest.fixture
def nearby(session: Session) -> dict[str, int]:
    made = {
        "detox": make_center(session, name="Demo Detox Near", latitude=40.7600,
                             longitude=-73.9900, care=("detox",), payment=("medicaid",),
                             languages=("es",)),
        "far": make_center(session, name="Demo Detox Far", latitude=41.3000,
                           longitude=-73.9000, care=("detox",), payment=("medicaid",)),
        "outpatient": make_center(session, name="Demo Outpatient", zip_code="10001",
                                  care=("outpatient",), payment=("private",)),
    }
    session.commit()
    return {k: c.id for k, c in made.items()}


def test_json_search_lists_matching_centers_nearest_first_with_distance_to_a_tenth(
        run_cli: CliInvoker, nearby: dict[str, int]) -> None:
    result = run_cli("directory", "search", "--zip", "10001", "--within", "25",
                     "--care", "detox", "--payment", "medicaid", "--format", "json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["total"] == 1
    hit = answer["results"][0]
    assert hit["id"] == nearby["detox"]
    origin = zip_point("10001")
    assert origin is not None
    assert hit["distance_miles"] == round(
        haversine_miles(origin.latitude, origin.longitude, 40.76, -73.99), 1)
    assert hit["approximate"] is True  # measured from the ZIP's centre
    assert hit["location"]["approximate"] is False
    assert hit["offerings"]["care"] == ["DT"]
    assert hit["capacity"]["accepting_patients"] is None


def test_a_wider_radius_and_two_values_of_a_facet(run_cli: CliInvoker,
                                                   nearby: dict[str, int]) -> None:
    result = run_cli("directory", "search", "--zip", "10001", "--within", "60",
                     "--care", "detox,outpatient", "--format", "json")
    ids = [r["id"] for r in json.loads(result.output)["results"]]
    assert ids == [nearby["outpatient"], nearby["detox"], nearby["far"]]


def test_the_language_filter_takes_the_iso_code(run_cli: CliInvoker,
                                                nearby: dict[str, int]) -> None:
    result = run_cli("directory", "search", "--zip", "10001", "--language", "es",
                     "--format", "json")
    assert [r["id"] for r in json.loads(result.output)["results"]] == [nearby["detox"]]


def test_capacity_filter_finds_only_centers_confirmed_accepting(
        run_cli: CliInvoker, session: Session, nearby: dict[str, int]) -> None:
    from helpline.models import TreatmentCenter

    center = session.get(TreatmentCenter, nearby["far"])
    assert center is not None
    center.accepting_patients = True
    center.same_day_moud = True
    center.capacity_confirmed_at = utcnow() - dt.timedelta(days=2, hours=1)
    other = session.get(TreatmentCenter, nearby["detox"])
    assert other is not None
    other.accepting_patients = False
    session.commit()
    result = run_cli("directory", "search", "--zip", "10001", "--within", "60",
                     "--capacity", "accepting", "--format", "json")
    answer = json.loads(result.output)
    assert [r["id"] for r in answer["results"]] == [nearby["far"]]
    assert answer["results"][0]["capacity"]["confirmed_days_ago"] == 2
    text = run_cli("directory", "search", "--zip", "10001", "--within", "60",
                   "--capacity", "accepting", "--capacity", "same-day")
    assert "Accepting new patients · same-day MOUD · confirmed 2 days ago" in text.output


def test_text_output_is_for_people(run_cli: CliInvoker, nearby: dict[str, int]) -> None:
    result = run_cli("directory", "search", "--zip", "10001", "--care", "detox")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("1 center within 25 miles of 10001 (page 1 of 1)")
    assert "Demo Detox Near" in result.output
    assert "Capacity not known" in result.output
    assert "approximate" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--zip", "00000"], "unknown ZIP code '00000'"),
    (["--zip", "10001", "--care", "astrology"], "unknown care filter: 'astrology'"),
    (["--zip", "10001", "--capacity", "maybe"], "unknown capacity filter: 'maybe'"),
])
def test_unknown_zip_or_filter_is_one_clear_message_and_a_failure(
        run_cli: CliInvoker, args: list[str], message: str) -> None:
    result = run_cli("directory", "search", *args, "--format", "json")
    assert result.exit_code != 0
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_pages_of_results(run_cli: CliInvoker, session: Session) -> None:
    for i in range(5):
        make_center(session, name=f"Demo Paged {i}", latitude=40.75 + i * 0.01,
                    longitude=-73.99)
    session.commit()
    second = json.loads(run_cli("directory", "search", "--zip", "10001", "--per-page", "2",
                                "--page", "2", "--format", "json").output)
    assert (second["total"], second["pages"], second["page"]) == (5, 3, 2)
    assert [r["name"] for r in second["results"]] == ["Demo Paged 2", "Demo Paged 3"]


# Run as `helpline` runs it, reporting afterwards which of the heavy modules it imported.
_PROBE = """
import sys
from helpline.app.cli import cli
try:
    cli(sys.argv[1:], prog_name="helpline")
finally:
    heavy = ("sqlalchemy.orm", "helpline.models", "helpline.crypto", "helpline.audit")
    print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)
"""


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_the_search_imports_neither_the_orm_nor_the_models_nor_the_cipher(
        nearby: dict[str, int], database_url: str, tmp_path: Path, fmt: str) -> None:
    # Scripts run this command often and its start-up is most of its time: importing
    # sqlalchemy.orm and declaring every model took more than the rest of it
    # (bench/directory_cli.py).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HELPLINE_", "TWILIO_"))}
    env.update(DATABASE_URL=database_url, HELPLINE_INSTANCE_DIR=str(tmp_path / "instance"))
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, "directory", "search", "--zip", "10001", "--within",
         "60", "--care", "detox", "--format", fmt],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]"
    if fmt == "json":
        answer = json.loads(done.stdout)
        assert [r["id"] for r in answer["results"]] == [nearby["detox"], nearby["far"]]
        assert answer["results"][0]["offerings"]["care"] == ["DT"]
    else:
        assert done.stdout.startswith("2 centers within 60 miles of 10001 (page 1 of 1)")
