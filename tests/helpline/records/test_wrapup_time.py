"""Wrap-up time is kept on the record when it closes, so reports need not join the calls."""

from __future__ import annotations

import datetime as dt

from alembic import command
from sqlalchemy import text

from helpline import migrate
from helpline.db import Database
from helpline.models import Contact
from helpline.records.contacts import wrap_up
from tests.factories import make_call, make_contact, make_user

ENDED = dt.datetime(2026, 3, 2, 14, 0, tzinfo=dt.UTC)


def test_wrap_up_keeps_the_time_since_the_call_ended(session):
    counselor = make_user(session)
    call = make_call(session, ended_at=ENDED)
    contact = make_contact(session, counselor, call, outcome="support")
    wrap_up(session, contact, counselor, now=ENDED + dt.timedelta(seconds=95))
    assert contact.wrapup_seconds == 95


def test_a_record_closed_while_the_call_goes_on_has_no_wrap_up_time(session):
    counselor = make_user(session)
    contact = make_contact(session, counselor, make_call(session),  # not ended yet
                           outcome="support")
    wrap_up(session, contact, counselor, now=ENDED)
    assert contact.wrapup_seconds is None


def test_records_closed_before_the_column_existed_get_their_wrap_up_time(database_url):
    db = Database(database_url)
    try:
        command.downgrade(migrate.alembic_config(db), "0008")
        with db.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO users (id, username, display_name, role, password_hash, active, "
                "languages, totp_enabled, recovery_code_hashes, failed_logins, status, "
                "status_since, password_changed_at, created_at, take_calls_on) VALUES (1, 'kim', "
                "'Kim', 'counselor', 'x', true, 'en', false, '[]', 0, 'offline', :t, :t, :t, "
                "'phone')"), {"t": ENDED.replace(tzinfo=None)})
            conn.execute(text(
                "INSERT INTO calls (id, call_sid, direction, language, priority, status, "
                "started_at, ended_at, last_sequence) VALUES (1, 'CA1', 'inbound', 'en', 0, "
                "'completed', :t, :t, -1)"), {"t": ENDED.replace(tzinfo=None)})
            conn.execute(text(
                "INSERT INTO contacts (id, call_id, counselor_id, substances, crisis_steps, "
                "status, created_at, updated_at, closed_at) VALUES (1, 1, 1, '[]', '[]', "
                "'closed', :t, :t, :closed)"),
                {"t": ENDED.replace(tzinfo=None),
                 "closed": (ENDED + dt.timedelta(seconds=240)).replace(tzinfo=None)})
        migrate.upgrade(db)
        with db.sessions() as session:
            assert session.get(Contact, 1).wrapup_seconds == 240
    finally:
        db.dispose()
