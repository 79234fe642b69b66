"""Offers in the report: speed of answer split into queue and ring time, offers per counselor."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from helpline.models import Call, Offer, User
from helpline.reporting.offers import offers_by_counselor
from helpline.reporting.reports import build_report, table_csv
from tests.factories import make_call, make_user
from tests.fixtures.reporting import local, seconds

TZ = "America/New_York"
DAY = dt.date(2026, 1, 7)
T = local(2026, 1, 7, 10)


def _offer(session: Session, call: Call, counselor: User, state: str, offered: int,
           ended: int | None) -> Offer:
    offer = Offer(call_id=call.id, counselor_id=counselor.id, state=state,
                  offered_at=T + seconds(offered), expires_at=T + seconds(offered + 20),
                  ended_at=None if ended is None else T + seconds(ended))
    session.add(offer)
    session.flush()
    return offer


@pytest.fixture
def floor(session: Session) -> dict[str, User]:
    """Three calls of one morning: one answered from its second offer, one taken with "take
    next" after a declined offer, one abandoned while an offer rang (withdrawn)."""
    ana = make_user(session, display_name="Ana Missed")
    ben = make_user(session, display_name="Ben Accepts")
    cy = make_user(session, display_name="Cy Declines")
    # Entered the queue at T; Ana's offer rang out (5..25 s), Ben's rang at 30 s, accepted at 36.
    offered = make_call(session, started_at=T - seconds(20), enqueued_at=T,
                        answered_at=T + seconds(36), wait_seconds=36, counselor_id=ben.id,
                        queue_name="crisis-en", need="crisis", language="en",
                        status="completed", outcome="answered")
    _offer(session, offered, ana, "missed", 5, 25)
    _offer(session, offered, ben, "accepted", 30, 36)
    # Cy declined it at 3 s; Ana took it with "take next" after 20 s in the queue.
    taken = make_call(session, started_at=T - seconds(10), enqueued_at=T,
                      answered_at=T + seconds(20), wait_seconds=20, counselor_id=ana.id,
                      queue_name="general-en", need="self", language="en",
                      status="completed", outcome="answered")
    _offer(session, taken, cy, "declined", 1, 3)
    left = make_call(session, started_at=T, enqueued_at=T, queue_name="general-en",
                     need="self", language="en", status="completed",
                     outcome="abandoned_queue", wait_seconds=8)
    _offer(session, left, cy, "withdrawn", 2, 8)
    # Another day: not in the report.
    other = make_call(session, started_at=T + dt.timedelta(days=2), enqueued_at=T,
                      queue_name="general-en", status="completed", outcome="abandoned_queue")
    session.add(Offer(call_id=other.id, counselor_id=ana.id, state="missed",
                      offered_at=T + dt.timedelta(days=2),
                      expires_at=T + dt.timedelta(days=2), ended_at=T + dt.timedelta(days=2)))
    session.commit()
    return {"ana": ana, "ben": ben, "cy": cy}


def test_speed_of_answer_is_queue_time_plus_ring_time(session: Session, floor) -> None:  # type: ignore[no-untyped-def]
    report = build_report(session, DAY, DAY, timezone=TZ)
    assert report.average_speed_of_answer == pytest.approx((36 + 20) / 2)
    # Queue time: 30 s before Ben's offer rang (Ana's missed offer included); 20 s for the call
    # taken with "take next", which rang nobody (ring time 0).
    assert report.answer.average_queue_seconds == pytest.approx((30 + 20) / 2)
    assert report.answer.average_ring_seconds == pytest.approx((6 + 0) / 2)
    assert report.answer.average_ring_seconds_offered == pytest.approx(6)
    assert (report.answer.after_offer, report.answer.take_next) == (1, 1)
    assert (report.answer.average_queue_seconds + report.answer.average_ring_seconds
            == pytest.approx(report.average_speed_of_answer))


def test_summary_and_offer_table_say_it_in_words(session: Session, floor) -> None:  # type: ignore[no-untyped-def]
    report = build_report(session, DAY, DAY, timezone=TZ)
    summary = dict((row[0], row[1]) for row in report.summary().rows)
    assert summary["Average queue time (s)"] == 25.0
    assert summary["Average ring time (s)"] == 3.0
    assert summary["Answered from an offer"] == 1
    assert summary["Answered with take next (no ring)"] == 1
    assert summary["Offers missed (rang out)"] == 1
    assert summary["Offers declined"] == 1
    offers = dict((row[0], row[1]) for row in report.tables["offers"].rows)
    assert offers == {"Accepted": 1, "Declined": 1, "Missed (rang out)": 1,
                      "Withdrawn (caller left or taken another way)": 1}


def test_missed_and_declined_offers_per_counselor(session: Session, floor) -> None:  # type: ignore[no-untyped-def]
    report = build_report(session, DAY, DAY, timezone=TZ)
    table = report.staff_tables["counselor_offers"]
    rows = {row[0]: row[1:] for row in table.rows}
    # Offers, accepted, declined, missed, withdrawn, declined-or-missed share, ring to accept.
    assert rows == {"Ana Missed": [1, 0, 0, 1, 0, "100.0%", ""],
                    "Ben Accepts": [1, 1, 0, 0, 0, "0.0%", 6.0],
                    "Cy Declines": [2, 0, 1, 0, 1, "100.0%", ""]}
    assert table_csv(report, "counselor_offers").splitlines()[0].startswith("Counselor,")


def test_offers_per_counselor_never_reach_the_api_tables(session: Session, floor) -> None:  # type: ignore[no-untyped-def]
    report = build_report(session, DAY, DAY, timezone=TZ)
    assert "counselor_offers" not in report.tables
    for table in report.tables.values():
        assert "Ana Missed" not in repr(table.rows)


def test_a_queue_counts_only_its_own_offers(session: Session, floor) -> None:  # type: ignore[no-untyped-def]
    report = build_report(session, DAY, DAY, timezone=TZ, queue="general-en")
    assert (report.answer.after_offer, report.answer.take_next) == (0, 1)
    assert report.answer.average_ring_seconds == 0
    assert report.offers["declined"] == 1 and report.offers["missed"] == 0
    lo, hi = local(2026, 1, 7, 0), local(2026, 1, 8, 0)
    assert set(offers_by_counselor(session, lo, hi, "crisis-en")) == {floor["ana"].id,
                                                                      floor["ben"].id}


def test_no_offers_no_figures(session: Session) -> None:
    report = build_report(session, DAY, DAY, timezone=TZ)
    assert report.answer.average_queue_seconds is None
    assert report.answer.average_ring_seconds is None
    assert report.staff_tables["counselor_offers"].rows == []
    assert [row[1] for row in report.tables["offers"].rows] == [0, 0, 0, 0]
