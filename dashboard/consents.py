"""One place for a caller's consents: every consent they gave (live, withdrawn, expired) with
"withdraw" per consent, and every disclosure made about them, the overdose protocol's
emergency disclosures included. Reached from the call record and from a follow-up's page.

Who may see it: :func:`dashboard.access.can_view_caller_consents` (counselors on the caller's
contact, supervisors; admins never); anyone else gets 404, audited. Every view is audited.
Thin views over :mod:`helpline.consent` and :mod:`helpline.disclosures`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from dashboard import words
from dashboard.access import (
    can_view_caller_consents,
    client_address,
    current_user,
    load_followup,
    load_visible_contact,
    refuse,
)
from dashboard.blueprint import blueprint
from dashboard.forms import date_field
from helpline.app.runtime import db_session, settings
from helpline.consent import disclosures, door, terms
from helpline.db import utcnow
from helpline.models import Consent, Contact, FollowUp, User
from helpline.records import contacts

WITHDRAWN_HOW = {
    "told_on_phone": "The caller told us on the phone",
    "in_writing": "The caller wrote to us",
    "told_in_person": "The caller told us in person",
}
THIRD_PARTY_RELATIONS = {"family": "A family member", "partner": "A partner",
                         "friend": "A friend", "professional": "A professional (e.g. doctor)",
                         "other": "Someone else"}


@dataclass
class CallerPage:
    """Where the caller's page was opened from: a record or a follow-up."""

    caller_hash: str | None
    contact: Contact | None
    followup: FollowUp | None

    @property
    def kind(self) -> str:
        return "record" if self.contact is not None else "followup"

    @property
    def ident(self) -> int:
        item = self.contact if self.contact is not None else self.followup
        assert item is not None
        return item.id

    def url(self, endpoint: str, **kw: object) -> str:
        key = "contact_id" if self.kind == "record" else "followup_id"
        return url_for(f"dashboard.{endpoint}_{self.kind}", **{key: self.ident}, **kw)

    @property
    def back(self) -> str:
        if self.contact is not None:
            return url_for("dashboard.record", contact_id=self.contact.id)
        return url_for("dashboard.followup_page", followup_id=self.ident)


def _me() -> User:
    user = current_user()
    assert user is not None  # the sign-in gate ran first
    return user


def _from_record(contact_id: int) -> CallerPage:
    page = CallerPage(None, load_visible_contact(contact_id), None)
    assert page.contact is not None
    page.caller_hash = page.contact.caller_hash
    if not can_view_caller_consents(_me(), contact=page.contact):
        refuse("consent.list.refused", page.kind, page.ident)
    return page


def _from_followup(followup_id: int) -> CallerPage:
    followup = load_followup(followup_id)
    page = CallerPage(followup.caller_hash, None, followup)
    if not can_view_caller_consents(_me(), followup=followup):
        refuse("consent.list.refused", page.kind, page.ident)
    return page


def _zone() -> ZoneInfo:
    return ZoneInfo(settings().default_timezone)


def _local(when: dt.datetime | None) -> str:
    return words.clock(when, "long")


def _render(page: CallerPage) -> str:
    db = db_session()
    now = utcnow()
    shown = disclosures.caller_consents(
        db, _me(), page.caller_hash,
        allowed=can_view_caller_consents(_me(), contact=page.contact, followup=page.followup),
        record_type=page.kind, record_id=page.ident, address=client_address())
    names = dict(db.execute(select(User.id, User.display_name)).all())
    editable = page.contact is not None and contacts.can_edit_contact(_me(), page.contact)
    html = render_template(
        "consents/caller.html", page=page, consents=shown.consents, log=shown.log, names=names,
        third_party_names=shown.third_party_names, now=now,
        status=door.status, terms=terms, local=_local, withdrawn_how=WITHDRAWN_HOW,
        editable=editable, relations=THIRD_PARTY_RELATIONS,
        third_party_script=terms.script_text(
            "third-party-1", helpline=settings().helpline_name, recipient="[who]",
            information=terms.information_phrase(
                terms.DEFAULT_INFORMATION[("third_party", "care_coordination")]),
            until=f"in {settings().consent_days} days"))
    return html


