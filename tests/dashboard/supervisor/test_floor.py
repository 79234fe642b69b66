"""The floor on the pages: a counselor's raised hand, a supervisor setting a status or skills
from the wallboard or the Staff page, and offers in the reports."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline.db import utcnow
from helpline.models import AgentStatus, AuditEvent, Offer, User
from tests.factories import make_call, make_user


@pytest.fixture
def nudges(app, monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    """Each routing nudge the pages ask for."""
    seen: list[str] = []
    monkeypatch.setattr(app.extensions["helpline"], "nudge_routing",
                        lambda: seen.append("nudge"))
    return seen


def _user(session: Session, user_id: int) -> User:
    session.expire_all()
    user = session.get(User, user_id)
    assert user is not None
    return user


# --- raise hand ---------------------------------------------------------------------------

def test_a_counselor_raises_a_hand_from_home_and_supervisors_see_it(  # type: ignore[no-untyped-def]
        counselor_client, supervisor_client, session: Session) -> None:
    home = counselor_client.get("/").get_data(as_text=True)
    assert 'id="raise-hand"' in home and 'id="hand-header"' in home
    resp = counselor_client.post("/hand", {"raised": "1", "next": "/history"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/history")
    assert _user(session, counselor_client.user_id).hand_raised_at is not None
    home = counselor_client.get("/").get_data(as_text=True)
    assert "Your hand is raised" in home and "Lower your hand" in home
    board = supervisor_client.get("/supervisor/wallboard/board").get_data(as_text=True)
    assert 'id="wb-hands"' in board
    assert f'data-hand="{counselor_client.user_id}"' in board
    assert f'id="acknowledge-{counselor_client.user_id}"' in board
    assert board.index("wb-hands") < board.index("wb-tiles")


def test_the_counselor_lowers_their_hand(counselor_client, session: Session) -> None:  # type: ignore[no-untyped-def]
    counselor_client.post("/hand", {"raised": "1"})
    resp = counselor_client.post("/hand", {"raised": "0", "next": "https://evil.example/"})
    assert resp.headers["Location"].endswith("/")  # never another site: Home
    assert "evil" not in resp.headers["Location"]
    assert _user(session, counselor_client.user_id).hand_raised_at is None
    actions = session.scalars(select(AuditEvent.action)
                              .where(AuditEvent.actor_id == counselor_client.user_id,
                                     AuditEvent.action.like("agent.hand%"))).all()
    assert actions == ["agent.hand_raise", "agent.hand_lower"]


def test_a_supervisor_acknowledges_a_hand(supervisor_client, session: Session) -> None:  # type: ignore[no-untyped-def]
    worker = make_user(session, status=AgentStatus.ON_CALL, hand_raised_at=utcnow())
    session.commit()
    resp = supervisor_client.post(f"/supervisor/staff/{worker.id}/hand/acknowledge",
                                  {"back": "wallboard"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/supervisor/wallboard")
    assert _user(session, worker.id).hand_raised_at is None
    event = session.scalars(select(AuditEvent)
                            .where(AuditEvent.action == "agent.hand_acknowledge")).one()
    assert event.actor_id == supervisor_client.user_id
    board = supervisor_client.get("/supervisor/wallboard/board").get_data(as_text=True)
    assert 'id="wb-hands"' not in board


def test_only_counselors_raise_hands_and_only_supervisors_acknowledge(  # type: ignore[no-untyped-def]
        supervisor_client, admin_client, counselor_client, session: Session) -> None:
    assert supervisor_client.post("/hand", {"raised": "1"}).status_code == 403
    worker = make_user(session, hand_raised_at=utcnow())
    session.commit()
    for client in (admin_client, counselor_client):
        assert client.post(f"/supervisor/staff/{worker.id}/hand/acknowledge").status_code == 403
    assert 'id="hand-header"' not in supervisor_client.get("/").get_data(as_text=True)


# --- a status set by a supervisor -----------------------------------------------------------

def test_a_supervisor_sets_a_status_from_the_wallboard(  # type: ignore[no-untyped-def]
        supervisor_client, session: Session, nudges: list[str]) -> None:
    worker = make_user(session, status=AgentStatus.AWAY, status_reason="missed_offer",
                       display_name="Robin Away")
    session.commit()
    board = supervisor_client.get("/supervisor/wallboard/board").get_data(as_text=True)
    assert "missed a call" in board
    assert f'id="wb-status-{worker.id}"' in board
    resp = supervisor_client.post(f"/supervisor/staff/{worker.id}/status",
                                  {"status": "available", "back": "wallboard"},
                                  follow_redirects=True)
    assert b"Robin Away is Available." in resp.data
    user = _user(session, worker.id)
    assert (user.status, user.status_reason) == ("available", None)
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "agent.status")).one()
    assert (event.actor_id, event.record_id) == (supervisor_client.user_id, str(worker.id))
    assert nudges == ["nudge"]


def test_mid_call_the_status_waits_for_the_record(  # type: ignore[no-untyped-def]
        supervisor_client, session: Session, nudges: list[str]) -> None:
    worker = make_user(session, status=AgentStatus.WRAP_UP, display_name="Robin Busy",
                       status_before_call=AgentStatus.AVAILABLE)
    session.commit()
    resp = supervisor_client.post(f"/supervisor/staff/{worker.id}/status",
                                  {"status": "offline", "back": "staff"})
    assert resp.headers["Location"].endswith("/supervisor/staff")
    user = _user(session, worker.id)
    assert (user.status, user.status_before_call) == ("wrap_up", "offline")
    board = supervisor_client.get("/supervisor/wallboard/board").get_data(as_text=True)
    assert "then Offline" in board


def test_a_status_that_cannot_be_chosen_is_refused(supervisor_client, session: Session) -> None:  # type: ignore[no-untyped-def]
    worker = make_user(session, status=AgentStatus.AVAILABLE)
    session.commit()
    resp = supervisor_client.post(f"/supervisor/staff/{worker.id}/status",
                                  {"status": "on_call"}, follow_redirects=True)
    assert b"choose Available, Away or Offline" in resp.data
    assert _user(session, worker.id).status == "available"
    assert supervisor_client.post("/supervisor/staff/999999/status",
                                  {"status": "away"}).status_code == 404


def test_an_admin_sees_the_board_without_the_floors_forms(admin_client, session: Session) -> None:  # type: ignore[no-untyped-def]
    worker = make_user(session, status=AgentStatus.AVAILABLE, hand_raised_at=utcnow())
    session.commit()
    board = admin_client.get("/supervisor/wallboard/board").get_data(as_text=True)
    assert f'data-hand="{worker.id}"' in board
    assert "<form" not in board
    assert admin_client.post(f"/supervisor/staff/{worker.id}/status",
                             {"status": "away"}).status_code == 403


def test_the_wall_display_stream_is_read_only(supervisor_client, session: Session) -> None:  # type: ignore[no-untyped-def]
    make_user(session, status=AgentStatus.AVAILABLE, hand_raised_at=utcnow())
    session.commit()
    page = supervisor_client.get("/supervisor/wallboard?display=1").get_data(as_text=True)
    assert "/supervisor/wallboard/events?display=1" in page
    assert "<form" not in page.split('id="board"', 1)[1]
    body = supervisor_client.get("/supervisor/wallboard/events?lifetime=0&display=1")
    text = body.get_data(as_text=True)
    assert "wb-hands" in text and "<form" not in text
    live = supervisor_client.get("/supervisor/wallboard/events?lifetime=0").get_data(as_text=True)
    assert "<form" in live


def test_the_wallboard_warns_of_crisis_callers_nobody_can_take(  # type: ignore[no-untyped-def]
        supervisor_client, session: Session) -> None:
    make_user(session, status=AgentStatus.AVAILABLE, skills="")
    make_call(session, status="queued", queue_name="crisis-en", need="crisis", language="en",
              enqueued_at=utcnow())
    session.commit()
    board = supervisor_client.get("/supervisor/wallboard/board").get_data(as_text=True)
    assert ("Crisis callers are waiting (1) and no crisis-trained counselor is signed in"
            in board)


def test_the_wallboard_shows_an_offer_ringing(supervisor_client, session: Session) -> None:  # type: ignore[no-untyped-def]
    worker = make_user(session, status=AgentStatus.AVAILABLE)
    call = make_call(session, status="queued", queue_name="general-en", need="general",
                     language="en", enqueued_at=utcnow())
    session.add(Offer(call_id=call.id, counselor_id=worker.id, state="ringing",
                      offered_at=utcnow(), expires_at=utcnow() + dt.timedelta(seconds=20)))
    session.commit()
    board = supervisor_client.get("/supervisor/wallboard/board").get_data(as_text=True)
    assert f'<tr data-staff="{worker.id}" class="wb-ringing">' in board
    assert "ringing 0:0" in board


# --- skills on the Staff page ---------------------------------------------------------------

def test_a_supervisor_sets_skills_beside_the_skills_queues_ask(  # type: ignore[no-untyped-def]
        supervisor_client, session: Session, nudges: list[str]) -> None:
    worker = make_user(session, skills="")
    session.commit()
    page = supervisor_client.get("/supervisor/staff").get_data(as_text=True)
    assert 'id="queue-skills"' in page and "Crisis queue asks <strong>crisis</strong>" in page
    assert f'id="skills-{worker.id}"' in page
    resp = supervisor_client.post(f"/supervisor/staff/{worker.id}",
                                  {"languages": "en es", "skills": "crisis"},
                                  follow_redirects=True)
    assert b"Saved: skills." in resp.data
    assert _user(session, worker.id).skills == "crisis"
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.skills")).one()
    assert event.actor_id == supervisor_client.user_id
    assert nudges == ["nudge"]


def test_a_bad_skill_is_refused_and_nothing_changes(supervisor_client, session: Session) -> None:  # type: ignore[no-untyped-def]
    worker = make_user(session, skills="crisis", languages="en")
    session.commit()
    resp = supervisor_client.post(f"/supervisor/staff/{worker.id}",
                                  {"languages": "es", "skills": "crisis-trained"},
                                  follow_redirects=True)
    assert b"skills are lower-case words" in resp.data
    user = _user(session, worker.id)
    assert (user.skills, user.languages) == ("crisis", "en")


def test_the_staff_page_counts_missed_offers(supervisor_client, session: Session) -> None:  # type: ignore[no-untyped-def]
    worker = make_user(session, status=AgentStatus.AWAY)
    call = make_call(session, status="queued", queue_name="general-en", enqueued_at=utcnow())
    now = utcnow()
    session.add(Offer(call_id=call.id, counselor_id=worker.id, state="missed", offered_at=now,
                      expires_at=now, ended_at=now))
    session.commit()
    page = supervisor_client.get("/supervisor/staff").get_data(as_text=True)
    assert f'<td data-missed="{worker.id}">1</td>' in page
    assert f'id="status-{worker.id}"' in page


# --- reports --------------------------------------------------------------------------------

def test_the_report_splits_speed_of_answer_and_lists_offers_per_counselor(  # type: ignore[no-untyped-def]
        supervisor_client, session: Session) -> None:
    worker = make_user(session, display_name="Robin Rings")
    at = utcnow() - dt.timedelta(minutes=5)
    call = make_call(session, started_at=at, enqueued_at=at,
                     answered_at=at + dt.timedelta(seconds=12), wait_seconds=12,
                     queue_name="general-en", status="completed", outcome="answered",
                     counselor_id=worker.id)
    session.add(Offer(call_id=call.id, counselor_id=worker.id, state="accepted",
                      offered_at=at + dt.timedelta(seconds=8),
                      expires_at=at + dt.timedelta(seconds=28),
                      ended_at=at + dt.timedelta(seconds=12)))
    session.commit()
    html = supervisor_client.get("/supervisor/reports").get_data(as_text=True)
    assert "Average queue time (s)" in html and "Average ring time (s)" in html
    assert 'id="answer-split-hint"' in html and "Take next call" in html
    assert 'id="table-counselor_offers"' in html and "Robin Rings" in html
    assert 'id="table-offers"' in html
    csv_text = supervisor_client.get("/supervisor/reports/counselor_offers.csv").get_data(
        as_text=True)
    assert csv_text.splitlines()[1].startswith("Robin Rings,1,1,0,0,0,0.0%,4")
