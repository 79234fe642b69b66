"""One time-zone policy: staff read every moment in the helpline's own zone (the
DEFAULT_TIMEZONE setting), labelled, and a follow-up shows the caller's time beside it."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from dashboard import words
from helpline import audit
from helpline.config import Settings, settings_for_tests
from tests.factories import make_call, make_contact
from tests.fixtures.followups import NOW

MOMENT = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)  # 11:00 in New York, 08:00 in SF
WINTER = dt.datetime(2026, 1, 15, 17, 30, tzinfo=dt.UTC)


def test_codes_read_as_words() -> None:
    assert words.word("loved_one") == "Loved one"
    assert words.word("en") == "English"
    assert words.word("general-en") == "General, English"
    assert words.word("loved_one-es") == "Loved one, Spanish"
    assert words.word("on_call") == "On a call"
    assert words.word("second_factor") == "Second factor"  # no word of its own: still words
    assert words.word(None) == "" and words.word("Harbor Light") == "Harbor Light"
    assert words.languages("en es") == "English, Spanish"


def test_moments_are_shown_on_the_helplines_clock_labelled(app: Flask) -> None:
    with app.app_context():
        assert words.clock(MOMENT) == "Tue 10 Mar 11:00 EDT"
        assert words.clock(WINTER, "long") == "2026-01-15 12:30 EST"
        assert words.clock(MOMENT, "time_seconds") == "11:00:00 EDT"
        assert words.clock(dt.datetime(2026, 3, 11, 2, 0, tzinfo=dt.UTC), "date") == "2026-03-10"
        assert words.clock(None) == "—"
        assert words.shown("2026-03-10T15:00:00+00:00") == "2026-03-10 11:00 EDT"


class TestAnotherZone:
    @pytest.fixture
    def settings(self, tmp_path: Path, database_url: str) -> Settings:
        return settings_for_tests(tmp_path, database_url=database_url).with_overrides(
            default_timezone="America/Los_Angeles")

    def test_the_setting_chooses_the_zone(self, app: Flask) -> None:
        with app.app_context():
            assert words.clock(MOMENT) == "Tue 10 Mar 08:00 PDT"

    def test_call_history_shows_the_helplines_zone(self, supervisor_client, session: Session,
                                                   counselor) -> None:  # type: ignore[no-untyped-def]
        call = make_call(session, need="loved_one", language="es", started_at=MOMENT)
        make_contact(session, counselor, call=call, created_at=MOMENT)
        session.commit()
        page = supervisor_client.get("/history").get_data(as_text=True)
        assert "2026-03-10 08:00 PDT" in page and "UTC" not in page
        assert "Loved one" in page and "Spanish" in page


def test_a_followup_shows_the_callers_time_beside_the_helplines(
        supervisor_client, make_followup) -> None:  # type: ignore[no-untyped-def]
    fu = make_followup("sms_checkin", zip_code="94103", due=NOW + dt.timedelta(hours=2))
    page = supervisor_client.get(f"/followups/{fu.id}").get_data(as_text=True)
    due = re.search(r'<dd id="fu-due">(.*?)</dd>', page)
    assert due is not None
    assert due.group(1) == "Tue 10 Mar 13:00 EDT (caller: Tue 10 Mar 10:00 PDT)"
    console = supervisor_client.get("/followups?view=due").get_data(as_text=True)
    assert "Tue 10 Mar 13:00 EDT (caller: Tue 10 Mar 10:00 PDT)" in console


def test_a_caller_in_the_helplines_zone_is_not_shown_twice(
        supervisor_client, make_followup) -> None:  # type: ignore[no-untyped-def]
    fu = make_followup("sms_checkin", zip_code="10001", due=NOW + dt.timedelta(hours=2))
    page = supervisor_client.get(f"/followups/{fu.id}").get_data(as_text=True)
    assert '<dd id="fu-due">Tue 10 Mar 13:00 EDT</dd>' in page


def test_the_audit_log_is_read_on_the_helplines_clock(supervisor_client, session: Session,
                                                     supervisor) -> None:  # type: ignore[no-untyped-def]
    event = audit.record(session, "report.export", actor=supervisor, record_type="report",
                         record_id="need")
    session.commit()
    local = event.at.astimezone(ZoneInfo("America/New_York"))
    text = supervisor_client.get("/supervisor/audit?action=report.export").get_data(as_text=True)
    assert f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}" in text and "UTC" not in text
