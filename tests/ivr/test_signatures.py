"""Every webhook is closed unless Twilio signed it, against the URL Twilio called."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from helpline.app import create_app
from helpline.models import Call

WEBHOOKS = ["/ivr/voice", "/ivr/status", "/ivr/sms", "/ivr/fallback", "/ivr/menu/choice?lang=en",
            "/ivr/queue/wait?lang=en", "/ivr/counselor/connect?queue=general-en"]


@pytest.mark.parametrize("path", WEBHOOKS)
def test_forged_signature_is_refused_and_changes_nothing(twilio, session, path):
    params = {"CallSid": "CA" + "9" * 32, "From": "+15555550123", "CallStatus": "completed",
              "Body": "STOP"}
    assert twilio.post(path, params, forge=True).status_code == 403
    assert session.scalar(select(func.count(Call.id))) == 0


@pytest.mark.parametrize("path", WEBHOOKS)
def test_unsigned_request_is_refused(client, path):
    assert client.post(path, data={"CallSid": "CA1"}).status_code == 403


def test_signature_for_other_parameters_is_refused(twilio, client):
    good = twilio.signature("/ivr/voice", {"CallSid": "CA1", "From": "+15555550123"})
    answer = client.post("/ivr/voice", data={"CallSid": "CA1", "From": "+15555550999"},
                         headers={"X-Twilio-Signature": good})
    assert answer.status_code == 403


def test_signature_covers_the_raw_query_string(twilio, client, settings):
    # %2F must stay encoded: request.url would decode it and break the check.
    path = "/ivr/menu?lang=en&tries=1&x=a%2Fb"
    assert twilio.post(path, {"CallSid": "CA1"}).status_code == 200
    signature = twilio.signature("/ivr/menu?lang=en&tries=1&x=a/b", {"CallSid": "CA1"})
    answer = client.post(path, data={"CallSid": "CA1"}, headers={"X-Twilio-Signature": signature})
    assert answer.status_code == 403


def test_without_public_base_url_the_request_url_is_used(settings):
    app = create_app(settings.with_overrides(public_base_url=""))
    try:
        client = app.test_client()
        params = {"CallSid": "CA1"}
        signature = RequestValidator(settings.twilio_auth_token).compute_signature(
            "http://localhost/ivr/voice", params)
        answer = client.post("/ivr/voice", data=params, headers={"X-Twilio-Signature": signature})
        assert answer.status_code == 200
        wrong = RequestValidator(settings.twilio_auth_token).compute_signature(
            "http://helpline.test/ivr/voice", params)
        assert client.post("/ivr/voice", data=params,
                           headers={"X-Twilio-Signature": wrong}).status_code == 403
    finally:
        app.extensions["helpline"].db.dispose()


def test_no_auth_token_refuses_everything(settings):
    app = create_app(settings.with_overrides(twilio_auth_token=""))
    try:
        answer = app.test_client().post("/ivr/voice", data={},
                                        headers={"X-Twilio-Signature": "x"})
        assert answer.status_code == 403
    finally:
        app.extensions["helpline"].db.dispose()


@pytest.mark.parametrize(("base", "signed_as", "accepted"), [
    ("https://helpline.test", "https://helpline.test", True),
    ("https://helpline.test", "https://helpline.test:443", True),
    ("https://helpline.test:443", "https://helpline.test", True),
    ("http://helpline.test:8080", "http://helpline.test", True),
    ("https://helpline.test", "https://helpline.test:8443", False),
    ("https://helpline.test", "http://helpline.test", False),
])
def test_twilio_may_sign_the_address_with_or_without_the_default_port(settings, base, signed_as,
                                                                       accepted):
    app = create_app(settings.with_overrides(public_base_url=base))
    try:
        params = {"CallSid": "CA1", "From": "+15555550123"}
        validator = RequestValidator(settings.twilio_auth_token)
        signature = validator.compute_signature(signed_as + "/ivr/voice", params)
        answer = app.test_client().post("/ivr/voice", data=params,
                                        headers={"X-Twilio-Signature": signature})
        assert answer.status_code == (200 if accepted else 403)
        # The same decision as the twilio library's own check.
        assert validator.validate(base + "/ivr/voice", params, signature) is accepted
    finally:
        app.extensions["helpline"].db.dispose()
