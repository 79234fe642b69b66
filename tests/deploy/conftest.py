"""The deployment tests' world: a PostgreSQL database of the test's own (the schedulers elect
one active with an advisory lock, which SQLite has not), with an available counselor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.rig import require_tools
from tests.faults.rig import seed_counselor
from tests.fixtures.database import TemplateDatabase


@pytest.fixture
def deploy_database(template_db: TemplateDatabase, tmp_path: Path) -> Iterator[str]:
    require_tools()
    url = template_db.new_url(tmp_path)
    seed_counselor(url)
    yield url
    template_db.drop(url)
