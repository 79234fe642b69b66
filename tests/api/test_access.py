"""Who may read the API and how often: API_ACCESS, tokens (hashed, revocable), the report
figures (a token always, aggregates only), and the rate limit per client address."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline import api_limits
from helpline.app import create_app
from helpline.config import Settings, settings_for_tests
from helpline.models import ApiToken, AuditEvent, Call
from helpline.staff import api_tokens
from tests.fixtures.cli import CliInvoker


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_token(session: Session, name: str = "county dashboard") -> str:
    _row, token = api_tokens.create_token(session, name, by="test")
    session.commit()
    return token


@pytest.fixture
def app_with(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    """An app on the test's database with some settings changed."""
    made: list[Flask] = []

    def make(**overrides: object) -> Flask:
        app = create_app(settings_for_tests(tmp_path, database_url=database_url, **overrides))
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["helpline"].db.dispose()


def test_the_directory_is_public_by_default(api: FlaskClient) -> None:
    assert api.get("/api/hsds/services").status_code == 200


def test_with_api_access_token_the_directory_needs_a_live_token(app_with, session: Session
                                                                ) -> None:
    client = app_with(api_access="token", api_requests_per_minute=0).test_client()
    refused = client.get("/api/hsds/services")
    assert refused.status_code == 401 and refused.is_json
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/hsds/services", headers=bearer("hlapi_wrong")).status_code == 401
    token = make_token(session)
    assert client.get("/api/hsds/services", headers=bearer(token)).status_code == 200
    # The document that describes the API stays open.
    assert client.get("/api/openapi.json").status_code == 200


def test_a_revoked_token_stops_working_at_once(app_with, session: Session) -> None:
    client = app_with(api_access="token", api_requests_per_minute=0).test_client()
    token = make_token(session)
    assert client.get("/api/hsds/", headers=bearer(token)).status_code == 200
    row = session.scalars(select(ApiToken)).one()
    api_tokens.revoke_token(session, row.id, by="test")
    session.commit()
    assert client.get("/api/hsds/", headers=bearer(token)).status_code == 401


def test_a_token_is_kept_only_as_its_hash(session: Session) -> None:
    token = make_token(session)
    row = session.scalars(select(ApiToken)).one()
    assert token not in (row.token_hash, row.prefix) and len(row.token_hash) == 64
    assert token.startswith(row.prefix)
    assert api_tokens.authenticate(session, token) is not None
    actions = set(session.scalars(select(AuditEvent.action)))
    assert "api_token.create" in actions


def test_token_names_are_unique_and_sane(session: Session) -> None:
    make_token(session, "county")
    with pytest.raises(api_tokens.ApiTokenError):
        api_tokens.create_token(session, "county", by="test")
    with pytest.raises(api_tokens.ApiTokenError):
        api_tokens.create_token(session, "  ", by="test")


def test_report_figures_need_a_token_even_when_the_directory_is_public(
        api: FlaskClient, session: Session) -> None:
    assert api.get("/api/reports?year=2026").status_code == 401
    token = make_token(session)
    body = api.get("/api/reports?year=2026&month=2", headers=bearer(token)).get_json()
    assert (body["start"], body["end"]) == ("2026-02-01", "2026-02-28")
    assert {t["key"] for t in body["tables"]} >= {"summary", "hour", "outcome", "risk"}


def test_report_figures_are_aggregates_without_a_caller_or_counselor(
        api: FlaskClient, session: Session) -> None:
    session.add(Call(call_sid="CA" + "5" * 32, caller_hash="h" * 64,
                     started_at=dt.datetime(2026, 3, 3, 15, tzinfo=dt.UTC),
                     language="es", need="substance_use", outcome="answered",
                     queue_name="spanish"))
    session.commit()
    text = api.get("/api/reports?year=2026&month=3", headers=bearer(make_token(session))
                   ).get_data(as_text=True)
    summary = next(t for t in json.loads(text)["tables"] if t["key"] == "summary")
    assert ["Calls", 1] in summary["rows"]
    for secret in ("CA555", "h" * 16, "caller_hash", "note"):
        assert secret not in text


def test_the_limit_answers_429_with_retry_after(app_with) -> None:
    client = app_with(api_requests_per_minute=3).test_client()
    answers = [client.get("/api/hsds/") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60
    assert answers[-1].get_json()["error"] == "rate_limited"


def test_the_limit_is_per_client_address_behind_the_trusted_proxy(app_with) -> None:
    client = app_with(api_requests_per_minute=2, trusted_proxy_count=1).test_client()

    def from_address(address: str) -> int:
        return client.get("/api/hsds/", headers={"X-Forwarded-For": address}).status_code

    assert [from_address("203.0.113.7") for _ in range(3)] == [200, 200, 429]
    assert from_address("198.51.100.4") == 200  # another client has its own count


def test_the_count_starts_again_each_minute(session: Session, settings: Settings) -> None:
    limited = settings.with_overrides(api_requests_per_minute=1)
    minute = dt.datetime(2026, 5, 1, 12, 0, 10, tzinfo=dt.UTC)
    assert api_limits.take_request(session, limited, "192.0.2.1", now=minute) is None
    assert api_limits.take_request(session, limited, "192.0.2.1",
                                   now=minute + dt.timedelta(seconds=20)) == 30
    assert api_limits.take_request(session, limited, "192.0.2.1",
                                   now=minute + dt.timedelta(minutes=1)) is None


def test_the_cli_creates_lists_and_revokes_tokens(run_cli: CliInvoker, session: Session) -> None:
    made = run_cli("api-token", "create", "--name", "state funder")
    assert made.exit_code == 0, made.output
    token = made.output.strip().splitlines()[-1]
    assert api_tokens.authenticate(session, token) is not None
    listed = run_cli("api-token", "list")
    assert "state funder" in listed.output and token not in listed.output
    revoked = run_cli("api-token", "revoke", "state funder")
    assert revoked.exit_code == 0, revoked.output
    session.expire_all()
    assert api_tokens.authenticate(session, token) is None
    assert run_cli("api-token", "revoke", "nobody").exit_code != 0


def test_the_api_settings_are_checked(tmp_path: Path) -> None:
    from helpline.config import ConfigError, load_settings

    def load(**values: str) -> Settings:
        return load_settings({"HELPLINE_INSTANCE_DIR": str(tmp_path), **values}, env_file=None)

    settings = load(API_ACCESS="TOKEN", API_REQUESTS_PER_MINUTE="0")
    assert (settings.api_access, settings.api_requests_per_minute) == ("token", 0)
    assert load().api_access == "public"
    with pytest.raises(ConfigError, match="API_ACCESS"):
        load(API_ACCESS="open")
    with pytest.raises(ConfigError, match="API_REQUESTS_PER_MINUTE"):
        load(API_REQUESTS_PER_MINUTE="-1")
