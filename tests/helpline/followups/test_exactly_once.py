"""Two delivery runs racing over the same database deliver each follow-up exactly once."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from sqlalchemy import func, select

from helpline.followups.delivery import deliver_due_followups
from helpline.models import OutboxMessage
from helpline.models.followups import FollowUp, FollowUpAttempt, FollowUpState
from tests.fixtures.followups import NOW, due_checkins, race

N = 150


def _assert_each_once(session, ids: list[int]) -> None:  # type: ignore[no-untyped-def]
    session.expire_all()
    per_followup = dict(session.execute(
        select(FollowUpAttempt.followup_id, func.count(OutboxMessage.id))
        .join(OutboxMessage, OutboxMessage.id == FollowUpAttempt.outbox_id)
        .group_by(FollowUpAttempt.followup_id)).all())
    assert per_followup == dict.fromkeys(ids, 1)
    assert session.scalar(select(func.count(OutboxMessage.id))) == len(ids)
    assert set(session.scalars(select(FollowUp.state))) == {FollowUpState.DONE}


def test_two_racing_runs_on_this_database_deliver_each_follow_up_once(session, settings,
                                                                     outbox):
    ids = due_checkins(session, N)
    reports = race(settings, 2, lambda db: deliver_due_followups(db, outbox, settings, now=NOW))
    assert sum(len(r.delivered) for r in reports) == N
    _assert_each_once(session, ids)


@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgresql"),
                    reason="needs PostgreSQL: DATABASE_URL=postgresql+psycopg://...")
def test_two_schedulers_over_one_postgresql_database_deliver_each_once(session, settings,
                                                                      outbox):
    ids = due_checkins(session, 300)
    # Batches are claimed with SKIP LOCKED: the runs share the work instead of colliding.
    reports = race(settings, 4, lambda db: deliver_due_followups(db, outbox, settings, now=NOW))
    assert sum(len(r.delivered) for r in reports) == 300
    _assert_each_once(session, ids)


def test_a_run_repeated_after_the_due_time_sends_nothing_more(session, db, settings, outbox):
    ids = due_checkins(session, 10)
    deliver_due_followups(db, outbox, settings, now=NOW)
    deliver_due_followups(db, outbox, settings, now=NOW + dt.timedelta(hours=1))
    _assert_each_once(session, ids)


def _mixed(session, make_followup, counselors) -> list[int]:  # type: ignore[no-untyped-def]
    """Texts, reminders and bridged callbacks due together."""
    ids = []
    for i in range(24):
        kind = ("sms_checkin", "reminder", "bridged_callback")[i % 3]
        assign = counselors[i % len(counselors)] if kind == "reminder" else None
        ids.append(make_followup(kind, due=NOW, phone=f"+1555557{i:04d}", assign_to=assign).id)
    return ids


@pytest.mark.parametrize("runs", [2, 3])
def test_racing_runs_over_small_batches_deliver_every_kind_once_and_keep_the_audit_chain(
        session, settings, outbox, make_followup, runs):
    from helpline import audit
    from helpline.models import AgentStatus
    from tests.factories import make_user

    counselors = [make_user(session, "counselor", phone=f"+155555502{n:02d}",
                            status=AgentStatus.AVAILABLE, languages="en")
                  for n in range(10)]
    session.commit()
    ids = _mixed(session, make_followup, counselors)
    reports = race(settings, runs, lambda db: deliver_due_followups(
        db, outbox, settings, now=NOW, batch_size=5))
    assert sorted(i for r in reports for i in r.delivered) == sorted(ids)
    session.expire_all()
    # One outbox row per text and per ringing counselor; a reminder texts its counselor once.
    per_followup = dict(session.execute(
        select(FollowUpAttempt.followup_id, func.count(OutboxMessage.id))
        .join(OutboxMessage, OutboxMessage.id == FollowUpAttempt.outbox_id)
        .group_by(FollowUpAttempt.followup_id)).all())
    assert per_followup == dict.fromkeys(ids, 1)
    assert session.scalar(select(func.count(FollowUpAttempt.id))) == len(ids)
    # Ten counselors, eight callbacks: each rang a different counselor.
    rung = session.scalars(select(FollowUp.bridged_to_id).where(
        FollowUp.kind == "bridged_callback")).all()
    assert len(set(rung)) == len(rung) == 8
    assert audit.verify_chain(session) is None
