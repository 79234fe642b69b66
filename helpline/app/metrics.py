"""``/metrics``: the helpline's figures in Prometheus text format, for a scraper only.

Open to a bearer token (METRICS_TOKEN) or to networks (METRICS_ALLOW); anyone else gets a
404, as if there were no such page. Labels hold route names, status codes, queue names and
counselor status words: never anything about a caller.

- Counted as requests are answered: each IVR webhook's time and answer, by route.
- Read at scrape time: the spool and the breaker of this process; from the database, within
  a webhook's wait (IVR_DB_WAIT_SECONDS), the queues, counselors, follow-ups, refused texts
  and the scheduler (its most overdue job, and each job's last run).
  A database that does not answer leaves those out and sets ``helpline_database_up`` to 0.

Under gunicorn (PROMETHEUS_MULTIPROC_DIR set), every worker writes its counts to that folder
and the worker that answers the scrape adds them all up.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from flask import Blueprint, Flask, Response, abort, current_app, g, request
from flask.typing import ResponseReturnValue
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from helpline.app.runtime import Runtime, runtime
from helpline.calls import spool
from helpline.calls.queues import queue_snapshot
from helpline.calls.wallboard import STATUS_ORDER
from helpline.config import Settings
from helpline.db import utcnow, within
from helpline.followups.lists import console_counts
from helpline.models import OutboxMessage, Role, User
from helpline.models.followups import SchedulerJobRun, apscheduler_jobs
from helpline.sms_limits import REFUSED

log = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)

# Process-wide, in no registry of their own: a scrape reads them through the app's registry,
# or, under gunicorn, through the files every worker writes.
WEBHOOK_SECONDS = Histogram(
    "helpline_webhook_seconds", "Time to answer an IVR webhook, by route", ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0), registry=None)
WEBHOOK_ANSWERS = Counter(
    "helpline_webhook_answers", "IVR webhook answers, by route and HTTP status",
    ["route", "status"], registry=None)

def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class FloorCollector(Collector):
    """The figures read when scraped: spool, breaker, and what the database says."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def collect(self) -> Iterator[Metric]:
        settings = self.rt.settings
        yield from _spool_metrics(settings.spool_dir)
        yield _gauge("helpline_database_breaker_open",
                     "1 while this process's webhooks skip the database after a failure",
                     1 if self.rt.db.breaker.is_open() else 0)
        yield from _database_metrics(self.rt)


def _spool_metrics(directory: Path) -> Iterator[Metric]:
    try:
        waiting = spool.count(directory)
        files = [*directory.glob(spool.REPLAYING), directory / spool.SPOOL]
        # A file's last change stands for its entries' age: good enough to see a spool that
        # is not draining.
        times = [p.stat().st_mtime for p in files if p.exists() and p.stat().st_size > 0]
    except OSError:
        log.warning("the spool in %s could not be read for /metrics", directory)
        return
    yield _gauge("helpline_spool_entries", "IVR entries waiting in this machine's spool",
                 waiting)
    yield _gauge("helpline_spool_oldest_seconds", "Age of the oldest spool file with entries",
                 max(0.0, time.time() - min(times)) if times else 0.0)


def _database_metrics(rt: Runtime) -> Iterator[Metric]:
    now = utcnow()
    try:
        # Waits on the database no longer than a webhook does (which leaves the time to open
        # a connection: helpline.db refuses one it cannot wait for).
        with within(rt.settings.ivr_db_wait_seconds), rt.db.sessions() as session:
            queues = queue_snapshot(session, now=now)
            counselors = {str(status): int(n) for status, n in session.execute(
                select(User.status, func.count(User.id))
                .where(User.active.is_(True), User.role == Role.COUNSELOR)
                .group_by(User.status))}
            followups = console_counts(session, now=now)
            refused = session.scalar(select(func.count(OutboxMessage.id))
                                     .where(OutboxMessage.status == REFUSED)) or 0
            next_run = session.scalar(select(func.min(apscheduler_jobs.c.next_run_time)))
            runs = session.scalars(select(SchedulerJobRun).order_by(SchedulerJobRun.job_id)).all()
    except SQLAlchemyError as exc:
        log.warning("the database did not answer /metrics (%s)", type(exc).__name__)
        yield _gauge("helpline_database_up", "1 when the database answered this scrape", 0)
        return
    yield _gauge("helpline_database_up", "1 when the database answered this scrape", 1)
    waiting = GaugeMetricFamily("helpline_queue_callers_waiting", "Callers waiting, by queue",
                                labels=["queue"])
    longest = GaugeMetricFamily("helpline_queue_longest_wait_seconds",
                                "Longest wait of a caller now waiting, by queue",
                                labels=["queue"])
    for queue in queues:
        waiting.add_metric([queue.name], queue.waiting)
        longest.add_metric([queue.name], queue.longest_wait_seconds)
    yield waiting
    yield longest
    by_status = GaugeMetricFamily("helpline_counselors", "Active counselors, by status",
                                  labels=["status"])
    for status in sorted({*map(str, STATUS_ORDER), *counselors}):
        by_status.add_metric([status], counselors.get(status, 0))
    yield by_status
    yield _gauge("helpline_followups_due", "Follow-ups whose time has come", followups["due"])
    yield _gauge("helpline_followups_overdue",
                 "Follow-ups late, stuck, unscheduled or without a result", followups["overdue"])
    yield _gauge("helpline_texts_refused",
                 "Texts refused by the caps or the allowed countries (outbox rows kept)", refused)
    yield from _scheduler_metrics(next_run, runs)


