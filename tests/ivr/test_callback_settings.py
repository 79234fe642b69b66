"""A callback booked from the IVR queue follows the helpline's settings, not the defaults: the
IVR's writer books it on its own thread, with the settings the app was built with."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline.config import Settings
from helpline.models import Consent, FollowUp


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(followup_max_attempts=5, consent_days=7,
                                   default_timezone="America/Los_Angeles")


def test_a_callback_from_the_queue_follows_the_helplines_settings(phone, available_counselor,  # type: ignore[no-untyped-def]
                                                                  session: Session) -> None:
    caller = phone("+15555550123")
    queued = caller.press(caller.english_menu(), "1")
    caller.press(caller.press(caller.wait(queued), "1"), "1")
    caller.queue_result(queued, "leave")

    followup = session.scalar(select(FollowUp).where(FollowUp.call_id == caller.record(
        session).id))
    assert followup is not None, "no callback booked"
    assert followup.max_attempts == 5
    assert followup.timezone == "America/Los_Angeles"
    consent = session.get(Consent, followup.consent_id)
    assert consent is not None and consent.expires_at is not None
    expires_at = consent.expires_at.replace(tzinfo=consent.expires_at.tzinfo or dt.UTC)
    recorded_at = consent.recorded_at.replace(tzinfo=consent.recorded_at.tzinfo or dt.UTC)
    assert expires_at - recorded_at == dt.timedelta(days=7)
