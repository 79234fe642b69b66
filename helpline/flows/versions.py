"""Versioned IVR settings: drafts that supervisors edit, publish and roll back.

Version 0 is what ships: the flow files (ivr/flows/*.toml) with the line settings of the
environment (CRISIS_NUMBER, HANDLE_CRISIS_IN_HOUSE, MAX_HOLD_SECONDS, CALLBACKS_ENABLED). Once
a version is published the database is the source of truth for everything a version holds;
the environment only gives the values version 0, and so the first draft, starts from.

Every version is checked by the rules of :mod:`ivr.flow` before it is saved, published or
rolled back to. Publishing and rolling back append a :class:`FlowPublication` and an audit
event; nothing is ever deleted, so any earlier version can be made live again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline import audit
from helpline.config import Settings
from helpline.db import utcnow
from helpline.flows import editable
from helpline.flows.flow import (
    Flow,
    FlowError,
    LineSettings,
    RenderError,
    build_flows,
    check_crisis_number,
    check_max_hold_seconds,
    parse_line,
    read_flow_files,
)
from helpline.flows.rendering import check_renders
from helpline.models import AuditEvent, FlowPublication, FlowVersion, User

SHIPPED = 0


class VersionError(Exception):
    """A version that cannot be edited, published or rolled back to; the message says why."""


class InvalidVersion(VersionError):
    """The values break the flow's rules: ``errors`` maps each field to its problem."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        first = next(iter(errors.items()))
        super().__init__(f"{first[0]}: {first[1]}" + (f" (and {len(errors) - 1} more)"
                                                      if len(errors) > 1 else ""))


@dataclass(frozen=True)
class Defaults:
    """Version 0: the raw flow files and the environment's line settings."""

    raw_flows: dict[str, dict[str, Any]]
    line: LineSettings

    @functools.cached_property
    def fields(self) -> list[editable.Field]:
        return editable.fields_for(self.raw_flows)

    @functools.cached_property
    def values(self) -> dict[str, Any]:
        return editable.values_of(self.raw_flows, self.line)

    def field(self, name: str) -> editable.Field | None:
        return next((f for f in self.fields if f.name == name), None)


@dataclass(frozen=True)
class FlowSet:
    """What the IVR plays for a call: the flows per language and the line settings."""

    version: int
    flows: dict[str, Flow]
    line: LineSettings
    preview: bool = False
    # TwiML that depends only on this version and a few inputs, serialized once
    # (ivr.twiml.rendered); a new version starts with none.
    rendered: dict[tuple[Any, ...], str] = dataclasses.field(
        default_factory=dict, init=False, compare=False, repr=False)


def defaults_from(settings: Settings, directory: Path | None = None) -> Defaults:
    """Version 0 from the flow files and the settings; raise FlowError naming a bad entry."""
    line = LineSettings(
        crisis_number=check_crisis_number(settings.crisis_number, "CRISIS_NUMBER"),
        handle_crisis_in_house=settings.handle_crisis_in_house,
        max_hold_seconds=check_max_hold_seconds(settings.max_hold_seconds, "MAX_HOLD_SECONDS"),
        callbacks_enabled=settings.callbacks_enabled,
    )
    return Defaults(read_flow_files(directory), line)


def check_values(defaults: Defaults, values: dict[str, Any],
                 version: int = SHIPPED) -> FlowSet:
    """The flow set these values make, or :class:`InvalidVersion` naming every bad field."""
    errors: dict[str, str] = {}
    for field in defaults.fields:
        problem = editable.check_field(field, values.get(field.name))
        if problem:
            errors[field.name] = problem
    errors.update(editable.check_between(values, errors))
    if errors:
        raise InvalidVersion(errors)
    raw, line = editable.apply(defaults.raw_flows, values)
    try:
        flow_set = FlowSet(version, build_flows(raw, suffix=""), parse_line(line, "line"))
    except FlowError as exc:
        # A rule between fields (or a structure the files changed): named as the flow says.
        raise InvalidVersion({"flow": str(exc)}) from None
    try:
        # Every prompt filled in and every answer built, as callers would get them.
        check_renders(flow_set.flows)
    except RenderError as exc:
        raise InvalidVersion({exc.field: exc.problem}) from None
    return flow_set


def values_of(defaults: Defaults, version: FlowVersion | None) -> dict[str, Any]:
    """Every editable value of a version (fields added since it was made: the defaults,
    as :func:`editable.upgraded` reads them)."""
    if version is None:
        return dict(defaults.values)
    return editable.upgraded(defaults.values, version.values)


