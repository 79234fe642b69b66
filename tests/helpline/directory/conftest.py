"""Directory services need a database, not the web app: build the session straight on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from helpline.db import Database


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()
