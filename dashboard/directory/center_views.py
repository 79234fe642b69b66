"""Treatment centers: search, the center's page (capacity for everyone; edit and verify for
editors), new centers, the six-month list and the HSDS download."""

from __future__ import annotations

import datetime as dt

from flask import flash, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from dashboard.access import (
    can_edit_directory,
    client_address,
    current_user,
    permission_required,
    refuse,
)
from dashboard.blueprint import blueprint
from dashboard.forms import (
    InputError,
    float_arg,
    int_arg,
    optional_int_field,
    text_arg,
    text_field,
)
from helpline import audit
from helpline.app.runtime import db_session
from helpline.directory import capacity, checks, schedules, search, upkeep, vocabulary
from helpline.directory.hsds_export import hsds_zip
from helpline.models import TreatmentCenter
from helpline.staff.roles import Action

RADII = (5, 10, 25, 50, 100, 250)
# The facets offered as search filters on the page (all of them are editable on a center).
SEARCH_FACETS = (("care", "care"), ("medication", "medications"), ("payment", "payment"))
TEXT_FIELDS = ("name", "alternate_name", "street1", "street2", "city", "state", "zip_code",
               "latitude", "longitude", "phone", "intake_phone", "website", "description")


def _values(name: str) -> list[str]:
    return [v for v in request.args.getlist(name) if v.strip()]


def load_center(center_id: int) -> TreatmentCenter:
    """The center, or 404 (audited, as for any record asked for that cannot be shown)."""
    db = db_session()
    center = db.get(TreatmentCenter, center_id)
    if center is None:
        refuse("directory.center.refused", "treatment_center", center_id)
    return center


@blueprint.get("/directory")
@permission_required(Action.SEARCH_DIRECTORY)
def directory_search() -> tuple[str, int] | str:
    args = request.args
    zip_code = text_arg("zip", max_length=12)
    miles = float_arg("miles", 25.0, minimum=0.0, maximum=3000.0)
    filters = {arg: _values(facet) for facet, arg in SEARCH_FACETS}
    editor = can_edit_directory(current_user())
    error, result = None, None
    try:
        result = search.search_centers(
            db_session(), zip_code=zip_code or None, within_miles=miles,
            text=text_arg("text", max_length=200) or None, languages=_values("language"),
            capacity=_values("capacity"),
            include_inactive=editor and args.get("inactive") == "1",
            page=int_arg("page", 1, minimum=1, maximum=100_000), per_page=25, **filters)
    except search.UnknownZipError:
        error = f"{zip_code[:12]} is not a known US ZIP code."
    except vocabulary.UnknownOffering as exc:
        error = str(exc).capitalize() + "."
    query = MultiDict([(k, v) for k, v in args.items(multi=True) if k != "page" and v])
    page = render_template("directory/centers.html", result=result, error=error, args=args,
                           query=query, radii=RADII, miles=miles, editor=editor,
                           facets=[(f, vocabulary.offerings(f)) for f, _ in SEARCH_FACETS],
                           languages=vocabulary.LANGUAGES, capacity_filters=capacity.FILTERS,
                           summary=capacity.summary,
                           hours=schedules.opening_hours(
                               db_session(), [h.center.id for h in result.items] if result
                               else []))
    return (page, 400) if error else page


def _form_input() -> upkeep.CenterInput:
    form = request.form
    return upkeep.CenterInput(
        **{name: text_field(name) for name in TEXT_FIELDS},
        active=form.get("active") == "1",
        offerings={facet: form.getlist(f"offer_{facet}") for facet in vocabulary.FACETS})


def _center_page(center: TreatmentCenter | None, data: upkeep.CenterInput,
                 errors: dict[str, str] | None = None,
                 capacity_error: str | None = None) -> str:
    user = current_user()
    return render_template(
        "directory/center.html", center=center, data=data, errors=errors or {},
        capacity_error=capacity_error, editor=can_edit_directory(user),
        facets=[(f, vocabulary.FACET_LABELS[f], vocabulary.offerings(f))
                for f in vocabulary.FACETS],
        capacity=capacity, stale_cutoff=upkeep.stale_cutoff(),
        limits={**upkeep.TEXT_LIMITS, "description": upkeep.DESCRIPTION_LIMIT},
        hours=[schedules.describe(s) for s in center.schedules] if center else [])


