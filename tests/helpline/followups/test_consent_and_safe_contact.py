"""Consent is checked when a follow-up is due, not only when it was requested; the caller's
safe-contact preferences decide what goes out, when, and under which name; attempts stop at
the limit unless a supervisor raises it, with a reason."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from helpline.consent import door
from helpline.followups import lifecycle, limits, safe_contact
from helpline.followups.delivery import deliver_due_followups
from helpline.followups.scheduling import FollowUpError
from helpline.models import AuditEvent, Disclosure, OutboxMessage
from helpline.models.followups import FollowUpOutcome, FollowUpState
from tests.fixtures.followups import CALLER, NOW

MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)


def _outbox(session):  # type: ignore[no-untyped-def]
    session.expire_all()
    return session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()


def _prefs(session, counselor, settings, **kw):  # type: ignore[no-untyped-def]
    values = dict(voicemail_ok=False, name_choice="alias", allow_calls=True, allow_texts=True,
                  safe_hours=None, someone_else_risk=False)
    values.update(kw)
    safe_contact.set_preferences(session, crypto_hash(), counselor, settings, **values)
    session.commit()


def crypto_hash() -> str:
    from helpline import crypto

    return crypto.caller_hash(CALLER)  # type: ignore[return-value]


# --- consent at delivery time -----------------------------------------------------------------


def test_a_consent_withdrawn_after_scheduling_stops_the_next_follow_up(
        session, db, outbox, settings, make_followup, counselor):
    settings = settings.with_overrides(followup_retry_minutes=60)
    fu = make_followup("reminder", due=NOW, assign_to=counselor)
    assert deliver_due_followups(db, outbox, settings, now=NOW).delivered == [fu.id]
    lifecycle.record_attempt(session, fu, "no_answer", by=counselor, settings=settings,
                             now=NOW + MINUTE)
    session.commit()
    assert fu.state == FollowUpState.RETRY
    # Withdrawn meanwhile, e.g. by another process, after the retry was scheduled.
    fu.consent.withdrawn_at = NOW + 2 * MINUTE
    session.commit()
    report = deliver_due_followups(db, outbox, settings, now=fu.due_at)
    assert report.delivered == [] and report.stopped == 1
    session.refresh(fu)
    assert fu.state == FollowUpState.STOPPED
    assert fu.outcome == FollowUpOutcome.CONSENT_WITHDRAWN
    stopped = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "followup.stopped", AuditEvent.record_id == str(fu.id))).all()
    assert [e.detail["outcome"] for e in stopped] == ["consent_withdrawn"]
    assert len(_outbox(session)) == 1  # the first reminder's text to the counselor only


def test_withdrawing_a_consent_stops_its_open_follow_ups_at_once(session, make_followup,
                                                                 supervisor):
    fu = make_followup(due=NOW + HOUR)
    stopped = door.withdraw(session, fu.consent, by=supervisor, how="told_on_phone",
                               now=NOW)
    session.commit()
    assert stopped == 1 and fu.state == FollowUpState.STOPPED
    assert fu.outcome == FollowUpOutcome.CONSENT_WITHDRAWN


def test_an_expired_consent_stops_delivery(session, db, outbox, settings, make_followup):
    text = make_followup(due=NOW + 2 * HOUR, consent_until=NOW + HOUR)
    callback = make_followup("bridged_callback", due=NOW + 2 * HOUR, phone="+15555550124",
                             consent_until=NOW + HOUR)
    report = deliver_due_followups(db, outbox, settings, now=NOW + 2 * HOUR)
    assert report.stopped == 2 and _outbox(session) == []
    for fu in (text, callback):
        session.refresh(fu)
        assert (fu.state, fu.outcome) == (FollowUpState.STOPPED, "consent_expired")


def test_a_follow_up_cannot_be_scheduled_on_an_expired_consent(session, settings, make_followup,
                                                               supervisor):
    fu = make_followup(due=None, consent_until=NOW + HOUR)
    with pytest.raises(FollowUpError, match="consent expired on 2026-03-10 16:00 UTC"):
        lifecycle.schedule(session, fu, at=NOW + 2 * HOUR, by=supervisor, settings=settings,
                           now=NOW + 90 * MINUTE)


# --- every follow-up contact is a disclosure ----------------------------------------------------


def test_each_follow_up_contact_is_logged_with_the_consent_it_relied_on(
        session, db, outbox, settings, make_followup, counselor):
    text = make_followup(due=NOW)
    reminder = make_followup("reminder", due=NOW, phone="+15555550124", assign_to=counselor)
    deliver_due_followups(db, outbox, settings, now=NOW)
    logged = {d.followup_id: d for d in session.scalars(select(Disclosure))}
    assert (logged[text.id].channel, logged[text.id].consent_id) == ("sms", text.consent_id)
    assert logged[text.id].outbox_id is not None and logged[text.id].notice == ""
    assert (logged[reminder.id].channel, logged[reminder.id].consent_id) == (
        "reminder", reminder.consent_id)
    assert all(d.information == ["followup_contact"] and d.disclosed_by == "scheduler"
               for d in logged.values())


# --- safe-contact preferences -----------------------------------------------------------------


def test_the_check_in_text_uses_the_neutral_alias_by_default(session, db, outbox, settings,
                                                             make_followup, counselor):
    make_followup(due=NOW)
    make_followup(due=NOW, phone="+15555550124")
    # The second caller allowed the helpline's own name.
    from helpline import crypto

    safe_contact.set_preferences(session, crypto.caller_hash("+15555550124"), counselor,
                                 settings, voicemail_ok=False, name_choice="helpline",
                                 allow_calls=True, allow_texts=True, safe_hours=None,
                                 someone_else_risk=False)
    session.commit()
    deliver_due_followups(db, outbox, settings, now=NOW)
    bodies = {m.to_number: m.body for m in _outbox(session)}
    assert bodies[CALLER].startswith(f"Hi, this is {settings.safe_contact_alias} checking in")
    assert settings.helpline_name not in bodies[CALLER]
    assert bodies["+15555550124"].startswith(f"Hi, this is {settings.helpline_name} checking")


def test_nothing_goes_out_outside_the_callers_safe_hours(session, db, outbox, settings,
                                                         make_followup, counselor):
    # 10 am in Chicago; the caller said only between noon and 2 pm is safe.
    _prefs(session, counselor, settings, safe_hours=(12, 14))
    fu = make_followup(due=None)
    session.execute(fu.__table__.update().where(fu.__table__.c.id == fu.id)
                    .values(state="scheduled", due_at=NOW))
    session.commit()
    report = deliver_due_followups(db, outbox, settings, now=NOW)
    assert report.deferred == 1 and _outbox(session) == []
    session.refresh(fu)
    assert fu.due_at == dt.datetime(2026, 3, 10, 17, 0, tzinfo=dt.UTC)  # noon CDT
    assert deliver_due_followups(db, outbox, settings, now=fu.due_at).delivered == [fu.id]


def test_a_supervisor_cannot_schedule_outside_the_callers_safe_hours(
        session, settings, make_followup, supervisor, counselor):
    _prefs(session, counselor, settings, safe_hours=(12, 14))
    fu = make_followup(due=None)
    with pytest.raises(FollowUpError, match=r"outside the hours the caller said are safe "
                                            r"\(12:00 to 14:00 their time\); the next allowed "
                                            r"time is Wed 11 Mar 12:00 CDT"):
        lifecycle.schedule(session, fu, at=dt.datetime(2026, 3, 10, 15, 0), by=supervisor,
                           settings=settings, now=NOW)
    lifecycle.schedule(session, fu, at=dt.datetime(2026, 3, 10, 13, 0), by=supervisor,
                       settings=settings, now=NOW)


def test_a_channel_the_caller_ruled_out_is_refused_and_stopped_if_already_due(
        session, db, outbox, settings, make_followup, counselor):
    fu = make_followup(due=NOW)
    _prefs(session, counselor, settings, allow_texts=False)
    with pytest.raises(FollowUpError, match="texts are not safe"):
        make_followup(due=None)
    report = deliver_due_followups(db, outbox, settings, now=NOW)
    assert report.stopped == 1 and _outbox(session) == []
    session.refresh(fu)
    assert (fu.state, fu.outcome) == (FollowUpState.STOPPED, "unsafe_channel")


def test_safe_hours_entirely_in_quiet_hours_are_refused(session, settings, counselor):
    with pytest.raises(FollowUpError, match="fall entirely in quiet hours"):
        _prefs(session, counselor, settings, safe_hours=(22, 23))


def test_the_first_name_to_ask_for_is_sealed_and_each_reading_is_audited(session, settings,
                                                                         counselor):
    _prefs(session, counselor, settings, someone_else_risk=True, ask_for="Sam")
    raw = session.scalar(text("SELECT ask_for FROM safe_contact_preferences"))
    assert raw.startswith("hl1:") and "Sam" not in raw
    session.expire_all()
    assert safe_contact.preferences_for(session, crypto_hash()).someone_else_risk
    assert safe_contact.read_ask_for(session, counselor, crypto_hash(), allowed=True,
                                     address="127.0.0.1") == "Sam"
    with pytest.raises(PermissionError):
        safe_contact.read_ask_for(session, counselor, crypto_hash(), allowed=False,
                                  address="127.0.0.1")
    actions = session.scalars(select(AuditEvent.action).where(
        AuditEvent.action.like("safe_contact.%"))).all()
    assert actions == ["safe_contact.update", "safe_contact.ask_for.read",
                       "safe_contact.ask_for.refused"]
    assert all("Sam" not in str(e.detail) for e in session.scalars(select(AuditEvent)))


# --- attempts ---------------------------------------------------------------------------------


def test_at_most_five_attempts_unless_a_supervisor_raises_it_with_a_reason(
        session, settings, make_followup, supervisor, counselor):
    fu = make_followup("reminder", due=NOW, assign_to=counselor)
    assert fu.max_attempts == settings.followup_max_attempts <= limits.DEFAULT_CAP
    with pytest.raises(PermissionError):
        limits.raise_max_attempts(session, fu, 6, by=counselor, reason="high_risk")
    with pytest.raises(FollowUpError, match="why"):
        limits.raise_max_attempts(session, fu, 6, by=supervisor, reason="")
    with pytest.raises(FollowUpError, match="at most 10"):
        limits.raise_max_attempts(session, fu, 11, by=supervisor, reason="high_risk")
    limits.raise_max_attempts(session, fu, 6, by=supervisor, reason="high_risk",
                                       now=NOW)
    assert fu.max_attempts == 6
    event = session.scalar(select(AuditEvent).where(
        AuditEvent.action == "followup.max_attempts_raised"))
    assert (event.actor_id, event.detail) == (
        supervisor.id, {"limit_before": 3, "limit_after": 6, "reason": "high_risk"})


def test_a_caller_who_opts_out_on_a_follow_up_gets_no_other_on_that_channel(
        make_followup, db, outbox, settings, session, counselor, now):
    first = make_followup("reminder", due=NOW, assign_to=counselor)
    later = make_followup("reminder", due=NOW + dt.timedelta(days=2), assign_to=counselor)
    text = make_followup("sms_checkin", due=NOW + dt.timedelta(days=3))
    assert deliver_due_followups(db, outbox, settings, now=NOW).delivered == [first.id]
    lifecycle.record_attempt(session, first, "opted_out", by=counselor, settings=settings,
                             now=NOW + MINUTE)
    session.commit()
    session.refresh(later)
    session.refresh(text)
    assert first.state == FollowUpState.STOPPED and first.outcome == FollowUpOutcome.OPTED_OUT
    assert later.state == FollowUpState.STOPPED
    assert later.outcome == FollowUpOutcome.CONSENT_WITHDRAWN
    assert later.consent.withdrawn_how == "opted out on a follow-up"
    # They asked not to be called; texts they agreed to are a separate consent.
    assert text.state == FollowUpState.SCHEDULED
    assert deliver_due_followups(db, outbox, settings,
                                 now=NOW + dt.timedelta(days=2, hours=1)).delivered == []
