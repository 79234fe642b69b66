"""/metrics: a scraper with the token (or from an allowed network) reads the helpline's figures
in Prometheus text format; anyone else finds no such page."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from helpline.config import Settings, settings_for_tests
from helpline.db import Database, utcnow
from helpline.models import OutboxMessage
from helpline.models.followups import SchedulerJobRun, apscheduler_jobs
from tests.factories import make_call, make_user
from tests.fixtures.followups import due_checkins
from tests.fixtures.twilio import UNREACHABLE

TOKEN = "metrics-token-" + "t" * 32
SCRAPER = {"Authorization": f"Bearer {TOKEN}"}
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return settings_for_tests(tmp_path, database_url=database_url, metrics_token=TOKEN,
                              metrics_allow=(ipaddress.ip_network("10.9.0.0/16"),))


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: FlaskClient, **kw: Any) -> Samples:
    response = client.get("/metrics", headers=SCRAPER, **kw)
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_a_scraper_with_the_token_reads_the_floor(client: FlaskClient, session) -> None:  # type: ignore[no-untyped-def]
    make_user(session, status="available")
    make_user(session, status="on_call")
    make_call(session, status="queued", queue_name="general-es",
              enqueued_at=utcnow() - dt.timedelta(seconds=90))
    session.add(OutboxMessage(kind="sms", to_number="+15555550100", from_number="+18005550100",
                              status="refused", provider="outbox", error="over the limit"))
    session.commit()
    due_checkins(session, 2)

    samples = scrape(client)
    assert value(samples, "helpline_database_up") == 1
    assert value(samples, "helpline_database_breaker_open") == 0
    assert value(samples, "helpline_spool_entries") == 0
    assert value(samples, "helpline_counselors", status="available") == 1
    assert value(samples, "helpline_counselors", status="on_call") == 1
    assert value(samples, "helpline_counselors", status="away") == 0
    assert value(samples, "helpline_queue_callers_waiting", queue="general-es") == 1
    assert (value(samples, "helpline_queue_longest_wait_seconds", queue="general-es") or 0) >= 90
    assert value(samples, "helpline_followups_due") == 2
    assert value(samples, "helpline_followups_overdue") == 2  # due last March
    assert value(samples, "helpline_texts_refused") == 1


def test_the_scheduler_shows_its_most_overdue_job_and_each_jobs_last_run(
        client: FlaskClient, session) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    session.execute(apscheduler_jobs.insert(), [
        {"id": "followups.deliver", "next_run_time": now.timestamp() - 120, "job_state": b"-"},
        {"id": "sms.pending", "next_run_time": now.timestamp() + 5, "job_state": b"-"}])
    session.add_all([
        SchedulerJobRun(job_id="followups.deliver", due_at=now - dt.timedelta(seconds=140),
                        finished_at=now - dt.timedelta(seconds=135), ok=True),
        SchedulerJobRun(job_id="sms.pending", due_at=now - dt.timedelta(seconds=5),
                        finished_at=now - dt.timedelta(seconds=4), ok=False)])
    session.commit()

    samples = scrape(client)
    # No scheduler has run the delivery for two minutes: that is what an operator alerts on.
    assert 120 <= (value(samples, "helpline_scheduler_lag_seconds") or 0) < 180
    ended = value(samples, "helpline_scheduler_last_run_timestamp_seconds", job="sms.pending")
    assert ended is not None and abs(ended - (now.timestamp() - 4)) < 1
    assert value(samples, "helpline_scheduler_last_run_late_seconds",
                 job="followups.deliver") == pytest.approx(5, abs=0.01)
    assert value(samples, "helpline_scheduler_last_run_ok", job="followups.deliver") == 1
    assert value(samples, "helpline_scheduler_last_run_ok", job="sms.pending") == 0


def test_no_label_holds_caller_data(client: FlaskClient, phone) -> None:  # type: ignore[no-untyped-def]
    caller = phone("+15555550177")
    caller.call()
    text = client.get("/metrics", headers=SCRAPER).get_data(as_text=True)
    assert "5555550177" not in text and caller.call_sid not in text


def test_a_signed_webhook_is_timed_and_counted_by_route(client: FlaskClient, phone) -> None:  # type: ignore[no-untyped-def]
    # The webhooks' counts belong to the process: earlier tests' webhooks are in them too.
    before = scrape(client)
    answer = phone().call()
    assert answer.status_code == 200
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return (value(after, name, **labels) or 0) - (value(before, name, **labels) or 0)

    assert grew("helpline_webhook_seconds_count", route="ivr.voice") == 1
    assert grew("helpline_webhook_seconds_bucket", route="ivr.voice", le="+Inf") == 1
    assert grew("helpline_webhook_answers_total", route="ivr.voice", status="200") == 1


def test_a_refused_webhook_is_counted_with_its_status(client: FlaskClient, twilio) -> None:  # type: ignore[no-untyped-def]
    before = value(scrape(client), "helpline_webhook_answers_total", route="ivr.voice",
                   status="403") or 0
    assert twilio.post("/ivr/voice", {"CallSid": "CA" + "1" * 32}, forge=True).status_code == 403
    after = value(scrape(client), "helpline_webhook_answers_total", route="ivr.voice",
                  status="403")
    assert after == before + 1


def test_spooled_entries_and_the_open_breaker_show(app: Flask, client: FlaskClient, phone) -> None:  # type: ignore[no-untyped-def]
    db = app.extensions["helpline"].db
    db.breaker.trip("a test")
    try:
        assert phone().call().status_code == 200  # answered from the spool
        samples = scrape(client)
    finally:
        db.breaker.close()
    assert value(samples, "helpline_database_breaker_open") == 1
    assert (value(samples, "helpline_spool_entries") or 0) >= 1
    assert (value(samples, "helpline_spool_oldest_seconds") or -1) >= 0
    # The breaker keeps the scrape off the database too.
    assert value(samples, "helpline_database_up") == 0


def test_a_database_that_does_not_answer_leaves_its_figures_out(
        app: Flask, client: FlaskClient) -> None:
    runtime = app.extensions["helpline"]
    real, runtime.db = runtime.db, Database(UNREACHABLE)
    try:
        samples = scrape(client)
    finally:
        runtime.db.dispose()
        runtime.db = real
    assert value(samples, "helpline_database_up") == 0
    assert value(samples, "helpline_spool_entries") == 0
    assert not any(name.startswith(("helpline_queue", "helpline_counselors", "helpline_followups"))
                   for name, _ in samples)


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer wrong-token-" + "t" * 32},
    {"Authorization": f"Basic {TOKEN}"},
    {"Authorization": TOKEN},
])
def test_without_the_token_metrics_is_not_found(client: FlaskClient,
                                                 headers: dict[str, str]) -> None:
    # Not a redirect to the sign-in page either: nothing says a page is there.
    assert client.get("/metrics", headers=headers).status_code == 404


def test_an_allowed_network_needs_no_token_and_others_are_not_found(
        client: FlaskClient) -> None:
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.9.1.2"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.8.1.2"}).status_code == 404
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 404


def test_behind_a_balancer_the_forwarded_address_decides(tmp_path: Path,
                                                         database_url: str) -> None:
    from helpline.app import create_app

    app = create_app(settings_for_tests(
        tmp_path, database_url=database_url, trusted_proxy_count=1,
        metrics_allow=(ipaddress.ip_network("10.9.0.0/16"),)))
    try:
        client = app.test_client()
        balancer = {"REMOTE_ADDR": "10.9.0.1"}  # the balancer sits in the allowed network
        assert client.get("/metrics", environ_base=balancer,
                          headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 404
        assert client.get("/metrics", environ_base=balancer,
                          headers={"X-Forwarded-For": "10.9.4.4"}).status_code == 200
    finally:
        app.extensions["helpline"].db.dispose()


def test_without_a_token_or_networks_metrics_is_not_found(app: Flask,
                                                          client: FlaskClient) -> None:
    runtime = app.extensions["helpline"]
    runtime.settings = runtime.settings.with_overrides(metrics_token="", metrics_allow=())
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404
    assert client.get("/metrics").status_code == 404


# One webhook answered by each of two processes, as gunicorn's workers would.
WORKER = """
import sys
from pathlib import Path