def live_pointer(session: Session) -> tuple[int | None, int]:
    """(id of the newest publication, the live version number): one indexed row, cheap."""
    row = session.execute(select(FlowPublication.id, FlowPublication.version_id)
                          .order_by(FlowPublication.id.desc()).limit(1)).first()
    return (None, SHIPPED) if row is None else (row[0], row[1] or SHIPPED)


def live_version(session: Session) -> int:
    return live_pointer(session)[1]


def get_version(session: Session, number: int) -> FlowVersion:
    version = session.get(FlowVersion, number) if number > 0 else None
    if version is None:
        raise VersionError(f"there is no version {number}")
    return version


def flow_set_of(session: Session, defaults: Defaults, number: int,
                *, preview: bool = False) -> FlowSet:
    """The checked flow set of version ``number`` (0: the shipped defaults)."""
    values = values_of(defaults, get_version(session, number) if number else None)
    flow_set = check_values(defaults, values, number)
    return FlowSet(flow_set.version, flow_set.flows, flow_set.line, preview)


def preview_flow_set(session: Session, defaults: Defaults, number: int) -> FlowSet:
    """A draft to play to a test call; anything but a valid draft raises VersionError."""
    version = get_version(session, number)
    if not version.is_draft:
        raise VersionError(f"version {number} is not a draft; only drafts are previewed")
    return flow_set_of(session, defaults, number, preview=True)


def new_draft(session: Session, defaults: Defaults, *, based_on: int, by: User,
              note: str = "", address: str | None = None) -> FlowVersion:
    """A new draft holding the values of version ``based_on`` (0: the shipped defaults)."""
    source = get_version(session, based_on) if based_on else None
    now = utcnow()
    draft = FlowVersion(based_on=based_on, note=_note(note),
                        values=values_of(defaults, source), created_at=now, updated_at=now,
                        created_by_id=by.id, updated_by_id=by.id)
    session.add(draft)
    session.flush()
    audit.record(session, "ivr.draft", actor=by, record_type="ivr_flow_version",
                 record_id=draft.id, address=address, detail={"based_on": based_on})
    return draft


def save_draft(session: Session, defaults: Defaults, number: int, values: dict[str, Any], *,
               by: User, note: str | None = None, address: str | None = None) -> list[str]:
    """Check and keep a draft's new values; return the names of the fields that changed.

    Raises :class:`InvalidVersion` (nothing kept) when a value breaks the flow's rules.
    """
    draft = _draft(session, number)
    check_values(defaults, values, number)
    before = values_of(defaults, draft)
    changed = [f.name for f in defaults.fields if before.get(f.name) != values.get(f.name)]
    draft.values = {f.name: values.get(f.name) for f in defaults.fields}
    if note is not None and _note(note):
        draft.note = _note(note)
    draft.updated_at, draft.updated_by_id = utcnow(), by.id
    audit.record(session, "ivr.draft_save", actor=by, record_type="ivr_flow_version",
                 record_id=number, address=address, detail={"fields": changed[:50]})
    return changed


def publish(session: Session, defaults: Defaults, number: int, *, by: User,
            address: str | None = None) -> FlowPublication:
    """Make draft ``number`` live for every caller; it can no longer be edited."""
    draft = _draft(session, number)
    check_values(defaults, values_of(defaults, draft), number)
    previous = live_version(session)
    now = utcnow()
    draft.published_at, draft.published_by_id = now, by.id
    publication = FlowPublication(version_id=number, kind="publish", at=now, by_id=by.id)
    session.add(publication)
    session.flush()
    audit.record(session, "ivr.publish", actor=by, record_type="ivr_flow_version",
                 record_id=number, address=address, detail={"previous": previous})
    return publication


def rollback(session: Session, defaults: Defaults, number: int, *, by: User,
             address: str | None = None) -> FlowPublication:
    """Make an earlier published version (or 0, the shipped defaults) live again."""
    previous = live_version(session)
    if number == previous:
        raise VersionError(f"version {number} is already live")
    if number != SHIPPED and get_version(session, number).is_draft:
        raise VersionError(f"version {number} is a draft: publish it rather than roll back")
    flow_set_of(session, defaults, number)  # still valid under today's rules
    publication = FlowPublication(version_id=number or None, kind="rollback", at=utcnow(),
                                  by_id=by.id)
    session.add(publication)
    session.flush()
    audit.record(session, "ivr.rollback", actor=by, record_type="ivr_flow_version",
                 record_id=number, address=address, detail={"previous": previous})
    return publication


def _draft(session: Session, number: int) -> FlowVersion:
    version = get_version(session, number)
    if not version.is_draft:
        raise VersionError(f"version {number} is published and can no longer change; "
                           "make a new draft from it")
    return version


def _note(text: str) -> str:
    return " ".join(text.split())[:200]


