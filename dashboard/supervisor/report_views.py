"""Reports: a date range and queue in, charts (inline SVG), tables and CSV downloads out."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import abort, render_template, request
from sqlalchemy import select
from werkzeug.wrappers import Response

from dashboard import words
from dashboard.access import client_address, current_user, permission_required
from dashboard.blueprint import blueprint
from dashboard.forms import InputError, date_arg, text_arg
from dashboard.supervisor.charts import chart_for, is_wide
from helpline import audit
from helpline.app.runtime import db_session, settings
from helpline.models import Call
from helpline.reporting.reports import Report, ReportError, build_report, table_csv
from helpline.staff.roles import Action

TABLE_ORDER = ("hour", "weekday", "need", "language", "outcome", "offers", "risk", "referrals",
               "care", "admissions_center", "admissions_care", "followups", "screening")
# Tables naming staff (offers per counselor): on this page and its CSV only, never the API.
STAFF_TABLE_ORDER = ("counselor_offers",)


def _date(name: str, default: dt.date) -> dt.date:
    try:
        return date_arg(name, default) or default
    except InputError as exc:
        raise ReportError(str(exc)) from None


def _queues() -> list[str]:
    return list(db_session().scalars(select(Call.queue_name).where(Call.queue_name.is_not(None))
                                     .distinct().order_by(Call.queue_name)))


def _requested_report() -> Report:
    tz = settings().default_timezone
    today = dt.datetime.now(ZoneInfo(tz)).date()
    start = _date("start", today.replace(day=1))
    end = _date("end", today)
    queue = text_arg("queue", max_length=64) or None
    return build_report(db_session(), start, end, timezone=tz, queue=queue)


@blueprint.get("/supervisor/reports")
@permission_required(Action.RUN_REPORTS)
def supervisor_reports() -> tuple[str, int] | str:
    try:
        report = _requested_report()
    except ReportError as exc:
        return render_template("supervisor/reports.html", report=None, error=str(exc),
                               queues=_queues(), args=request.args), 400
    tables = [words.table_in_words(report.tables[k]) for k in TABLE_ORDER if k in report.tables]
    # Staff names stay as they are written (no code to put in words).
    tables += [report.staff_tables[k] for k in STAFF_TABLE_ORDER if k in report.staff_tables]
    return render_template("supervisor/reports.html", report=report, error=None,
                           summary=report.summary(), tables=tables, chart_for=chart_for,
                           is_wide=is_wide,
                           queues=_queues(), args=request.args)


@blueprint.get("/supervisor/reports/<key>.csv")
@permission_required(Action.RUN_REPORTS)
def supervisor_report_csv(key: str) -> Response:
    try:
        report = _requested_report()
        body = table_csv(report, key)
    except ReportError:
        abort(404)
    session = db_session()
    audit.record(session, "report.export", actor=current_user(), record_type="report",
                 record_id=key, address=client_address(),
                 detail={"start": report.start.isoformat(), "end": report.end.isoformat(),
                         "queue": report.queue or ""})
    name = f"{key}-{report.start.isoformat()}-{report.end.isoformat()}.csv"
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