@blueprint.get("/directory/centers/<int:center_id>")
@permission_required(Action.SEARCH_DIRECTORY)
def directory_center(center_id: int) -> str:
    center = load_center(center_id)
    return _center_page(center, upkeep.CenterInput.of(center))


@blueprint.post("/directory/centers/<int:center_id>")
@permission_required(Action.EDIT_DIRECTORY)
def directory_center_save(center_id: int) -> Response | tuple[str, int]:
    center = load_center(center_id)
    return _save(center)


@blueprint.get("/directory/centers/new")
@permission_required(Action.EDIT_DIRECTORY)
def directory_center_new() -> str:
    return _center_page(None, upkeep.CenterInput())


@blueprint.post("/directory/centers/new")
@permission_required(Action.EDIT_DIRECTORY)
def directory_center_create() -> Response | tuple[str, int]:
    return _save(None)


def _save(center: TreatmentCenter | None) -> Response | tuple[str, int]:
    user = current_user()
    assert user is not None
    db = db_session()
    data = _form_input()
    try:
        saved = upkeep.save_center(db, center, data, by=user, address=client_address())
    except checks.EntryInvalid as exc:
        db.rollback()  # the page shows the center as stored
        return _center_page(center, data, exc.errors), 422
    flash("Saved." if center is not None else "Center added.", "info")
    return redirect(url_for("dashboard.directory_center", center_id=saved.id))


@blueprint.post("/directory/centers/<int:center_id>/verify")
@permission_required(Action.EDIT_DIRECTORY)
def directory_center_verify(center_id: int) -> Response:
    user = current_user()
    assert user is not None
    center = load_center(center_id)
    upkeep.mark_verified(db_session(), center, by=user, address=client_address())
    flash("Marked verified today.", "info")
    if request.form.get("back") == "unverified":
        return redirect(url_for("dashboard.directory_unverified"))
    return redirect(url_for("dashboard.directory_center", center_id=center_id))


def _tristate(name: str) -> bool | None:
    value = request.form.get(name, "")
    if value not in ("yes", "no", ""):
        raise capacity.CapacityError("choose yes, no or not known")
    return {"yes": True, "no": False}.get(value)


@blueprint.post("/directory/centers/<int:center_id>/capacity")
@permission_required(Action.SEARCH_DIRECTORY)
def directory_center_capacity(center_id: int) -> Response | tuple[str, int]:
    user = current_user()
    assert user is not None
    center = load_center(center_id)
    db = db_session()
    try:
        try:
            days = optional_int_field("waitlist_days", maximum=3650)
        except InputError:
            raise capacity.CapacityError("give the waitlist length in whole days, "
                                         "up to 3650") from None
        capacity.confirm_capacity(db, center, capacity.Capacity(
            _tristate("accepting_patients"), _tristate("waitlist"), days,
            _tristate("same_day_moud")), by=user, address=client_address())
    except capacity.CapacityError as exc:
        db.rollback()  # the page shows the center as stored
        return _center_page(center, upkeep.CenterInput.of(center),
                            capacity_error=f"Not saved: {exc}."), 422
    flash("Capacity confirmed.", "info")
    return redirect(url_for("dashboard.directory_center", center_id=center_id))


@blueprint.get("/directory/unverified")
@permission_required(Action.EDIT_DIRECTORY)
def directory_unverified() -> str:
    state = text_arg("state")[:2] or None
    result = upkeep.unverified_centers(db_session(), page=int_arg("page", 1, minimum=1,
                                                                  maximum=100_000), state=state)
    return render_template("directory/unverified.html", result=result, state=state or "")


@blueprint.get("/directory/export.zip")
@permission_required(Action.EDIT_DIRECTORY)
def directory_export() -> Response:
    db = db_session()
    data, count = hsds_zip(db)
    audit.record(db, "directory.export", actor=current_user(), record_type="directory",
                 address=client_address(), detail={"format": "hsds", "centers": count})
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
    return Response(data, mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="directory-hsds-{stamp}.zip"'})
