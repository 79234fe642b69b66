"""The follow-up console and a follow-up's page: supervisors schedule (in the caller's time),
assign and cancel through the pages; counselors get reminders, record attempts and outcomes;
the caller's number is shown only on demand, audited; everyone else is refused."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from helpline.followups import lifecycle
from helpline.followups.delivery import deliver_due_followups
from helpline.models import AuditEvent, OutboxMessage, User
from helpline.models.followups import FollowUp, FollowUpNotice, FollowUpState
from helpline.models.users import AgentStatus
from tests.factories import make_call, make_contact, make_user

CALLER = "+15555550123"
CHICAGO = ZoneInfo("America/Chicago")
CONSENT = "May we call you back in the next few days at this number? - Yes."


def _day(days: int = 3) -> dt.date:
    """A day safely ahead of the real clock (the views schedule against it)."""
    return (dt.datetime.now(CHICAGO) + dt.timedelta(days=days)).date()


def _request(session, settings, kind: str = "reminder", *, by: User | None = None,  # type: ignore[no-untyped-def]
             window: tuple[dt.datetime, dt.datetime] | None = None, **kw) -> FollowUp:
    requester = by or make_user(session, "counselor")
    fu = lifecycle.request_followup(
        session, phone=kw.pop("phone", CALLER), channel="sms" if kind == "sms_checkin" else "call",
        kind=kind, requested_by=requester, consent_wording=CONSENT, zip_code="60601",
        window_start=window[0] if window else None, window_end=window[1] if window else None,
        settings=settings, **kw)
    session.commit()
    return fu


def _local(day: dt.date, hour: int, minute: int = 0) -> str:
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}"


def _flash(page) -> str:  # type: ignore[no-untyped-def]
    return " ".join(re.findall(r'<p class="flash[^"]*"[^>]*>(.*?)</p>', page.get_data(
        as_text=True), re.S))


def _deliver(app, settings, when: dt.datetime):  # type: ignore[no-untyped-def]
    rt = app.extensions["helpline"]
    return deliver_due_followups(rt.db, rt.telephony, settings, now=when)


# --- who may see what -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/followups", "/followups?view=done"])
def test_a_counselor_cannot_open_the_follow_up_console(counselor_client, admin_client, path):  # type: ignore[no-untyped-def]
    assert counselor_client.get(path).status_code == 403
    assert admin_client.get(path).status_code == 403


def test_a_counselor_cannot_open_someone_elses_follow_up_and_the_refusal_is_audited(
        counselor_client, session, settings):
    other = make_user(session, "counselor")
    fu = _request(session, settings, by=other)
    lifecycle.assign(session, fu, other, by=other)
    session.commit()
    page = counselor_client.get(f"/followups/{fu.id}")
    assert page.status_code == 404
    assert counselor_client.post(f"/followups/{fu.id}/number").status_code == 404
    assert CALLER.encode() not in page.data
    assert counselor_client.post(f"/followups/{fu.id}/schedule",
                                 {"at": _local(_day(), 10)}).status_code == 403
    refused = session.scalars(select(AuditEvent.record_id).where(
        AuditEvent.action == "followup.refused")).all()
    assert refused == [str(fu.id), str(fu.id)]


def test_an_admin_sees_no_follow_up(admin_client, session, settings):
    fu = _request(session, settings)
    assert admin_client.get(f"/followups/{fu.id}").status_code == 403
    assert admin_client.get("/followups/mine").status_code == 403


def test_a_form_without_its_csrf_token_is_refused(supervisor_client, session, settings):
    fu = _request(session, settings)
    resp = supervisor_client.client.post(f"/followups/{fu.id}/cancel", data={"reason": "duplicate"})
    assert resp.status_code == 400
    session.refresh(fu)
    assert fu.state == FollowUpState.REQUESTED


# --- the supervisor's console ---------------------------------------------------------------


def test_supervisor_schedules_a_request_in_the_callers_time_zone(supervisor_client, session,
                                                                 settings):
    fu = _request(session, settings)
    console = supervisor_client.get("/followups")
    assert console.status_code == 200
    assert f'data-followup="{fu.id}"'.encode() in console.data
    page = supervisor_client.get(f"/followups/{fu.id}")
    assert b"in the caller's time (America/Chicago)" in page.data
    day = _day()
    done = supervisor_client.post(f"/followups/{fu.id}/schedule", {"at": _local(day, 10, 30)},
                                  follow_redirects=True)
    assert "Scheduled for" in _flash(done) and "10:30 C" in _flash(done)
    session.refresh(fu)
    assert fu.state == FollowUpState.SCHEDULED
    assert fu.due_at == dt.datetime.combine(day, dt.time(10, 30), CHICAGO).astimezone(dt.UTC)
    scheduled = supervisor_client.get("/followups?view=upcoming")
    assert f'data-followup="{fu.id}"'.encode() in scheduled.data


def test_the_callers_night_is_refused_with_the_reason_and_the_next_allowed_time(
        supervisor_client, session, settings):
    fu = _request(session, settings)
    day = _day()
    refused = supervisor_client.post(f"/followups/{fu.id}/schedule", {"at": _local(day, 23, 15)},
                                     follow_redirects=True)
    message = _flash(refused)
    assert "quiet hours" in message and "America/Chicago" in message
    next_day = day + dt.timedelta(days=1)
    assert f"the next allowed time is {next_day:%a %d %b} 08:00 C" in message
    session.refresh(fu)
    assert fu.state == FollowUpState.REQUESTED and fu.due_at is None


def test_a_time_outside_the_callers_window_is_refused_with_the_next_allowed_time(
        supervisor_client, session, settings):
    day = _day()
    start = dt.datetime.combine(day, dt.time(14, 0), CHICAGO).astimezone(dt.UTC)
    fu = _request(session, settings, window=(start, start + dt.timedelta(hours=3)))
    early = _flash(supervisor_client.post(f"/followups/{fu.id}/schedule", {"at": _local(day, 9)},
                                          follow_redirects=True))
    assert "before the window the caller gave" in early
    assert f"the next allowed time is {day:%a %d %b} 14:00 C" in early
    late = _flash(supervisor_client.post(f"/followups/{fu.id}/schedule", {"at": _local(day, 18)},
                                         follow_redirects=True))
    assert "after the window the caller gave" in late
    page = supervisor_client.get(f"/followups/{fu.id}")
    assert f'value="{_local(day, 14)}"'.encode() in page.data  # the form offers the earliest
    supervisor_client.post(f"/followups/{fu.id}/schedule", {"at": _local(day, 15)})
    session.refresh(fu)
    assert fu.state == FollowUpState.SCHEDULED


def test_supervisor_assigns_reassigns_and_leaves_to_the_next_available(supervisor_client, session,
                                                                       settings):
    fu = _request(session, settings)
    robin = make_user(session, "counselor", display_name="Robin Rivera")
    casey = make_user(session, "counselor", display_name="Casey Counselor")
    session.commit()
    assert "Assigned to Robin Rivera" in _flash(supervisor_client.post(
        f"/followups/{fu.id}/assign", {"counselor": str(robin.id)}, follow_redirects=True))
    supervisor_client.post(f"/followups/{fu.id}/assign", {"counselor": str(casey.id)})
    session.refresh(fu)
    assert fu.assigned_to_id == casey.id
    mine = supervisor_client.get(f"/followups?counselor={casey.id}")
    assert f'data-followup="{fu.id}"'.encode() in mine.data
    supervisor_client.post(f"/followups/{fu.id}/assign", {"counselor": ""})
    session.refresh(fu)
    assert fu.assigned_to_id is None
    actions = session.scalars(select(AuditEvent.action).where(
        AuditEvent.record_type == "followup", AuditEvent.action.like("followup.%assign"))).all()
    assert actions == ["followup.assign", "followup.reassign", "followup.reassign"]
    history = supervisor_client.get(f"/followups/{fu.id}").get_data(as_text=True)
    assert "Reassigned" in history and "Casey Counselor" in history


def test_supervisor_cancels_with_a_reason(supervisor_client, session, settings):
    fu = _request(session, settings)
    refused = supervisor_client.post(f"/followups/{fu.id}/cancel", {"reason": "because"},
                                     follow_redirects=True)
    assert "choose why" in _flash(refused)
    supervisor_client.post(f"/followups/{fu.id}/cancel", {"reason": "duplicate"})
    session.refresh(fu)
    assert fu.state == FollowUpState.CANCELLED and fu.outcome == "cancelled"
    done = supervisor_client.get("/followups?view=done")
    assert f'data-followup="{fu.id}"'.encode() in done.data and b"Cancelled" in done.data
    assert b"A duplicate of another follow-up" in supervisor_client.get(f"/followups/{fu.id}").data


def test_console_filters_by_counselor_kind_and_state(supervisor_client, session, settings):
    robin = make_user(session, "counselor")
    reminder = _request(session, settings)
    text = _request(session, settings, "sms_checkin", phone="+15555550124")
    lifecycle.assign(session, reminder, robin, by=robin)
    session.commit()

    def listed(query: str) -> set[int]:
        html = supervisor_client.get(f"/followups?view=requested&{query}").get_data(as_text=True)
        return {int(i) for i in re.findall(r'data-followup="(\d+)"', html)}

    assert listed("") == {reminder.id, text.id}
    assert listed(f"counselor={robin.id}") == {reminder.id}
    assert listed("counselor=none") == {text.id}
    assert listed("kind=sms_checkin") == {text.id}
    assert listed("state=requested&kind=reminder") == {reminder.id}
    assert listed("state=done") == set()


def test_withdrawing_consent_from_the_page_stops_the_follow_up(supervisor_client, session,
                                                               settings):
    fu = _request(session, settings)
    supervisor_client.post(f"/followups/{fu.id}/withdraw-consent", {"confirm": "1"})
    session.refresh(fu)
    assert fu.state == FollowUpState.STOPPED and fu.outcome == "consent_withdrawn"
    assert fu.consent.withdrawn_at is not None


# --- the caller's number --------------------------------------------------------------------


def test_the_callers_number_is_shown_only_on_demand_and_each_showing_is_audited(
        supervisor_client, session, settings):
    fu = _request(session, settings)
    page = supervisor_client.get(f"/followups/{fu.id}")
    assert CALLER.encode() not in page.data and b"Show the caller" in page.data
    shown = supervisor_client.post(f"/followups/{fu.id}/number", headers={"HX-Request": "true"})
    assert shown.status_code == 200 and CALLER.encode() in shown.data
    assert shown.headers["Cache-Control"] == "no-store"
    assert b"<html" not in shown.data  # a fragment for HTMX
    reads = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "followup.number.read")).all()
    assert [(r.record_id, r.actor_id) for r in reads] == [(str(fu.id), supervisor_client.user_id)]
    assert all(CALLER not in str(r.detail) for r in session.scalars(select(AuditEvent)))
    # Without JavaScript the whole page comes back with the number.
    full = supervisor_client.post(f"/followups/{fu.id}/number")
    assert b"<html" in full.data and CALLER.encode() in full.data


# --- the counselor's side -------------------------------------------------------------------


def _reminder_for(session, settings, counselor) -> FollowUp:  # type: ignore[no-untyped-def]
    """A reminder assigned to the signed-in counselor, due at 10:00 (the caller's time)."""
    supervisor = make_user(session, "supervisor")
    fu = _request(session, settings)
    lifecycle.assign(session, fu, session.get(User, counselor.user_id), by=supervisor)
    lifecycle.schedule(session, fu, at=dt.datetime.combine(_day(), dt.time(10)),
                       by=supervisor, settings=settings)
    session.commit()
    return fu


def test_counselor_gets_the_reminder_on_home_records_attempts_and_the_outcome(
        counselor_client, session, settings, app):
    me = session.get(User, counselor_client.user_id)
    fu = _reminder_for(session, settings, counselor_client)
    assert b"notice-count" not in counselor_client.get("/").data
    assert _deliver(app, settings, fu.due_at).delivered == [fu.id]

    home = counselor_client.get("/").get_data(as_text=True)
    assert 'id="notice-count">1<' in home
    assert f"follow-up #{fu.id} is due" in home
    mine = counselor_client.get("/followups/mine").get_data(as_text=True)
    assert f'data-followup="{fu.id}"' in mine
    page = counselor_client.get(f"/followups/{fu.id}").get_data(as_text=True)
    assert "How did the call go?" in page and CALLER not in page
    assert "notice-count" not in counselor_client.get("/").get_data(as_text=True)  # read by opening

    again = counselor_client.post(f"/followups/{fu.id}/attempt", {"result": "no_answer"},
                                  follow_redirects=True)
    assert "tried again at" in _flash(again)
    session.refresh(fu)
    assert fu.state == FollowUpState.RETRY
    assert _deliver(app, settings, fu.due_at).delivered == [fu.id]
    counselor_client.post(f"/followups/{fu.id}/attempt",
                          {"result": "reached", "outcome": "reached_referred"})
    session.refresh(fu)
    assert fu.state == FollowUpState.DONE and fu.outcome == "reached_referred"
    assert [a.result for a in fu.attempt_log] == ["no_answer", "reached"]
    assert [a.recorded_by_id for a in fu.attempt_log] == [me.id, me.id]
    closed = counselor_client.get("/followups/mine").get_data(as_text=True)
    assert "Reached: referred to treatment" in closed


def test_the_counselor_is_told_that_an_opt_out_stops_every_follow_up_call(
        counselor_client, session, settings, app):
    fu = _reminder_for(session, settings, counselor_client)
    assert _deliver(app, settings, fu.due_at).delivered == [fu.id]
    done = counselor_client.post(f"/followups/{fu.id}/attempt", {"result": "opted_out"},
                                 follow_redirects=True)
    assert "no other follow-up calls will go to them" in _flash(done)
    session.refresh(fu)
    assert fu.state == FollowUpState.STOPPED and fu.consent.withdrawn_at is not None


def test_a_reminder_left_to_the_next_available_is_taken_by_one_counselor(
        counselor_client, staff_factory, session, settings, app):
    other = staff_factory("counselor")
    supervisor = make_user(session, "supervisor")
    fu = _request(session, settings)
    lifecycle.schedule(session, fu, at=dt.datetime.combine(_day(), dt.time(11)),
                       by=supervisor, settings=settings)
    session.commit()
    _deliver(app, settings, fu.due_at)
    for staff in (counselor_client, other):
        assert f"follow-up #{fu.id} is due" in staff.get("/").get_data(as_text=True)
    assert counselor_client.get(f"/followups/{fu.id}").status_code == 200
    counselor_client.post(f"/followups/{fu.id}/take")
    session.refresh(fu)
    assert fu.assigned_to_id == counselor_client.user_id
    # Taken: the notice is gone for everyone, and the other counselor may no longer open it.
    assert f"follow-up #{fu.id} is due" not in other.get("/").get_data(as_text=True)
    assert other.get(f"/followups/{fu.id}").status_code == 404
    assert other.post(f"/followups/{fu.id}/take").status_code == 404


def test_a_notice_can_be_dismissed_only_by_whom_it_is_for(counselor_client, staff_factory, session,
                                                        settings):
    other = staff_factory("counselor")
    fu = _request(session, settings)
    notice = FollowUpNotice(followup_id=fu.id, kind="reminder", user_id=counselor_client.user_id)
    session.add(notice)
    session.commit()
    assert other.post(f"/followups/notices/{notice.id}/dismiss").status_code == 404
    assert counselor_client.post(f"/followups/notices/{notice.id}/dismiss").status_code == 302
    session.refresh(notice)
    assert notice.read_at is not None


def test_a_bridged_callback_page_says_what_will_happen_and_shows_the_outbox(
        counselor_client, supervisor_client, session, settings, app):
    me = session.get(User, counselor_client.user_id)
    me.status, me.phone = AgentStatus.AVAILABLE, "+15555550177"
    fu = _request(session, settings, "bridged_callback")
    lifecycle.schedule(session, fu, at=dt.datetime.combine(_day(), dt.time(12)),
                       by=session.get(User, supervisor_client.user_id), settings=settings)
    session.commit()
    before = supervisor_client.get(f"/followups/{fu.id}").get_data(as_text=True)
    assert "press 1" in before and "Twilio is not connected" in before
    assert _deliver(app, settings, fu.due_at).delivered == [fu.id]
    ring = session.scalar(select(OutboxMessage))
    assert ring.kind == "call" and ring.to_number == me.phone
    page = counselor_client.get(f"/followups/{fu.id}").get_data(as_text=True)
    assert ring.provider_sid in page and "Call to the counselor's phone" in page
    assert CALLER not in page and me.phone not in page
    assert "How did the call go?" in page


def test_pages_carry_csrf_and_labels_and_no_inline_script(supervisor_client, session, settings):
    fu = _request(session, settings)
    for path in ("/followups", f"/followups/{fu.id}", "/followups/mine", "/"):
        html = supervisor_client.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        for form in re.findall(r'<form method="post".*?</form>', html, re.S):
            assert 'name="csrf_token"' in form, (path, form[:80])
        for field_id in re.findall(r'<(?:select|input)[^>]*\bid="([^"]+)"', html):
            assert f'for="{field_id}"' in html, (path, field_id)


# --- from the counselor's record to the outbox ----------------------------------------------


def test_a_follow_up_requested_on_the_record_is_scheduled_and_texted_once(
        counselor_client, supervisor_client, session, settings, app):
    me = session.get(User, counselor_client.user_id)
    call = make_call(session, CALLER, zip_code="60601")
    contact = make_contact(session, me, call, zip_code="60601", status="open")
    session.commit()
    counselor_client.post(f"/records/{contact.id}/followup",
                          {"consent": "1", "channel": "sms", "same_number": "1"})
    fu = session.scalar(select(FollowUp).where(FollowUp.contact_id == contact.id))
    assert fu is not None and fu.state == FollowUpState.REQUESTED
    supervisor_client.post(f"/followups/{fu.id}/schedule", {"at": _local(_day(), 9, 45)})
    session.refresh(fu)
    for _ in range(2):  # a job that runs twice sends nothing more
        _deliver(app, settings, fu.due_at + dt.timedelta(seconds=20))
    texts = session.scalars(select(OutboxMessage)).all()
    assert [(m.kind, m.to_number) for m in texts] == [("sms", CALLER)]
    session.refresh(fu)
    assert fu.state == FollowUpState.DONE and fu.outcome == "checkin_sent"
    assert session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "followup.deliver")) == 1
