"""Asking for a follow-up: consent first, opt-outs honoured, IVR callbacks queued in order."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline import crypto
from helpline.config import Settings
from helpline.followups import lifecycle, lists
from helpline.followups.scheduling import FollowUpError
from helpline.models import AuditEvent, Consent, SmsOptOut, User
from helpline.models.followups import FollowUpState
from tests.factories import make_call, make_contact
from tests.fixtures.followups import CALLER, CONSENT, NOW


def _request(session: Session, counselor: User, settings: Settings, **kw):  # type: ignore[no-untyped-def]
    args = dict(phone=CALLER, channel="sms", kind="sms_checkin", requested_by=counselor,
                consent_wording=CONSENT, settings=settings, now=NOW)
    args.update(kw)
    return lifecycle.request_followup(session, **args)


def test_follow_up_is_refused_without_the_callers_consent(session, counselor, settings):
    with pytest.raises(FollowUpError, match="consent"):
        _request(session, counselor, settings, consent_wording="  ")


def test_consent_records_who_when_channel_number_and_exact_wording(session, counselor, settings):
    fu = _request(session, counselor, settings)
    session.commit()
    consent = session.get(Consent, fu.consent_id)
    assert consent.recorded_by_id == counselor.id
    assert consent.recorded_at == NOW
    assert consent.scope == "sms" and consent.purpose == "followup"
    assert consent.phone == CALLER
    assert consent.wording == CONSENT
    assert fu.state == FollowUpState.REQUESTED
    actions = session.scalars(select(AuditEvent.action)).all()
    assert "consent.recorded" in actions and "followup.request" in actions


def test_number_never_stored_in_the_clear(session, counselor, settings):
    _request(session, counselor, settings)
    session.commit()
    raw = session.connection().exec_driver_sql(
        "SELECT phone FROM followups UNION ALL SELECT phone FROM consents").all()
    assert raw and all(CALLER not in row[0] and row[0].startswith("hl1:") for row in raw)


def test_a_number_that_texted_stop_cannot_be_signed_up_for_texts(session, counselor, settings):
    session.add(SmsOptOut(caller_hash=crypto.caller_hash(CALLER)))
    session.flush()
    with pytest.raises(FollowUpError, match="opted out"):
        _request(session, counselor, settings)
    # A call follow-up is a different consent and still possible.
    fu = _request(session, counselor, settings, channel="call", kind="reminder")
    assert fu.kind == "reminder"


def test_kind_must_match_the_consented_channel(session, counselor, settings):
    with pytest.raises(FollowUpError, match="channel"):
        _request(session, counselor, settings, channel="call", kind="sms_checkin")


def test_time_zone_comes_from_the_callers_zip(session, counselor, settings):
    contact = make_contact(session, counselor, zip_code="90012")
    assert _request(session, counselor, settings, contact=contact).timezone == \
        "America/Los_Angeles"
    assert _request(session, counselor, settings, zip_code="60601").timezone == "America/Chicago"
    assert _request(session, counselor, settings).timezone == settings.default_timezone


def test_queue_callbacks_are_due_now_in_the_order_callers_started_holding(session, settings):
    early = make_call(session, "+15555550101", enqueued_at=NOW - dt.timedelta(minutes=9))
    late = make_call(session, "+15555550102", enqueued_at=NOW - dt.timedelta(minutes=2))
    # The later holder presses the key first.
    second = lifecycle.request_callback_from_queue(session, late, "+15555550102",
                                                   settings=settings, now=NOW)
    first = lifecycle.request_callback_from_queue(session, early, "+15555550101",
                                                  settings=settings,
                                                  now=NOW + dt.timedelta(seconds=5))
    session.commit()
    due = lists.due_followups(session, now=NOW + dt.timedelta(seconds=5))
    assert [f.id for f in due] == [first.id, second.id]
    assert first.kind == "bridged_callback" and first.source == "ivr_callback"
    assert first.consent.recorded_via == "ivr" and first.consent.wording


def test_a_retried_callback_webhook_does_not_make_a_second_callback(session, settings):
    call = make_call(session, enqueued_at=NOW)
    one = lifecycle.request_callback_from_queue(session, call, "+15555550111",
                                                settings=settings, now=NOW)
    two = lifecycle.request_callback_from_queue(session, call, "+15555550111",
                                                settings=settings, now=NOW)
    assert one.id == two.id
