from flask.testing import FlaskClient


def test_healthz_answers_while_the_process_lives(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200


def test_readyz_reports_the_database(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["database"] == "ok"


def test_with_the_database_down_the_ivr_stays_ready_and_the_staff_pages_do_not(
        app, client: FlaskClient, settings) -> None:  # type: ignore[no-untyped-def]
    from helpline.db import Database
    from tests.fixtures.twilio import UNREACHABLE

    runtime = app.extensions["helpline"]
    real, runtime.db = runtime.db, Database(UNREACHABLE)
    try:
        assert client.get("/readyz").status_code == 503
        ivr = client.get("/readyz/ivr")
        assert ivr.status_code == 200
        assert ivr.get_json() == {"status": "ok", "spool": "ok", "database": "unreachable"}
    finally:
        runtime.db.dispose()
        runtime.db = real


def test_the_ivr_is_not_ready_when_neither_the_database_nor_the_spool_can_store(
        app, client: FlaskClient, tmp_path) -> None:  # type: ignore[no-untyped-def]
    runtime = app.extensions["helpline"]
    (tmp_path / "not-a-dir").write_text("")
    settings = runtime.settings
    runtime.settings = settings.with_overrides(spool_dir=tmp_path / "not-a-dir")
    runtime.db.breaker.trip("a test")
    try:
        answer = client.get("/readyz/ivr")
        assert answer.status_code == 503
        assert answer.get_json()["spool"] == "unwritable"
    finally:
        runtime.db.breaker.close()
        runtime.settings = settings
    # The database answering is enough.
    runtime.settings = settings.with_overrides(spool_dir=tmp_path / "not-a-dir")
    try:
        answer = client.get("/readyz/ivr")
        assert answer.status_code == 200 and answer.get_json()["database"] == "ok"
    finally:
        runtime.settings = settings
