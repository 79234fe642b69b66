"""The call record: open, save drafts, wrap up, earlier contacts, referrals, and the one door
to confidential notes (:func:`read_notes`, which audits every read). Texting referrals to the
caller (with their consent) is :mod:`helpline.referral_texts`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, cast, false, or_, select, tuple_
from sqlalchemy.orm import Session, object_session, undefer

from helpline import audit
from helpline.db import utcnow
from helpline.models import (
    FULL_ATTESTATION,
    AgentStatus,
    Call,
    Contact,
    ContactStatus,
    OverdoseProtocol,
    Referral,
    User,
)
from helpline.staff.roles import Action, can

CALLER_TYPES = {"self": "Self", "family_friend": "Family or friend",
                "professional": "Professional", "other": "Other"}
SUBSTANCES = {"ketamine": "Ketamine", "opioids": "Opioids and fentanyl", "alcohol": "Alcohol",
              "stimulants": "Stimulants", "cannabis": "Cannabis",
              "benzodiazepines": "Benzodiazepines", "other": "Other"}
RISK_LEVELS = {"none": "None", "low": "Low", "moderate": "Moderate", "high": "High",
               "imminent": "Imminent"}
AGE_RANGES = {"under_18": "Under 18", "18_25": "18-25", "26_40": "26-40", "41_64": "41-64",
              "65_plus": "65 or older", "unknown": "Not said"}
INSURANCE = {"medicaid": "Medicaid", "medicare": "Medicare", "private": "Private",
             "tricare": "TRICARE", "none": "None", "unknown": "Not said"}
OUTCOMES = {"information": "Information given", "referred": "Referred to treatment",
            "support": "Support and listening", "crisis_transfer": "Transferred to crisis line",
            "emergency": "Emergency services contacted", "disconnected": "Call dropped",
            "other": "Other"}
# Imminent risk: what the counselor did, following the crisis protocol (988 policy).
CRISIS_STEPS = {"stayed_on_line": "Stayed on the line with the caller",
                "got_location": "Confirmed the caller's location",
                "warm_transfer_988": "Warm transfer to 988",
                "called_911": "Called emergency services (911 / local number)",
                "ems_confirmed": "Emergency services confirmed contact",
                "supervisor_told": "Told the supervisor"}
STATES = frozenset({
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID",
    "IL", "IN", "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO",
    "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA",
    "PR", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY",
})
REFERRAL_KINDS = ("center", "group", "resource")
MAX_NOTES = 20_000
MAX_REASON = 500
# What wrap-up asks for before a record closes, by code (audit) and in a counselor's words.
WRAP_UP_NEEDS = {
    "outcome": "the outcome of the contact",
    "crisis_steps": "the crisis steps taken for the imminent risk, or why none was possible",
    "suicide_risk": "the suicide risk level (the overdose protocol ran on this call)",
    "overdose_risk": "the overdose risk level (the overdose protocol ran on this call)",
}


class ContactError(ValueError):
    """A change to a record that cannot be made; the message says why (never quotes a value)."""


class WrapUpRefused(ContactError):
    """Wrap-up refused: ``missing`` lists, in plain words, everything still to record."""

    def __init__(self, codes: list[str]) -> None:
        self.codes = codes
        self.missing = [WRAP_UP_NEEDS[code] for code in codes]
        super().__init__("still to record: " + "; ".join(self.missing))


# --- access rules (re-exported by dashboard.access) ---------------------------------------

def _on_call_with(session: Session, user: User, caller_hash: str | None) -> bool:
    """The user is serving, now, a call from this number whose caller ID the carrier fully
    vouched for. A caller ID can be spoofed: anyone (a counselor too) can call in with a
    caller's number, so an unproven number never opens the notes of that caller's records."""
    if caller_hash is None:
        return False
    verified = Call.caller_attestation == FULL_ATTESTATION
    return session.scalar(
        select(Contact.id).join(Call, Call.id == Contact.call_id)
        .where(Contact.counselor_id == user.id, Contact.status == ContactStatus.OPEN,
               Contact.caller_hash == caller_hash, verified).limit(1)
    ) is not None or session.scalar(
        select(Call.id).where(Call.counselor_id == user.id, Call.status == "in-progress",
                              Call.caller_hash == caller_hash, verified).limit(1)
    ) is not None


def can_read_notes(user: User, contact: Contact) -> bool:
    """Supervisors: every record. Counselors: their own, and the caller they are serving now
    when that call's caller ID is verified (full STIR/SHAKEN attestation). Admins manage
    accounts and never read notes."""
    if can(user, Action.READ_ALL_RECORDS):
        return True
    if not can(user, Action.READ_OWN_RECORDS):
        return False
    if contact.counselor_id == user.id:
        return True
    session = object_session(contact)
    return session is not None and _on_call_with(session, user, contact.caller_hash)


def can_view_contact(user: User, contact: Contact) -> bool:
    """Who may open a record at all: the same people who may read its notes."""
    return can_read_notes(user, contact)


def can_edit_contact(user: User, contact: Contact) -> bool:
    return contact.counselor_id == user.id and contact.status == ContactStatus.OPEN


# --- the record ----------------------------------------------------------------------------

def open_contact_for_call(session: Session, counselor: User, call: Call,
                          now: dt.datetime | None = None) -> Contact:
    """The record of ``call`` (made on first use) with what the IVR learned copied in."""
    existing = session.scalar(select(Contact).where(Contact.call_id == call.id))
    if existing is not None:
        return existing
    wait = call.wait_seconds
    if wait is None and call.enqueued_at and call.answered_at:
        wait = int((call.answered_at - call.enqueued_at).total_seconds())
    contact = Contact(counselor_id=counselor.id, call_id=call.id, caller_hash=call.caller_hash,
                      need=call.need, language=call.language, zip_code=call.zip_code,
                      wait_seconds=wait, created_at=now or utcnow())
    session.add(contact)
    session.flush()
    audit.record(session, "contact.open", actor=counselor, record_type="contact",
                 record_id=contact.id, detail={"call_id": call.id})
    return contact


def open_contact_without_call(session: Session, counselor: User,
                              now: dt.datetime | None = None) -> Contact:
    """A record for a contact that did not come through the IVR (e.g. a walk-in)."""
    contact = Contact(counselor_id=counselor.id, created_at=now or utcnow())
    session.add(contact)
    session.flush()
    audit.record(session, "contact.open", actor=counselor, record_type="contact",
                 record_id=contact.id)
    return contact


def _choice(name: str, value: str | None, allowed: Mapping[str, str]) -> str | None:
    if value in (None, ""):
        return None
    if value not in allowed:
        raise ContactError(f"{name}: not one of the choices")
    return value


def update_draft(session: Session, contact: Contact, by: User, form: Mapping[str, Any],
                 now: dt.datetime | None = None) -> list[str]:
    """Save the fields present in ``form`` (a draft: all optional); return the changed names.

    ``form`` values are strings, except ``substances`` and ``crisis_steps`` (lists).
    ``notes`` and ``no_crisis_step_reason`` are sealed.
    """
    if not can_edit_contact(by, contact):
        raise ContactError("this record is closed or not yours to edit")
    changed: list[str] = []

    def put(attr: str, value: Any) -> None:
        if getattr(contact, attr) != value:
            setattr(contact, attr, value)
            changed.append(attr)

    for attr, choices in (("caller_type", CALLER_TYPES), ("suicide_risk", RISK_LEVELS),
                          ("overdose_risk", RISK_LEVELS), ("age_range", AGE_RANGES),
                          ("insurance", INSURANCE), ("outcome", OUTCOMES)):
        if attr in form:
            put(attr, _choice(attr, form[attr], choices))
    for attr, choices in (("substances", SUBSTANCES), ("crisis_steps", CRISIS_STEPS)):
        if attr in form:
            values = [v for v in form[attr] if v]
            if set(values) - set(choices):
                raise ContactError(f"{attr}: not one of the choices")
            put(attr, [v for v in choices if v in values])
    if "state" in form:
        state = (form["state"] or "").strip().upper() or None
        if state is not None and state not in STATES:
            raise ContactError("state: not a US state code")
        put("state", state)
    if "zip_code" in form:
        zip_code = (form["zip_code"] or "").strip() or None
        if zip_code is not None and not (len(zip_code) == 5 and zip_code.isdigit()):
            raise ContactError("zip_code: a ZIP code is 5 digits")
        put("zip_code", zip_code)
    if "no_crisis_step_reason" in form:
        reason = str(form["no_crisis_step_reason"] or "").strip()
        if len(reason) > MAX_REASON:
            raise ContactError(f"no_crisis_step_reason: at most {MAX_REASON} characters")
        current = session.scalar(select(Contact.no_crisis_step_reason)
                                 .where(Contact.id == contact.id))
        if (current or "") != reason:
            contact.no_crisis_step_reason = reason or None
            changed.append("no_crisis_step_reason")
    if "notes" in form:
        notes = str(form["notes"] or "")
        if len(notes) > MAX_NOTES:
            raise ContactError(f"notes: at most {MAX_NOTES} characters")
        # Compare without decrypting into the identity map twice: load once, deliberately.
        current = session.scalar(select(Contact.notes).where(Contact.id == contact.id))
        if (current or "") != notes:
            contact.notes = notes or None
            changed.append("notes")
    if changed:
        contact.updated_at = now or utcnow()
        session.flush()
        audit.record(session, "contact.update", actor=by, record_type="contact",
                     record_id=contact.id, detail={"fields": changed})
    return changed


def read_notes(session: Session, viewer: User, contact: Contact, address: str | None) -> str:
    """The decrypted notes of ``contact`` for ``viewer``; audited. The only door to notes."""
    return audit.read_sealed(session, viewer, Contact.notes, Contact.id == contact.id,
                             allowed=can_read_notes(viewer, contact), action="contact.notes",
                             record_type="contact", record_id=contact.id, address=address)


def missing_for_wrap_up(session: Session, contact: Contact) -> list[str]:
    """The codes of :data:`WRAP_UP_NEEDS` still missing before ``contact`` may close: its
    outcome; at imminent risk, a crisis step or why none was possible; after an overdose
    protocol on the record or its call, both risk levels. Empty when it may close."""
    session.flush()
    missing: list[str] = []
    if not contact.outcome:
        missing.append("outcome")
    if "imminent" in (contact.suicide_risk, contact.overdose_risk) and not contact.crisis_steps:
        # Asked of the database: the reason is sealed, and its presence is all that counts.
        has_reason = session.scalar(select(Contact.id).where(
            Contact.id == contact.id, Contact.no_crisis_step_reason.is_not(None)))
        if has_reason is None:
            missing.append("crisis_steps")
    if contact.suicide_risk is None or contact.overdose_risk is None:
        ran_here = OverdoseProtocol.contact_id == contact.id
        protocol = session.scalar(select(OverdoseProtocol.id).where(
            or_(ran_here, OverdoseProtocol.call_id == contact.call_id)
            if contact.call_id is not None else ran_here).limit(1))
        if protocol is not None:
            missing += [risk for risk in ("suicide_risk", "overdose_risk")
                        if getattr(contact, risk) is None]
    return missing


def wrap_up(session: Session, contact: Contact, by: User, now: dt.datetime | None = None) -> None:
    """Close the record and make the counselor available for the next caller; refused
    (:class:`WrapUpRefused`, naming everything missing) until the record is documented."""
    if not can_edit_contact(by, contact):
        raise ContactError("this record is closed or not yours to edit")
    missing = missing_for_wrap_up(session, contact)
    if missing:
        raise WrapUpRefused(missing)
    _close(session, contact, by, now or utcnow())
    audit.record(session, "contact.wrap_up", actor=by, record_type="contact",
                 record_id=contact.id)


def wrap_up_anyway(session: Session, contact: Contact, by: User, reason: str,
                   now: dt.datetime | None = None) -> list[str]:
    """Close a record with something missing, for the ``reason`` given (sealed on the record);
    return the codes of what was missing. Recorded as ``contact.wrap_up_override``, which the
    supervisors' audit review lists as an alert; the reason itself stays out of the audit."""
    if not can_edit_contact(by, contact):
        raise ContactError("this record is closed or not yours to edit")
    reason = reason.strip()
    if not reason:
        raise ContactError("reason: say why the record closes with something missing")
    if len(reason) > MAX_REASON:
        raise ContactError(f"reason: at most {MAX_REASON} characters")
    missing = missing_for_wrap_up(session, contact)
    if not missing:
        wrap_up(session, contact, by, now)
        return []
    contact.wrap_up_override_reason = reason
    _close(session, contact, by, now or utcnow())
    audit.record(session, "contact.wrap_up_override", actor=by, record_type="contact",
                 record_id=contact.id, detail={"missing": missing})
    return missing


