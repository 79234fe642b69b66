"""Safe-contact preferences on the record and on a follow-up's page (what the software does with
each is said on the page), the first name to ask for (shown on demand, audited), and a
supervisor raising a follow-up's attempt limit. Thin views over :mod:`helpline.safe_contact`
and :mod:`helpline.followup_limits`."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from dashboard.access import (
    client_address,
    current_user,
    load_followup,
    load_visible_contact,
    permission_required,
)
from dashboard.blueprint import blueprint
from dashboard.forms import InputError, int_field, optional_int_field
from helpline.app.runtime import db_session, settings
from helpline.followups import limits, safe_contact
from helpline.followups.scheduling import FollowUpError
from helpline.models import User
from helpline.plurals import plural
from helpline.staff.roles import Action


def _me() -> User:
    user = current_user()
    assert user is not None
    return user


def panel_context(caller_hash: str | None, action: str, reveal: str) -> dict[str, Any]:
    """What the safe-contact panel needs (for the record and the follow-up page)."""
    db = db_session()
    prefs = safe_contact.preferences_for(db, caller_hash)
    return {"sc": prefs, "sc_caller": caller_hash is not None,
            "sc_lines": safe_contact.what_the_software_does(prefs, settings()),
            "sc_has_name": safe_contact.has_ask_for(db, caller_hash),
            "sc_names": {
                "alias": f"A neutral name: \u201c{settings().safe_contact_alias}\u201d",
                "helpline": f"The helpline's name: \u201c{settings().helpline_name}\u201d"},
            "sc_action": action, "sc_reveal": reveal}


def _hour(name: str) -> int | None:
    try:
        return optional_int_field(name, maximum=23)
    except InputError:
        raise FollowUpError("safe hours are hours from 0 to 23") from None


def _save(caller_hash: str | None) -> str | None:
    """Save the posted preferences; an error message, or None."""
    db = db_session()
    try:
        start, end = _hour("safe_start"), _hour("safe_end")
        if (start is None) != (end is None):
            raise FollowUpError("give both safe hours, or neither")
        typed = request.form.get("ask_for", "").strip()
        ask_for = "" if request.form.get("clear_ask_for") else (typed or None)
        safe_contact.set_preferences(
            db, caller_hash, _me(), settings(),
            voicemail_ok=request.form.get("voicemail_ok") == "1",
            name_choice=request.form.get("name_choice", "alias"),
            allow_calls=request.form.get("allow_calls") == "1",
            allow_texts=request.form.get("allow_texts") == "1",
            safe_hours=(start, end) if start is not None and end is not None else None,
            someone_else_risk=request.form.get("someone_else_risk") == "1",
            ask_for=ask_for)
    except FollowUpError as exc:
        db.rollback()  # answered with a redirect, a success to the transaction rule
        return str(exc)
    return None


def _flash_saved(error: str | None) -> None:
    flash(f"Not saved: {error}." if error else "Safe-contact preferences saved.",
          "error" if error else "info")


@blueprint.post("/records/<int:contact_id>/safe-contact")
def safe_contact_record(contact_id: int) -> Response:
    contact = load_visible_contact(contact_id)
    _flash_saved(_save(contact.caller_hash))
    return redirect(url_for("dashboard.record", contact_id=contact_id) + "#safe-contact")


@blueprint.post("/followups/<int:followup_id>/safe-contact")
def safe_contact_followup(followup_id: int) -> Response:
    followup = load_followup(followup_id)
    _flash_saved(_save(followup.caller_hash))
    return redirect(url_for("dashboard.followup_page", followup_id=followup_id)
                    + "#safe-contact")


def _reveal(caller_hash: str | None, back: str) -> str:
    db = db_session()
    name = safe_contact.read_ask_for(db, _me(), caller_hash, allowed=True,
                                     address=client_address())
    if request.headers.get("HX-Request"):
        return render_template("consents/_ask_for.html", name=name)
    return render_template("consents/ask_for.html", name=name, back=back)


@blueprint.post("/records/<int:contact_id>/safe-contact/ask-for")
def ask_for_record(contact_id: int) -> str:
    contact = load_visible_contact(contact_id)
    return _reveal(contact.caller_hash, url_for("dashboard.record", contact_id=contact_id))


@blueprint.post("/followups/<int:followup_id>/safe-contact/ask-for")
def ask_for_followup(followup_id: int) -> str:
    followup = load_followup(followup_id)
    return _reveal(followup.caller_hash,
                   url_for("dashboard.followup_page", followup_id=followup_id))


@blueprint.post("/followups/<int:followup_id>/max-attempts")
@permission_required(Action.MANAGE_FOLLOWUPS)
def followup_max_attempts(followup_id: int) -> Response:
    """A supervisor lets one follow-up try more times than the default, with a reason."""
    followup = load_followup(followup_id)
    db = db_session()
    try:
        try:
            wanted = int_field("max_attempts", 0, maximum=99)
        except InputError:
            wanted = 0  # the service refuses it in its own words, with the limits
        limits.raise_max_attempts(
            db, followup, wanted, by=_me(),
            reason=request.form.get("reason", ""))
    except FollowUpError as exc:
        db.rollback()  # the redirect below is a success to the transaction rule
        flash(f"Not changed: {exc}.", "error")
    else:
        flash(f"Up to {plural(followup.max_attempts, 'attempt')} allowed.", "info")
    return redirect(url_for("dashboard.followup_page", followup_id=followup_id))
