"""Dashboard at scale: the call-history list (filtered by date and need) and the record page,
with 1,000,000 generated calls and their records, on SQLite and (when reachable) PostgreSQL.

Pages are measured through the real app (sign-in gate, audit of the record view, templates),
so the figures are what a supervisor waits for, minus the network. Target: p95 under 100 ms.
`python -m bench dashboard`; HELPLINE_BENCH_CALLS (passed as an argument to main) shrinks it.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bench._databases import pg_reachable, postgres_url, sqlite_url

CALLS = 1_000_000
SAMPLES = 200
NEEDS = ("self", "loved_one", "treatment", "groups", "resources", "crisis")
OUTCOMES = ("information", "referred", "support", "crisis_transfer", "other")
SUBSTANCES = ('["opioids"]', '["alcohol"]', '["opioids", "stimulants"]', '["cannabis"]', "[]")
START = dt.datetime(2025, 1, 1)


def _rows(n: int, counselor_ids: list[int], sealed_notes: list[str], sealed_number: str,
          hash_for: Callable[[int], str]) -> Iterator[tuple[tuple, tuple]]:
    rng = random.Random(7)
    for i in range(1, n + 1):
        started = START + dt.timedelta(seconds=i * 31_536_000 // n)
        need = rng.choice(NEEDS)
        lang = "es" if rng.random() < 0.2 else "en"
        counselor = rng.choice(counselor_ids)
        caller = hash_for(rng.randrange(n // 5 or 1))
        wait = rng.randrange(0, 900)
        call = (i, f"CA{i:032d}", "inbound", caller, sealed_number, lang, need,
                f"{need}-{lang}", 0, "10001", "completed", "answered", started, started,
                started, started + dt.timedelta(minutes=20), wait, 1100, counselor, 10)
        contact = (i, i, counselor, caller, need, lang, wait, "self", rng.choice(SUBSTANCES),
                   rng.choice(("none", "low", "moderate")), "none", "26_40", "NY", "10001",
                   "medicaid", rng.choice(OUTCOMES), "[]", rng.choice(sealed_notes),
                   "closed", started, started, started)
        yield call, contact


CALL_COLS = ("id, call_sid, direction, caller_hash, caller_number, language, need, queue_name, "
             "priority, zip_code, status, outcome, started_at, enqueued_at, answered_at, "
             "ended_at, wait_seconds, talk_seconds, counselor_id, last_sequence")
CONTACT_COLS = ("id, call_id, counselor_id, caller_hash, need, language, wait_seconds, "
                "caller_type, substances, suicide_risk, overdose_risk, age_range, state, "
                "zip_code, insurance, outcome, crisis_steps, notes, status, "
                "created_at, updated_at, closed_at")


def _load(db, rows: Iterator[tuple[tuple, tuple]]) -> None:  # type: ignore[no-untyped-def]
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        if db.is_sqlite:
            ph_call = ",".join("?" * 20)
            ph_contact = ",".join("?" * 22)
            batch_calls, batch_contacts = [], []
            for call, contact in rows:
                batch_calls.append(call)
                batch_contacts.append(contact)
                if len(batch_calls) == 50_000:
                    cur.executemany(f"INSERT INTO calls ({CALL_COLS}) VALUES ({ph_call})",
                                    batch_calls)
                    cur.executemany(f"INSERT INTO contacts ({CONTACT_COLS}) VALUES "
                                    f"({ph_contact})", batch_contacts)
                    batch_calls, batch_contacts = [], []
            if batch_calls:
                cur.executemany(f"INSERT INTO calls ({CALL_COLS}) VALUES ({ph_call})", batch_calls)
                cur.executemany(f"INSERT INTO contacts ({CONTACT_COLS}) VALUES ({ph_contact})",
                                batch_contacts)
        else:
            contacts_buffer = []
            with cur.copy(f"COPY calls ({CALL_COLS}) FROM STDIN") as copy:
                for call, contact in rows:
                    copy.write_row(call)
                    contacts_buffer.append(contact)
            with cur.copy(f"COPY contacts ({CONTACT_COLS}) FROM STDIN") as copy:
                for contact in contacts_buffer:
                    copy.write_row(contact)
            cur.execute("SELECT setval('calls_id_seq', (SELECT max(id) FROM calls))")
            cur.execute("SELECT setval('contacts_id_seq', (SELECT max(id) FROM contacts))")
            cur.execute("ANALYZE")
        raw.commit()
        if db.is_sqlite:
            cur.execute("ANALYZE")
            raw.commit()
    finally:
        raw.close()


def _percentiles(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[int(len(ms) * 0.95) - 1]
    return (f"p50 {statistics.median(ms):6.1f} ms  p95 {p95:6.1f} ms  "
            f"{'OK' if p95 < 100 else 'OVER the 100 ms target'}")


def run(database_url: str, label: str, calls: int, workdir: Path) -> None:
    import pyotp

    from helpline import migrate
    from helpline.app import create_app
    from helpline.config import settings_for_tests
    from helpline.crypto import caller_hash
    from helpline.db import Database
    from helpline.models import User
    from tests.factories import PASSWORD, make_user

    settings = settings_for_tests(workdir, database_url=database_url, log_level="WARNING")
    db = Database(database_url)
    migrate.upgrade(db)
    app = create_app(settings)
    secret = pyotp.random_base32()
    with db.session() as s:
        counselors = [make_user(s, "counselor").id for _ in range(40)]
        supervisor = make_user(s, "supervisor", totp_secret=secret, totp_enabled=True)
        username = supervisor.username
        from helpline import crypto

        ring = crypto.active()
        sealed_notes = [ring.encrypt(f"generated note {i} " * 20, "contacts.notes")
                        for i in range(50)]
        sealed_number = ring.encrypt("+15555550111", "calls.caller_number")
    hashes: dict[int, str] = {}

    def hash_for(k: int) -> str:
        if k not in hashes:
            hashes[k] = caller_hash(f"+1555{k:07d}") or ""
        return hashes[k]

    started = time.perf_counter()
    _load(db, _rows(calls, counselors, sealed_notes, sealed_number, hash_for))
    print(f"{label}: generated {calls:,} calls and records in "
          f"{time.perf_counter() - started:.1f} s")

    client = app.test_client()
    client.get("/sign-in")
    with client.session_transaction() as sess:
        token = sess["csrf_token"]
    client.post("/sign-in", data={"username": username, "password": PASSWORD,
                                  "csrf_token": token})
    with client.session_transaction() as sess:
        token = sess["csrf_token"]
    resp = client.post("/sign-in/second-factor",
                       data={"code": pyotp.TOTP(secret).now(), "csrf_token": token})
    assert resp.status_code == 302, "bench sign-in failed"
    rng = random.Random(11)

    def timed(path: str) -> float:
        t0 = time.perf_counter()
        r = client.get(path)
        elapsed = time.perf_counter() - t0
        assert r.status_code == 200, (path, r.status_code)
        return elapsed

    history, record = [], []
    for _ in range(SAMPLES):
        day = (START + dt.timedelta(days=rng.randrange(358))).date()
        history.append(timed(f"/history?from={day}&to={day + dt.timedelta(days=7)}"
                             f"&need={rng.choice(NEEDS)}"))
        record.append(timed(f"/records/{rng.randrange(1, calls + 1)}"))
    print(f"{label}: history, a week filtered by need (50 rows): {_percentiles(history)}")
    print(f"{label}: record page (notes read + audited):       {_percentiles(record)}")
    with db.sessions() as s:
        assert s.get(User, counselors[0]) is not None
    app.extensions["helpline"].db.dispose()
    db.dispose()


def main(calls: int = CALLS) -> None:
    with sqlite_url() as url, tempfile.TemporaryDirectory() as tmp:
        run(url, "SQLite", calls, Path(tmp))
    if pg_reachable():
        with postgres_url() as url, tempfile.TemporaryDirectory() as tmp:
            run(url, "PostgreSQL", calls, Path(tmp))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else CALLS)
