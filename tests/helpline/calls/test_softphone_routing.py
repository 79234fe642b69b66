"""Every counselor leg rings where the counselor takes calls: their phone or their browser
phone (Twilio Client), by one rule, through Twilio's REST API (the in-process fake)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from helpline.calls.queues import take_next_call
from helpline.config import Settings
from helpline.followups import lifecycle
from helpline.followups.delivery import deliver_due_followups
from helpline.models import AgentStatus, FollowUp, OutboxMessage
from helpline.records import contacts, overdose
from helpline.telephony import TwilioTelephony
from tests.factories import make_call, make_user
from tests.fakes.twilio_api import FakeTwilioApi

NOW = dt.datetime(2026, 11, 25, 15, 0, tzinfo=dt.UTC)
COUNSELOR_PHONE = "+15555550142"


@pytest.fixture
def twilio_settings(settings: Settings) -> Settings:
    return settings.with_overrides(telephony="twilio", twilio_account_sid="AC" + "1" * 32,
                                   twilio_api_key_sid="SK" + "2" * 32,
                                   twilio_api_key_secret="s" * 32)


@pytest.fixture
def api() -> FakeTwilioApi:
    return FakeTwilioApi()


@pytest.fixture
def rest(twilio_settings: Settings, api: FakeTwilioApi) -> TwilioTelephony:
    """The Twilio adapter, talking to the fake REST API (the ``twilio`` fixture signs
    webhooks)."""
    return TwilioTelephony(twilio_settings, http_client=api)


def placed_to(api: FakeTwilioApi) -> list[str]:
    return [r.data["To"] for r in api.requests if r.uri.endswith("/Calls.json")]


def waiting_caller(session):  # type: ignore[no-untyped-def]
    return make_call(session, "+15555550123", language="en", queue_name="general-en",
                     status="queued", enqueued_at=NOW - dt.timedelta(minutes=3), priority=10)


@pytest.mark.parametrize(("number", "choice", "rings"), [
    (None, "phone", "browser"),
    (COUNSELOR_PHONE, "phone", "phone"),
    (COUNSELOR_PHONE, "browser", "browser"),
])
def test_next_caller_rings_the_counselor_where_they_take_calls(session, rest,
                                                               twilio_settings, api, number,
                                                               choice, rings):
    user = make_user(session, languages="en", status=AgentStatus.AVAILABLE, phone=number,
                     take_calls_on=choice)
    waiting_caller(session)
    assert take_next_call(session, user, rest, twilio_settings, now=NOW) is not None
    expected = f"client:{user.client_identity}" if rings == "browser" else COUNSELOR_PHONE
    assert placed_to(api) == [expected]
    call = next(r for r in api.requests if r.uri.endswith("/Calls.json"))
    # Bridged through the call's conference (helpline.calls.control).
    assert call.data["Url"].startswith(f"{twilio_settings.public_base_url}/ivr/conference/"
                                       "call?room=call-")


def test_without_a_browser_phone_a_counselor_with_a_number_is_rung_on_it(session, settings,
                                                                        api):
    no_key = settings.with_overrides(telephony="twilio", twilio_account_sid="AC" + "1" * 32)
    user = make_user(session, languages="en", status=AgentStatus.AVAILABLE,
                     phone=COUNSELOR_PHONE, take_calls_on="browser")
    waiting_caller(session)
    take_next_call(session, user, TwilioTelephony(no_key, http_client=api), no_key, now=NOW)
    assert placed_to(api) == [COUNSELOR_PHONE]


@pytest.mark.parametrize("choice", ["phone", "browser"])
def test_a_follow_up_call_back_rings_the_counselor_where_they_take_calls(
        phone, session, app, settings, rest, twilio_settings, api, choice):
    user = make_user(session, languages="en es", status=AgentStatus.AVAILABLE,
                     phone=COUNSELOR_PHONE, take_calls_on=choice)
    session.commit()
    caller = phone("+15555550123")
    queued = caller.press(caller.english_menu(), "1")
    caller.press(caller.press(caller.wait(queued), "1"), "1")  # a callback instead of holding
    caller.queue_result(queued, "leave")
    followup = session.scalar(select(FollowUp).where(FollowUp.call_id == caller.record(
        session).id))
    when = lifecycle.earliest_allowed(followup, followup.due_at + dt.timedelta(seconds=5),
                                      settings)
    report = deliver_due_followups(app.extensions["helpline"].db, rest, twilio_settings,
                                   now=when)
    assert report.delivered == [followup.id]
    expected = COUNSELOR_PHONE if choice == "phone" else f"client:{user.client_identity}"
    assert placed_to(api) == [expected]


def test_the_overdose_conference_moves_the_browser_leg_the_counselor_answered(
        session, rest, twilio_settings, api):
    user = make_user(session, languages="en", status=AgentStatus.AVAILABLE,
                     phone=COUNSELOR_PHONE, take_calls_on="browser")
    waiting_caller(session)
    call = take_next_call(session, user, rest, twilio_settings, now=NOW)
    assert call is not None
    contact = contacts.open_contact_for_call(session, user, call, now=NOW)
    session.commit()
    leg = session.scalar(select(OutboxMessage).where(OutboxMessage.purpose == "counselor_leg"))
    protocol = overdose.start_protocol(session, contact, user, now=NOW)
    overdose.connect_emergency(session, protocol, contact, user, rest, twilio_settings,
                               now=NOW + dt.timedelta(seconds=30))
    # The leg ringing the counselor's browser moves into the conference: no new call rings
    # their phone.
    assert placed_to(api) == [f"client:{user.client_identity}", "911"]
    assert any(r.uri.endswith(f"/Calls/{leg.provider_sid}.json") for r in api.requests)