from helpline.app import create_app
from helpline.config import settings_for_tests
from tests.fixtures.twilio import TwilioSigner

app = create_app(settings_for_tests(Path(sys.argv[2]), database_url=sys.argv[1]))
signer = TwilioSigner(app.test_client(), app.extensions["helpline"].settings)
answer = signer.post("/ivr/voice", {"CallSid": sys.argv[3], "From": "+15555550142",
                                    "To": "+18005550100", "CallStatus": "ringing"})
app.extensions["helpline"].db.dispose()
sys.exit(0 if answer.status_code == 200 else answer.status_code)
"""


def test_under_gunicorn_any_worker_reports_every_workers_webhooks(
        tmp_path: Path, database_url: str) -> None:
    from helpline.app import create_app

    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    workers = []
    for n in (1, 2):
        home = tmp_path / f"worker{n}"
        home.mkdir()
        workers.append(subprocess.Popen(
            [sys.executable, "-c", WORKER, database_url, str(home), f"CA{n:032x}"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for worker in workers:
        output, _ = worker.communicate(timeout=300)
        assert worker.returncode == 0, output

    app = create_app(settings_for_tests(tmp_path, database_url=database_url,
                                        metrics_token=TOKEN, metrics_multiprocess_dir=shared))
    try:
        samples = scrape(app.test_client())
    finally:
        app.extensions["helpline"].db.dispose()
    assert value(samples, "helpline_webhook_seconds_count", route="ivr.voice") == 2
    assert value(samples, "helpline_webhook_answers_total", route="ivr.voice", status="200") == 2
    assert value(samples, "helpline_database_up") == 1
