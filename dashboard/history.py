"""Call history: filter, page, open a record (audited there); CSV export for supervisors."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator

from flask import render_template, request
from sqlalchemy import select
from werkzeug.wrappers import Response

from dashboard.access import client_address, current_user, permission_required
from dashboard.blueprint import blueprint
from dashboard.forms import InputError, date_arg, id_arg, text_arg
from helpline import audit
from helpline.app.runtime import db_session
from helpline.db import INT_MAX
from helpline.models import User
from helpline.records import contacts
from helpline.reporting.spreadsheet_csv import SpreadsheetWriter
from helpline.staff.roles import Action, can


def _filters() -> contacts.HistoryFilters:
    def text(name: str) -> str | None:
        return text_arg(name, max_length=64) or None

    return contacts.HistoryFilters(
        date_from=date_arg("from"), date_to=date_arg("to"), counselor_id=id_arg("counselor"),
        need=text("need"), language=text("language"), outcome=text("outcome"),
        substance=text("substance"), risk=text("risk"))


def _cursor() -> str | None:
    """Where the next page starts, as the previous page wrote it: "<created_at>_<id>"."""
    raw = text_arg("after", max_length=64)
    if not raw:
        return None
    stamp, _, ident = raw.partition("_")
    try:
        dt.datetime.fromisoformat(stamp)
    except ValueError:
        raise InputError("after", "is not a page of this list") from None
    if not (ident.isascii() and ident.isdigit()) or not 0 < int(ident) <= INT_MAX:
        raise InputError("after", "is not a page of this list")
    return raw


@blueprint.get("/history")
@permission_required(Action.VIEW_HISTORY)
def history() -> str:
    user = current_user()
    assert user is not None
    db = db_session()
    page = contacts.history_page(db, user, _filters(), _cursor())
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
        writer = SpreadsheetWriter(buffer)
        for row in rows:
            writer.writerow(row)
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()

    return Response(generate(), mimetype="text/csv", headers={
        "Content-Disposition": "attachment; filename=call-history.csv"})
