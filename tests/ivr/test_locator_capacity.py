"""The phone locator reads centers that can take the caller, and says when one has a waitlist."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline.directory.search import locator_centers
from helpline.flows.flow import load_flows
from helpline.flows.rendering import check_renders
from helpline.models import OutboxMessage
from tests.factories.directory import make_center


def midtown_centers(session: Session) -> None:
    """Nearest first: one that takes nobody, one not confirmed, then three that take patients
    (one with a waitlist of known length, one with a waitlist of unknown length)."""
    make_center(session, "Full House Clinic", latitude=40.7486, longitude=-73.9966,
                phone="555-555-0100", accepting_patients=False, waitlist=True)
    make_center(session, "Unconfirmed Center", latitude=40.7490, longitude=-73.9960,
                phone="555-555-0101")
    make_center(session, "Open Door Program", latitude=40.7600, longitude=-73.9800,
                phone="555-555-0102", accepting_patients=True, waitlist=True,
                waitlist_days=14)
    make_center(session, "Riverside Clinic", latitude=40.8000, longitude=-73.9500,
                phone="555-555-0103", accepting_patients=True, waitlist=False)
    make_center(session, "Bridge Recovery", latitude=40.8100, longitude=-73.9400,
                phone="555-555-0104", accepting_patients=True, waitlist=True)
    session.commit()


def test_locator_prefers_centers_accepting_patients_and_skips_a_full_one(phone, session):
    midtown_centers(session)
    caller = phone()
    read = caller.press(caller.press(caller.english_menu(), "3"), "10001")
    text = read.says
    assert "Full House Clinic" not in text and "Unconfirmed Center" not in text
    assert "Number 1: Open Door Program, 1.2 miles away." in text
    assert "Number 2: Riverside Clinic" in text and "Number 3: Bridge Recovery" in text


def test_locator_says_when_a_center_has_a_waitlist(phone, session):
    midtown_centers(session)
    caller = phone()
    text = caller.press(caller.press(caller.english_menu(), "3"), "10001").says
    assert "Open Door Program, 1.2 miles away. The phone number is " \
           "5 5 5 5 5 5 0 1 0 2. This center has a waitlist of about 14 days." in text
    assert text.count("This center has a waitlist.") == 1  # Bridge Recovery, length unknown
    riverside = text.index("Riverside Clinic")
    assert "waitlist" not in text[riverside:text.index("Bridge Recovery")]


def test_spanish_locator_says_the_waitlist_in_spanish(phone, session):
    midtown_centers(session)
    caller = phone()
    text = caller.press(caller.press(caller.spanish_menu(), "3"), "10001").says
    assert "Número 1: Open Door Program, a 1.2 millas." in text
    assert "Este centro tiene una lista de espera de unos 14 días." in text
    assert "Este centro tiene lista de espera." in text
    assert "Full House Clinic" not in text


def test_a_center_not_confirmed_fills_in_when_too_few_accept(phone, session):
    make_center(session, "Full House Clinic", latitude=40.7486, longitude=-73.9966,
                accepting_patients=False)
    make_center(session, "Unconfirmed Center", latitude=40.7490, longitude=-73.9960)
    make_center(session, "Open Door Program", latitude=40.7600, longitude=-73.9800,
                accepting_patients=True)
    session.commit()
    caller = phone()
    text = caller.press(caller.press(caller.english_menu(), "3"), "10001").says
    assert "Number 1: Open Door Program" in text and "Number 2: Unconfirmed Center" in text
    assert "Full House Clinic" not in text


def test_only_full_centers_nearby_are_not_read_out(phone, session):
    make_center(session, "Full House Clinic", latitude=40.7486, longitude=-73.9966,
                accepting_patients=False)
    session.commit()
    caller = phone()
    text = caller.press(caller.press(caller.english_menu(), "3"), "10001").says
    assert "I could not find a treatment center near that ZIP code." in text
    assert "Full House Clinic" not in text


def test_the_text_lists_the_centers_the_caller_heard(phone, session):
    midtown_centers(session)
    caller = phone("+15555550177")
    read = caller.press(caller.press(caller.english_menu(), "3"), "10001")
    assert "I have sent you a text message." in caller.press(read, "2").says
    body = session.scalar(select(OutboxMessage.body).where(OutboxMessage.kind == "sms"))
    assert body.index("Open Door Program") < body.index("Riverside Clinic")
    assert "Full House Clinic" not in body


def test_a_confirmed_opening_within_the_circle_comes_before_a_nearer_unknown(session):
    near = make_center(session, "Unconfirmed", latitude=40.7490, longitude=-73.9960)
    make_center(session, "Unconfirmed Too", latitude=40.7495, longitude=-73.9955)
    make_center(session, "Unconfirmed Three", latitude=40.7500, longitude=-73.9950)
    opening = make_center(session, "Opening", latitude=40.8000, longitude=-73.9500,
                          accepting_patients=True)
    session.commit()
    hits = locator_centers(session, "10001", limit=3)
    assert [h.center.id for h in hits][:2] == [opening.id, near.id]
    assert locator_centers(session, "00000") == []


def test_the_waitlist_prompts_fit_every_answer_the_locator_builds():
    check_renders(load_flows())
