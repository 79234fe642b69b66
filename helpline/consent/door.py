"""The one door to a caller's consent (42 CFR §2.31; TCPA for texts).

:func:`record_consent` writes a consent (what, with whom, why, until when, how it was given);
:func:`require_consent` is asked before every disclosure and returns the live consent it may
rest on, or raises :class:`ConsentError` saying why not (none recorded, withdrawn on a date,
expired on a date, covers texts but not calls, covers another provider...); :func:`withdraw`
ends one consent and stops what rested on it. The words live in :mod:`helpline.consent_terms`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import overload
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from helpline import audit, crypto, phones
from helpline.consent.terms import (
    CALLER_SAFE_INFORMATION,
    DEFAULT_INFORMATION,
    EXPIRY_EVENTS,
    INFORMATION,
    METHODS,
    PURPOSE_NOUNS,
    PURPOSES_OF_SCOPE,
    RECIPIENT_OF_SCOPE,
    SCOPE_NOUNS,
    SCOPES,
)
from helpline.db import utcnow
from helpline.models import Consent, Contact, FollowUp, User
from helpline.models.followups import OPEN_STATES, FollowUpOutcome, FollowUpState

RECORDED_VIA = {"counselor", "ivr", "supervisor"}


class ConsentError(Exception):
    """No live consent for a disclosure, or a consent that cannot be recorded. The message
    says why and is safe to show staff (it never quotes a number or a name)."""


@dataclass(frozen=True)
class Recipient:
    """Who would receive a disclosure: the caller themself, a treatment provider (a directory
    entry), or a third party."""

    kind: str
    center_id: int | None = None
    name: str = ""

    @classmethod
    def provider(cls, center_id: int, name: str = "") -> Recipient:
        return cls("provider", center_id, name)

    @classmethod
    def third_party(cls, relation: str = "") -> Recipient:
        return cls("third_party", None, relation)


CALLER = Recipient("caller")


def _when(moment: dt.datetime, timezone: str) -> str:
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


@overload
def _aware(moment: dt.datetime) -> dt.datetime: ...


@overload
def _aware(moment: None) -> None: ...


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    # SQLite hands back naive datetimes for values written as UTC.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment


# --- recording ------------------------------------------------------------------------------


def record_consent(
    session: Session,
    *,
    caller_hash: str | None,
    scope: str,
    purpose: str,
    wording: str,
    by: User | None,
    method: str = "verbal",
    script_version: str = "",
    phone: str | None = None,
    contact: Contact | None = None,
    recipient: Recipient = CALLER,
    third_party_name: str | None = None,
    information: Iterable[str] | None = None,
    expires_at: dt.datetime | None = None,
    expiry_event: str | None = None,
    recorded_via: str | None = None,
    now: dt.datetime | None = None,
) -> Consent:
    """Record a caller's consent to one scope for one purpose; audited.

    A verbal consent needs the counselor who attests to it (``by``) and the words read; a
    keypress in the phone menu records the prompt's words. Messages to the caller's own phone
    may carry nothing about substance use.
    """
    now = now or utcnow()
    if scope not in SCOPES:
        raise ConsentError(f"scope must be one of {', '.join(SCOPES)}")
    if purpose not in PURPOSES_OF_SCOPE[scope]:
        raise ConsentError(f"{SCOPE_NOUNS[scope]} cannot be consented to for "
                           f"{PURPOSE_NOUNS.get(purpose, purpose)}")
    if recipient.kind != RECIPIENT_OF_SCOPE[scope]:
        raise ConsentError(f"{SCOPE_NOUNS[scope]}: the recipient must be the "
                           f"{RECIPIENT_OF_SCOPE[scope].replace('_', ' ')}")
    if scope == "provider" and recipient.center_id is None:
        raise ConsentError("name the treatment provider the caller agreed to share with")
    if scope == "third_party" and not (third_party_name or "").strip():
        raise ConsentError("name the person the caller agreed we may contact")
    words = " ".join((wording or "").split())
    if not words:
        raise ConsentError("a consent needs the words the caller agreed to")
    if method not in METHODS:
        raise ConsentError(f"method must be one of {', '.join(METHODS)}")
    if method == "verbal" and by is None:
        raise ConsentError("a verbal consent needs the counselor who heard it and attests to it")
    codes = list(information if information is not None
                 else DEFAULT_INFORMATION.get((scope, purpose), ()))
    if not codes or set(codes) - set(INFORMATION):
        raise ConsentError("say what may be shared, from the list")
    if RECIPIENT_OF_SCOPE[scope] == "caller" and set(codes) - CALLER_SAFE_INFORMATION:
        raise ConsentError("calls and texts to the caller carry nothing about substance use")
    if expires_at is not None and _aware(expires_at) <= now:
        raise ConsentError("the consent would end before it starts")
    if expiry_event is not None and (expiry_event not in EXPIRY_EVENTS or scope != "provider"):
        raise ConsentError("that ending event does not apply to this consent")
    try:
        number = phones.to_e164(phone, field="the phone number") if phone else None
    except phones.PhoneNumberError as exc:
        raise ConsentError(str(exc)) from None
    caller_hash = caller_hash or (crypto.caller_hash(number) if number else None)
    if caller_hash is None:
        raise ConsentError("there is no caller to record consent for (no phone number)")
    via = recorded_via or ("ivr" if method == "ivr_keypress" else "counselor")
    if via not in RECORDED_VIA:
        raise ConsentError(f"recorded via must be one of {', '.join(sorted(RECORDED_VIA))}")
    consent = Consent(
        caller_hash=caller_hash, phone=number, contact_id=contact.id if contact else None,
        scope=scope, recipient_center_id=recipient.center_id,
        recipient_name=recipient.name[:255], purpose=purpose, information=codes,
        third_party_name=(third_party_name or "").strip()[:120] or None,
        expires_at=expires_at, expiry_event=expiry_event, method=method,
        script_version=script_version[:40], wording=words, recorded_via=via,
        recorded_by_id=by.id if by else None, recorded_at=now)
    session.add(consent)
    session.flush()
    audit.record(session, "consent.recorded", actor=by or "ivr", record_type="consent",
                 record_id=consent.id,
                 detail={"scope": scope, "purpose": purpose, "method": method,
                         "script_version": consent.script_version,
                         "contact_id": consent.contact_id})
    return consent


# --- the door -------------------------------------------------------------------------------


def _covers_recipient(consent: Consent, recipient: Recipient) -> bool:
    if recipient.kind == "provider":
        return consent.recipient_center_id == recipient.center_id
    if recipient.kind == "third_party" and recipient.name:
        return consent.recipient_name.casefold() == recipient.name.casefold()
    return True


def refusal(consent: Consent, scope: str, recipient: Recipient, purpose: str,
            now: dt.datetime, timezone: str = "UTC") -> str | None:
    """Why ``consent`` does not allow this disclosure now, or None when it does; a moment
    in the reason is given in ``timezone`` (the helpline's, for staff), labelled."""
    if consent.scope != scope:
        return (f"the caller's consent covers {SCOPE_NOUNS.get(consent.scope, consent.scope)} "
                f"but not {SCOPE_NOUNS.get(scope, scope)}")
    if not _covers_recipient(consent, recipient):
        theirs = consent.recipient_name or "another recipient"
        return (f"the caller's consent covers sharing with {theirs}, not with "
                f"{recipient.name or 'this one'}")
    if consent.purpose != purpose:
        return (f"the caller's consent to {SCOPE_NOUNS[scope]} is for "
                f"{PURPOSE_NOUNS.get(consent.purpose, consent.purpose)}, not for "
                f"{PURPOSE_NOUNS.get(purpose, purpose)}")
    if consent.withdrawn_at is not None:
        return f"the caller withdrew consent on {_when(consent.withdrawn_at, timezone)}"
    expires = _aware(consent.expires_at)
    if expires is not None and expires <= now:
        why = f" ({EXPIRY_EVENTS[consent.expiry_event].lower()})" if (
            consent.expiry_event in EXPIRY_EVENTS) else ""
        return f"the caller's consent expired on {_when(expires, timezone)}{why}"
    return None


# Which refusal best explains the lack of a live consent: the nearer a consent came to
# covering the disclosure, the more its reason says.
def _closeness(consent: Consent, scope: str, recipient: Recipient, purpose: str) -> int:
    if consent.scope != scope:
        # "covers texts but not calls" helps; "covers a provider but not calls" does not.
        return 1 if {consent.scope, scope} <= {"call", "sms"} else 0
    if not _covers_recipient(consent, recipient):
        return 2
    if consent.purpose != purpose:
        return 3
    return 4


def require_consent(session: Session, caller: str | None, scope: str, recipient: Recipient,
                    purpose: str, now: dt.datetime | None = None, *,
                    consent: Consent | None = None, timezone: str = "UTC") -> Consent:
    """The live consent a disclosure may rest on, or :class:`ConsentError` saying why not.

    ``caller`` is the caller's keyed hash. With ``consent``, only that consent is checked
    (a follow-up rests on the consent it was requested with); otherwise the newest live one
    of the caller's consents that covers the scope, recipient and purpose is returned.
    """
    now = now or utcnow()
    if scope not in SCOPES:
        raise ConsentError(f"unknown consent scope {scope!r}")
    if consent is not None:
        why = refusal(consent, scope, recipient, purpose, now, timezone)
        if why:
            raise ConsentError(why)
        return consent
    candidates = consents_for(session, caller) if caller else []
    best: tuple[int, str] | None = None
    for candidate in candidates:
        why = refusal(candidate, scope, recipient, purpose, now, timezone)
        if why is None:
            return candidate
        rank = _closeness(candidate, scope, recipient, purpose)
        if best is None or rank > best[0]:
            best = (rank, why)
    if best is not None and best[0] > 0:
        raise ConsentError(best[1])
    what = f"{SCOPE_NOUNS[scope]} for {PURPOSE_NOUNS.get(purpose, purpose)}"
    if recipient.kind == "provider" and recipient.name:
        what = f"sharing with {recipient.name} for {PURPOSE_NOUNS.get(purpose, purpose)}"
    raise ConsentError(f"the caller has not agreed to {what} (no consent recorded)")


def is_live(consent: Consent, now: dt.datetime | None = None) -> bool:
    """Not withdrawn and not expired."""
    now = now or utcnow()
    expires = _aware(consent.expires_at)
    return consent.withdrawn_at is None and (expires is None or expires > now)


def status(consent: Consent, now: dt.datetime | None = None) -> str:
    """live, withdrawn or expired."""
    if consent.withdrawn_at is not None:
        return "withdrawn"
    return "live" if is_live(consent, now) else "expired"


def consents_for(session: Session, caller: str | None) -> list[Consent]:
    """Every consent a caller gave, newest first."""
    if not caller:
        return []
    return list(session.scalars(select(Consent).where(Consent.caller_hash == caller)
                                .order_by(Consent.recorded_at.desc(), Consent.id.desc())))


# --- withdrawal and expiry ------------------------------------------------------------------


def withdraw(session: Session, consent: Consent, *, by: User | None, how: str = "caller asked",
             now: dt.datetime | None = None) -> int:
    """Record that the caller withdrew this consent and stop every open follow-up resting on
    it (state stopped, outcome consent_withdrawn). Returns how many were stopped; a follow-up
    being delivered right now is checked again by its delivery run."""
    now = now or utcnow()
    if consent.withdrawn_at is None:
        consent.withdrawn_at = now
        consent.withdrawn_by_id = by.id if by else None
        consent.withdrawn_how = how[:40]
    stoppable = [s for s in OPEN_STATES if s != FollowUpState.SENDING]
    stopped = list(session.scalars(select(FollowUp.id).where(
        FollowUp.consent_id == consent.id, FollowUp.state.in_(stoppable))))
    if stopped:
        session.execute(
            update(FollowUp)
            .where(FollowUp.id.in_(stopped), FollowUp.state.in_(stoppable))
            .values(state=FollowUpState.STOPPED, outcome=FollowUpOutcome.CONSENT_WITHDRAWN,
                    closed_at=now, updated_at=now)
            .execution_options(synchronize_session=False))
        # Loaded follow-ups read their new state on next access.
        for obj in list(session.identity_map.values()):
            if isinstance(obj, FollowUp) and obj.id in stopped:
                session.expire(obj)
    audit.record(session, "consent.withdrawn", actor=by, record_type="consent",
                 record_id=consent.id, detail={"how": how[:40], "scope": consent.scope,
                                               "followups_stopped": len(stopped)})
    audit.record_many(session, [audit.Entry("followup.stopped", "followup", followup_id,
                                            detail={"outcome": "consent_withdrawn"})
                                for followup_id in stopped], actor=by)
    return len(stopped)


def expire_on_event(session: Session, event: str, *, caller: str | None,
                    center_id: int | None = None, now: dt.datetime | None = None) -> list[int]:
    """An ending event happened (e.g. the referral's outcome is known): the caller's live
    consents that end with it expire now. Returns their ids."""
    now = now or utcnow()
    if event not in EXPIRY_EVENTS or not caller:
        return []
    ended = [c for c in consents_for(session, caller)
             if c.expiry_event == event and is_live(c, now)
             and (center_id is None or c.recipient_center_id == center_id)]
    for consent in ended:
        consent.expires_at = now
        audit.record(session, "consent.expired", actor="system", record_type="consent",
                     record_id=consent.id, detail={"event": event})
    session.flush()
    return [c.id for c in ended]


def describe(codes: Sequence[str]) -> list[str]:
    """What may be shared, in words."""
    return [INFORMATION.get(code, code) for code in codes]
