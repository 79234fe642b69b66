"""The dashboard's CSV downloads never hand a spreadsheet a formula (OWASP, CSV injection)."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy.orm import Session

from tests.factories import make_call, make_contact, make_user

DANGEROUS = ["=SUM(1)", "+SUM(1)", "-SUM(1)", "@SUM(1)", "\t=SUM(1)", "\r=SUM(1)"]


@pytest.mark.parametrize("value", DANGEROUS)
def test_call_history_csv_neutralises_names_and_fields(  # type: ignore[no-untyped-def]
        supervisor_client, session: Session, value: str) -> None:
    counselor = make_user(session, username=value)
    make_contact(session, counselor, make_call(session), need="self", insurance=value,
                 substances=[value])
    session.commit()
    resp = supervisor_client.get("/history.csv")
    assert resp.status_code == 200
    row = next(csv.DictReader(io.StringIO(resp.get_data(as_text=True), newline="")))
    assert row["counselor"] == "'" + value
    assert row["insurance"] == "'" + value
    assert row["substances"] == "'" + value
    assert row["need"] == "self"


@pytest.mark.parametrize("value", DANGEROUS)
def test_report_csv_neutralises_labels(  # type: ignore[no-untyped-def]
        supervisor_client, session: Session, value: str) -> None:
    make_call(session, need=value[:16], language="en")
    session.commit()
    resp = supervisor_client.get("/supervisor/reports/need.csv")
    assert resp.status_code == 200
    labels = [row[0] for row in csv.reader(io.StringIO(resp.get_data(as_text=True),
                                                       newline=""))]
    assert "'" + value in labels
    assert value not in labels


@pytest.mark.parametrize("value", DANGEROUS)
def test_audit_export_neutralises_names(  # type: ignore[no-untyped-def]
        supervisor_client, session: Session, value: str) -> None:
    from helpline import audit

    audit.record(session, "contact.view", actor=make_user(session, username=value),
                 record_type="contact", record_id=1)
    session.commit()
    resp = supervisor_client.get("/supervisor/audit/export.csv?action=contact.view")
    assert resp.status_code == 200
    actors = [row["actor"] for row in csv.DictReader(io.StringIO(resp.get_data(as_text=True),
                                                                 newline=""))]
    assert "'" + value in actors and value not in actors
