"""The fault tests' world: each test on SQLite (a file of its own) and on PostgreSQL (a
database of its own behind a TCP proxy), with `helpline serve` as a real process."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpline import migrate
from helpline.db import Database
from tests.faults.rig import (
    FaultyDatabase,
    PostgresBehindProxy,
    ServerProcess,
    SqliteFile,
    Twilio,
    copy_sqlite,
    seed_counselor,
)
from tests.fixtures.database import TemplateDatabase


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (also in the PostgreSQL pass)."""
    path = tmp_path_factory.mktemp("faults-template") / "template.db"
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    db.dispose()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def faulty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FaultyDatabase]:
    database: FaultyDatabase
    if request.param == "sqlite":
        database = SqliteFile(copy_sqlite(request.getfixturevalue("sqlite_template"), tmp_path))
        dropped = None
    else:
        template: TemplateDatabase = request.getfixturevalue("template_db")
        direct = template.new_url(tmp_path)
        database = PostgresBehindProxy(direct)
        dropped = (template, direct)
    seed_counselor(database.check_url)
    yield database
    database.up()
    database.close()
    if dropped is not None:
        template, direct = dropped
        template.drop(direct)


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def server(tmp_path: Path, faulty_db: FaultyDatabase, spool_dir: Path) -> Iterator[ServerProcess]:
    """`helpline serve`, started; stopped (or killed) at the end."""
    process = ServerProcess(tmp_path, faulty_db.server_url, spool_dir)
    process.start()
    yield process
    process.stop()


@pytest.fixture
def twilio(server: ServerProcess) -> Twilio:
    return Twilio(server.base)


@pytest.fixture
def full_disk_spool(tmp_path: Path) -> Iterator[Path]:
    """A spool folder on a 512 KiB tmpfs, for the test to fill. Needs mount (root here and
    in CI); skipped with the reason otherwise, unless HELPLINE_TEST_REQUIRE_FAULTS=1."""
    folder = tmp_path / "spool"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs",
                              str(folder)], capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        reason = ("the disk-full test mounts a small tmpfs, which is not permitted here: "
                  f"{(mounted.stderr or mounted.stdout).strip()}")
        if os.environ.get("HELPLINE_TEST_REQUIRE_FAULTS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    yield folder
    unmounted = subprocess.run(["umount", str(folder)], capture_output=True, check=False)
    if unmounted.returncode != 0:
        # Still busy (a process of the test outlived it): detach it now, freed when unused.
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)

