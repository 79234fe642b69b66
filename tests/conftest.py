"""Fixtures: each test gets its own migrated database (SQLite by default, PostgreSQL when
DATABASE_URL names one), an app built from its own settings, and helpers for signed Twilio
requests, signed-in staff and the CLI."""

from __future__ import annotations

import itertools
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from helpline import crypto, migrate
from helpline.app import create_app
from helpline.app.cli import cli
from helpline.app.cli_context import CliContext
from helpline.calls import journal
from helpline.config import Settings, settings_for_tests
from helpline.db import Database

# Tests never reach Twilio: these would rewrite the REST host names.
for _name in ("TWILIO_EDGE", "TWILIO_REGION"):
    os.environ.pop(_name, None)

PG_URL = os.environ.get("DATABASE_URL", "")
USE_PG = PG_URL.startswith("postgresql")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `postgres` skip with a reason on SQLite, unless CI demands PostgreSQL."""
    if USE_PG:
        return
    if os.environ.get("HELPLINE_TEST_REQUIRE_POSTGRES") == "1":
        raise pytest.UsageError("HELPLINE_TEST_REQUIRE_POSTGRES=1 but DATABASE_URL is not "
                                "postgresql")
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgresql+psycopg://...")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


class TemplateDatabase:
    """A database migrated once per run; each test gets a fresh copy of it."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.counter = itertools.count()
        self.tag = uuid.uuid4().hex[:8]
        if USE_PG:
            url = make_url(PG_URL)
            if url.drivername == "postgresql":
                url = url.set(drivername="postgresql+psycopg")
            self.admin_url = url
            self.admin = create_engine(url, isolation_level="AUTOCOMMIT")
            self.template_name = f"hl_tpl_{self.tag}"
            with self.admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.template_name}"'))
            self._migrate(url.set(database=self.template_name).render_as_string(False))
        else:
            self.template_file = workdir / "template.db"
            self._migrate(f"sqlite:///{self.template_file}")

    def _migrate(self, url: str) -> None:
        db = Database(url)
        migrate.upgrade(db)
        db.dispose()

    def new_url(self, tmp_path: Path) -> str:
        if USE_PG:
            name = f"hl_t_{self.tag}_{next(self.counter)}"
            with self.admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template_name}"'))
            return self.admin_url.set(database=name).render_as_string(False)
        path = tmp_path / "helpline.db"
        shutil.copyfile(self.template_file, path)
        return f"sqlite:///{path}"

    def drop(self, url: str) -> None:
        if USE_PG:
            name = make_url(url).database
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        if USE_PG:
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.template_name}" WITH (FORCE)'))
            self.admin.dispose()


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemplateDatabase]:
    template = TemplateDatabase(tmp_path_factory.mktemp("template"))
    yield template
    template.close()


@pytest.fixture
def database_url(template_db: TemplateDatabase, tmp_path: Path) -> Iterator[str]:
    url = template_db.new_url(tmp_path)
    yield url
    template_db.drop(url)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return settings_for_tests(tmp_path, database_url=database_url)


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings)
    yield app
    journal.settle(app.extensions["helpline"].db)
    app.extensions["helpline"].db.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def db(app: Flask) -> Database:
    return app.extensions["helpline"].db


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    with db.sessions() as s:
        yield s


@pytest.fixture
def keyring(settings: Settings) -> crypto.Keyring:
    ring = crypto.Keyring(settings.data_keys, settings.hash_key)
    crypto.install(ring)
    return ring


class TwilioSigner:
    """Posts form data to a webhook the way Twilio does, with a valid X-Twilio-Signature."""

    def __init__(self, client: FlaskClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.validator = RequestValidator(settings.twilio_auth_token)

    def signature(self, path: str, params: dict[str, str]) -> str:
        return self.validator.compute_signature(self.settings.public_base_url + path, params)

    def post(self, path: str, params: dict[str, str] | None = None, *, forge: bool = False):  # type: ignore[no-untyped-def]
        params = params or {}
        sig = "forged" if forge else self.signature(path, params)
        response = self.client.post(path, data=params, headers={"X-Twilio-Signature": sig})
        # The webhook answered; what it recorded is written a moment later by the journal.
        journal.settle(self.client.application.extensions["helpline"].db)
        return response


@pytest.fixture
def twilio(client: FlaskClient, settings: Settings) -> TwilioSigner:
    return TwilioSigner(client, settings)


class CliInvoker:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None):  # type: ignore[no-untyped-def]
        return self.runner.invoke(cli, list(args), obj=CliContext(self.settings), input=input,
                                  catch_exceptions=False)


@pytest.fixture
def run_cli(settings: Settings) -> CliInvoker:
    return CliInvoker(settings)
