"""The telephony port: the outbox records, the Twilio adapter sends through the real client."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from helpline.config import settings_for_tests
from helpline.db import Database
from helpline.models import OutboxMessage
from helpline.telephony import OutboxTelephony, TwilioTelephony, telephony_for
from tests.fakes.twilio_api import FakeTwilioApi

SID = "AC" + "a" * 32


def test_without_credentials_everything_goes_to_the_outbox(tmp_path: Path, db: Database) -> None:
    telephony = telephony_for(settings_for_tests(tmp_path))
    assert isinstance(telephony, OutboxTelephony)
    with db.session() as session:
        telephony.send_sms(session, "+15555550147", "Hello from the line", purpose="test")
        telephony.place_call(session, "+15555550148", "https://x.test/ivr/bridge?f=1",
                             purpose="callback")
    with db.sessions() as session:
        sms, call = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert (sms.kind, sms.to_number, sms.status) == ("sms", "+15555550147", "recorded")
        assert sms.provider_sid and sms.provider_sid.startswith("SM")
        assert (call.kind, call.twiml_url) == ("call", "https://x.test/ivr/bridge?f=1")


def test_twilio_adapter_sends_through_the_rest_client(tmp_path: Path, db: Database) -> None:
    settings = settings_for_tests(tmp_path, telephony="twilio", twilio_account_sid=SID)
    api = FakeTwilioApi()
    telephony = telephony_for(settings, http_client=api)
    assert isinstance(telephony, TwilioTelephony)
    with db.session() as session:
        msg = telephony.send_sms(session, "+15555550147", "Check-in", purpose="followup")
    seen = api.requests[0]
    assert seen.uri == f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"
    assert seen.data == {"To": "+15555550147", "From": settings.helpline_number,
                         "Body": "Check-in"}
    assert seen.auth == (SID, settings.twilio_auth_token)
    assert msg.status == "queued" and msg.provider_sid and msg.provider_sid.startswith("SM")


def test_a_refused_send_is_recorded_without_the_number(tmp_path: Path, db: Database) -> None:
    settings = settings_for_tests(tmp_path, telephony="twilio", twilio_account_sid=SID)
    api = FakeTwilioApi(fail_next=(400, 21610, "Attempt to send to unsubscribed +15555550147"))
    telephony = telephony_for(settings, http_client=api)
    with db.session() as session:
        msg = telephony.send_sms(session, "+15555550147", "Check-in", purpose="followup")
    assert msg.status == "failed"
    assert msg.error == "twilio error 21610"


def test_the_real_http_client_gets_a_timeout(tmp_path: Path) -> None:
    settings = settings_for_tests(tmp_path, telephony="twilio", twilio_account_sid=SID)
    telephony = telephony_for(settings)
    assert telephony.client.http_client.timeout == settings.twilio_timeout_seconds
