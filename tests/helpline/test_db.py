"""Pooled PostgreSQL connections: pinged only after sitting idle, replaced when found dead."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from helpline import db as db_module
from helpline.db import Database

pytestmark = pytest.mark.postgres


def _pings(database: Database) -> list[int]:
    pings: list[int] = []
    ping = database.engine.dialect.do_ping

    def counted(dbapi_conn: object) -> bool:
        pings.append(1)
        return ping(dbapi_conn)

    database.engine.dialect.do_ping = counted  # type: ignore[method-assign]
    return pings


def test_a_connection_used_a_moment_ago_is_not_pinged_again(database_url: str) -> None:
    database = Database(database_url)
    try:
        pings = _pings(database)
        for _ in range(3):
            with database.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        assert pings == []
    finally:
        database.dispose()


def test_a_connection_lost_while_idle_is_replaced_before_anyone_uses_it(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    database = Database(database_url)
    admin = Database(database_url)
    try:
        with database.engine.connect() as conn:
            lost = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with admin.engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": lost})
        monkeypatch.setattr(db_module, "IDLE_PING_SECONDS", 0.0)  # it has now sat idle
        with database.engine.connect() as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != lost
    finally:
        database.dispose()
        admin.dispose()
