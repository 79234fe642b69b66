"""The month report: figures checked against hand-counted calls (tests/fixtures/reporting.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from helpline.reporting.reports import (
    ReportError,
    build_report,
    offset_segments,
    table_csv,
    utc_bounds,
)
from tests.factories import make_call
from tests.fixtures.reporting import Week, local

TZ = "America/New_York"


def rows(report, key: str) -> dict:  # type: ignore[no-untyped-def]
    return {r[0]: r[1:] if len(r) > 2 else r[1] for r in report.tables[key].rows}


def test_week_counts_only_calls_of_local_days(session: Session, week: Week) -> None:
    report = build_report(session, week.start, week.end, timezone=TZ)
    assert report.calls == 7
    assert report.offered == 5
    assert report.answered == 3
    assert report.abandoned == 1


def test_answer_speed_abandonment_and_service_level(session: Session, week: Week) -> None:
    report = build_report(session, week.start, week.end, timezone=TZ)
    assert report.abandonment_rate == pytest.approx(1 / 5)
    assert report.average_speed_of_answer == pytest.approx((20 + 50 + 100) / 3)
    assert report.service_level == {30: pytest.approx(1 / 5), 60: pytest.approx(2 / 5)}
    assert report.average_talk_seconds == pytest.approx((300 + 600 + 200) / 3)
    assert report.average_wrapup_seconds == pytest.approx((120 + 60) / 2)


def test_volume_by_local_hour_and_weekday(session: Session, week: Week) -> None:
    report = build_report(session, week.start, week.end, timezone=TZ)
    hours = {h: n for h, n in rows(report, "hour").items() if n}
    assert hours == {"02:00": 1, "09:00": 2, "14:00": 2, "23:00": 2}
    days = {d: n for d, n in rows(report, "weekday").items() if n}
    assert days == {"Monday": 2, "Tuesday": 1, "Saturday": 1, "Sunday": 3}


def test_volume_by_need_language_and_outcome(session: Session, week: Week) -> None:
    report = build_report(session, week.start, week.end, timezone=TZ)
    assert rows(report, "need") == {"self": 3, "treatment": 1, "crisis": 1, "groups": 1,
                                    "unknown": 1}
    assert rows(report, "language") == {"en": 6, "es": 1}
    assert rows(report, "outcome") == {"answered": 3, "abandoned_queue": 1,
                                       "crisis_transfer": 1, "abandoned_menu": 1, "callback": 1}


def test_one_queue_only(session: Session, week: Week) -> None:
    report = build_report(session, week.start, week.end, timezone=TZ, queue="self-en")
    assert (report.calls, report.offered, report.answered) == (2, 2, 1)
    assert report.service_level[30] == pytest.approx(1 / 2)
    assert rows(report, "risk") == {"low": [1, 0], "none": [0, 1]}
    assert rows(report, "referrals") == {"center": 1, "group": 1}


def test_risk_levels_of_the_weeks_contacts(session: Session, week: Week) -> None:
    report = build_report(session, week.start, week.end, timezone=TZ)
    assert rows(report, "risk") == {"none": [1, 2], "low": [1, 0], "moderate": [0, 1],
                                    "high": [1, 0]}


def test_referrals_by_kind_and_type_of_care(session: Session, week: Week) -> None:
    report = build_report(session, week.start, week.end, timezone=TZ)
    assert rows(report, "referrals") == {"center": 2, "group": 1, "resource": 1}
    assert rows(report, "care") == {"Outpatient": 2, "Detox": 2}


def test_followups_requested_scheduled_completed_reached(session: Session, week: Week) -> None:
    report = build_report(session, week.start, week.end, timezone=TZ)
    assert rows(report, "followups") == {"Requested": 5, "Scheduled": 3, "Completed": 2,
                                         "Reached": 1, "Cancelled or stopped": 1}


def test_hours_stay_local_across_the_spring_clock_change(session: Session) -> None:
    make_call(session, started_at=local(2026, 3, 7, 10), outcome="answered")  # EST
    make_call(session, started_at=local(2026, 3, 9, 10), outcome="answered")  # EDT
    session.commit()
    report = build_report(session, dt.date(2026, 3, 1), dt.date(2026, 3, 31), timezone=TZ)
    assert {h: n for h, n in rows(report, "hour").items() if n} == {"10:00": 2}
    assert {d: n for d, n in rows(report, "weekday").items() if n} == {"Saturday": 1,
                                                                       "Monday": 1}


def test_clock_change_splits_the_month_into_two_offsets() -> None:
    lo, hi = utc_bounds(dt.date(2026, 3, 1), dt.date(2026, 3, 31), TZ)
    assert offset_segments(lo, hi, TZ) == [
        (lo, -5 * 3600), (dt.datetime(2026, 3, 8, 7, tzinfo=dt.UTC), -4 * 3600)]


def test_each_table_downloads_as_csv(session: Session, week: Week) -> None:
    report = build_report(session, week.start, week.end, timezone=TZ)
    assert table_csv(report, "language").splitlines() == ["Language,Calls", "en,6", "es,1"]
    assert "Service level (30 s),20.0%" in table_csv(report, "summary")


def test_an_empty_range_reports_zero_without_dividing_by_zero(session: Session) -> None:
    report = build_report(session, dt.date(2030, 1, 1), dt.date(2030, 1, 31), timezone=TZ)
    assert report.calls == 0
    assert report.abandonment_rate is None
    assert report.average_speed_of_answer is None


def test_a_backwards_range_is_refused(session: Session) -> None:
    with pytest.raises(ReportError, match="before the start"):
        build_report(session, dt.date(2026, 2, 1), dt.date(2026, 1, 1), timezone=TZ)