@blueprint.get("/records/<int:contact_id>/consents")
def caller_consents_record(contact_id: int) -> str:
    return _render(_from_record(contact_id))


@blueprint.get("/followups/<int:followup_id>/consents")
def caller_consents_followup(followup_id: int) -> str:
    return _render(_from_followup(followup_id))


def _withdraw(page: CallerPage, consent_id: int) -> Response:
    db = db_session()
    row = db.get(Consent, consent_id)
    if row is None or row.caller_hash is None or row.caller_hash != page.caller_hash:
        refuse("consent.refused", "consent", consent_id)
    how = request.form.get("how", "")
    if request.form.get("confirm") != "1" or how not in WITHDRAWN_HOW:
        flash("Not withdrawn: say how the caller withdrew it and tick the box to confirm.",
              "error")
        return redirect(page.url("caller_consents"))
    if row.withdrawn_at is not None:
        flash(f"Consent #{row.id} was already withdrawn.", "info")
        return redirect(page.url("caller_consents"))
    stopped = door.withdraw(db, row, by=_me(), how=how)
    flash(f"Consent #{row.id} withdrawn: nothing more will be shared or sent on it"
          + (f"; {stopped} follow-up(s) stopped." if stopped else "."), "info")
    return redirect(page.url("caller_consents"))


@blueprint.post("/records/<int:contact_id>/consents/<int:consent_id>/withdraw")
def withdraw_consent_record(contact_id: int, consent_id: int) -> Response:
    return _withdraw(_from_record(contact_id), consent_id)


@blueprint.post("/followups/<int:followup_id>/consents/<int:consent_id>/withdraw")
def withdraw_consent_followup(followup_id: int, consent_id: int) -> Response:
    return _withdraw(_from_followup(followup_id), consent_id)


def _until(name: str) -> dt.datetime | None:
    """A date from the form: the consent lasts to the end of that day (helpline's zone)."""
    day = date_field(name)
    if day is None:
        return None
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), _zone())
    return end.astimezone(dt.UTC)


@blueprint.post("/records/<int:contact_id>/consents/third-party")
def record_third_party_consent(contact_id: int) -> Response:
    """Consent to contact someone the caller named, read from the versioned script."""
    page = _from_record(contact_id)
    assert page.contact is not None
    db = db_session()
    if not contacts.can_edit_contact(_me(), page.contact):
        flash("This record is closed or not yours to edit.", "error")
        return redirect(page.url("caller_consents"))
    relation = request.form.get("relation", "")
    info = request.form.getlist("information")
    try:
        if relation not in THIRD_PARTY_RELATIONS:
            raise door.ConsentError("say who the third party is")
        if request.form.get("attest") != "1":
            raise door.ConsentError("tick the box to attest that you read the words and the "
                                       "caller agreed")
        until = _until("until") or (
            utcnow() + dt.timedelta(days=settings().consent_days))
        words = terms.script_text(
            "third-party-1", helpline=settings().helpline_name,
            recipient=THIRD_PARTY_RELATIONS[relation].lower(),
            information=terms.information_phrase(info),
            until=f"on {(until - dt.timedelta(seconds=1)).astimezone(_zone()):%B %d, %Y}")
        door.record_consent(
            db, caller_hash=page.caller_hash, scope="third_party", purpose="care_coordination",
            wording=words, script_version="third-party-1", by=_me(), contact=page.contact,
            recipient=door.Recipient.third_party(THIRD_PARTY_RELATIONS[relation]),
            third_party_name=request.form.get("name", ""), information=info,
            phone=request.form.get("phone", "").strip() or None, expires_at=until)
    except (door.ConsentError, ValueError) as exc:
        db.rollback()  # the redirect below is a success to the transaction rule
        flash(f"Not recorded: {exc}.", "error")
        return redirect(page.url("caller_consents"))
    flash("Consent recorded.", "info")
    return redirect(page.url("caller_consents"))
