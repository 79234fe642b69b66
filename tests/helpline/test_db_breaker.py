"""The breaker opens when a webhook's database work fails, not when a background task's does:
a routing pass that runs past its time says nothing about whether the IVR's writes would."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from helpline.db import Database, within

SLOW = {
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
              "WHERE i < 100000000) SELECT count(*) FROM n",
    "postgresql": "SELECT pg_sleep(5)",
}


def _run_slow(db: Database, *, trips_breaker: bool) -> None:
    with pytest.raises(SQLAlchemyError), within(0.3, trips_breaker=trips_breaker), \
            db.sessions() as session:
        session.execute(text(SLOW[db.engine.dialect.name]))


def test_a_background_task_past_its_time_leaves_the_breaker_closed(db: Database) -> None:
    _run_slow(db, trips_breaker=False)
    assert not db.breaker.is_open()
    if db.is_sqlite:
        # The same as a webhook's work: interrupted by the watchdog, an outage. (PostgreSQL
        # cancels a statement past its time itself, which is no outage either way.)
        _run_slow(db, trips_breaker=True)
        assert db.breaker.is_open()
        db.breaker.close()
