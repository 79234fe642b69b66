"""URL converters of the app: what a path variable may hold before a view sees it."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter, Map

from helpline.db import INT_MAX


class RecordIdConverter(IntegerConverter):
    """``<int:...>`` bounded to what an id column holds: a larger number names no row, so the
    route does not match (404) instead of reaching the database, which would refuse it with an
    error (PostgreSQL) or an OverflowError (SQLite beyond 64 bits)."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", INT_MAX)
        super().__init__(map, *args, **kwargs)
