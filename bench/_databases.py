"""Where the benchmarks run: a fresh SQLite file, and this machine's PostgreSQL when it answers.

Each PostgreSQL run gets a database of its own, made from the admin URL and dropped after.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def sqlite_url(name: str = "bench.db") -> Iterator[str]:
    """The URL of a SQLite file in a temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{Path(tmp) / name}"


def pg_reachable() -> bool:
    """True when the PostgreSQL server answers; otherwise says so (the run is skipped)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except OperationalError:
        print(f"PostgreSQL: not reachable at {PG_ADMIN_URL}; skipped")
        return False


@contextmanager
def postgres_url(prefix: str = "hl_bench") -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards."""
    from sqlalchemy import create_engine, make_url, text

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
