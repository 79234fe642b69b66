"""Migration 0007 turns the consents recorded before it into consent records: follow-up
consents keep their rows, numbers and follow-ups; each ticked texting box becomes a consent to
referral texts. Going back to 0006 and forward again keeps them."""

from __future__ import annotations

import datetime as dt

from alembic import command
from sqlalchemy import text
from sqlalchemy.orm import Session

from helpline import crypto, migrate
from helpline.consent.door import CALLER, require_consent
from helpline.db import Database
from helpline.models import Consent, FollowUp

WHEN = dt.datetime(2026, 2, 2, 15, 0)
NUMBER = "+15555550123"


def _seed_0006(db: Database, keyring: crypto.Keyring) -> None:
    caller = keyring.caller_hash(NUMBER)
    sealed = keyring.encrypt(NUMBER, "followup_consents.phone")
    with db.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO users (id, username, display_name, role, password_hash, active, "
            "languages, totp_enabled, recovery_code_hashes, failed_logins, status, "
            "status_since, password_changed_at, created_at) VALUES (1, 'robin', 'Robin', "
            "'counselor', 'x', true, 'en', false, '[]', 0, 'offline', :t, :t, :t)"), {"t": WHEN})
        for contact_id, ticked in ((1, True), (2, False)):
            conn.execute(text(
                "INSERT INTO contacts (id, counselor_id, caller_hash, substances, crisis_steps, "
                "sms_consent, status, created_at, updated_at) VALUES (:id, 1, :h, '[]', '[]', "
                ":ticked, 'closed', :t, :t)"),
                {"id": contact_id, "h": caller, "ticked": ticked, "t": WHEN})
        for consent_id, via in ((1, "counselor"), (2, "ivr")):
            conn.execute(text(
                "INSERT INTO followup_consents (id, caller_hash, phone, channel, wording, "
                "recorded_via, recorded_by_id, recorded_at) VALUES (:id, :h, :p, :ch, "
                "'Yes, you may.', :via, :by, :t)"),
                {"id": consent_id, "h": caller, "p": sealed, "ch": "sms" if via != "ivr"
                 else "call", "via": via, "by": 1 if via != "ivr" else None, "t": WHEN})
        conn.execute(text(
            "INSERT INTO followups (id, consent_id, contact_id, caller_hash, phone, kind, "
            "channel, source, state, language, timezone, attempts, max_attempts, created_at, "
            "updated_at) VALUES (1, 1, 1, :h, :p, 'sms_checkin', 'sms', 'counselor', "
            "'requested', 'en', 'America/New_York', 0, 3, :t, :t)"),
            {"h": caller, "p": keyring.encrypt(NUMBER, "followups.phone"), "t": WHEN})
        if db.engine.dialect.name == "postgresql":
            conn.execute(text("SELECT setval('followup_consents_id_seq', 2)"))


def test_consents_recorded_before_0007_become_consent_records(database_url: str,
                                                              keyring: crypto.Keyring) -> None:
    db = Database(database_url)
    try:
        command.downgrade(migrate.alembic_config(db), "0006")
        _seed_0006(db, keyring)
        migrate.upgrade(db)
        with Session(db.engine) as session:
            rows = {c.id: c for c in session.query(Consent).order_by(Consent.id)}
            assert sorted(rows) == [1, 2, 3]
            typed = rows[1]
            assert (typed.scope, typed.purpose, typed.method, typed.information,
                    typed.phone, typed.recorded_by_id) == (
                "sms", "followup", "verbal", ["followup_contact"], NUMBER, 1)
            keypress = rows[2]
            assert (keypress.scope, keypress.method, keypress.script_version) == (
                "call", "ivr_keypress", "ivr-callback-1")
            ticked = rows[3]
            assert (ticked.scope, ticked.purpose, ticked.contact_id, ticked.information,
                    ticked.recorded_by_id, ticked.script_version) == (
                "sms", "referral", 1, ["referral_list"], 1, "pre-0007")
            assert session.get(FollowUp, 1).consent.id == 1
            now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
            assert require_consent(session, typed.caller_hash, "sms", CALLER, "referral",
                                   now).id == 3
            # A new consent takes the next id (PostgreSQL's sequence was renamed with its
            # table).
            session.add(Consent(caller_hash="a" * 64, scope="call", purpose="followup",
                                wording="Yes.", recorded_via="counselor"))
            session.commit()
            assert session.query(Consent).count() == 4

        # And back: the texting box comes back ticked, the follow-up consents stay.
        command.downgrade(migrate.alembic_config(db), "0006")
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT id FROM contacts WHERE sms_consent")).all() == [
                (1,)]
            assert conn.execute(text(
                "SELECT id, channel FROM followup_consents ORDER BY id")).all()[:2] == [
                (1, "sms"), (2, "call")]
        migrate.upgrade(db)
    finally:
        db.dispose()
