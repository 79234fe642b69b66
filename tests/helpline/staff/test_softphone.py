"""Where a staff member's calls ring, and the browser phone's token (helpline.softphone)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json

import pytest
from sqlalchemy import select

from helpline.config import ConfigError, Settings, load_settings
from helpline.models import AuditEvent
from helpline.staff import softphone
from tests.factories import make_user

ACCOUNT = "AC" + "1" * 32
KEY_SID = "SK" + "2" * 32
KEY_SECRET = "s" * 32
NOW = dt.datetime(2026, 11, 25, 15, 0, tzinfo=dt.UTC)


def with_twilio(settings: Settings, *, key: bool = True) -> Settings:
    return settings.with_overrides(telephony="twilio", twilio_account_sid=ACCOUNT,
                                   twilio_api_key_sid=KEY_SID if key else "",
                                   twilio_api_key_secret=KEY_SECRET if key else "")


def jwt_parts(token: str) -> tuple[dict, dict, bytes, bytes]:  # type: ignore[type-arg]
    def decode(part: str) -> bytes:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

    header, payload, signature = token.split(".")
    return (json.loads(decode(header)), json.loads(decode(payload)), decode(signature),
            f"{header}.{payload}".encode())


def test_a_counselor_without_a_phone_is_rung_in_the_browser(session, settings):
    user = make_user(session)
    assert softphone.ring_destination(user, settings) == f"client:{user.client_identity}"
    assert softphone.ring_destination(user, with_twilio(settings)) == \
        f"client:{user.client_identity}"


def test_a_counselor_with_a_phone_is_rung_where_they_chose(session, settings):
    user = make_user(session, phone="+15555550142")
    twilio = with_twilio(settings)
    assert softphone.ring_destination(user, twilio) == "+15555550142"
    user.take_calls_on = "browser"
    assert softphone.ring_destination(user, twilio) == f"client:{user.client_identity}"


def test_choosing_the_browser_means_nothing_where_no_browser_phone_exists(session, settings):
    user = make_user(session, phone="+15555550142", take_calls_on="browser")
    assert softphone.ring_destination(user, settings) == "+15555550142"  # the outbox
    assert softphone.ring_destination(user, with_twilio(settings, key=False)) == "+15555550142"


def test_client_identity_is_one_twilio_accepts(session):
    user = make_user(session)
    assert user.client_identity.replace("_", "").isalnum()
    assert len(user.client_identity) <= 121


def test_voice_token_carries_identity_incoming_grant_and_a_short_expiry(session, settings):
    user = make_user(session)
    token = softphone.issue_voice_token(session, user, with_twilio(settings), now=NOW)
    header, claims, signature, signed = jwt_parts(token.jwt)
    assert header["alg"] == "HS256" and header["cty"] == "twilio-fpa;v=1"
    assert signature == hmac.new(KEY_SECRET.encode(), signed, hashlib.sha256).digest()
    assert claims["iss"] == KEY_SID and claims["sub"] == ACCOUNT
    assert claims["grants"]["identity"] == user.client_identity == token.identity
    # Incoming calls only: no TwiML app, so the browser can place no call.
    assert claims["grants"]["voice"] == {"incoming": {"allow": True}}
    assert claims["nbf"] == int(NOW.timestamp())
    assert claims["exp"] - claims["nbf"] == softphone.TOKEN_TTL_SECONDS == 600
    assert token.expires_at == NOW + dt.timedelta(seconds=600)


def test_issuing_a_token_is_audited_and_logged_without_the_token(session, settings, caplog):
    user = make_user(session)
    caplog.set_level("INFO")
    token = softphone.issue_voice_token(session, user, with_twilio(settings),
                                        address="203.0.113.9", now=NOW)
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "softphone.token"))
    assert event is not None and event.actor_id == user.id and event.address == "203.0.113.9"
    assert event.detail == {"identity": user.client_identity, "ttl": 600}
    assert token.jwt not in caplog.text
    assert token.jwt.split(".")[2] not in json.dumps(event.detail)


def test_no_token_without_twilio_and_an_api_key(session, settings):
    user = make_user(session)
    for world in (settings, with_twilio(settings, key=False)):
        with pytest.raises(softphone.SoftphoneUnavailable):
            softphone.issue_voice_token(session, user, world, now=NOW)


def test_no_token_for_someone_whose_calls_ring_their_phone(session, settings):
    user = make_user(session, phone="+15555550142")
    with pytest.raises(softphone.SoftphoneUnavailable, match="ring your phone"):
        softphone.issue_voice_token(session, user, with_twilio(settings), now=NOW)


def test_taking_calls_on_a_phone_needs_a_number(session, settings):
    user = make_user(session)
    with pytest.raises(ValueError, match="no phone number"):
        softphone.set_take_calls_on(session, user, "phone", by=user)
    with pytest.raises(ValueError):
        softphone.set_take_calls_on(session, user, "pager", by=user)
    user.phone = "+15555550142"
    assert softphone.set_take_calls_on(session, user, "browser", by=user) is True
    assert softphone.set_take_calls_on(session, user, "browser", by=user) is False
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "user.update"))
    assert event.detail == {"fields": ["take_calls_on"], "take_calls_on": "browser"}


def test_the_api_key_settings_come_in_pairs_and_in_shape(tmp_path):
    base = {"HELPLINE_INSTANCE_DIR": str(tmp_path)}
    with pytest.raises(ConfigError, match=r"^TWILIO_API_KEY_SID: expected SK"):
        load_settings({**base, "TWILIO_API_KEY_SID": "AK123", "TWILIO_API_KEY_SECRET": "x"},
                      env_file=None)
    with pytest.raises(ConfigError, match=r"^TWILIO_API_KEY_SECRET: required"):
        load_settings({**base, "TWILIO_API_KEY_SID": KEY_SID}, env_file=None)
    with pytest.raises(ConfigError, match=r"^TWILIO_API_KEY_SID: required"):
        load_settings({**base, "TWILIO_API_KEY_SECRET": KEY_SECRET}, env_file=None)
    loaded = load_settings({**base, "TWILIO_API_KEY_SID": KEY_SID,
                            "TWILIO_API_KEY_SECRET": KEY_SECRET}, env_file=None)
    assert (loaded.twilio_api_key_sid, loaded.twilio_twiml_app_sid) == (KEY_SID, "")
