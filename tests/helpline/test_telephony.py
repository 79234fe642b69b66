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


def test_every_number_called_or_texted_goes_to_twilio_in_e164(tmp_path: Path,
                                                              db: Database) -> None:
    settings = settings_for_tests(tmp_path, telephony="twilio", twilio_account_sid=SID)
    api = FakeTwilioApi()
    telephony = telephony_for(settings, http_client=api)
    with db.session() as session:
        telephony.send_sms(session, "(555) 555-0147", "Check-in", purpose="followup")
        telephony.place_call(session, "555-555-0148", "https://x.test/ivr/a", purpose="test")
        telephony.place_call(session, "911", "https://x.test/ivr/b", purpose="overdose_911")
        telephony.place_call(session, "client:counselor-3", "https://x.test/ivr/c",
                             purpose="counselor_leg")
    assert [r.data["To"] for r in api.requests] == [
        "+15555550147", "+15555550148", "911", "client:counselor-3"]
    with db.sessions() as session:
        assert session.scalars(select(OutboxMessage.to_number).order_by(
            OutboxMessage.id)).all()[:2] == ["+15555550147", "+15555550148"]


def test_a_number_that_cannot_be_dialled_is_not_called(tmp_path: Path, db: Database) -> None:
    settings = settings_for_tests(tmp_path, telephony="twilio", twilio_account_sid=SID)
    api = FakeTwilioApi()
    telephony = telephony_for(settings, http_client=api)
    with db.session() as session:
        short = telephony.place_call(session, "555-0148", "https://x.test/ivr/a", purpose="t")
        # A REST call cannot key in an extension: only TwiML can, once the line answers.
        extension = telephony.place_call(session, "555-555-0148 x12", "https://x.test/ivr/a",
                                         purpose="t")
        outbox = OutboxTelephony(settings).place_call(session, "call me",
                                                      "https://x.test/ivr/a", purpose="t")
    assert api.requests == []
    assert [m.status for m in (short, extension, outbox)] == ["failed"] * 3
    assert short.error == "the number to call is not a phone number"


class LostAnswer(FakeTwilioApi):
    """Twilio takes the request, and the answer never comes back (a read timeout), or the
    connection is refused before anything is sent."""

    def __init__(self, error: Exception, reaches_twilio: bool) -> None:
        super().__init__()
        self.error, self.reaches_twilio = error, reaches_twilio

    def request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.reaches_twilio:
            super().request(*args, **kwargs)
        raise self.error


def refused() -> Exception:
    from requests.exceptions import ConnectionError as Refused
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    return Refused(MaxRetryError(None, "/", NewConnectionError(None, "refused")))  # type: ignore[arg-type]


def test_a_send_twilio_may_have_taken_is_unknown_not_failed(tmp_path: Path, db: Database) -> None:
    from requests.exceptions import ReadTimeout

    settings = settings_for_tests(tmp_path, telephony="twilio", twilio_account_sid=SID)
    cases = [(LostAnswer(ReadTimeout("read timed out"), reaches_twilio=True), "unknown"),
             (LostAnswer(refused(), reaches_twilio=False), "failed"),
             (FakeTwilioApi(fail_next=(500, 20500, "Internal Server Error")), "unknown"),
             (FakeTwilioApi(fail_next=(400, 21211, "Invalid 'To' Phone Number")), "failed")]
    for api, status in cases:
        telephony = telephony_for(settings, http_client=api)
        failure = api.fail_next
        with db.session() as session:
            sms = telephony.send_sms(session, "+15555550147", "Check-in", purpose="followup")
            api.fail_next = failure
            call = telephony.place_call(session, "+15555550148", "https://x.test/ivr/f",
                                        purpose="followup")
        assert (sms.status, call.status) == (status, status), api