def _close(session: Session, contact: Contact, by: User, now: dt.datetime) -> None:
    contact.status = ContactStatus.CLOSED
    contact.closed_at = now
    call = session.get(Call, contact.call_id) if contact.call_id else None
    if call is not None and call.ended_at is not None and call.ended_at <= now:
        contact.wrapup_seconds = int((now - call.ended_at).total_seconds())
    # Back to what they had before the call (Available, unless they chose otherwise since).
    by.status = by.status_before_call or AgentStatus.AVAILABLE
    by.status_before_call = None
    by.status_since = now


def read_reasons(session: Session, viewer: User, contact: Contact,
                 address: str | None) -> dict[str, str]:
    """The record's sealed reasons that are set (``no_crisis_step_reason``,
    ``wrap_up_override_reason``), decrypted for ``viewer``; each read audited."""
    reasons: dict[str, str] = {}
    for column in (Contact.no_crisis_step_reason, Contact.wrap_up_override_reason):
        if session.scalar(select(Contact.id).where(Contact.id == contact.id,
                                                   column.is_not(None))) is None:
            continue
        reasons[column.key] = audit.read_sealed(
            session, viewer, column, Contact.id == contact.id,
            allowed=can_read_notes(viewer, contact), action=f"contact.{column.key}",
            record_type="contact", record_id=contact.id, address=address)
    return reasons


