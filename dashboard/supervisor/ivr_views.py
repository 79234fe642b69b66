"""IVR settings: versions, a draft's form, the changes against the live version, publish and
roll back. The rules and the history live in :mod:`ivr.versions`; these views only ask."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from dashboard import confirm
from dashboard.access import client_address, current_user, permission_required
from dashboard.blueprint import blueprint
from dashboard.forms import int_arg, int_field, text_field
from helpline.app.runtime import commit_now, db_session
from helpline.flows import editable
from helpline.flows.live import LiveFlows
from helpline.flows.versions import (
    SHIPPED,
    Defaults,
    InvalidVersion,
    VersionError,
    diff,
    get_version,
    list_versions,
    live_version,
    new_draft,
    publications,
    publish,
    rollback,
    runtime_failures,
    save_draft,
    values_of,
)
from helpline.models import User
from helpline.staff.roles import Action


def _live() -> LiveFlows:
    return current_app.extensions["ivr_live"]


def _defaults() -> Defaults:
    return _live().defaults


def _user() -> User:
    user = current_user()
    assert user is not None  # permission_required let the request through
    return user


def _language_names(defaults: Defaults) -> dict[str, str]:
    return {lang: str(data.get("name", lang)) for lang, data in defaults.raw_flows.items()}


def _slug(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def _sections(defaults: Defaults, errors: dict[str, str]) -> list[dict[str, Any]]:
    """The form's layout: the line, then each language, group by group.

    A language's groups fold away (one long page was 18,500 px); a group opens by itself when
    it holds a field the last save refused.
    """
    names = _language_names(defaults)
    sections = []
    for language, fields in groupby(defaults.fields, key=lambda f: f.language):
        key = language or "line"
        groups = []
        for title, members in groupby(fields, key=lambda f: f.group):
            listed = list(members)
            problems = sum(1 for f in listed if f.name in errors)
            groups.append({"title": title, "id": f"grp-{key}-{_slug(title)}",
                           "fields": listed, "problems": problems})
        sections.append({"language": language, "id": f"sec-{key}",
                         "title": names[language] if language else "The line",
                         "groups": groups})
    return sections


def _version_page(number: int, values: dict[str, Any], errors: dict[str, str] | None = None,
                  note: str | None = None, status: int = 200) -> tuple[str, int]:
    session = db_session()
    defaults = _defaults()
    version = get_version(session, number) if number else None
    live = live_version(session)
    state = "live" if number == live else ("draft" if version is not None and version.is_draft
                                           else "retired")
    shown = {f.name: editable.display(f, values.get(f.name)) if f.kind == "words"
             else values.get(f.name) for f in defaults.fields}
    return render_template(
        "supervisor/ivr_version.html", number=number, version=version, state=state,
        live=live, sections=_sections(defaults, errors or {}), values=shown,
        errors=errors or {},
        field_labels={f.name: f for f in defaults.fields},
        language_names=_language_names(defaults),
        note=note if note is not None else (version.note if version else ""),
        changes=len(diff(session, defaults, number)) if number != live else 0,
        ivr_failures=runtime_failures(session), can_edit_ivr=True,
    ), status


@blueprint.get("/supervisor/ivr")
@permission_required(Action.EDIT_IVR)
def supervisor_ivr() -> str:
    session = db_session()
    return render_template("supervisor/ivr_versions.html", versions=list_versions(session),
                           publications=publications(session),
                           ivr_failures=runtime_failures(session), can_edit_ivr=True)


@blueprint.post("/supervisor/ivr/drafts")
@permission_required(Action.EDIT_IVR)
def supervisor_ivr_new_draft() -> Response:
    based_on = int_field("based_on", -1)
    if based_on < 0:
        abort(400, description="Choose the version the draft starts from.")
    session = db_session()
    try:
        draft = new_draft(session, _defaults(), based_on=based_on, by=_user(),
                          note=text_field("note", max_length=500), address=client_address())
    except VersionError:
        abort(404)
    flash(f"Draft {draft.id} made from version {based_on}. Change what you need and save.", "ok")
    return redirect(url_for("dashboard.supervisor_ivr_version", number=draft.id))


@blueprint.get("/supervisor/ivr/<int:number>")
@permission_required(Action.EDIT_IVR)
def supervisor_ivr_version(number: int) -> tuple[str, int]:
    session = db_session()
    try:
        version = get_version(session, number) if number != SHIPPED else None
    except VersionError:
        abort(404)
    return _version_page(number, values_of(_defaults(), version))


@blueprint.post("/supervisor/ivr/<int:number>")
@permission_required(Action.EDIT_IVR)
def supervisor_ivr_save(number: int) -> Response | tuple[str, int]:
    session = db_session()
    defaults = _defaults()
    try:
        version = get_version(session, number)
    except VersionError:
        abort(404)
    values = editable.from_form(defaults.fields, request.form, values_of(defaults, version))
    note = text_field("note", max_length=500) or None
    try:
        changed = save_draft(session, defaults, number, values, by=_user(), note=note,
                             address=client_address())
    except InvalidVersion as exc:
        session.rollback()  # the page shows the draft as stored beside the values given
        return _version_page(number, values, exc.errors, note, status=400)
    except VersionError as exc:
        session.rollback()  # the redirect below is a success to the transaction rule
        flash(str(exc), "error")
        return redirect(url_for("dashboard.supervisor_ivr_version", number=number))
    flash(f"Draft {number} saved ({len(changed)} field{'s' if len(changed) != 1 else ''} "
          "changed). Callers still hear the live version until you publish.", "ok")
    return redirect(url_for("dashboard.supervisor_ivr_version", number=number))


@blueprint.get("/supervisor/ivr/<int:number>/changes")
@permission_required(Action.EDIT_IVR)
def supervisor_ivr_changes(number: int) -> str:
    session = db_session()
    against_number = int_arg("against", -1)
    against = None if against_number < 0 else against_number
    try:
        version = get_version(session, number) if number != SHIPPED else None
        changes = diff(session, _defaults(), number, against)
    except VersionError:
        abort(404)
    live = live_version(session)
    return render_template("supervisor/ivr_changes.html", number=number, version=version,
                           changes=changes, against=live if against is None else against,
                           live=live, language_names=_language_names(_defaults()))


def _ask_to_publish(number: int) -> str | Response:
    """Every new call hears a published version: say so, and how much changes, first."""
    session = db_session()
    try:
        version = get_version(session, number)
        changes = len(diff(session, _defaults(), number))
    except VersionError:
        abort(404)
    live = live_version(session)
    if not version.is_draft:
        flash(f"Version {number} is not a draft: make a draft from it to publish.", "error")
        return redirect(url_for("dashboard.supervisor_ivr"))
    return confirm.ask(
        title=f"Publish version {number} to every caller?",
        consequences=[f"Every new call hears version {number} within a few seconds, in every "
                      f"language; callers now hear version {live}.",
                      f"It changes {changes} field{'s' if changes != 1 else ''} against version "
                      f"{live}, as last saved (unsaved edits are not published).",
                      f"Version {live} stays in the list: you can roll back to it."],
        button=f"Yes, publish version {number}",
        cancel_url=url_for("dashboard.supervisor_ivr_version", number=number),
        link=("See the changes first", url_for("dashboard.supervisor_ivr_changes",
                                                number=number)))


def _ask_to_roll_back(number: int) -> str | Response:
    session = db_session()
    try:
        version = get_version(session, number) if number != SHIPPED else None
        changes = len(diff(session, _defaults(), number))
    except VersionError:
        abort(404)
    live = live_version(session)
    if number == live or (version is not None and version.is_draft):
        flash(f"Version {number} cannot be rolled back to: it is "
              f"{'live already' if number == live else 'a draft'}.", "error")
        return redirect(url_for("dashboard.supervisor_ivr"))
    return confirm.ask(
        title=f"Roll back every caller to version {number}?",
        consequences=[f"Every new call hears version {number} again within a few seconds, in "
                      f"every language; callers now hear version {live}.",
                      f"{changes} field{'s differ' if changes != 1 else ' differs'} from what "
                      f"callers hear now. Version {live} stays in the list and can be made "
                      "live again."],
        button=f"Yes, roll back to version {number}",
        cancel_url=url_for("dashboard.supervisor_ivr"),
        link=("See the differences first", url_for("dashboard.supervisor_ivr_changes",
                                                   number=number)))


@blueprint.post("/supervisor/ivr/<int:number>/publish")
@permission_required(Action.EDIT_IVR)
def supervisor_ivr_publish(number: int) -> str | Response:
    session = db_session()
    if not confirm.confirmed():
        return _ask_to_publish(number)
    try:
        publish(session, _defaults(), number, by=_user(), address=client_address())
    except InvalidVersion as exc:
        session.rollback()  # the redirect below is a success to the transaction rule
        flash(f"Version {number} was not published: {exc}", "error")
        return redirect(url_for("dashboard.supervisor_ivr_version", number=number))
    except VersionError as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("dashboard.supervisor_ivr"))
    commit_now()  # the live flow reloads from the database: it must find the new version
    _live().invalidate()
    flash(f"Version {number} is live: every new call hears it within a few seconds.", "ok")
    return redirect(url_for("dashboard.supervisor_ivr"))


@blueprint.post("/supervisor/ivr/<int:number>/rollback")
@permission_required(Action.EDIT_IVR)
def supervisor_ivr_rollback(number: int) -> str | Response:
    session = db_session()
    if not confirm.confirmed():
        return _ask_to_roll_back(number)
    try:
        rollback(session, _defaults(), number, by=_user(), address=client_address())
    except VersionError as exc:
        session.rollback()  # the redirect below is a success to the transaction rule
        flash(f"Not rolled back: {exc}", "error")
        return redirect(url_for("dashboard.supervisor_ivr"))
    commit_now()  # the live flow reloads from the database: it must find the live version
    _live().invalidate()
    flash(f"Rolled back: version {number} is live again.", "ok")
    return redirect(url_for("dashboard.supervisor_ivr"))
