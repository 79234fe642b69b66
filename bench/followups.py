"""Follow-up delivery at scale: 10,000 SMS check-ins due in the same minute, delivered through
the outbox, on SQLite and (when reachable) PostgreSQL, where two schedulers race.

Each scheduler is a process of its own (its own engine and connections), running the same
service the scheduler's job runs, ``deliver_due_followups``, until nothing is due. The figures:
the time until every follow-up is delivered, and the proof that none went twice: outbox rows
per follow-up (all exactly 1), provider ids (all distinct, one per attempt), and each
follow-up's single attempt. Target: all within 60 seconds.

`python -m bench followups`; `python -m bench.followups 2000` delivers fewer.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._databases import pg_reachable, postgres_url, sqlite_url

FOLLOWUPS = 10_000
TARGET_SECONDS = 60.0
# 15:00 UTC on a Tuesday: daytime in every US zone the generated callers live in.
DUE = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)
ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")


def _settings(database_url: str, workdir: Path) -> Any:
    from helpline.config import settings_for_tests

    return settings_for_tests(workdir, database_url=database_url, log_level="WARNING")


def _install_keys(settings: Any) -> None:
    from helpline import crypto

    crypto.install(crypto.Keyring(settings.data_keys, settings.hash_key))


def _seed(db: Any, n: int) -> None:
    """n consented SMS check-ins, all due in the same minute (seconds apart)."""
    from sqlalchemy import insert, text

    from helpline import crypto
    from helpline.models import Consent
    from helpline.models.followups import FollowUp, FollowUpState

    wording = "May we text you a short check-in at this number? - Yes."
    with db.session() as s:
        numbers = [f"+1555{i:07d}" for i in range(n)]
        hashes = [crypto.caller_hash(number) for number in numbers]
        s.execute(insert(Consent), [
            dict(id=i + 1, caller_hash=hashes[i], phone=numbers[i], scope="sms",
                 purpose="followup", information=["followup_contact"],
                 wording=wording, recorded_via="counselor", recorded_at=DUE)
            for i in range(n)])
        s.execute(insert(FollowUp), [
            dict(id=i + 1, consent_id=i + 1, caller_hash=hashes[i], phone=numbers[i],
                 kind="sms_checkin", channel="sms", source="counselor",
                 state=FollowUpState.SCHEDULED, timezone=ZONES[i % len(ZONES)],
                 due_at=DUE + dt.timedelta(seconds=i % 60), queued_since=DUE,
                 max_attempts=3, created_at=DUE, updated_at=DUE)
            for i in range(n)])
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            for sequence in ("followups_id_seq", "consents_id_seq"):
                conn.execute(text("SELECT setval(:s, :n)"), {"s": sequence, "n": n})
            conn.exec_driver_sql("ANALYZE")


def _scheduler(database_url: str, workdir: str, start: Any, results: Any) -> None:
    """One scheduler process: deliver what is due until nothing is left."""
    from helpline.db import Database
    from helpline.followups.delivery import deliver_due_followups
    from helpline.telephony import OutboxTelephony

    settings = _settings(database_url, Path(workdir))
    _install_keys(settings)
    db = Database(database_url)
    telephony = OutboxTelephony(settings)
    now = DUE + dt.timedelta(minutes=1)
    delivered = lost = runs = 0
    start.wait()
    t0 = time.perf_counter()
    while True:
        report = deliver_due_followups(db, telephony, settings, now=now)
        runs += 1
        delivered += len(report.delivered)
        lost += report.lost_race
        if not report.delivered and not report.lost_race:
            break
    results.put((delivered, lost, runs, time.perf_counter() - t0))
    db.dispose()


def _proof(db: Any, n: int) -> tuple[bool, str]:
    from sqlalchemy import func, select

    from helpline.models import Disclosure, OutboxMessage
    from helpline.models.followups import FollowUp, FollowUpAttempt

    with db.sessions() as s:
        per_followup = s.execute(
            select(FollowUpAttempt.followup_id, func.count(OutboxMessage.id))
            .join(OutboxMessage, OutboxMessage.id == FollowUpAttempt.outbox_id)
            .group_by(FollowUpAttempt.followup_id)).all()
        outbox_rows = s.scalar(select(func.count(OutboxMessage.id)))
        distinct_sids = s.scalar(select(func.count(func.distinct(OutboxMessage.provider_sid))))
        attempts = s.scalar(select(func.count(FollowUpAttempt.id)))
        attempt_sids = s.scalar(select(func.count(func.distinct(FollowUpAttempt.provider_sid))))
        states = dict(s.execute(select(FollowUp.state, func.count()).group_by(FollowUp.state))
                      .all())
        # Each text is a disclosure resting on its consent: logged once too.
        disclosures = s.scalar(select(func.count(Disclosure.id)))
        disclosed = s.scalar(select(func.count(func.distinct(Disclosure.followup_id))))
    counts = [c for _, c in per_followup]
    once = (len(per_followup) == n and set(counts) == {1} and outbox_rows == n
            and distinct_sids == n and attempts == n and attempt_sids == n
            and states == {"done": n} and disclosures == disclosed == n)
    text = (f"follow-ups with an outbox row {len(per_followup):,}/{n:,}; outbox rows per "
            f"follow-up: max {max(counts, default=0)}, min {min(counts, default=0)}; "
            f"outbox rows {outbox_rows:,}, distinct provider ids {distinct_sids:,}; "
            f"attempts {attempts:,} (distinct provider ids {attempt_sids:,}); disclosures "
            f"logged {disclosures:,} for {disclosed:,} follow-ups; states {states}")
    return once, text


def run(database_url: str, label: str, n: int, schedulers: int, workdir: Path) -> None:
    from helpline import migrate
    from helpline.db import Database

    settings = _settings(database_url, workdir)
    _install_keys(settings)
    db = Database(database_url)
    migrate.upgrade(db)
    _seed(db, n)
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    results = ctx.Queue()
    procs = [ctx.Process(target=_scheduler, args=(database_url, str(workdir), start, results))
             for _ in range(schedulers)]
    for p in procs:
        p.start()
    time.sleep(2.0)  # let every process import and connect before the race starts
    t0 = time.perf_counter()
    start.set()
    outcomes = [results.get() for _ in procs]
    elapsed = time.perf_counter() - t0
    for p in procs:
        p.join()
    once, proof = _proof(db, n)
    db.dispose()
    verdict = "OK" if elapsed <= TARGET_SECONDS else f"OVER the {TARGET_SECONDS:.0f} s target"
    print(f"{label}: {n:,} follow-ups due in one minute, {schedulers} scheduler(s): delivered "
          f"in {elapsed:.1f} s ({n / elapsed:,.0f}/s)  {verdict}")
    for i, (delivered, lost, runs, took) in enumerate(outcomes, 1):
        print(f"{label}:   scheduler {i}: delivered {delivered:,}, lost the race for "
              f"{lost:,}, {runs} run(s), {took:.1f} s")
    print(f"{label}: {'each delivered exactly once' if once else 'NOT EXACTLY ONCE'}: {proof}")


def main(n: int = FOLLOWUPS) -> None:
    for schedulers in (1, 2):
        with sqlite_url() as url, tempfile.TemporaryDirectory() as tmp:
            run(url, "SQLite", n, schedulers, Path(tmp))
    if pg_reachable():
        with postgres_url() as url, tempfile.TemporaryDirectory() as tmp:
            run(url, "PostgreSQL", n, 2, Path(tmp))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else FOLLOWUPS)
