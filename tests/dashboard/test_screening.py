"""Screening in the record: questions, score and what it suggests, stored with the contact."""

from __future__ import annotations

from sqlalchemy import func, select

from helpline.models import AgentStatus, Screening, User
from helpline.records import contacts, screening
from tests.factories import make_call

HX = {"HX-Request": "true"}


def open_record(session, staff, language: str = "en"):  # type: ignore[no-untyped-def]
    user = session.get(User, staff.user_id)
    contact = contacts.open_contact_for_call(
        session, user, make_call(session, "+15555550144", language=language))
    user.status = AgentStatus.ON_CALL
    session.commit()
    return contact


def test_counselor_scores_audit_c_and_sees_what_it_suggests(counselor_client, session):
    contact = open_record(session, counselor_client)
    page = counselor_client.get(f"/records/{contact.id}").get_data(as_text=True)
    assert "How often do you have a drink containing alcohol?" in page
    assert "How many times in the past year have you used an illegal drug" in page

    panel = counselor_client.post(f"/records/{contact.id}/screenings/audit_c",
                                  {"q1": "2", "q2": "2", "q3": "1", "sex": ""}, headers=HX)
    html = panel.get_data(as_text=True)
    assert panel.status_code == 200 and html.startswith('<section class="panel"')
    assert "Score 5 of 12: positive" in html
    assert "cut-off 3, sex not recorded" in html
    assert "possible hazardous drinking" in html

    session.expire_all()
    row = session.scalar(select(Screening).where(Screening.contact_id == contact.id))
    assert (row.instrument, row.version, row.answers, row.score, row.threshold,
            row.positive, row.interpretation, row.sex, row.by_id) == (
        "audit_c", "WHO AUDIT 2001, items 1-3", {"q1": 2, "q2": 2, "q3": 1}, 5, 3, True,
        "audit_c.positive", None, counselor_client.user_id)
    assert row.at is not None
    # Shown in the record, with the answers kept for a second look.
    record = counselor_client.get(f"/records/{contact.id}").get_data(as_text=True)
    assert "Score 5 of 12: positive" in record
    assert 'name="q1" value="2" required checked' in record


def test_scoring_again_replaces_the_answers(counselor_client, session):
    contact = open_record(session, counselor_client)
    base = f"/records/{contact.id}/screenings"
    counselor_client.post(f"{base}/audit_c", {"q1": "2", "q2": "2", "q3": "1"}, headers=HX)
    counselor_client.post(f"{base}/audit_c", {"q1": "1", "q2": "0", "q3": "1", "sex": "male"},
                          headers=HX)
    counselor_client.post(f"{base}/single_drug", {"times": "0"}, headers=HX)
    session.expire_all()
    rows = {s.instrument: s for s in screening.screenings_for(session, contact)}
    assert set(rows) == {"audit_c", "single_drug"}
    assert (rows["audit_c"].score, rows["audit_c"].threshold, rows["audit_c"].positive,
            rows["audit_c"].sex) == (2, 4, False, "male")
    assert (rows["single_drug"].score, rows["single_drug"].positive) == (0, False)
    assert rows["single_drug"].sex is None


def test_a_spanish_caller_is_asked_in_spanish(counselor_client, session):
    contact = open_record(session, counselor_client, language="es")
    page = counselor_client.get(f"/records/{contact.id}").get_data(as_text=True)
    assert "¿Con qué frecuencia consume alguna bebida alcohólica?" in page
    counselor_client.post(f"/records/{contact.id}/screenings/audit_c", {"q1": "0", "q2": "0",
                                                                        "q3": "0"}, headers=HX)
    session.expire_all()
    assert session.scalar(select(Screening.language)) == "es"


def test_a_missing_answer_is_refused_and_nothing_is_stored(counselor_client, session):
    contact = open_record(session, counselor_client)
    panel = counselor_client.post(f"/records/{contact.id}/screenings/audit_c", {"q1": "2"},
                                  headers=HX)
    assert b"Not scored: q2: every question needs an answer." in panel.data
    assert session.scalar(select(func.count()).select_from(Screening)) == 0


def test_without_script_the_form_returns_to_the_record(counselor_client, session):
    contact = open_record(session, counselor_client)
    response = counselor_client.post(f"/records/{contact.id}/screenings/single_drug",
                                     {"times": "3"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/records/{contact.id}#screening-panel")


def test_another_counselor_cannot_screen_on_someone_elses_record(counselor_client, staff_factory,
                                                                 session):
    contact = open_record(session, counselor_client)
    other = staff_factory("counselor")
    response = other.post(f"/records/{contact.id}/screenings/single_drug", {"times": "3"},
                          headers=HX)
    assert response.status_code == 404
    assert session.scalar(select(func.count()).select_from(Screening)) == 0


def test_a_closed_record_cannot_be_screened_but_shows_its_result(counselor_client,
                                                                 supervisor_client,
                                                                 session):
    contact = open_record(session, counselor_client)
    counselor_client.post(f"/records/{contact.id}/screenings/single_drug", {"times": "3"},
                          headers=HX)
    counselor_client.post(f"/records/{contact.id}/draft", {"outcome": "information"})
    counselor_client.post(f"/records/{contact.id}/wrap-up")
    refused = counselor_client.post(f"/records/{contact.id}/screenings/single_drug", {"times": "0"},
                                    headers=HX)
    assert b"this record is closed" in refused.data
    page = supervisor_client.get(f"/records/{contact.id}").get_data(as_text=True)
    assert "Score 3 times: positive" in page
    assert f'action="/records/{contact.id}/screenings' not in page
