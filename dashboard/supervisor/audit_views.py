"""Audit review: who viewed or changed which record, when and from where. Read-only."""

from __future__ import annotations

import datetime as dt

from flask import render_template, request, stream_with_context
from werkzeug.wrappers import Response

from dashboard.access import client_address, current_user, permission_required
from dashboard.blueprint import blueprint
from dashboard.forms import InputError, date_arg, int_arg, text_arg
from helpline.app.runtime import db_session, settings
from helpline.db import utcnow
from helpline.records.contacts import WRAP_UP_NEEDS
from helpline.reporting.audit_review import (
    AuditFilter,
    AuditQueryError,
    actions,
    check_chain,
    export_csv,
    list_events,
    wrap_up_overrides,
)
from helpline.staff.roles import Action

OVERRIDE_DAYS = 7


def _filters() -> AuditFilter:
    def day(name: str) -> dt.date | None:
        try:
            return date_arg(name)
        except InputError as exc:
            raise AuditQueryError(str(exc)) from None

    def text(name: str) -> str | None:
        return text_arg(name)[:64] or None

    return AuditFilter(actor=text("user"), action=text("action"),
                       record_type=text("record_type"), record_id=text("record_id"),
                       start=day("start"), end=day("end"),
                       timezone=settings().default_timezone)


@blueprint.get("/supervisor/audit")
@permission_required(Action.REVIEW_AUDIT)
def supervisor_audit() -> tuple[str, int] | str:
    session = db_session()
    page = int_arg("page", 1, minimum=1, maximum=100_000)
    overrides = wrap_up_overrides(session, utcnow() - dt.timedelta(days=OVERRIDE_DAYS))
    shown = {"overrides": overrides, "override_days": OVERRIDE_DAYS, "needs": WRAP_UP_NEEDS}
    try:
        filters = _filters()
        result = list_events(session, filters, page=page)
    except AuditQueryError as exc:
        return render_template("supervisor/audit.html", error=str(exc), result=None,
                               chain=None, actions=actions(session), query={},
                               args=request.args, **shown), 400
    query = {k: v for k, v in request.args.items() if k not in ("page", "verify") and v}
    # Verifying reads the whole log: done when asked, not on every page.
    chain = check_chain(session) if request.args.get("verify") else None
    return render_template("supervisor/audit.html", error=None, result=result,
                           chain=chain, actions=actions(session),
                           args=request.args, query=query, **shown)


@blueprint.get("/supervisor/audit/export.csv")
@permission_required(Action.REVIEW_AUDIT)
def supervisor_audit_export() -> Response | tuple[str, int]:
    try:
        filters = _filters()
    except AuditQueryError as exc:
        return str(exc), 400
    user = current_user()
    assert user is not None
    lines = export_csv(db_session(), filters, by=user, address=client_address())
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return Response(stream_with_context(lines), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"'})
