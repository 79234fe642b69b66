"""Every webhook is closed unless Twilio signed it, against the URL Twilio called."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from helpline.app import create_app
from helpline.models import Call, CallEvent

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


# Twilio signs the URL and the form parameters; a body of another kind would be read unsigned.
CALL = {"CallSid": "CA" + "7" * 32, "From": "+15555550123", "CallStatus": "ringing",
        "Direction": "inbound"}


def _nothing_recorded(client, session) -> bool:  # type: ignore[no-untyped-def]
    return (session.scalar(select(func.count(Call.id))) == 0
            and session.scalar(select(func.count(CallEvent.id))) == 0)


@pytest.mark.parametrize("path", ["/ivr/voice", "/ivr/status", "/ivr/sms"])
def test_multipart_body_under_a_valid_url_signature_is_refused(twilio, client, session, path):
    # What the signature covers when the form parameters are not counted: the URL alone.
    url_only = twilio.signature(path, {})
    answer = client.post(path, data=CALL, content_type="multipart/form-data",
                         headers={"X-Twilio-Signature": url_only})
    assert answer.status_code == 415
    assert "form-encoded" in answer.get_data(as_text=True)
    assert _nothing_recorded(client, session)


@pytest.mark.parametrize("path", ["/ivr/voice", "/ivr/status"])
def test_json_body_is_refused_even_when_signed_as_twilio_signs_json(twilio, client, session,
                                                                   path):
    body = json.dumps(CALL)
    url_only = twilio.signature(path, {})
    answer = client.post(path, data=body, content_type="application/json",
                         headers={"X-Twilio-Signature": url_only})
    assert answer.status_code == 415
    # Twilio's JSON webhooks put the body's hash in the signed URL; no webhook here takes JSON.
    hashed = f"{path}?bodySHA256={hashlib.sha256(body.encode()).hexdigest()}"
    answer = client.post(hashed, data=body, content_type="application/json",
                         headers={"X-Twilio-Signature": twilio.signature(hashed, {})})
    assert answer.status_code == 415
    assert _nothing_recorded(client, session)


def test_untyped_body_is_refused(twilio, client, session):
    answer = client.post("/ivr/voice", data=b"CallSid=CA1", content_type="",
                         headers={"X-Twilio-Signature": twilio.signature("/ivr/voice", {})})
    assert answer.status_code == 415
    assert _nothing_recorded(client, session)


def test_a_form_body_is_still_taken_and_a_forged_one_still_refused(twilio, session):
    assert twilio.post("/ivr/voice", CALL, forge=True).status_code == 403
    assert session.scalar(select(func.count(Call.id))) == 0
    answer = twilio.post("/ivr/voice", CALL)
    assert answer.status_code == 200 and "<Gather" in answer.get_data(as_text=True)
    assert session.scalar(select(func.count(Call.id))) == 1


def test_a_multipart_body_with_a_forged_signature_is_refused(client, session):
    answer = client.post("/ivr/voice", data=CALL, content_type="multipart/form-data",
                         headers={"X-Twilio-Signature": "forged"})
    assert answer.status_code in (403, 415)
    assert _nothing_recorded(client, session)


def test_the_decision_is_the_twilio_librarys_own(twilio, monkeypatch):
    seen: list[str] = []

    def refuse(self, uri, params, signature, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(uri)
        return False

    monkeypatch.setattr(RequestValidator, "validate", refuse)
    assert twilio.post("/ivr/voice", CALL).status_code == 403
    assert seen == ["http://helpline.test/ivr/voice"]


FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "helpline.example.org",
             "X-Forwarded-For": "54.172.60.1"}


@pytest.mark.parametrize(("proxies", "base", "signed_as", "accepted"), [
    # No PUBLIC_BASE_URL: the address the balancer says the client used.
    (1, "", "https://helpline.example.org", True),
    (1, "", "http://localhost", False),
    # Without trusted proxies the forwarded headers are anyone's words.
    (0, "", "https://helpline.example.org", False),
    (0, "", "http://localhost", True),
    # PUBLIC_BASE_URL wins over whatever host the headers name.
    (1, "https://helpline.test", "https://helpline.test", True),
    (1, "https://helpline.test", "https://helpline.example.org", False),
])
def test_behind_a_balancer_the_signed_address_is_the_forwarded_one(settings, proxies, base,
                                                                  signed_as, accepted):
    app = create_app(settings.with_overrides(public_base_url=base, trusted_proxy_count=proxies))
    try:
        params = {"CallSid": "CA1", "From": "+15555550123"}
        signature = RequestValidator(settings.twilio_auth_token).compute_signature(
            signed_as + "/ivr/voice", params)
        answer = app.test_client().post("/ivr/voice", data=params,
                                        headers={**FORWARDED, "X-Twilio-Signature": signature})
        assert answer.status_code == (200 if accepted else 403)
    finally:
        app.extensions["helpline"].db.dispose()
