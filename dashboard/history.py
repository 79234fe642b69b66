"""Call history: filter, page, open a record (audited there); CSV export for supervisors."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator

from flask import render_template, request
from sqlalchemy import select
from werkzeug.wrappers import Response

from dashboard.access import client_address, current_user, permission_required
from dashboard.blueprint import blueprint
from helpline import audit
from helpline.app.runtime import db_session
from helpline.models import User
from helpline.records import contacts
from helpline.staff.roles import Action, can


def _date(name: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


def _filters() -> contacts.HistoryFilters:
    counselor = request.args.get("counselor", "")
    return contacts.HistoryFilters(
        date_from=_date("from"), date_to=_date("to"),
        counselor_id=int(counselor) if counselor.isdigit() else None,
        need=request.args.get("need") or None, language=request.args.get("language") or None,
        outcome=request.args.get("outcome") or None,
        substance=request.args.get("substance") or None, risk=request.args.get("risk") or None)


@blueprint.get("/history")
@permission_required(Action.VIEW_HISTORY)
def history() -> str:
    user = current_user()
    assert user is not None
    db = db_session()
    page = contacts.history_page(db, user, _filters(), request.args.get("after"))
    counselors = dict(db.execute(select(User.id, User.display_name)).all())
    args = {k: v for k, v in request.args.items() if k != "after"}
    return render_template("dashboard/history.html", page=page, counselors=counselors, args=args,
                           c=contacts, is_supervisor=can(user, Action.EXPORT_HISTORY))


@blueprint.get("/history.csv")
@permission_required(Action.EXPORT_HISTORY)
def history_csv() -> Response:
    user = current_user()
    assert user is not None
    db = db_session()
    audit.record(db, "contact.export", actor=user, address=client_address(),
                 detail={"filters": {k: v for k, v in request.args.items()}})
    rows = list(contacts.history_csv_rows(db, user, _filters()))

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for row in rows:
            writer.writerow(row)
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()

    return Response(generate(), mimetype="text/csv", headers={
        "Content-Disposition": "attachment; filename=call-history.csv"})
