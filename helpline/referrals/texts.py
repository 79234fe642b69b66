"""Texting the record's referrals to the caller.

Only through the consent door (texts, for referral details): the record's "agreed to a text"
box records that consent (or withdraws it), read from the versioned script. Never to a number
that said STOP or a caller who said texts are not safe; in neutral words (names, addresses and
phones of the places, nothing about the call) under the name the caller allowed; each text
logged as a disclosure. A text to the caller themself needs no §2.32 notice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.orm import Session

from helpline import audit
from helpline.config import Settings
from helpline.consent import terms
from helpline.consent.disclosures import log_disclosure
from helpline.consent.door import CALLER, ConsentError, record_consent, require_consent, withdraw
from helpline.consent.optouts import is_opted_out
from helpline.db import utcnow
from helpline.followups import safe_contact
from helpline.models import Call, Consent, Contact, OutboxMessage, Referral, User
from helpline.records.contacts import ContactError, can_edit_contact, directory_entry
from helpline.telephony import UNKNOWN, Telephony

SCRIPT_VERSION = terms.SCRIPT_FOR[("sms", "referral")]


class TextRefused(ContactError):
    """The text was refused by the limits on texts (per call, per number a day, allowed
    countries). Nothing was sent; the refusal is an outbox row worth keeping."""


def script(settings: Settings) -> str:
    """What the counselor reads before ticking the box."""
    return terms.script_text(SCRIPT_VERSION, helpline=settings.safe_contact_alias)


def referral_text_consent(session: Session, contact: Contact,
                          now: dt.datetime | None = None) -> Consent | None:
    """The caller's live consent to receive referral details by text, if any."""
    try:
        return require_consent(session, contact.caller_hash, "sms", CALLER, "referral", now)
    except ConsentError:
        return None


def set_referral_text_consent(session: Session, contact: Contact, by: User, agreed: bool,
                              settings: Settings, now: dt.datetime | None = None
                              ) -> Consent | None:
    """Record (agreed) or withdraw (not agreed) the caller's consent to referral texts, from
    the record. Returns the live consent afterwards, if any."""
    if not can_edit_contact(by, contact):
        raise ContactError("this record is closed or not yours to edit")
    now = now or utcnow()
    live = referral_text_consent(session, contact, now)
    if agreed and live is None:
        if contact.caller_hash is None:
            raise ContactError("there is no number for this caller: no text can be sent")
        # TCPA: the consent names the number it covers (the one they called from).
        call = session.get(Call, contact.call_id) if contact.call_id else None
        number = call.caller_number if call else None
        return record_consent(
            session, caller_hash=contact.caller_hash, scope="sms", purpose="referral",
            wording=script(settings), script_version=SCRIPT_VERSION, by=by, contact=contact,
            phone=number if number and not number.startswith("client:") else None,
            expires_at=now + dt.timedelta(days=settings.consent_days), now=now)
    if not agreed and live is not None:
        withdraw(session, live, by=by, how="unticked on the record", now=now)
        return None
    return live


def referral_sms_body(session: Session, referrals: Sequence[Referral], settings: Settings,
                      name: str | None = None) -> str:
    """A neutral text: names, addresses and phones of the places, nothing about the call."""
    lines = [f"{name or settings.safe_contact_alias}: the places we talked about."]
    for referral in referrals:
        entry = directory_entry(session, referral.kind, referral.target_id)
        parts = [referral.target_name]
        if entry is not None:
            street = getattr(entry, "street1", "") or getattr(entry, "street", "") or ""
            place = " ".join(p for p in (getattr(entry, "city", ""), getattr(entry, "state", ""),
                                          getattr(entry, "zip_code", "")) if p)
            extra = getattr(entry, "phone", "") or getattr(entry, "online_url", "") or getattr(
                entry, "link", "") or ""
            parts += [p for p in (street, place, extra) if p]
        lines.append(" - " + ", ".join(str(p) for p in parts))
    lines.append("Reply STOP to opt out.")
    return "\n".join(lines)


def text_referrals(session: Session, contact: Contact, by: User, telephony: Telephony,
                   settings: Settings, now: dt.datetime | None = None) -> OutboxMessage:
    """Text the record's unsent referrals to the caller: refused (ContactError, saying why)
    without a live consent, to a number that opted out, or when texts are not safe; and
    (TextRefused) over the limits on texts, or to a country texts may not go to."""
    if not can_edit_contact(by, contact):
        raise ContactError("this record is closed or not yours to edit")
    now = now or utcnow()
    try:
        consent = require_consent(session, contact.caller_hash, "sms", CALLER, "referral", now)
    except ConsentError as exc:
        raise ContactError(str(exc)) from None
    call = session.get(Call, contact.call_id) if contact.call_id else None
    number = call.caller_number if call else None
    if not number or number.startswith("client:"):
        raise ContactError("there is no number to text for this caller")
    if is_opted_out(session, number):
        raise ContactError("the caller has opted out of texts")
    prefs = safe_contact.preferences_for(session, contact.caller_hash)
    unsafe = safe_contact.channel_refusal(prefs, "sms")
    if unsafe:
        raise ContactError(unsafe)
    unsent = [r for r in contact.referrals if r.sent_by_sms_at is None]
    if not unsent:
        raise ContactError("no referral left to send")
    body = referral_sms_body(session, unsent, settings, safe_contact.name_to_use(prefs, settings))
    message = telephony.send_sms(session, number, body, purpose="referral",
                                 call_sid=call.call_sid if call else None)
    if message.status == "refused":
        audit.record(session, "contact.referral_sms_refused", actor=by, record_type="contact",
                     record_id=contact.id, detail={"outbox_id": message.id})
        raise TextRefused(message.error or "the text was refused")
    if message.status == "failed":
        raise ContactError("the text service did not take the text; nothing was sent. "
                           "Try again, or read the referrals to the caller")
    if message.status == UNKNOWN:
        raise ContactError("the text service did not answer, so the text may or may not have "
                           "gone. Ask the caller whether it arrived before sending again")
    for referral in unsent:
        referral.sent_by_sms_at = now
        referral.outbox_id = message.id
    disclosure = log_disclosure(session, consent, channel="sms", information=["referral_list"],
                                by=by, contact_id=contact.id, outbox_id=message.id, now=now)
    audit.record(session, "contact.referral_sms", actor=by, record_type="contact",
                 record_id=contact.id, detail={"referrals": [r.id for r in unsent],
                                               "outbox_id": message.id,
                                               "consent_id": consent.id,
                                               "disclosure_id": disclosure.id})
    return message