def earlier_contacts(session: Session, contact: Contact, limit: int = 20) -> list[Contact]:
    """The same caller's earlier records, newest first (notes not loaded)."""
    if contact.caller_hash is None:
        return []
    return list(session.scalars(
        select(Contact).where(Contact.caller_hash == contact.caller_hash,
                              Contact.id != contact.id)
        .order_by(Contact.created_at.desc()).limit(limit)))


CHOOSABLE = (AgentStatus.AVAILABLE, AgentStatus.AWAY, AgentStatus.OFFLINE)


def set_status(session: Session, user: User, status: str, now: dt.datetime | None = None,
               *, by: User | None = None) -> None:
    """Set a counselor's availability (routing reads it); ``by`` a supervisor setting it for
    them (the audit names the supervisor)."""
    if status not in set(AgentStatus):
        raise ContactError("not a status")
    user.status_reason = None  # chosen now: no longer what routing decided
    actor = by or user
    if user.status in (AgentStatus.ON_CALL, AgentStatus.WRAP_UP) and status in CHOOSABLE:
        # Mid-call: the choice takes effect when the record closes.
        user.status_before_call = status
        if actor is not user:
            audit.record(session, "agent.status", actor=actor, record_type="user",
                         record_id=user.id, detail={"status": status, "after_call": True})
        return
    if user.status != status:
        user.status = status
        user.status_since = now or utcnow()
        audit.record(session, "agent.status", actor=actor, record_type="user",
                     record_id=user.id, detail={"status": status})


