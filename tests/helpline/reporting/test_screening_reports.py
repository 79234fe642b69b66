"""Screenings counted in the supervisors' reports: how many per instrument, how many positive,
and the positive rate, over the report's local dates and queue."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from helpline.models import Screening
from helpline.reporting.reports import build_report, table_csv
from tests.factories import make_call, make_contact, make_user
from tests.fixtures.reporting import local

TZ = "America/New_York"
WEEK = (dt.date(2026, 1, 5), dt.date(2026, 1, 11))


def screened(session: Session, at: dt.datetime, instrument: str, positive: bool,
             queue: str = "self-en") -> None:
    counselor = make_user(session)
    contact = make_contact(session, counselor, make_call(session, queue_name=queue,
                                                         started_at=at), created_at=at)
    session.add(Screening(contact_id=contact.id, instrument=instrument, version="test",
                          answers={}, score=5 if positive else 0, threshold=3,
                          positive=positive, interpretation="test", by_id=counselor.id, at=at))
    session.flush()


def test_screenings_and_positive_rates_over_the_range(session: Session) -> None:
    for day, positive in ((5, True), (6, False), (7, True), (11, True)):
        screened(session, local(2026, 1, day, 10), "audit_c", positive)
    screened(session, local(2026, 1, 8, 12), "single_drug", False)
    # Sunday 11 Jan 23:30 in New York is Monday in UTC: still in the week.
    screened(session, local(2026, 1, 11, 23, 30), "single_drug", True)
    # Outside the week (local dates).
    screened(session, local(2026, 1, 4, 23, 59), "audit_c", True)
    screened(session, local(2026, 1, 12, 0, 30), "single_drug", True)
    session.commit()
    report = build_report(session, *WEEK, timezone=TZ)
    assert report.tables["screening"].rows == [
        ["AUDIT-C (alcohol)", 4, 3, "75.0%"],
        ["Single-question drug screen", 2, 1, "50.0%"],
    ]
    assert table_csv(report, "screening").splitlines() == [
        "Instrument,Screenings,Positive,Positive rate",
        "AUDIT-C (alcohol),4,3,75.0%",
        "Single-question drug screen,2,1,50.0%",
    ]


def test_one_queue_counts_only_its_screenings(session: Session) -> None:
    screened(session, local(2026, 1, 6, 10), "audit_c", True, queue="self-en")
    screened(session, local(2026, 1, 6, 11), "audit_c", False, queue="family-es")
    session.commit()
    report = build_report(session, *WEEK, timezone=TZ, queue="family-es")
    assert report.tables["screening"].rows[0] == ["AUDIT-C (alcohol)", 1, 0, "0.0%"]


def test_no_screenings_reports_zero_without_a_rate(session: Session) -> None:
    report = build_report(session, *WEEK, timezone=TZ)
    assert report.tables["screening"].rows == [["AUDIT-C (alcohol)", 0, 0, ""],
                                               ["Single-question drug screen", 0, 0, ""]]


def test_the_reports_page_shows_the_screening_table(supervisor_client, session: Session) -> None:
    screened(session, local(2026, 1, 6, 10), "audit_c", True)
    session.commit()
    page = supervisor_client.get("/supervisor/reports?start=2026-01-05&end=2026-01-11")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="table-screening"' in html
    table = html.split('id="table-screening"')[1].split("</table>")[0]
    assert "<th scope=\"row\">AUDIT-C (alcohol)</th><td>1</td><td>1</td><td>100.0%</td>" in table
    csv = supervisor_client.get("/supervisor/reports/screening.csv?start=2026-01-05&end=2026-01-11")
    assert csv.status_code == 200 and b"AUDIT-C (alcohol),1,1,100.0%" in csv.data
