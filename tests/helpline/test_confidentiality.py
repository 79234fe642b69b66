"""Notes and phone numbers never rest in plaintext; wrong keys fail loudly; keys rotate."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from helpline import crypto
from helpline.config import Settings
from helpline.db import Database
from helpline.models import Call, Contact, User
from helpline.rotation import check_keys, rotate_keys
from tests.factories import make_call, make_contact, make_user

NOTE = "Caller disclosed daily fentanyl use; sister Marisol worried"
NUMBER = "+15555550147"


def everything_stored(db: Database, settings: Settings) -> bytes:
    """Every byte the database holds for our tables: the files on SQLite, all rows on PG."""
    if db.is_sqlite:
        path = Path(settings.database_url.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    chunks = []
    with db.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            rows = conn.execute(text(f'SELECT t::text FROM "{table}" t')).scalars()
            chunks.extend(r.encode() for r in rows)
    return b"\n".join(chunks)


def test_notes_and_numbers_never_rest_in_plaintext(
    db: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
    with db.session() as session:
        counselor = make_user(session, phone="+15555550100")
        call = make_call(session, number=NUMBER)
        make_contact(session, counselor, call, notes=NOTE)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    with db.engine.connect() as conn:  # checkpoint so the WAL is in the file too
        if db.is_sqlite:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(FULL)")

    stored = everything_stored(db, settings)
    for secret in (NOTE, "fentanyl", "Marisol", NUMBER, NUMBER[2:], "5555550147"):
        assert secret.encode() not in stored, f"{secret!r} found in the database"
        assert secret not in caplog.text, f"{secret!r} found in the log"

    with db.sessions() as session:
        contact = session.scalars(select(Contact)).one()
        assert contact.notes == NOTE


def test_repeat_callers_are_matched_by_a_keyed_hash(keyring: crypto.Keyring) -> None:
    assert keyring.caller_hash("(555) 555-0147") == keyring.caller_hash("+1 555 555 0147")
    assert keyring.caller_hash("+15555550147") != keyring.caller_hash("+15555550148")
    other = crypto.Keyring({1: b"\x01" * 32}, b"\x03" * 32)
    assert other.caller_hash(NUMBER) != keyring.caller_hash(NUMBER)
    assert "5550147" not in (keyring.caller_hash(NUMBER) or "")


@pytest.mark.parametrize("withheld", ["anonymous", "Restricted", "+266696687", "", None])
def test_withheld_numbers_do_not_link_strangers(keyring: crypto.Keyring, withheld: str) -> None:
    assert keyring.caller_hash(withheld) is None


def test_a_value_sealed_for_one_column_does_not_open_in_another(keyring: crypto.Keyring) -> None:
    sealed = keyring.encrypt(NOTE, "contacts.notes")
    with pytest.raises(crypto.DecryptionError):
        keyring.decrypt(sealed, "calls.caller_number")


def test_a_wrong_key_is_a_clear_error_not_garbage(db: Database, settings: Settings) -> None:
    with db.session() as session:
        make_call(session, number=NUMBER)
    crypto.install(crypto.Keyring({1: b"\x09" * 32}, settings.hash_key))
    try:
        with db.sessions() as session, pytest.raises(crypto.DecryptionError, match="wrong key"):
            session.execute(select(Call.caller_number)).scalar_one()
    finally:
        crypto.install(crypto.Keyring(settings.data_keys, settings.hash_key))


def test_a_missing_key_version_is_named(db: Database, settings: Settings) -> None:
    crypto.install(crypto.Keyring({1: settings.data_keys[1], 2: b"\x07" * 32}, settings.hash_key))
    try:
        with db.session() as session:
            make_user(session, phone=NUMBER)  # sealed under version 2
        crypto.install(crypto.Keyring(settings.data_keys, settings.hash_key))
        with db.sessions() as session, pytest.raises(crypto.DecryptionError, match="version 2"):
            session.scalars(select(User)).one().phone  # noqa: B018
    finally:
        crypto.install(crypto.Keyring(settings.data_keys, settings.hash_key))


def test_rotate_keys_reseals_everything_under_the_newest_key(
    db: Database, settings: Settings
) -> None:
    with db.session() as session:
        counselor = make_user(session, phone="+15555550100", totp_secret="JBSWY3DPEHPK3PXP")
        make_contact(session, counselor, make_call(session, number=NUMBER), notes=NOTE)

    new = {**settings.data_keys, 2: b"\x05" * 32}
    crypto.install(crypto.Keyring(new, settings.hash_key))
    try:
        with db.session() as session:
            report = rotate_keys(session)
        assert report.resealed == 4  # user phone, TOTP secret, call number, note
        with db.session() as session:
            assert rotate_keys(session).resealed == 0

        # The old key can now be dropped: everything opens with version 2 alone.
        crypto.install(crypto.Keyring({2: new[2]}, settings.hash_key))
        session: Session
        with db.sessions() as session:
            assert session.scalars(select(Contact)).one().notes == NOTE
            assert session.scalars(select(User)).one().phone == "+15555550100"
    finally:
        crypto.install(crypto.Keyring(settings.data_keys, settings.hash_key))


def test_check_keys_names_a_missing_version_a_wrong_key_and_a_wrong_hash_key(
    db: Database, settings: Settings
) -> None:
    with db.session() as session:
        counselor = make_user(session, phone="+15555550100")
        make_contact(session, counselor, make_call(session, number=NUMBER), notes=NOTE)
    with db.session() as session:
        check = check_keys(session)
    assert check.ok and check.opened == {1: 3} and check.hashes_checked == 1

    try:
        for keys, hash_key, said in [
                ({2: b"\x05" * 32}, settings.hash_key, "key version 1, which HELPLINE_DATA_KEYS"),
                ({1: b"\x05" * 32}, settings.hash_key, "do not open with the configured key"),
                (settings.data_keys, b"\x06" * 32, "1 of 1 calls have a caller hash")]:
            crypto.install(crypto.Keyring(keys, hash_key))
            with db.session() as session:
                check = check_keys(session)
            assert not check.ok
            assert any(said in problem for problem in check.problems()), check.problems()
    finally:
        crypto.install(crypto.Keyring(settings.data_keys, settings.hash_key))
