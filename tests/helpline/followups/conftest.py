"""Follow-up services need no web app: the database alone, with the keyring installed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from helpline import crypto
from helpline.config import Settings
from helpline.db import Database


@pytest.fixture
def db(settings: Settings, keyring: crypto.Keyring) -> Iterator[Database]:
    database = Database(settings.database_url)
    yield database
    database.dispose()
