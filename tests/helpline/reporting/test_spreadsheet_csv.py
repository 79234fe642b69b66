"""Staff CSV exports never hand a spreadsheet a formula (OWASP, CSV injection)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from helpline import audit
from helpline.db import Database
from helpline.reporting.audit_review import AuditFilter, export_csv
from helpline.reporting.spreadsheet_csv import neutral_cell
from helpline.reporting.tables import Table
from tests.factories import make_call, make_user
from tests.fixtures.cli import CliInvoker

#: A cell starting with each character a spreadsheet may run as a formula.
DANGEROUS = ["=SUM(1)", "+SUM(1)", "-SUM(1)", "@SUM(1)", "\t=SUM(1)", "\r=SUM(1)"]


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("value", DANGEROUS)
def test_text_that_could_start_a_formula_is_quoted(value: str) -> None:
    assert neutral_cell(value) == "'" + value


@pytest.mark.parametrize("value", [-3, -2.5, 0, 17, None, "", "self-en", "a=b", "'=x"])
def test_numbers_and_plain_text_are_left_alone(value: object) -> None:
    assert neutral_cell(value) == value


@pytest.mark.parametrize("value", DANGEROUS)
def test_a_report_table_neutralises_its_labels(value: str) -> None:
    table = Table("need", "Calls by need", ["Need", "Calls"], [[value, 3], ["self", -1]])
    assert rows_of(table.to_csv())[1:] == [["'" + value, "3"], ["self", "-1"]]


@pytest.mark.parametrize("value", DANGEROUS)
def test_the_audit_export_neutralises_names_and_fields(session: Session, value: str) -> None:
    bob = make_user(session, "supervisor", username="bob")
    audit.record(session, "contact.view", actor=make_user(session, username=value),
                 record_type="contact", record_id=value, address="10.0.0.1")
    session.commit()
    body = "".join(export_csv(session, AuditFilter(action="contact.view"), by=bob))
    row = next(csv.DictReader(io.StringIO(body, newline="")))
    assert row["actor"] == "'" + value
    assert row["record_id"] == "'" + value


@pytest.mark.parametrize("value", DANGEROUS)
def test_the_cli_call_export_neutralises_names_and_fields(
    run_cli: CliInvoker, db: Database, value: str
) -> None:
    with db.session() as session:
        make_call(session, queue_name=value, need="self",
                  counselor_id=make_user(session, username=value).id)
    result = run_cli("export", "calls", "--format", "csv")
    assert result.exit_code == 0, result.output
    record = next(csv.DictReader(io.StringIO(result.output, newline="")))
    assert record["queue"] == "'" + value
    assert record["counselor"] == "'" + value
    assert record["need"] == "self"


def test_every_csv_the_app_writes_goes_through_the_one_writer() -> None:
    # The HSDS tables are data for other systems and our own import (see spreadsheet_csv).
    allowed = {"helpline/reporting/spreadsheet_csv.py", "helpline/directory/hsds_export.py"}
    root = Path(__file__).resolve().parents[3]
    writers = re.compile(r"csv\.(writer|DictWriter)\(")
    offenders = [
        str(path.relative_to(root))
        for package in ("helpline", "dashboard", "ivr", "simulator")
        for path in (root / package).rglob("*.py")
        if writers.search(path.read_text()) and str(path.relative_to(root)) not in allowed
    ]
    assert offenders == []
