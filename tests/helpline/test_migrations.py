"""Every schema change is a migration: the migrated database matches the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from helpline import migrate
from helpline.db import Base, Database


def test_migrations_match_the_models(db: Database) -> None:
    assert migrate.is_current(db)
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(ctx, Base.metadata)
    assert diffs == [], "models changed without a migration: " + repr(diffs)[:500]