# -- what the console shows ----------------------------------------------------------------

@dataclass(frozen=True)
class VersionLine:
    number: int
    state: str  # "live", "draft" or "retired"
    note: str
    based_on: int | None
    created_by: str | None
    created_at: dt.datetime | None
    updated_by: str | None
    updated_at: dt.datetime | None
    published_by: str | None
    published_at: dt.datetime | None


@dataclass(frozen=True)
class PublicationLine:
    version: int
    kind: str
    by: str | None
    at: dt.datetime


@dataclass(frozen=True)
class RuntimeFailure:
    """The live version failed a caller; the IVR plays ``playing`` instead (in one process)."""

    version: int
    playing: int
    field: str
    problem: str
    at: dt.datetime


def runtime_failures(session: Session, limit: int = 5) -> list[RuntimeFailure]:
    """The live version's failures at run time since it was made live, newest first: what
    supervisors must be told until they publish a corrected version or roll back."""
    row = session.execute(select(FlowPublication.version_id, FlowPublication.at)
                          .order_by(FlowPublication.id.desc()).limit(1)).first()
    live = (row[0] or SHIPPED) if row is not None else SHIPPED
    query = (select(AuditEvent).where(AuditEvent.action == "ivr.runtime_fallback",
                                      AuditEvent.record_type == "ivr_flow_version",
                                      AuditEvent.record_id == str(live))
             .order_by(AuditEvent.id.desc()).limit(limit))
    if row is not None:
        # Audit times are kept to the second.
        query = query.where(AuditEvent.at >= row[1].replace(microsecond=0))
    failures = []
    for event in session.scalars(query):
        detail = event.detail or {}
        failures.append(RuntimeFailure(live, int(detail.get("playing", SHIPPED)),
                                       str(detail.get("field", "")),
                                       str(detail.get("problem", "")), event.at))
    return failures


def list_versions(session: Session) -> list[VersionLine]:
    """Every version, newest first, with version 0 (the shipped files) last."""
    live = live_version(session)
    # Looked up with nullable user ids: a row that no one made names no one.
    names: dict[int | None, str] = dict(session.execute(select(User.id, User.username)).all())
    lines = []
    for v in session.scalars(select(FlowVersion).order_by(FlowVersion.id.desc())):
        state = "live" if v.id == live else ("draft" if v.is_draft else "retired")
        lines.append(VersionLine(v.id, state, v.note, v.based_on, names.get(v.created_by_id),
                                 v.created_at, names.get(v.updated_by_id), v.updated_at,
                                 names.get(v.published_by_id), v.published_at))
    lines.append(VersionLine(SHIPPED, "live" if live == SHIPPED else "retired",
                             "The shipped flow files and the environment's line settings",
                             None, None, None, None, None, None, None))
    return lines


def publications(session: Session, limit: int = 50) -> list[PublicationLine]:
    """Who made which version live, and when, newest first."""
    # Looked up with nullable user ids: a row that no one made names no one.
    names: dict[int | None, str] = dict(session.execute(select(User.id, User.username)).all())
    rows = session.scalars(select(FlowPublication).order_by(FlowPublication.id.desc())
                           .limit(limit))
    return [PublicationLine(p.version, p.kind, names.get(p.by_id), p.at) for p in rows]


@dataclass(frozen=True)
class Change:
    field: editable.Field
    before: str
    after: str
    # (kind, text) pieces for a word-level view: kind is "same", "removed" or "added".
    pieces: list[tuple[str, str]]


def diff(session: Session, defaults: Defaults, number: int,
         against: int | None = None) -> list[Change]:
    """What version ``number`` changes compared with ``against`` (by default the live one)."""
    against = live_version(session) if against is None else against
    old = values_of(defaults, get_version(session, against) if against else None)
    new = values_of(defaults, get_version(session, number) if number else None)
    changes = []
    for field in defaults.fields:
        if old.get(field.name) != new.get(field.name):
            before = editable.display(field, old.get(field.name))
            after = editable.display(field, new.get(field.name))
            changes.append(Change(field, before, after, word_diff(before, after)))
    return changes


def word_diff(before: str, after: str) -> list[tuple[str, str]]:
    """Words kept, removed and added, for a readable diff of one prompt."""
    # A word keeps the space after it, so that a rewritten phrase reads as one block.
    a, b = re.findall(r"\s*\S+\s*|\s+", before), re.findall(r"\s*\S+\s*|\s+", after)
    pieces: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            pieces.append(("same", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            pieces.append(("removed", "".join(a[i1:i2])))
        if j2 > j1:
            pieces.append(("added", "".join(b[j1:j2])))
    return pieces
