"""``/api/reports``: the report's aggregate figures (the tables supervisors see) for
staff-approved integrations, with a token. Counts and rates only: never a call, a contact, a
number, a note or a counselor's name (:mod:`helpline.reporting.reports`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from spectree import Response as Doc

from api import schemas
from api.blueprint import TOKEN_ONLY, blueprint, problem
from api.spec import TOKEN_SECURITY, spec
from helpline.app.runtime import db_session, settings
from helpline.reporting.reports import ReportError, build_report


@blueprint.get("/api/reports")
@spec.validate(query=schemas.ReportQuery,
               resp=Doc(HTTP_200=schemas.ReportFigures, HTTP_400=schemas.Problem,
                        HTTP_401=schemas.Problem, HTTP_429=schemas.Problem),
               tags=("Reports",), security=TOKEN_SECURITY, operation_id="getReportFigures")
def report_figures(query: schemas.ReportQuery) -> Any:
    """The report's figures for a month or a year (local dates, the helpline's time zone)."""
    start, end = _period(query.year, query.month)
    try:
        report = build_report(db_session(), start, end, timezone=settings().default_timezone,
                              queue=query.queue)
    except ReportError as exc:
        return problem(400, "bad_request", str(exc))
    tables = [report.summary(), *report.tables.values()]
    return {"start": report.start.isoformat(), "end": report.end.isoformat(),
            "timezone": report.timezone, **({"queue": report.queue} if report.queue else {}),
            "tables": [{"key": t.key, "title": t.title, "columns": t.columns,
                        "rows": [[_cell(v) for v in row] for row in t.rows]} for t in tables]}


def _period(year: int, month: int | None) -> tuple[dt.date, dt.date]:
    if month is None:
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    first = dt.date(year, month, 1)
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return first, following - dt.timedelta(days=1)


def _cell(value: object) -> str | int | float:
    return value if isinstance(value, str | int | float) else str(value)


TOKEN_ONLY.add("api.report_figures")
