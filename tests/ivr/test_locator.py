"""The treatment locator by ZIP code, support groups and resources, and texting them."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select
from twilio.http import HttpClient

from helpline.consent.optouts import record_keyword
from helpline.db import utcnow
from helpline.models import OutboxMessage
from helpline.telephony import TwilioTelephony, send_pending_texts
from tests.factories.directory import make_center
from tests.fakes.twilio_api import FakeTwilioApi


def nearby_centers(session):  # type: ignore[no-untyped-def]
    make_center(session, "Harbor Light Center", latitude=40.7490, longitude=-73.9960,
                phone="555-555-0101")
    make_center(session, "Second Step House", latitude=40.7600, longitude=-73.9800,
                phone="555-555-0102")
    make_center(session, "Riverside Clinic", latitude=40.8000, longitude=-73.9500,
                phone="555-555-0103")
    make_center(session, "Far Away Farm", latitude=42.6500, longitude=-73.7500,
                phone="555-555-0104")
    session.commit()


def test_locator_reads_the_three_nearest_centers_with_phone_digit_by_digit(phone, session):
    nearby_centers(session)
    caller = phone()
    ask = caller.press(caller.english_menu(), "3")
    assert "five-digit ZIP code" in ask.says
    assert ask.first("Gather").attrib["numDigits"] == "5"
    read = caller.press(ask, "10001")
    text = read.says
    assert "Number 1: Harbor Light Center, 0.1 miles away." in text
    assert "5 5 5 5 5 5 0 1 0 1" in text
    assert "Riverside Clinic" in text and "Far Away Farm" not in text
    again = caller.press(read, "1")
    assert "Harbor Light Center" in again.says
    assert caller.record(session).zip_code == "10001"


def test_centers_are_texted_through_the_outbox(phone, session):
    nearby_centers(session)
    caller = phone("+15555550177")
    read = caller.press(caller.press(caller.english_menu(), "3"), "10001")
    sent = caller.press(read, "2")
    assert "I have sent you a text message." in sent.says
    message = session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "sms"))
    assert message.to_number == "+15555550177" and message.status == "recorded"
    assert "Harbor Light Center 555-555-0101" in message.body
    assert message.purpose == "ivr_locator"


def test_stop_is_honoured_by_the_locator(phone, session):
    nearby_centers(session)
    record_keyword(session, "+15555550177", "STOP")
    session.commit()
    caller = phone("+15555550177")
    read = caller.press(caller.press(caller.english_menu(), "3"), "10001")
    refused = caller.press(read, "2")
    assert "asked us not to send texts" in refused.says
    assert session.scalar(select(OutboxMessage)) is None


def test_hidden_number_cannot_be_texted(phone, session):
    nearby_centers(session)
    caller = phone("anonymous")
    read = caller.press(caller.press(caller.english_menu(), "3"), "10001")
    assert "hidden number" in caller.press(read, "2").says


def test_unknown_zip_is_said_and_asked_again_once(phone):
    caller = phone()
    ask = caller.press(caller.english_menu(), "3")
    again = caller.press(ask, "00000")
    assert "I do not know that ZIP code." in again.says
    assert again.first("Gather").attrib["numDigits"] == "5"
    back = caller.press(again, "99999")
    assert "I do not know that ZIP code." in back.says
    assert "press 9" in back.says  # back at the main menu


def test_locator_offers_a_counselor(phone, available_counselor, session):
    nearby_centers(session)
    caller = phone()
    read = caller.press(caller.press(caller.english_menu(), "3"), "10001")
    assert caller.press(read, "3").first("Enqueue").text == "general-en"


def test_spanish_locator_speaks_spanish(phone, session):
    nearby_centers(session)
    caller = phone()
    read = caller.press(caller.press(caller.spanish_menu(), "3"), "10001")
    assert "Número 1: Harbor Light Center, a 0.1 millas." in read.says


def test_support_groups_give_short_information_and_text_it(phone, session):
    caller = phone("+15555550178")
    info = caller.press(caller.english_menu(), "4")
    assert "Narcotics Anonymous" in info.says and "SMART Recovery" in info.says
    texted = caller.press(info, "1")
    assert "I have sent you a text message." in texted.says
    message = session.scalar(select(OutboxMessage))
    assert "na.org" in message.body and message.purpose == "ivr_groups"
    assert "press 9" in caller.press(texted, "0").says


def test_resources_offer_a_counselor(phone, available_counselor):
    caller = phone()
    info = caller.press(caller.english_menu(), "5")
    assert "SAMHSA" in info.says
    assert caller.press(info, "2").has("Enqueue")


def test_with_twilio_the_text_waits_for_the_scheduler(app, phone, session):
    """No REST call inside a webhook: the text is queued as pending."""

    class NoRestCalls(HttpClient):
        def request(self, *a, **kw):  # type: ignore[no-untyped-def]
            raise AssertionError("a webhook must not call Twilio's REST API")

    settings = app.extensions["helpline"].settings
    app.extensions["helpline"].telephony = TwilioTelephony(
        settings.with_overrides(twilio_account_sid="AC" + "0" * 32),
        NoRestCalls(logger=logging.getLogger("twilio"), is_async=False))
    caller = phone("+15555550179")
    info = caller.press(caller.english_menu(), "5")
    caller.press(info, "1")
    message = session.scalar(select(OutboxMessage))
    assert message.status == "pending" and message.to_number == "+15555550179"


@pytest.fixture
def twilio_api(app):  # type: ignore[no-untyped-def]
    """The app sends through Twilio, to a local fake of its REST API: the fake, the port."""
    settings = app.extensions["helpline"].settings.with_overrides(
        twilio_account_sid="AC" + "0" * 32)
    api = FakeTwilioApi()
    telephony = TwilioTelephony(settings, api)
    app.extensions["helpline"].telephony = telephony
    return api, telephony


def test_with_twilio_the_queued_text_goes_out_once(twilio_api, phone, session, db):
    """The scheduler's job sends what the webhook queued, once, however often it runs."""
    api, telephony = twilio_api
    caller = phone("+15555550180")
    info = caller.press(caller.english_menu(), "5")
    assert "I have sent you a text message." in caller.press(info, "1").says

    assert send_pending_texts(db.sessions, telephony) == 1
    assert send_pending_texts(db.sessions, telephony) == 0
    assert [r.data["To"] for r in api.requests] == ["+15555550180"]
    message = session.scalar(select(OutboxMessage))
    session.refresh(message)
    assert message.status == "queued" and message.provider_sid.startswith("SM")


def test_a_queued_text_is_claimed_by_one_sender(twilio_api, phone, db):
    """Two schedulers (or two runs) racing over the same pending text: one sends it."""
    api, telephony = twilio_api
    caller = phone("+15555550181")
    caller.press(caller.press(caller.english_menu(), "5"), "1")

    barrier = threading.Barrier(4)

    def run() -> int:
        barrier.wait()
        return send_pending_texts(db.sessions, telephony)

    with ThreadPoolExecutor(4) as pool:
        counts = list(pool.map(lambda _: run(), range(4)))
    assert sum(counts) == 1 and len(api.requests) == 1


def test_a_text_queued_a_day_ago_is_not_sent(twilio_api, phone, session, db):
    api, telephony = twilio_api
    caller = phone("+15555550182")
    caller.press(caller.press(caller.english_menu(), "5"), "1")

    later = utcnow() + dt.timedelta(days=2)
    assert send_pending_texts(db.sessions, telephony, now=later) == 0
    message = session.scalar(select(OutboxMessage))
    session.refresh(message)
    assert message.status == "failed" and "within a day" in message.error
    assert api.requests == []
