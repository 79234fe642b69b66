"""Warm handoff and closed-loop referral fixtures: a counselor on a live call with a center
referral attached, consents recorded through the consent door."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from helpline.consent import door
from helpline.consent.door import Recipient
from helpline.models import CenterService, Consent, Referral, TreatmentCenter, User
from helpline.records import contacts

# The consent area's helpers and the dashboard's signed-in staff.
from tests.consent.conftest import (  # noqa: F401
    CALLER,
    NOW,
    OnCall,
    admin,
    counselor,
    make_center,
    on_call,
    staff_factory,
    supervisor,
    worker,
)


def refer(session: Session, rec: OnCall, center: TreatmentCenter | None = None) -> Referral:
    center = center or make_center(session)
    referral = contacts.attach_referral(session, rec.contact, rec.counselor, "center", center.id)
    session.commit()
    return referral


def agree_to_share(session: Session, rec: OnCall, center_id: int, by: User,
                   information: list[str] | None = None) -> Consent:
    center = session.get(TreatmentCenter, center_id)
    assert center is not None
    given = door.record_consent(
        session, caller_hash=rec.contact.caller_hash, scope="provider",
        purpose="treatment_intake", wording="Yes, you may tell them.", by=by,
        script_version="provider-1", contact=rec.contact,
        recipient=Recipient.provider(center.id, center.name), information=information,
        expires_at=NOW + dt.timedelta(days=30), expiry_event="referral_closed",
        now=NOW - dt.timedelta(minutes=1))
    session.commit()
    return given


def agree_to_calls(session: Session, rec: OnCall, by: User) -> Consent:
    given = door.record_consent(
        session, caller_hash=rec.contact.caller_hash, scope="call", purpose="followup",
        wording="Yes, call me back.", by=by, script_version="followup-call-1", phone=CALLER,
        contact=rec.contact, expires_at=NOW + dt.timedelta(days=90),
        now=NOW - dt.timedelta(minutes=2))
    session.commit()
    return given


def offer_care(session: Session, center: TreatmentCenter, *labels: str) -> None:
    for label in labels:
        session.add(CenterService(center_id=center.id, facet="care", code=label[:2].upper(),
                                  label=label, code_list="test"))
    session.flush()