def current_contact(session: Session, user: User) -> Contact | None:
    """The counselor's open record, newest first."""
    return session.scalar(select(Contact).where(
        Contact.counselor_id == user.id, Contact.status == ContactStatus.OPEN)
        .order_by(Contact.id.desc()).limit(1))


def notes_preloaded(session: Session, contact_id: int) -> Contact | None:
    """For exports and benches only: a record with notes loaded (no audit)."""
    return session.scalar(select(Contact).options(undefer(Contact.notes))
                          .where(Contact.id == contact_id))


# --- referrals -----------------------------------------------------------------------------

def directory_entry(session: Session, kind: str, target_id: int) -> Any | None:
    """The directory row a referral points to (center, group or resource), if it exists."""
    from helpline import models

    name = {"center": "TreatmentCenter", "group": "SupportGroup", "resource": "Resource"}.get(kind)
    model = getattr(models, name or "", None)
    return session.get(model, target_id) if model is not None else None


def entry_name(entry: Any) -> str:
    return str(getattr(entry, "name", None) or getattr(entry, "title", "") or "")


def attach_referral(session: Session, contact: Contact, by: User, kind: str,
                    target_id: int) -> Referral:
    """Attach a center, group or resource to the record (once)."""
    if not can_edit_contact(by, contact):
        raise ContactError("this record is closed or not yours to edit")
    if kind not in REFERRAL_KINDS:
        raise ContactError("kind: center, group or resource")
    entry = directory_entry(session, kind, target_id)
    if entry is None:
        raise ContactError("no such directory entry")
    for existing in contact.referrals:
        if existing.kind == kind and existing.target_id == target_id:
            return existing
    referral = Referral(kind=kind, target_id=target_id,
                        target_name=entry_name(entry)[:255])
    contact.referrals.append(referral)
    session.flush()
    audit.record(session, "contact.referral", actor=by, record_type="contact",
                 record_id=contact.id, detail={"kind": kind, "target_id": target_id})
    return referral


