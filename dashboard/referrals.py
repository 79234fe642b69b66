"""The referrals panel of the record: search the directory, attach, text; and the follow-up
request. All HTMX fragments, so the counselor never leaves the record."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from dashboard.access import current_user, load_visible_contact
from dashboard.blueprint import blueprint
from dashboard.forms import (
    choice_arg,
    datetime_field,
    float_arg,
    id_field,
    text_arg,
    text_field,
)
from helpline.app.runtime import commit_now, db_session, runtime, settings
from helpline.consent.terms import SCRIPT_FOR, script_text
from helpline.db import utcnow
from helpline.directory import (
    capacity,
    meeting_types,
    meetings,
    schedules,
    search,
    upcoming,
    vocabulary,
    weblinks,
)
from helpline.followups import lifecycle
from helpline.followups.scheduling import FollowUpError
from helpline.models import Call, Resource, SupportGroup, TreatmentCenter
from helpline.records import contacts
from helpline.referrals import texts

RADII = (5, 10, 25, 50, 100)
CENTER_FACETS = (("care", "Type of care"), ("medication", "Medication for opioid use disorder"),
                 ("payment", "Payment"))
# The choices of the search form, the same on every record (as the Directory page offers them).
REFERRAL_FILTERS: dict[str, object] = {
    "radii": RADII,
    "languages": vocabulary.LANGUAGES,
    "facets": [(facet, legend, vocabulary.offerings(facet)) for facet, legend in CENTER_FACETS],
    "capacity": capacity.FILTERS,
    "days": meetings.DAYS,
    "times_of_day": {key: span[0] for key, span in search.TIMES_OF_DAY.items()},
    "attendance": search.ATTENDANCE,
    "fellowships": meetings.FELLOWSHIPS,
}


@dataclass(frozen=True)
class MeetingRow:
    """A meeting as the results list says it: when, in the meeting's own time zone; whether it
    is today, tonight or tomorrow there; and a link to join that is safe to open."""

    group: SupportGroup
    distance_miles: float | None
    when: str
    soon: str
    place: str
    link: str


@blueprint.context_processor
def _referral_filters() -> dict[str, object]:
    return {"referral_filters": REFERRAL_FILTERS}


def _attached_part(contact_id: int, message: str | None = None,
                   error: str | None = None) -> str:
    """The attached referrals, re-rendered alone: the search form and its results stay as the
    counselor left them."""
    contact = load_visible_contact(contact_id)
    user = current_user()
    assert user is not None
    return render_template("dashboard/_referrals_attached.html", contact=contact,
                           editable=contacts.can_edit_contact(user, contact),
                           panel_message=message, panel_error=error)


def _meeting_row(group: SupportGroup, distance_miles: float | None,
                 now: dt.datetime) -> MeetingRow:
    when = f"{meetings.DAYS[group.day]}s {group.time:%H:%M} ({group.timezone})"
    soon = ""
    starts = upcoming.next_start(group, now)
    if starts is not None:
        zone = ZoneInfo(group.timezone)
        local = starts.astimezone(zone)
        ahead = (local.date() - now.astimezone(zone).date()).days
        day = {0: "tonight" if local.hour >= 17 else "today", 1: "tomorrow"}.get(ahead)
        if day:
            soon = f"starts {day} at {local:%H:%M}"
    town = " ".join(p for p in (group.city, group.state, group.zip_code) if p)
    place = ", ".join(p for p in (group.location, group.street, town) if p)
    return MeetingRow(group, distance_miles, when, soon, place,
                      weblinks.web_address(group.online_url))


def _offered(center: TreatmentCenter) -> dict[str, list[str]]:
    """The center's care, medications and payment, as words in the vocabulary's order."""
    codes = {(s.facet, s.code) for s in center.services}
    return {facet: [o.label for o in vocabulary.offerings(facet) if (facet, o.code) in codes]
            for facet, _ in CENTER_FACETS}


def _ticked(name: str) -> list[str]:
    return [v.strip()[:64] for v in request.args.getlist(name)[:32] if v.strip()]


def _find_meetings(zip_code: str | None, miles: float, text: str | None, language: str | None,
                   now: dt.datetime) -> list[MeetingRow]:
    """The meetings the panel's filters ask for: all of them near the ZIP code and online, or
    (the "starting soon" box) those starting in the next hours, nearest first."""
    day = choice_arg("day", tuple(str(d) for d in range(7)))
    filters = search.MeetingFilters(
        fellowships=tuple(_ticked("fellowship")), language=language,
        attendance=tuple(_ticked("attendance")), day=int(day) if day is not None else None,
        times_of_day=tuple(_ticked("time_of_day")))
    db = db_session()
    if request.args.get("when") == "soon" and zip_code:
        # Asked for more than are shown, as the filters may leave some out.
        found = upcoming.upcoming_meetings(db, zip_code, now, language=language,
                                           in_person=40, online=20)
        kept = [m for m in found.all if filters.matches(m.group)]
        return ([_meeting_row(m.group, m.distance_miles, now) for m in kept
                 if m.distance_miles is not None][:10]
                + [_meeting_row(m.group, None, now) for m in kept
                   if m.distance_miles is None][:5])
    return [_meeting_row(hit.group, hit.distance_miles, now) for hit in search.search_groups(
        db, zip_code=zip_code, within_miles=miles, text=text, fellowship=filters.fellowships,
        language=language, attendance=filters.attendance, day=filters.day,
        time_of_day=filters.times_of_day, limit=20)]


@blueprint.get("/records/<int:contact_id>/referrals/search")
def search_referrals(contact_id: int) -> str:
    contact = load_visible_contact(contact_id)
    kind = choice_arg("kind", ("center", "group", "resource"), "center")
    zip_code = text_arg("zip", max_length=12) or None
    text = text_arg("text", max_length=200) or None
    miles = float_arg("miles", 25.0, minimum=0.0, maximum=3000.0)
    language = choice_arg("language", tuple(vocabulary.LANGUAGES))
    centers: list[search.CenterHit] = []
    meeting_rows: list[MeetingRow] = []
    resources: list[Resource] = []
    error = None
    db = db_session()
    now = utcnow()
    try:
        if kind == "group":
            meeting_rows = _find_meetings(zip_code, miles, text, language, now)
        elif kind == "resource":
            resources = search.search_resources(db, text=text, language=language, limit=20)
        else:
            centers = search.search_centers(
                db, zip_code=zip_code, within_miles=miles, text=text,
                care=_ticked("care"), medications=_ticked("medication"),
                payment=_ticked("payment"), languages=[language] if language else [],
                capacity=_ticked("capacity"), with_offerings=True, per_page=20).items
    except ValueError as exc:  # UnknownZipError and UnknownOffering are ValueErrors
        error = str(exc) or "That ZIP code is not known."
    return render_template(
        "dashboard/_referral_results.html", kind=kind, centers=centers,
        meeting_rows=meeting_rows, resources=resources, error=error, contact_id=contact_id,
        attached={(r.kind, r.target_id) for r in contact.referrals},
        offered={hit.center.id: _offered(hit.center) for hit in centers},
        capacity_notes={hit.center.id: capacity.summary(hit.center) for hit in centers},
        opening_hours=schedules.opening_hours(db, [hit.center.id for hit in centers]),
        languages=vocabulary.LANGUAGES, fellowships=meetings.FELLOWSHIPS,
        type_name=meeting_types.type_name)


@blueprint.post("/records/<int:contact_id>/referrals")
def attach_referral(contact_id: int) -> str | tuple[str, int]:
    user = current_user()
    assert user is not None
    contact = load_visible_contact(contact_id)
    try:
        contacts.attach_referral(db_session(), contact, user, text_field("kind", max_length=20),
                                 id_field("target_id") or 0)
    except (contacts.ContactError, ValueError) as exc:
        db_session().rollback()  # the panel shows what is stored
        return _attached_part(contact_id, error=str(exc)), 422
    return _attached_part(contact_id, message="Attached.")


@blueprint.post("/records/<int:contact_id>/referrals/<int:referral_id>/remove")
def remove_referral(contact_id: int, referral_id: int) -> str:
    user = current_user()
    assert user is not None
    contact = load_visible_contact(contact_id)
    try:
        contacts.remove_referral(db_session(), contact, user, referral_id)
    except contacts.ContactError as exc:
        db_session().rollback()  # answered 200 (HTMX swaps it in): keep nothing of it
        return _attached_part(contact_id, error=str(exc))
    return _attached_part(contact_id, message="Removed.")


@blueprint.post("/records/<int:contact_id>/referrals/text")
def text_referrals(contact_id: int) -> str | tuple[str, int]:
    user = current_user()
    assert user is not None
    contact = load_visible_contact(contact_id)
    rt = runtime()
    try:
        texts.text_referrals(db_session(), contact, user, rt.telephony, rt.settings)
    except texts.TextRefused as exc:
        # The refusal (an outbox row and its audit event) is counted: kept whatever the answer.
        commit_now()
        return _attached_part(contact_id, error=f"Not sent: {exc}."), 422
    except contacts.ContactError as exc:
        db_session().rollback()  # the panel shows what is stored
        return _attached_part(contact_id, error=f"Not sent: {exc}."), 422
    return _attached_part(contact_id, message="Sent by text.")


def _local(name: str, zone: str, end_of_day: bool = False) -> dt.datetime | None:
    moment = datetime_field(name)
    if moment is None:
        return None
    if end_of_day:  # a date: the consent lasts to the end of that day
        moment = dt.datetime.combine(moment.date() + dt.timedelta(days=1), dt.time())
    return moment.replace(tzinfo=ZoneInfo(zone)).astimezone(dt.UTC)


def followup_script(channel: str, until: dt.datetime | None) -> str:
    """The versioned words a counselor reads to ask for a follow-up on ``channel``."""
    if until is None:
        ends = f"in {settings().consent_days} days"
    else:
        last_day = until.astimezone(ZoneInfo(settings().default_timezone)) - dt.timedelta(seconds=1)
        ends = f"on {last_day:%B %d, %Y}"
    return script_text(SCRIPT_FOR[(channel, "followup")], helpline=settings().safe_contact_alias,
                       until=ends)


@blueprint.app_context_processor
def _followup_scripts() -> dict[str, object]:
    return {"followup_scripts": {"call": followup_script("call", None),
                                 "sms": followup_script("sms", None),
                                 "days": settings().consent_days}}


@blueprint.post("/records/<int:contact_id>/followup")
def request_followup(contact_id: int) -> Response:
    """The caller's consent, channel, number and window → a follow-up request."""
    user = current_user()
    assert user is not None
    contact = load_visible_contact(contact_id)
    db = db_session()
    if not contacts.can_edit_contact(user, contact):
        flash("This record is closed.", "error")
        return redirect(url_for("dashboard.record", contact_id=contact_id))
    call = db.get(Call, contact.call_id) if contact.call_id else None
    channel = "sms" if request.form.get("channel") == "sms" else "call"
    phone = text_field("phone", max_length=32)
    if not phone and request.form.get("same_number") and call is not None:
        phone = call.caller_number or ""
    zone = settings().default_timezone
    version = SCRIPT_FOR[(channel, "followup")]
    try:
        until = _local("consent_until", zone, end_of_day=True)
        # The words read to the caller (the versioned script), recorded as their consent.
        wording = followup_script(channel, until) if request.form.get("consent") else ""
        lifecycle.request_followup(
            db, contact=contact, call=call, phone=phone or None, channel=channel,
            kind="sms_checkin" if channel == "sms" else "bridged_callback",
            requested_by=user, consent_wording=wording, script_version=version,
            consent_until=until,
            window_start=_local("window_start", zone),
            window_end=_local("window_end", zone),
            language=contact.language or "en", zip_code=contact.zip_code, settings=settings())
    except (FollowUpError, ValueError) as exc:
        db.rollback()  # the redirect below is a success to the transaction rule
        flash(f"Follow-up not requested: {exc}", "error")
        return redirect(url_for("dashboard.record", contact_id=contact_id))
    flash("Follow-up requested; a supervisor will schedule it.", "info")
    return redirect(url_for("dashboard.record", contact_id=contact_id))
