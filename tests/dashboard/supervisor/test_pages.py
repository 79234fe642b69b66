"""The /supervisor pages: who may open them, and what they show."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline.models import AuditEvent, User
from tests.factories import make_call
from tests.fixtures.reporting import Week

PAGES = ["/supervisor/wallboard", "/supervisor/wallboard/board", "/supervisor/reports",
         "/supervisor/reports/need.csv", "/supervisor/audit", "/supervisor/audit/export.csv",
         "/supervisor/staff"]


@pytest.mark.parametrize("path", PAGES)
def test_a_counselor_cannot_open_supervisor_pages(counselor_client, path: str) -> None:  # type: ignore[no-untyped-def]
    assert counselor_client.get(path).status_code == 403


@pytest.mark.parametrize("path", PAGES)
def test_nobody_signed_out_sees_supervisor_pages(client, path: str) -> None:  # type: ignore[no-untyped-def]
    resp = client.get(path)
    assert resp.status_code in (302, 401)
    assert b"Wallboard" not in resp.data


def test_wallboard_shows_the_waiting_caller(supervisor_client, session: Session) -> None:  # type: ignore[no-untyped-def]
    make_call(session, status="queued", queue_name="treatment-es", need="treatment",
              language="es")
    session.commit()
    page = supervisor_client.get("/supervisor/wallboard")
    assert page.status_code == 200
    assert b'data-queue="treatment-es"' in page.data
    assert b"<script>" not in page.data  # the CSP forbids inline script


def test_wallboard_events_stream_the_board(supervisor_client, session: Session) -> None:  # type: ignore[no-untyped-def]
    make_call(session, status="queued", queue_name="self-en", need="self", language="en")
    session.commit()
    resp = supervisor_client.get("/supervisor/wallboard/events?lifetime=0")
    assert resp.mimetype == "text/event-stream"
    body = resp.get_data(as_text=True)
    assert "event: board" in body
    assert 'data-queue="self-en"' in body


def test_report_page_shows_charts_tables_and_totals(supervisor_client, week: Week) -> None:  # type: ignore[no-untyped-def]
    page = supervisor_client.get(f"/supervisor/reports?start={week.start}&end={week.end}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count("<svg") >= 8
    assert 'id="table-outcome"' in html
    assert '<td data-figure="0">7</td>' in html  # calls in the week


def test_report_csv_downloads_and_is_audited(supervisor_client,  # type: ignore[no-untyped-def]
                                             week: Week, session: Session) -> None:
    resp = supervisor_client.get(
        f"/supervisor/reports/language.csv?start={week.start}&end={week.end}")
    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    assert list(csv.reader(io.StringIO(resp.get_data(as_text=True)))) == [
        ["Language", "Calls"], ["en", "6"], ["es", "1"]]
    assert session.scalar(select(AuditEvent.action).where(AuditEvent.action == "report.export"))


def test_a_bad_date_is_explained(supervisor_client) -> None:  # type: ignore[no-untyped-def]
    resp = supervisor_client.get("/supervisor/reports?start=yesterday")
    assert resp.status_code == 400
    assert b"2026-01-31" in resp.data


def test_audit_page_filters_and_verifies_the_chain(supervisor_client) -> None:  # type: ignore[no-untyped-def]
    page = supervisor_client.get(f"/supervisor/audit?user={supervisor_client.username}&verify=1")
    assert page.status_code == 200
    assert b"is whole" in page.data
    assert b"Export CSV" in page.data


def test_audit_export_downloads_csv(supervisor_client) -> None:  # type: ignore[no-untyped-def]
    resp = supervisor_client.get("/supervisor/audit/export.csv")
    assert resp.status_code == 200
    header = resp.get_data(as_text=True).splitlines()[0]
    assert header.startswith("id,at,actor,action")


def test_audit_page_has_no_form_that_changes_the_log(supervisor_client) -> None:  # type: ignore[no-untyped-def]
    html = supervisor_client.get("/supervisor/audit").get_data(as_text=True)
    assert 'method="post"' not in html.split("<main", 1)[1].split("</main>")[0]


def test_supervisor_sets_languages_and_phone_of_a_counselor(supervisor_client, staff_factory,  # type: ignore[no-untyped-def]
                                                             session: Session) -> None:
    target = staff_factory("counselor")
    resp = supervisor_client.post(f"/supervisor/staff/{target.user_id}",
                                  {"languages": "es", "phone": "+1 555 555 0142"})
    assert resp.status_code == 302
    session.expire_all()
    user = session.get(User, target.user_id)
    assert user is not None
    assert (user.languages, user.phone) == ("es", "+15555550142")
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.update")).one()
    assert "5550142" not in str(event.detail)


def test_a_supervisor_cannot_change_a_role(supervisor_client,  # type: ignore[no-untyped-def]
                                           staff_factory, session: Session) -> None:
    target = staff_factory("counselor")
    supervisor_client.post(f"/supervisor/staff/{target.user_id}", {"languages": "en",
                                                                   "role": "admin"})
    session.expire_all()
    assert session.get(User, target.user_id).role == "counselor"  # type: ignore[union-attr]


def test_an_admin_changes_a_role(admin_client, staff_factory, session: Session) -> None:  # type: ignore[no-untyped-def]
    target = staff_factory("counselor")
    admin_client.post(f"/supervisor/staff/{target.user_id}", {"languages": "en",
                                                              "role": "supervisor"})
    session.expire_all()
    assert session.get(User, target.user_id).role == "supervisor"  # type: ignore[union-attr]


def test_a_bad_phone_number_is_refused(supervisor_client, staff_factory, session: Session) -> None:  # type: ignore[no-untyped-def]
    target = staff_factory("counselor")
    resp = supervisor_client.post(f"/supervisor/staff/{target.user_id}",
                                  {"languages": "en", "phone": "call me"}, follow_redirects=True)
    assert b"international form" in resp.data
    session.expire_all()
    assert session.get(User, target.user_id).phone is None  # type: ignore[union-attr]


def test_staff_page_shows_shift_statistics(supervisor_client, session: Session) -> None:  # type: ignore[no-untyped-def]
    page = supervisor_client.get("/supervisor/staff")
    assert page.status_code == 200
    assert b'id="shift-stats"' in page.data
