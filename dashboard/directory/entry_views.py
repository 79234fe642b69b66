"""Support groups and resources: lists for every staff member; create and edit for editors."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from dashboard.access import (
    can_edit_directory,
    client_address,
    current_user,
    permission_required,
    refuse,
)
from dashboard.blueprint import blueprint
from dashboard.forms import text_arg, text_field
from helpline.app.runtime import db_session
from helpline.directory import checks, meeting_types, meetings, resources, search, vocabulary
from helpline.models import Resource, SupportGroup
from helpline.staff.roles import Action

GROUP_TEXT = ("name", "fellowship", "day", "time", "timezone", "duration_minutes", "mode",
              "street", "city", "state", "zip_code", "online_url", "language", "notes")
RESOURCE_TEXT = ("title", "kind", "language", "description", "link", "how_to_get")


def _load(model: type[SupportGroup] | type[Resource], record_id: int, record_type: str
          ) -> SupportGroup | Resource:
    db = db_session()
    entry = db.get(model, record_id)
    if entry is None:
        refuse(f"directory.{record_type}.refused", record_type, record_id)
    return entry


@blueprint.get("/directory/groups")
@permission_required(Action.SEARCH_DIRECTORY)
def directory_groups() -> tuple[str, int] | str:
    args = request.args
    zip_code = text_arg("zip", max_length=12) or None
    online = {"online": True, "in_person": False}.get(text_arg("mode"))
    error, hits = None, []
    try:
        hits = search.search_groups(
            db_session(), zip_code=zip_code, within_miles=25.0,
            fellowship=text_arg("fellowship", max_length=64) or None,
            language=text_arg("language", max_length=16) or None,
            online=online, text=text_arg("text", max_length=200) or None,
            include_inactive=can_edit_directory(current_user()), limit=100)
    except search.UnknownZipError:
        error = f"{zip_code} is not a known US ZIP code."
    page = render_template("directory/groups.html", hits=hits, error=error, args=args,
                           fellowships=meetings.FELLOWSHIPS, days=meetings.DAYS,
                           languages=vocabulary.LANGUAGES, type_name=meeting_types.type_name,
                           editor=can_edit_directory(current_user()))
    return (page, 400) if error else page


def _group_page(group: SupportGroup | None, data: meetings.GroupInput,
                errors: dict[str, str] | None = None) -> str:
    return render_template("directory/group_form.html", group=group, data=data,
                           errors=errors or {}, fellowships=meetings.FELLOWSHIPS,
                           days=meetings.DAYS, languages=vocabulary.LANGUAGES)


def _save_group(group: SupportGroup | None) -> Response | tuple[str, int]:
    user = current_user()
    assert user is not None
    form = request.form
    data = meetings.GroupInput(**{name: text_field(name) for name in GROUP_TEXT},
                               twelve_step=form.get("twelve_step") == "1",
                               active=form.get("active") == "1")
    db = db_session()
    try:
        meetings.save_group(db, group, data, by=user, address=client_address())
    except checks.EntryInvalid as exc:
        db.rollback()  # the page shows the meeting as stored
        return _group_page(group, data, exc.errors), 422
    flash("Meeting saved.", "info")
    return redirect(url_for("dashboard.directory_groups"))


@blueprint.get("/directory/groups/new")
@permission_required(Action.EDIT_DIRECTORY)
def directory_group_new() -> str:
    return _group_page(None, meetings.GroupInput())


@blueprint.post("/directory/groups/new")
@permission_required(Action.EDIT_DIRECTORY)
def directory_group_create() -> Response | tuple[str, int]:
    return _save_group(None)


@blueprint.get("/directory/groups/<int:group_id>")
@permission_required(Action.EDIT_DIRECTORY)
def directory_group(group_id: int) -> str:
    group = _load(SupportGroup, group_id, "support_group")
    assert isinstance(group, SupportGroup)
    return _group_page(group, meetings.GroupInput.of(group))


@blueprint.post("/directory/groups/<int:group_id>")
@permission_required(Action.EDIT_DIRECTORY)
def directory_group_save(group_id: int) -> Response | tuple[str, int]:
    group = _load(SupportGroup, group_id, "support_group")
    assert isinstance(group, SupportGroup)
    return _save_group(group)


@blueprint.get("/directory/resources")
@permission_required(Action.SEARCH_DIRECTORY)
def directory_resources() -> str:
    args = request.args
    items = search.search_resources(db_session(), kind=text_arg("kind", max_length=32) or None,
                                    language=text_arg("language", max_length=16) or None,
                                    text=text_arg("text", max_length=200) or None,
                                    include_inactive=can_edit_directory(current_user()),
                                    limit=200)
    return render_template("directory/resources.html", items=items, args=args,
                           kinds=resources.KINDS, languages=vocabulary.LANGUAGES,
                           editor=can_edit_directory(current_user()))


def _resource_page(resource: Resource | None, data: resources.ResourceInput,
                   errors: dict[str, str] | None = None) -> str:
    return render_template("directory/resource_form.html", resource=resource, data=data,
                           errors=errors or {}, kinds=resources.KINDS,
                           languages=vocabulary.LANGUAGES)


def _save_resource(resource: Resource | None) -> Response | tuple[str, int]:
    user = current_user()
    assert user is not None
    form = request.form
    data = resources.ResourceInput(**{name: text_field(name) for name in RESOURCE_TEXT},
                                   active=form.get("active") == "1")
    db = db_session()
    try:
        resources.save_resource(db, resource, data, by=user, address=client_address())
    except checks.EntryInvalid as exc:
        db.rollback()  # the page shows the resource as stored
        return _resource_page(resource, data, exc.errors), 422
    flash("Resource saved.", "info")
    return redirect(url_for("dashboard.directory_resources"))


@blueprint.get("/directory/resources/new")
@permission_required(Action.EDIT_DIRECTORY)
def directory_resource_new() -> str:
    return _resource_page(None, resources.ResourceInput())


@blueprint.post("/directory/resources/new")
@permission_required(Action.EDIT_DIRECTORY)
def directory_resource_create() -> Response | tuple[str, int]:
    return _save_resource(None)


@blueprint.get("/directory/resources/<int:resource_id>")
@permission_required(Action.EDIT_DIRECTORY)
def directory_resource(resource_id: int) -> str:
    resource = _load(Resource, resource_id, "resource")
    assert isinstance(resource, Resource)
    return _resource_page(resource, resources.ResourceInput.of(resource))


@blueprint.post("/directory/resources/<int:resource_id>")
@permission_required(Action.EDIT_DIRECTORY)
def directory_resource_save(resource_id: int) -> Response | tuple[str, int]:
    resource = _load(Resource, resource_id, "resource")
    assert isinstance(resource, Resource)
    return _save_resource(resource)
