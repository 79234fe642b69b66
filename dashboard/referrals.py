"""The referrals panel of the record: search the directory, attach, text; and the follow-up
request. All HTMX fragments, so the counselor never leaves the record."""

from __future__ import annotations

import datetime as dt
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
from helpline.directory import capacity, search
from helpline.followups import lifecycle
from helpline.followups.scheduling import FollowUpError
from helpline.models import Call
from helpline.records import contacts
from helpline.referrals import texts

RADII = (5, 10, 25, 50, 100)
CARE_FILTERS = {"detox": "Detox", "outpatient": "Outpatient", "residential": "Residential",
                "inpatient": "Hospital inpatient", "telehealth": "Telehealth"}
PAYMENT_FILTERS = {"medicaid": "Medicaid", "medicare": "Medicare", "private": "Private insurance",
                   "sliding_fee": "Sliding fee", "free": "Free"}


def _panel(contact_id: int, message: str | None = None, error: str | None = None) -> str:
    contact = load_visible_contact(contact_id)
    user = current_user()
    assert user is not None
    return render_template("dashboard/_referrals_panel.html", contact=contact,
                           editable=contacts.can_edit_contact(user, contact),
                           panel_message=message, panel_error=error)


@blueprint.get("/records/<int:contact_id>/referrals/search")
def search_referrals(contact_id: int) -> str:
    load_visible_contact(contact_id)
    kind = choice_arg("kind", ("center", "group", "resource"), "center")
    zip_code = text_arg("zip", max_length=12) or None
    text = text_arg("text", max_length=200) or None
    miles = float_arg("miles", 25.0, minimum=0.0, maximum=3000.0)
    results: list[tuple[str, int, str, str, float | None]] = []
    capacity_notes: dict[int, str] = {}  # center id → "Accepting new patients · confirmed …"
    error = None
    db = db_session()
    try:
        if kind == "group":
            for hit in search.search_groups(db, zip_code=zip_code, within_miles=miles, text=text,
                                            limit=20):
                g = hit.group
                where = (g.online_url and "online") or f"{g.city} {g.state}"
                results.append(("group", g.id, g.name, where, hit.distance_miles))
        elif kind == "resource":
            for r in search.search_resources(db, text=text, limit=20):
                results.append(("resource", r.id, r.title, r.kind, None))
        else:
            page = search.search_centers(
                db, zip_code=zip_code, within_miles=miles, text=text,
                care=request.args.getlist("care"), payment=request.args.getlist("payment"),
                capacity=request.args.getlist("capacity"), per_page=20)
            for hit in page.items:
                c = hit.center
                results.append(("center", c.id, c.name, f"{c.street1}, {c.city} {c.state}",
                                hit.distance_miles))
                capacity_notes[c.id] = capacity.summary(c)
    except ValueError as exc:  # UnknownZipError is a ValueError
        error = str(exc) or "That ZIP code is not known."
    return render_template("dashboard/_referral_results.html", results=results, error=error,
                           contact_id=contact_id, capacity_notes=capacity_notes)


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
        return _panel(contact_id, error=str(exc)), 422
    return _panel(contact_id, message="Attached.")


@blueprint.post("/records/<int:contact_id>/referrals/<int:referral_id>/remove")
def remove_referral(contact_id: int, referral_id: int) -> str:
    user = current_user()
    assert user is not None
    contact = load_visible_contact(contact_id)
    try:
        contacts.remove_referral(db_session(), contact, user, referral_id)
    except contacts.ContactError as exc:
        db_session().rollback()  # answered 200 (HTMX swaps it in): keep nothing of it
        return _panel(contact_id, error=str(exc))
    return _panel(contact_id, message="Removed.")


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
        return _panel(contact_id, error=f"Not sent: {exc}."), 422
    except contacts.ContactError as exc:
        db_session().rollback()  # the panel shows what is stored
        return _panel(contact_id, error=f"Not sent: {exc}."), 422
    return _panel(contact_id, message="Sent by text.")


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