def _scheduler_metrics(next_run: float | None, runs: Sequence[SchedulerJobRun]
                       ) -> Iterator[Metric]:
    # The job store holds each job's next run time: one in the past means no scheduler is
    # running it (none active, or the active one stuck), whatever the processes say of
    # themselves.
    yield _gauge("helpline_scheduler_lag_seconds",
                 "How long the most overdue scheduler job has been due (0: none overdue)",
                 max(0.0, time.time() - next_run) if next_run is not None else 0.0)
    last = GaugeMetricFamily("helpline_scheduler_last_run_timestamp_seconds",
                             "When each scheduler job's last run ended (Unix time)",
                             labels=["job"])
    late = GaugeMetricFamily("helpline_scheduler_last_run_late_seconds",
                             "From when each job's last run was due to when it ended",
                             labels=["job"])
    ok = GaugeMetricFamily("helpline_scheduler_last_run_ok",
                           "1 when each job's last run ended without an error", labels=["job"])
    for run in runs:
        last.add_metric([run.job_id], run.finished_at.timestamp())
        late.add_metric([run.job_id], max(0.0, (run.finished_at - run.due_at).total_seconds()))
        ok.add_metric([run.job_id], 1 if run.ok else 0)
    yield from (last, late, ok)


def registry_for(settings: Settings, floor: FloorCollector) -> CollectorRegistry:
    """What a scrape reports: the webhooks' counts (this process's, or every worker's under
    gunicorn) and the figures read now."""
    registry = CollectorRegistry()
    if settings.metrics_multiprocess_dir is not None:
        MultiProcessCollector(registry, path=str(settings.metrics_multiprocess_dir))
    else:
        registry.register(WEBHOOK_SECONDS)
        registry.register(WEBHOOK_ANSWERS)
    registry.register(floor)
    return registry


def _allowed(settings: Settings) -> bool:
    token = settings.metrics_token
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()):
        return True
    if not settings.metrics_allow:
        return False
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in settings.metrics_allow)


@bp.get("/metrics")
def metrics() -> ResponseReturnValue:
    settings = runtime().settings
    if not _allowed(settings):
        abort(404)
    body = generate_latest(registry_for(settings, current_app.extensions["helpline_metrics"]))
    return Response(body, content_type=CONTENT_TYPE_LATEST)


def _ivr_route() -> str | None:
    return request.endpoint if "ivr" in request.blueprints else None


def _start_clock() -> None:
    if _ivr_route() is not None:
        g.metrics_started = time.perf_counter()


def _count_answer(response: Response) -> Response:
    route = _ivr_route()
    started = g.pop("metrics_started", None)
    if route is not None and started is not None:
        WEBHOOK_SECONDS.labels(route).observe(time.perf_counter() - started)
        WEBHOOK_ANSWERS.labels(route, str(response.status_code)).inc()
    return response


def init_app(app: Flask) -> None:
    """Serve /metrics and time the IVR's webhooks (the ivr package knows nothing of this)."""
    app.extensions["helpline_metrics"] = FloorCollector(app.extensions["helpline"])
    app.register_blueprint(bp)
    app.before_request(_start_clock)
    app.after_request(_count_answer)
