"""Delivering follow-ups: once, at their time, never to an opted-out or withdrawn caller,
never in the caller's night; retries, outcomes and what a text may say."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from helpline import crypto
from helpline.followups import delivery, lifecycle, lists
from helpline.followups.delivery import deliver_due_followups
from helpline.followups.scheduling import FollowUpError
from helpline.models import AuditEvent, OutboxMessage, SmsOptOut
from helpline.models.followups import (
    FollowUp,
    FollowUpAttempt,
    FollowUpNotice,
    FollowUpOutcome,
    FollowUpState,
)
from helpline.models.users import AgentStatus
from tests.factories import make_contact, make_user
from tests.fixtures.followups import CALLER, NOW

MINUTE = dt.timedelta(minutes=1)


def _outbox(session):  # type: ignore[no-untyped-def]
    session.expire_all()
    return session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()


def test_a_due_check_in_is_texted_once_at_its_time(session, db, outbox, settings,
                                                   make_followup):
    fu = make_followup(due=NOW)
    assert deliver_due_followups(db, outbox, settings, now=NOW - MINUTE).delivered == []
    assert _outbox(session) == []
    assert deliver_due_followups(db, outbox, settings, now=NOW).delivered == [fu.id]
    assert deliver_due_followups(db, outbox, settings, now=NOW + MINUTE).delivered == []
    [msg] = _outbox(session)
    assert msg.kind == "sms" and msg.to_number == CALLER and msg.provider_sid
    session.refresh(fu)
    assert fu.state == FollowUpState.DONE and fu.outcome == FollowUpOutcome.CHECKIN_SENT
    [attempt] = fu.attempt_log
    assert attempt.result == "sent" and attempt.outbox_id == msg.id
    assert attempt.provider_sid == msg.provider_sid


def test_a_caller_who_texted_stop_gets_no_text(session, db, outbox, settings, make_followup):
    fu = make_followup(due=NOW)
    session.add(SmsOptOut(caller_hash=crypto.caller_hash(CALLER)))
    session.commit()
    report = deliver_due_followups(db, outbox, settings, now=NOW)
    assert report.stopped == 1 and _outbox(session) == []
    session.refresh(fu)
    assert fu.state == FollowUpState.STOPPED and fu.outcome == FollowUpOutcome.OPTED_OUT
    assert [a.result for a in fu.attempt_log] == ["opted_out"]


def test_withdrawn_consent_stops_delivery(session, db, outbox, settings, make_followup,
                                          supervisor):
    fu = make_followup(due=NOW)
    lifecycle.withdraw_consent(session, fu.consent, by=supervisor, how="caller called",
                               now=NOW - MINUTE)
    session.commit()
    deliver_due_followups(db, outbox, settings, now=NOW)
    assert _outbox(session) == []
    session.refresh(fu)
    assert fu.state == FollowUpState.STOPPED
    assert fu.outcome == FollowUpOutcome.CONSENT_WITHDRAWN


def test_consent_withdrawn_after_scheduling_is_checked_again_at_delivery(
        session, db, outbox, settings, make_followup):
    fu = make_followup(due=NOW)
    fu.consent.withdrawn_at = NOW - MINUTE  # e.g. written by another process just now
    session.commit()
    assert deliver_due_followups(db, outbox, settings, now=NOW).stopped == 1
    assert _outbox(session) == []


def test_quiet_hours_are_respected_in_the_callers_zone(session, db, outbox, settings,
                                                       make_followup):
    # 04:30 UTC is 11:30 pm in Chicago the evening before: a retry may land there.
    night = dt.datetime(2026, 3, 11, 4, 30, tzinfo=dt.UTC)
    fu = make_followup(due=NOW)
    session.execute(FollowUp.__table__.update().where(FollowUp.id == fu.id)
                    .values(due_at=night))
    session.commit()
    report = deliver_due_followups(db, outbox, settings, now=night)
    assert report.deferred == 1 and _outbox(session) == []
    session.refresh(fu)
    # 8 am Chicago (CDT from March 8th) is 13:00 UTC.
    assert fu.due_at == dt.datetime(2026, 3, 11, 13, 0, tzinfo=dt.UTC)
    assert deliver_due_followups(db, outbox, settings, now=fu.due_at).delivered == [fu.id]


def test_supervisor_cannot_schedule_in_the_callers_night(session, settings, make_followup,
                                                         supervisor):
    fu = make_followup(due=None)
    with pytest.raises(FollowUpError, match="quiet hours"):
        # 10 pm in Chicago is within the helpline's (New York) evening but not the caller's.
        lifecycle.schedule(session, fu, at=dt.datetime(2026, 3, 10, 22, 0), by=supervisor,
                           settings=settings, now=NOW)
    lifecycle.schedule(session, fu, at=dt.datetime(2026, 3, 10, 19, 30), by=supervisor,
                       settings=settings, now=NOW)
    assert fu.due_at == dt.datetime(2026, 3, 11, 0, 30, tzinfo=dt.UTC)


def test_schedule_stays_inside_the_window_the_caller_gave(session, settings, make_followup,
                                                          supervisor):
    fu = make_followup(due=None, window_start=NOW + dt.timedelta(hours=2),
                       window_end=NOW + dt.timedelta(hours=5))
    with pytest.raises(FollowUpError, match="before the window"):
        lifecycle.schedule(session, fu, at=NOW + dt.timedelta(hours=1), by=supervisor,
                           settings=settings, now=NOW)
    with pytest.raises(FollowUpError, match="after the window"):
        lifecycle.schedule(session, fu, at=NOW + dt.timedelta(hours=6), by=supervisor,
                           settings=settings, now=NOW)
    lifecycle.schedule(session, fu, at=NOW + dt.timedelta(hours=3), by=supervisor,
                       settings=settings, now=NOW)


def test_unanswered_reminders_are_retried_then_closed_as_unreachable(
        session, db, outbox, settings, make_followup, counselor):
    settings = settings.with_overrides(followup_max_attempts=2, followup_retry_minutes=30)
    fu = make_followup("reminder", due=NOW, assign_to=counselor)
    fu.max_attempts = 2
    session.commit()
    when = NOW
    for expected_state in (FollowUpState.RETRY, FollowUpState.DONE):
        assert deliver_due_followups(db, outbox, settings, now=when).delivered == [fu.id]
        session.refresh(fu)
        assert fu.state == FollowUpState.AWAITING_RESULT
        lifecycle.record_attempt(session, fu, "no_answer", by=counselor, settings=settings,
                                 now=when + MINUTE)
        session.commit()
        assert fu.state == expected_state
        if expected_state == FollowUpState.RETRY:
            assert fu.due_at == when + MINUTE + dt.timedelta(minutes=30)
            assert deliver_due_followups(db, outbox, settings, now=fu.due_at - MINUTE) \
                .delivered == []
            when = fu.due_at
    assert fu.outcome == FollowUpOutcome.UNREACHABLE
    assert [a.result for a in fu.attempt_log] == ["no_answer", "no_answer"]
    # Each reminder: a dashboard notice and a text to the counselor's phone.
    notices = session.scalars(select(FollowUpNotice).where(FollowUpNotice.followup_id == fu.id))
    assert [n.user_id for n in notices] == [counselor.id, counselor.id]
    assert [m.to_number for m in _outbox(session)] == [counselor.phone, counselor.phone]


def test_a_reached_caller_gets_an_outcome_that_counts(session, db, outbox, settings,
                                                      make_followup, counselor):
    fu = make_followup("reminder", due=NOW, assign_to=counselor)
    deliver_due_followups(db, outbox, settings, now=NOW)
    session.refresh(fu)
    lifecycle.record_attempt(session, fu, "reached", by=counselor, settings=settings,
                             outcome="reached_in_treatment", now=NOW + MINUTE)
    assert fu.state == FollowUpState.DONE and fu.outcome == "reached_in_treatment"
    assert lists.done_followups(session) == [fu]


def test_wrong_number_ends_the_follow_up_without_retry(session, db, outbox, settings,
                                                       make_followup, counselor):
    fu = make_followup("reminder", due=NOW, assign_to=counselor)
    deliver_due_followups(db, outbox, settings, now=NOW)
    session.refresh(fu)
    lifecycle.record_attempt(session, fu, "wrong_number", by=counselor, settings=settings)
    assert fu.state == FollowUpState.DONE and fu.outcome == FollowUpOutcome.WRONG_NUMBER


def test_bridged_callback_rings_an_available_counselor_without_the_number_in_any_url(
        session, db, outbox, settings, make_followup):
    fu = make_followup("bridged_callback", due=NOW)
    # Nobody available: it waits (and is not counted as an attempt).
    report = deliver_due_followups(db, outbox, settings, now=NOW)
    assert report.waiting_for_counselor == 1 and _outbox(session) == []
    available = make_user(session, "counselor", phone="+15555550188",
                          status=AgentStatus.AVAILABLE, languages="en")
    session.commit()
    assert deliver_due_followups(db, outbox, settings, now=NOW).delivered == [fu.id]
    [msg] = _outbox(session)
    assert msg.kind == "call" and msg.to_number == available.phone
    assert msg.from_number == settings.helpline_number
    assert msg.twiml_url == f"{settings.public_base_url}/ivr/followups/{fu.id}/answer"
    digits = re.sub(r"\D", "", CALLER)
    assert digits[-7:] not in msg.twiml_url
    session.refresh(fu)
    assert fu.state == FollowUpState.AWAITING_RESULT and fu.bridged_to_id == available.id
    assert fu.attempts == 1


def test_no_sms_body_holds_a_note_a_substance_or_the_word_addiction(
        session, db, outbox, settings, make_followup, counselor, supervisor):
    contact = make_contact(session, counselor, substances=["opioids", "alcohol"],
                           notes="relapsed on heroin; fentanyl test strips")
    session.commit()
    for n in range(3):
        make_followup(due=NOW, contact=contact, phone=f"+1555555014{n}")
    make_followup("reminder", due=NOW, contact=contact, assign_to=counselor)
    delivery.escalate_overdue(session, outbox, settings, now=NOW + dt.timedelta(days=3))
    supervisor.phone = "+15555550199"
    session.commit()
    deliver_due_followups(db, outbox, settings, now=NOW)
    make_followup(due=None)
    delivery.escalate_overdue(session, outbox, settings, now=NOW + dt.timedelta(days=3))
    session.commit()
    bodies = [m.body for m in _outbox(session) if m.kind == "sms"]
    assert len(bodies) >= 5
    forbidden = re.compile(
        r"addict|substance|drug|alcohol|opioid|heroin|fentanyl|relapse|recovery|treatment|"
        r"detox|overdose|rehab|sober|crisis", re.IGNORECASE)
    for body in bodies:
        assert not forbidden.search(body), body
        assert "test strips" not in body and CALLER not in body


def test_outbox_row_per_follow_up_proves_a_single_delivery(session, db, outbox, settings,
                                                           make_followup):
    ids = [make_followup(due=NOW, phone=f"+1555555{n:04d}").id for n in range(20)]
    for _ in range(3):
        deliver_due_followups(db, outbox, settings, now=NOW)
    counts = dict(session.execute(
        select(FollowUpAttempt.followup_id, func.count(OutboxMessage.id))
        .join(OutboxMessage, OutboxMessage.id == FollowUpAttempt.outbox_id)
        .group_by(FollowUpAttempt.followup_id)).all())
    assert counts == dict.fromkeys(ids, 1)


class BrokenProvider:
    """A provider that fails in a way nobody foresaw, after it may already have sent."""

    name = "broken"

    def send_sms(self, session, to, body, *, purpose, status_callback=None):  # type: ignore[no-untyped-def]
        raise RuntimeError("connection reset")

    def place_call(self, session, to, url, *, purpose, status_callback=None, caller_id=None):  # type: ignore[no-untyped-def]
        raise RuntimeError("connection reset")


def test_a_delivery_that_breaks_midway_is_left_for_a_supervisor_never_retried(
        session, db, outbox, settings, make_followup, supervisor):
    fu = make_followup(due=NOW)
    report = deliver_due_followups(db, BrokenProvider(), settings, now=NOW)
    assert report.failed == 1 and report.delivered == []
    session.refresh(fu)
    assert fu.state == FollowUpState.SENDING and fu.attempts == 1
    # Whether the text went out is unknown: later runs do not send it again.
    assert deliver_due_followups(db, outbox, settings, now=NOW + dt.timedelta(hours=2)) \
        .delivered == []
    assert _outbox(session) == []
    # A supervisor may close it once it is plainly stuck, not while a run may still hold it.
    with pytest.raises(FollowUpError):
        lifecycle.cancel(session, fu, by=supervisor, reason="duplicate", now=NOW + MINUTE)
    assert lifecycle.is_stuck(fu, NOW + dt.timedelta(minutes=11))
    lifecycle.cancel(session, fu, by=supervisor, reason="duplicate",
                     now=NOW + dt.timedelta(minutes=11))
    assert fu.state == FollowUpState.CANCELLED
    actions = session.scalars(select(AuditEvent.action).where(
        AuditEvent.record_id == str(fu.id))).all()
    assert "followup.deliver_error" in actions


def test_the_check_in_says_what_the_helpline_configured_and_nothing_else(
        session, db, outbox, settings, make_followup):
    # "Unless configured": an operator who chooses other words gets exactly those words.
    # {helpline} is the name the caller may read: the neutral alias unless they allowed the
    # helpline's own (helpline.safe_contact).
    settings = settings.with_overrides(
        safe_contact_alias="Harbor Line",
        sms_checkin_text="{helpline} here. Our addiction support team is thinking of you.")
    make_followup(due=NOW)
    deliver_due_followups(db, outbox, settings, now=NOW)
    [msg] = _outbox(session)
    assert msg.body == "Harbor Line here. Our addiction support team is thinking of you."
    assert CALLER not in msg.body
