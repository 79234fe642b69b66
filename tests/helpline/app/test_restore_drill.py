"""The restore drill of docs/operations.md, on PostgreSQL: dump the database, restore it into a
new one, and bring it back with the keys from their own backup. The audit chain verifies, a
note opens (its read audited), and without the keys, or with others, the command says so."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from dotenv import dotenv_values
from sqlalchemy import create_engine, make_url, select, text

from helpline import audit, crypto
from helpline.config import Settings, parse_data_keys
from helpline.db import Database
from helpline.models import Contact, Role
from tests.factories import make_call, make_contact, make_user

pytestmark = pytest.mark.postgres

HELPLINE = str(Path(sys.executable).parent / "helpline")
NOTE = "Restored note: caller's brother asked about naloxone"


def crypto_b64(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


def helpline(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HELPLINE, *args], env=env, capture_output=True, text=True,
                          timeout=120)


def base_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    """A production-like environment with no keys: they come from the key backup."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HELPLINE_", "AUDIT_", "DATABASE_URL", "SECRET_KEY"))}
    env.update(HELPLINE_ENV="production", DATABASE_URL=database_url,
               SECRET_KEY="restore-drill-secret-" + "s" * 32,
               TWILIO_AUTH_TOKEN="0123456789abcdef0123456789abcdef",
               PUBLIC_BASE_URL="https://helpline.example.org", HELPLINE_TELEPHONY="outbox",
               HELPLINE_INSTANCE_DIR=str(tmp_path / "instance"),
               AUDIT_CHECKPOINT_FILE=str(tmp_path / "checkpoints.log"))
    return env


@pytest.fixture
def restored_url(database_url: str) -> Iterator[str]:
    url = make_url(database_url)
    name = f"{url.database}_restored"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def libpq(url: str) -> str:
    """The URL as pg_dump and pg_restore take it (no SQLAlchemy driver name)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def test_dump_restore_and_the_keys_from_their_own_backup(
        tmp_path: Path, settings: Settings, database_url: str, restored_url: str) -> None:
    # The key backup, kept apart from the database dump (here: another folder).
    keys = tmp_path / "key-backup" / "helpline-keys.env"
    keys.parent.mkdir()
    keys.write_text("HELPLINE_DATA_KEYS=" + ",".join(
        f"{v}:{crypto_b64(k)}" for v, k in settings.data_keys.items())
        + f"\nHELPLINE_HASH_KEY={crypto_b64(settings.hash_key)}\n")

    # A note written, and read once (audited), then a signed checkpoint of the audit chain.
    crypto.install(crypto.Keyring(settings.data_keys, settings.hash_key))
    db = Database(database_url)
    with db.session() as session:
        counselor = make_user(session, role=Role.COUNSELOR)
        contact = make_contact(session, counselor, make_call(session, number="+15555550123"),
                               notes=NOTE)
        audit.record(session, "drill.seeded", actor="test", detail={"contact": contact.id})
    db.dispose()
    env = base_env(tmp_path, database_url)
    env.update({k: v for k, v in dotenv_values(keys).items() if v})
    checkpoint = helpline(env, "audit", "checkpoint")
    assert checkpoint.returncode == 0, checkpoint.stderr

    # Back up and restore as docs/operations.md says.
    dump = tmp_path / "helpline.dump"
    subprocess.run(["pg_dump", "--format=custom", "--no-owner", f"--file={dump}",
                    libpq(database_url)], check=True, timeout=120)
    subprocess.run(["pg_restore", "--no-owner", "--exit-on-error",
                    f"--dbname={libpq(restored_url)}", str(dump)], check=True, timeout=120)

    restored = base_env(tmp_path, restored_url)
    with_keys = {**restored, **{k: v for k, v in dotenv_values(keys).items() if v}}
    verified = helpline(with_keys, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    checked = helpline(with_keys, "check-keys")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 of 1 caller hashes match" in checked.stdout

    # A note opens with the keys from the backup, through the audited read.
    crypto.install(crypto.Keyring(parse_data_keys(with_keys["HELPLINE_DATA_KEYS"]),
                                  settings.hash_key))
    db = Database(restored_url)
    try:
        with db.session() as session:
            reader = make_user(session, role=Role.SUPERVISOR)
            contact_id = session.scalar(select(Contact.id))
            opened = audit.read_sealed(session, reader, Contact.notes, Contact.id == contact_id,
                                       allowed=True, action="contact.view",
                                       record_type="contact", record_id=contact_id,
                                       address=None)
        assert opened == NOTE
    finally:
        db.dispose()
        crypto.install(crypto.Keyring(settings.data_keys, settings.hash_key))

    # Without the key backup: refused at once, naming what is missing.
    missing = helpline(restored, "check-keys")
    assert missing.returncode != 0
    assert "HELPLINE_DATA_KEYS: required in production and not set" in missing.stderr
    # With keys made afresh (the backup lost): every sealed value is named as unopenable.
    fresh = {**restored, "HELPLINE_DATA_KEYS": "2:" + crypto_b64(b"\x07" * 32),
             "HELPLINE_HASH_KEY": crypto_b64(b"\x08" * 32)}
    wrong = helpline(fresh, "check-keys")
    assert wrong.returncode == 1, wrong.stdout + wrong.stderr
    assert "sealed with key version 1, which HELPLINE_DATA_KEYS does not hold" in wrong.stderr
    assert "restore HELPLINE_DATA_KEYS and HELPLINE_HASH_KEY from the key backup" in wrong.stderr
