"""The support-group option: tonight's meetings near a ZIP code, heard in English and Spanish,
and texted through the same consent and limits as the locator's texts."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline.consent.optouts import record_keyword
from helpline.models import OutboxMessage
from tests.factories.directory import make_group
from tests.fixtures.twilio import Answer, Phone

# 18:00 in New York on Tuesday 10 March 2026.
NOW = dt.datetime(2026, 3, 10, 22, 0, tzinfo=dt.UTC)
TUESDAY = 2


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ivr.views.meetings.utcnow", lambda: NOW)


@pytest.fixture
def tonight(session: Session) -> None:
    make_group(session, "Chelsea Evening Step", day=TUESDAY, time=dt.time(19, 30),
               latitude=40.749, longitude=-73.996, location="Demo Community Hall",
               street="100 W 25th St", city="New York")
    make_group(session, "Grupo Esperanza", day=TUESDAY, time=dt.time(20, 0), language="es",
               latitude=40.76, longitude=-73.98, street="200 Demo Ave", city="New York")
    make_group(session, "Started Already", day=TUESDAY, time=dt.time(17, 0),
               latitude=40.749, longitude=-73.996)
    make_group(session, "Pacific Online", day=TUESDAY, time=dt.time(21, 0),
               timezone="America/Los_Angeles", online_url="https://video.example.com/j/5550101")
    session.commit()


def meetings_near(caller: Phone, menu: Answer, zip_code: str = "10001") -> Answer:
    groups = caller.press(menu, "4")
    to_ask = caller.press(groups, "3")
    ask = caller.post(to_ask.first("Redirect").text or "")
    assert ask.first("Gather").attrib["numDigits"] == "5"
    return caller.press(ask, zip_code)


def test_support_groups_offer_tonights_meetings(phone) -> None:  # type: ignore[no-untyped-def]
    caller = phone()
    groups = caller.press(caller.english_menu(), "4")
    assert "To hear the meetings starting tonight near you, press 3." in groups.says
    ask = caller.post(caller.press(groups, "3").first("Redirect").text or "")
    assert "To hear tonight's meetings near you, please enter your five-digit ZIP code." \
        in ask.says


def test_an_english_caller_hears_tonights_meetings_nearest_first(
        phone, session: Session, tonight: None) -> None:  # type: ignore[no-untyped-def]
    caller = phone()
    read = meetings_near(caller, caller.english_menu())
    text = read.says
    assert ("Number 1: Chelsea Evening Step, today at 7:30 PM, 0.1 miles away, at Demo "
            "Community Hall.") in text
    assert "Number 2: Grupo Esperanza, today at 8:00 PM" in text
    assert "Started Already" not in text
    # 21:00 in Los Angeles is midnight in New York, where the caller is.
    assert "Online: Pacific Online, tomorrow at 12:00 AM." in text
    assert text.index("Chelsea") < text.index("Grupo") < text.index("Pacific")
    assert read.first("Say").attrib["language"] == "en-US"
    assert caller.record(session).zip_code == "10001"
    again = caller.press(read, "1")
    assert "Chelsea Evening Step" in again.says


def test_a_spanish_caller_hears_them_in_spanish_spanish_meetings_first(
        phone, tonight: None) -> None:  # type: ignore[no-untyped-def]
    caller = phone()
    read = meetings_near(caller, caller.spanish_menu())
    text = read.says
    assert "Número 1: Grupo Esperanza, hoy a las 20:00, a " in text
    assert "Número 2: Chelsea Evening Step, hoy a las 19:30, a 0.1 millas, en Demo " \
           "Community Hall." in text
    assert "En línea: Pacific Online, mañana a las 0:00." in text
    assert "Para recibirlas por mensaje de texto, oprima 2." in text
    says = read.root.findall(".//Say") if read.root is not None else []
    # Every word of it in the Spanish flow's language and voice (Twilio's default speaks
    # English only).
    assert says and all(s.attrib["language"] == "es-MX" and s.attrib.get("voice") == "Polly.Mia"
                        for s in says)


def test_no_meeting_tonight_is_said(phone) -> None:  # type: ignore[no-untyped-def]
    caller = phone()
    read = meetings_near(caller, caller.english_menu(), "85701")
    assert "I found no meeting starting in the next few hours near that ZIP code." in read.says
    assert caller.press(read, "2").has("Gather")


def test_tonights_meetings_are_texted_through_the_outbox(
        phone, session: Session, tonight: None) -> None:  # type: ignore[no-untyped-def]
    caller = phone("+15555550177")
    read = meetings_near(caller, caller.english_menu())
    sent = caller.press(read, "2")
    assert "I have sent you a text message." in sent.says
    message = session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "sms"))
    assert message is not None and message.purpose == "ivr_meetings"
    assert message.to_number == "+15555550177"
    assert message.body.startswith("Meetings: Chelsea Evening Step, today at 7:30 PM, "
                                   "100 W 25th St, New York; ")
    assert "Pacific Online, tomorrow at 12:00 AM, https://video.example.com/j/5550101" \
        in message.body


def test_a_spanish_caller_gets_the_text_in_spanish(
        phone, session: Session, tonight: None) -> None:  # type: ignore[no-untyped-def]
    caller = phone("+15555550178")
    read = meetings_near(caller, caller.spanish_menu())
    assert "Le envié un mensaje de texto." in caller.press(read, "2").says
    bodies = list(session.scalars(select(OutboxMessage.body)))
    assert bodies and bodies[0].startswith("Reuniones: Grupo Esperanza, hoy a las 20:00")


def test_stop_is_honoured_for_meetings(phone, session: Session,
                                       tonight: None) -> None:  # type: ignore[no-untyped-def]
    record_keyword(session, "+15555550177", "STOP")
    session.commit()
    caller = phone("+15555550177")
    read = meetings_near(caller, caller.english_menu())
    assert "asked us not to send texts" in caller.press(read, "2").says
    assert session.scalar(select(OutboxMessage)) is None


def test_an_unknown_zip_is_asked_again_once(phone) -> None:  # type: ignore[no-untyped-def]
    caller = phone()
    read = meetings_near(caller, caller.english_menu(), "00000")
    assert "Sorry, I do not know that ZIP code." in read.says
    assert read.first("Gather").attrib["numDigits"] == "5"
    assert "menu" in caller.press(read, "99999").first("Gather").attrib["action"]
