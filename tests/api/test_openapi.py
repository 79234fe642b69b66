"""The API against its own OpenAPI document (generated from the code), with schemathesis on
the Flask app through WSGI: no answer is a server error, every answer matches the document
(status, content type, schema, headers), and requests that break the document are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from helpline.app import create_app
from helpline.config import settings_for_tests
from helpline.db import Database
from helpline.staff import api_tokens
from tests.api.conftest import DATA, make_directory
from tests.fixtures.cli import CliInvoker


@pytest.fixture
def api_app(tmp_path: Path, database_url: str) -> Flask:
    """The app on a directory of our own centers, SAMHSA rows and an HSDS network."""
    settings = settings_for_tests(tmp_path, database_url=database_url,
                                  api_requests_per_minute=0)
    app = create_app(settings)
    db: Database = app.extensions["helpline"].db
    with db.sessions() as session:
        make_directory(session)
        _row, token = api_tokens.create_token(session, "schemathesis", by="test")
        session.commit()
    for source in ("samhsa_envelope.json", "hsds_network"):
        assert CliInvoker(settings)("directory", "import", str(DATA / source)).exit_code == 0
    app.config["API_TEST_TOKEN"] = token
    return app


# schemathesis' own pytest loader (from_fixture) reads a pytest internal that pytest 9 no longer
# has: the cases are drawn with hypothesis here, operation by operation, both valid requests
# and requests that break the document.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_keeps_to_its_openapi_document(api_app: Flask, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", api_app)
    headers = {"Authorization": f"Bearer {api_app.config['API_TEST_TOKEN']}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 8

    for operation in operations:
        if mode == GenerationMode.NEGATIVE and not list(operation.query):
            continue  # a path's string id cannot be made to break its schema in a URL

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=25, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def keeps_to_the_document(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers)

        keeps_to_the_document()


def test_the_document_is_openapi_3_and_names_the_reference_paths(api_app: Flask) -> None:
    document = api_app.test_client().get("/api/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    assert {"/api/hsds/", "/api/hsds/services", "/api/hsds/services/{id}",
            "/api/hsds/organizations", "/api/hsds/organizations/{id}",
            "/api/hsds/service_at_locations", "/api/hsds/service_at_locations/{id}",
            "/api/reports"} == set(document["paths"])
    sal = document["paths"]["/api/hsds/service_at_locations"]["get"]
    assert {"postcode", "proximity", "page", "per_page", "search"} <= {
        p["name"] for p in sal["parameters"]}
    page = document["components"]["schemas"]["ServicePage"]
    assert {"total_items", "total_pages", "page_number", "size", "first_page", "last_page",
            "empty", "contents"} == set(page["properties"])
