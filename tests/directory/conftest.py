"""Directory tests need a database, not the web app: build the session straight on it. The
directory's pages are tested here too, with the dashboard's signed-in staff."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from helpline.db import Database
from tests.dashboard.conftest import (  # noqa: F401  (fixtures)
    admin,
    counselor,
    staff_factory,
    supervisor,
)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()