def remove_referral(session: Session, contact: Contact, by: User, referral_id: int) -> None:
    if not can_edit_contact(by, contact):
        raise ContactError("this record is closed or not yours to edit")
    for referral in list(contact.referrals):
        # Texted or handed off, it was disclosed: it stays on the record.
        if (referral.id == referral_id and referral.sent_by_sms_at is None
                and referral.handed_off_at is None):
            contact.referrals.remove(referral)
            audit.record(session, "contact.referral_removed", actor=by, record_type="contact",
                         record_id=contact.id, detail={"referral_id": referral_id})


# --- call history --------------------------------------------------------------------------

@dataclass(frozen=True)
class HistoryFilters:
    date_from: dt.date | None = None
    date_to: dt.date | None = None  # inclusive
    counselor_id: int | None = None
    need: str | None = None
    language: str | None = None
    outcome: str | None = None
    substance: str | None = None
    risk: str | None = None  # either suicide or overdose risk at this level


@dataclass
class HistoryPage:
    rows: list[Contact]
    next_cursor: str | None


def _history_query(viewer: User, filters: HistoryFilters) -> Any:
    query = select(Contact)
    if not can(viewer, Action.READ_ALL_RECORDS):
        query = query.where(Contact.counselor_id == viewer.id if can(
            viewer, Action.READ_OWN_RECORDS) else false())
    if filters.counselor_id is not None:
        query = query.where(Contact.counselor_id == filters.counselor_id)
    if filters.date_from:
        query = query.where(Contact.created_at >= _day_start(filters.date_from))
    if filters.date_to:
        query = query.where(Contact.created_at < _day_start(filters.date_to + dt.timedelta(1)))
    for column, value in ((Contact.need, filters.need), (Contact.language, filters.language),
                          (Contact.outcome, filters.outcome)):
        if value:
            query = query.where(column == value)
    if filters.substance:
        # JSON lists are stored as text on both databases: match the quoted value.
        query = query.where(cast(Contact.substances, String).contains(
            f'"{filters.substance}"', autoescape=True))
    if filters.risk:
        query = query.where(or_(Contact.suicide_risk == filters.risk,
                                Contact.overdose_risk == filters.risk))
    return query


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def history_page(session: Session, viewer: User, filters: HistoryFilters,
                 cursor: str | None = None, per_page: int = 50) -> HistoryPage:
    """Records newest first, as the viewer may see them; keyset-paged by (created_at, id)."""
    query = _history_query(viewer, filters)
    if cursor:
        try:
            stamp, _, ident = cursor.partition("_")
            after = (dt.datetime.fromisoformat(stamp), int(ident))
        except ValueError:
            after = None
        if after is not None:
            query = query.where(tuple_(Contact.created_at, Contact.id) < after)
    rows = list(session.scalars(query.order_by(Contact.created_at.desc(), Contact.id.desc())
                                .limit(per_page + 1)))
    next_cursor = None
    if len(rows) > per_page:
        rows = rows[:per_page]
        last = rows[-1]
        next_cursor = f"{last.created_at.isoformat()}_{last.id}"
    return HistoryPage(rows=rows, next_cursor=next_cursor)


CSV_COLUMNS = ("id", "created_at", "closed_at", "counselor", "need", "language", "wait_seconds",
               "caller_type", "substances", "suicide_risk", "overdose_risk", "crisis_steps",
               "age_range", "state", "zip_code", "insurance", "outcome", "referrals")


def history_csv_rows(session: Session, viewer: User, filters: HistoryFilters,
                     limit: int = 100_000) -> Iterator[list[str]]:
    """Rows for the supervisors' CSV export: every field except the notes."""
    if not can(viewer, Action.EXPORT_HISTORY):
        raise PermissionError("only supervisors export call history")
    names = dict(session.execute(select(User.id, User.username)).all())
    yield list(CSV_COLUMNS)
    query = _history_query(viewer, filters).order_by(Contact.created_at.desc(),
                                                      Contact.id.desc()).limit(limit)
    for c in session.scalars(query).yield_per(1000):
        yield [str(c.id), c.created_at.isoformat(), c.closed_at.isoformat() if c.closed_at else "",
               names.get(c.counselor_id, ""), c.need or "", c.language or "",
               "" if c.wait_seconds is None else str(c.wait_seconds), c.caller_type or "",
               ";".join(c.substances), c.suicide_risk or "", c.overdose_risk or "",
               ";".join(c.crisis_steps), c.age_range or "", c.state or "", c.zip_code or "",
               c.insurance or "", c.outcome or "", ";".join(r.target_name for r in c.referrals)]
