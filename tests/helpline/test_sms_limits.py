"""Limits on texts (SMS pumping): per call, per number a day, only to allowed countries.

Every text goes through the telephony port, which asks :mod:`helpline.sms_limits`; a refusal
is an outbox row with status "refused", counted, with the number masked.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from sqlalchemy import select

from helpline import sms_limits
from helpline.config import ConfigError, Settings, load_settings
from helpline.db import Database
from helpline.models import OutboxMessage
from helpline.telephony import OutboxTelephony

CALLER = "+15555550123"
SATELLITE = "+88212345678"


def sent_and_refused(db: Database) -> tuple[int, int]:
    with db.sessions() as session:
        statuses = list(session.scalars(select(OutboxMessage.status)))
    return statuses.count("recorded"), statuses.count("refused")


def test_one_call_gets_three_texts_then_is_refused(app, db: Database, settings: Settings) -> None:
    telephony = OutboxTelephony(settings)
    with db.session() as session:
        results = [telephony.send_sms(session, CALLER, "Centers near you", purpose="ivr_locator",
                                      call_sid="CA" + "1" * 32) for _ in range(5)]
    assert [m.status for m in results] == ["recorded"] * 3 + ["refused"] * 2
    assert results[-1].error == "this call has had its 3 texts"
    assert results[-1].body is None
    # Another call from the same number still may (the number's day has room).
    with db.session() as session:
        other = telephony.send_sms(session, CALLER, "Hi", purpose="ivr_locator",
                                   call_sid="CA" + "2" * 32)
    assert other.status == "recorded"


def test_one_number_gets_ten_texts_a_day_whatever_the_calls(app, db: Database,
                                                           settings: Settings) -> None:
    telephony = OutboxTelephony(settings)
    with db.session() as session:
        results = [telephony.send_sms(session, CALLER, "Hi", purpose="ivr_groups",
                                      call_sid=f"CA{i:032d}") for i in range(12)]
    assert [m.status for m in results] == ["recorded"] * 10 + ["refused"] * 2
    assert results[-1].error == "this number has had its 10 texts for today"
    # The refused texts did not use up their calls' slots.
    with db.session() as session:
        assert sms_limits.admit_sms(session, settings, "+15555550999", purpose="t",
                                    provider="outbox", call_sid=f"CA{11:032d}") is None


def test_the_number_may_be_texted_again_the_next_day(app, db: Database,
                                                    settings: Settings) -> None:
    today = dt.datetime(2026, 3, 10, 23, 0, tzinfo=dt.UTC)
    with db.session() as session:
        for _ in range(10):
            assert sms_limits.admit_sms(session, settings, CALLER, purpose="t",
                                        provider="outbox", now=today) is None
        assert sms_limits.admit_sms(session, settings, CALLER, purpose="t", provider="outbox",
                                    now=today) is not None
        assert sms_limits.admit_sms(session, settings, CALLER, purpose="t", provider="outbox",
                                    now=today + dt.timedelta(hours=2)) is None
        assert sms_limits.purge_quotas(session, (today + dt.timedelta(days=1)).date()) == 1


def test_a_satellite_number_is_refused_and_counted(app, db: Database, settings: Settings,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    telephony = OutboxTelephony(settings)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    with caplog.at_level(logging.WARNING), db.session() as session:
        refused = telephony.send_sms(session, SATELLITE, "Centers near you",
                                     purpose="ivr_locator", call_sid="CA" + "3" * 32)
    assert refused.status == "refused"
    assert refused.error == "texts to numbers of that country are not allowed"
    assert sent_and_refused(db) == (0, 1)
    with db.sessions() as session:
        assert sms_limits.refused_count(session, since) == 1
        row = session.scalar(select(OutboxMessage))
        assert row is not None and row.to_number == "+882…78"  # masked, never the number
    assert "12345678" not in caplog.text and "text refused (country_001" in caplog.text


@pytest.mark.parametrize("number", ["+18765550100", "+18095550100", "+12425550100"])
def test_caribbean_nations_on_plus_one_are_not_domestic(app, db: Database, settings: Settings,
                                                        number: str) -> None:
    with db.session() as session:
        assert OutboxTelephony(settings).send_sms(session, number, "Hi",
                                                  purpose="t").status == "refused"


@pytest.mark.parametrize("number", ["+12125550100", "+14165550100", "+17875550100",
                                    "+13405550100", "+16715550100", "+15555550123"])
def test_the_us_canada_and_the_territories_may_be_texted(app, db: Database, settings: Settings,
                                                         number: str) -> None:
    with db.session() as session:
        assert OutboxTelephony(settings).send_sms(session, number, "Hi",
                                                  purpose="t").status == "recorded"


def test_allowed_countries_can_be_widened(app, db: Database, settings: Settings) -> None:
    wider = settings.with_overrides(sms_allowed_countries=frozenset({"US", "JM"}))
    with db.session() as session:
        assert OutboxTelephony(wider).send_sms(session, "+18765550100", "Hi",
                                               purpose="t").status == "recorded"


@pytest.mark.parametrize(("name", "value"), [
    ("SMS_MAX_PER_CALL", "0"), ("SMS_MAX_PER_CALL", "three"),
    ("SMS_MAX_PER_NUMBER_PER_DAY", "-1"), ("SMS_ALLOWED_COUNTRIES", "US,XX"),
    ("SMS_ALLOWED_COUNTRIES", "+1"), ("SMS_ALLOWED_COUNTRIES", ","),
])
def test_bad_limits_are_named_at_start(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError) as bad:
        load_settings({"HELPLINE_INSTANCE_DIR": str(tmp_path), name: value}, env_file=None)
    assert str(bad.value).startswith(f"{name}:") and "\n" not in str(bad.value)


def test_the_limits_default_to_three_ten_and_domestic(tmp_path: Path) -> None:
    settings = load_settings({"HELPLINE_INSTANCE_DIR": str(tmp_path)}, env_file=None)
    assert (settings.sms_max_per_call, settings.sms_max_per_number_per_day) == (3, 10)
    assert settings.sms_allowed_countries == {"US", "CA", "PR", "VI", "GU", "AS", "MP"}
