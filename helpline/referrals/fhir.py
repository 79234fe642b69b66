"""A referral another system can receive: a FHIR R4 ``Bundle`` of a ``ServiceRequest`` and the
``Task`` that asks the treatment center to fulfil it, shaped after the HL7 SDOH Clinical Care
implementation guide (profiles SDOHCC-ServiceRequest and SDOHCC-TaskForReferralManagement),
with the Patient and the two Organizations they point to.

Only through the consent door: the caller's live consent to share with that center for
treatment intake, the same consent a warm handoff rests on. The bundle carries what that
consent names and nothing else (the same sentences the warm handoff's summary says, from
:func:`helpline.referrals.handoff.shared_facts`), with the §2.32 notice; the Patient is a
pseudonym of this referral (no name, number or birth date; state and ZIP only when the
consent names the location). Each export is logged as a disclosure and audited.

Codes. The IG's SDOH category value set has no substance-use or behavioural-health domain, so
the category is its ``sdoh-category-unspecified`` (SDOHCC temporary code system), for which
the IG binds ``code`` to US Core procedure codes: SNOMED CT 385989002 "Substance use therapy
(regime/therapy)", a member of the VSAC value set "Alcohol and Drug Dependence Treatment"
(2.16.840.1.113883.3.464.1003.106.12.1005). The Task's code is ``fulfill`` (FHIR task-code).

Checked with ``fhir.resources`` (its R4B models: ServiceRequest, Task, Patient, Organization
and Bundle are the same in R4 and R4B). The profiles' own rules (required elements, fixed
values) are kept by construction; no HL7 validator runs here.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy.orm import Session

from helpline import audit
from helpline.config import Settings
from helpline.consent.disclosures import log_disclosure
from helpline.consent.door import ConsentError, require_consent
from helpline.consent.terms import NOTICE_EXPLAINED, REDISCLOSURE_NOTICE
from helpline.db import utcnow
from helpline.models import Consent, Disclosure, Referral, TreatmentCenter, User
from helpline.records.contacts import can_view_contact
from helpline.referrals import handoff
from helpline.referrals.outcomes import NOT_ADMITTED_REASONS, OUTCOMES

SDOHCC = "http://hl7.org/fhir/us/sdoh-clinicalcare"
PROFILES = {
    "ServiceRequest": f"{SDOHCC}/StructureDefinition/SDOHCC-ServiceRequest",
    "Task": f"{SDOHCC}/StructureDefinition/SDOHCC-TaskForReferralManagement",
    "Patient": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient",
    "Organization": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-organization",
}
SDOHCC_CODES = f"{SDOHCC}/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"
SNOMED = "http://snomed.info/sct"
CATEGORY = {"system": SDOHCC_CODES, "code": "sdoh-category-unspecified",
            "display": "SDOH Category Unspecified"}
SERVICE = {"system": SNOMED, "code": "385989002",
           "display": "Substance use therapy (regime/therapy)"}
TASK_CODE = {"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill",
             "display": "Fulfill the focal request"}
DATA_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
# Where no public address is configured (development), identifiers still need a namespace:
# a reserved name that resolves nowhere.
UNCONFIGURED_BASE = "https://helpline.invalid"

#: The Task status that says where the referral stands, from its closed-loop outcome.
TASK_STATUS_OF_OUTCOME = {
    None: "requested",
    "contacted_center": "requested",
    "appointment": "accepted",
    "admitted": "completed",
    "not_admitted": "rejected",
    "lost_to_contact": "failed",
}
REFERRAL_ID = re.compile(r"^referral-([1-9][0-9]{0,17})$")


class FhirExportError(ValueError):
    """A referral that cannot be sent as a FHIR referral; the message says why."""


def namespace(settings: Settings) -> str:
    """The base of every address and identifier system this helpline's FHIR resources use
    (the Task endpoint lives under it: ``{namespace}/Task/{id}``)."""
    return f"{settings.public_base_url or UNCONFIGURED_BASE}/fhir"


def resource_id(referral_id: int) -> str:
    """The id of the ServiceRequest, Task and Patient of one referral."""
    return f"referral-{referral_id}"


def referral_id_of(resource: str) -> int | None:
    """The referral a ServiceRequest or Task id names, or None."""
    found = REFERRAL_ID.match(resource)
    return int(found[1]) if found else None


def reason_system(settings: Settings) -> str:
    """The code system of :data:`NOT_ADMITTED_REASONS`, for a Task's statusReason."""
    return f"{namespace(settings)}/CodeSystem/referral-not-admitted-reason"


# --- the resources ---------------------------------------------------------------------------


def _identifier(settings: Settings, kind: str, value: object) -> dict[str, str]:
    return {"system": f"{namespace(settings)}/sid/{kind}", "value": str(value)}


def helpline_organization(settings: Settings) -> dict[str, Any]:
    """The requester: the helpline itself."""
    return {
        "resourceType": "Organization", "id": "helpline",
        "meta": {"profile": [PROFILES["Organization"]]},
        "identifier": [_identifier(settings, "organization", "helpline")],
        "active": True, "name": settings.helpline_name,
        "telecom": [{"system": "phone", "value": settings.helpline_number, "use": "work"}],
    }


def center_organization(settings: Settings, center: TreatmentCenter) -> dict[str, Any]:
    """The performer and owner: the treatment center as the directory has it, with its
    directory id and the id of the source it was imported from."""
    identifiers = [_identifier(settings, "directory", center.id)]
    if center.source_id:
        identifiers.append(_identifier(settings, f"source/{center.source}", center.source_id))
    telecom = [{"system": "phone", "value": number, "use": "work"}
               for number in dict.fromkeys(p for p in (center.intake_phone, center.phone) if p)]
    if center.website:
        telecom.append({"system": "url", "value": center.website, "use": "work"})
    organization: dict[str, Any] = {
        "resourceType": "Organization", "id": f"center-{center.id}",
        "meta": {"profile": [PROFILES["Organization"]]},
        "identifier": identifiers, "active": bool(center.active), "name": center.name,
    }
    if center.alternate_name:
        organization["alias"] = [center.alternate_name]
    if telecom:
        organization["telecom"] = telecom
    lines = [line for line in (center.street1, center.street2) if line]
    address = {key: value for key, value in (
        ("line", lines), ("city", center.city), ("state", center.state),
        ("postalCode", center.zip_code)) if value}
    if address:
        organization["address"] = [{**address, "country": "US"}]
    return organization


def patient(settings: Settings, referral: Referral, consent: Consent) -> dict[str, Any]:
    """The caller as a pseudonym of this referral: no name (absent, as US Core allows), no
    number, no birth date; state and ZIP only when the consent names the location."""
    contact = referral.contact
    subject: dict[str, Any] = {
        "resourceType": "Patient", "id": resource_id(referral.id),
        "meta": {"profile": [PROFILES["Patient"]]},
        "identifier": [_identifier(settings, "referral", referral.id)],
        "name": [{"extension": [{"url": DATA_ABSENT, "valueCode": "masked"}]}],
        "gender": "unknown",
    }
    if "location" in consent.information and (contact.state or contact.zip_code):
        place = {key: value for key, value in (("state", contact.state),
                                               ("postalCode", contact.zip_code)) if value}
        subject["address"] = [{**place, "country": "US"}]
    return subject


def service_request(settings: Settings, referral: Referral, center: TreatmentCenter,
                    consent: Consent, facts: list[str], now: dt.datetime) -> dict[str, Any]:
    """What is asked of the center: substance use treatment intake for the caller."""
    shared = (f"Shared by {settings.helpline_name} with the caller's consent #{consent.id} "
              f"of {consent.recorded_at:%Y-%m-%d}, for treatment intake only. "
              + " ".join(facts))
    return {
        "resourceType": "ServiceRequest", "id": resource_id(referral.id),
        "meta": {"profile": [PROFILES["ServiceRequest"]]},
        "identifier": [_identifier(settings, "referral", referral.id)],
        "status": "active", "intent": "order",
        "category": [{"coding": [CATEGORY]}],
        "code": {"coding": [SERVICE], "text": "Substance use treatment intake"},
        "subject": {"reference": f"Patient/{resource_id(referral.id)}"},
        "authoredOn": _instant(now),
        "requester": {"reference": "Organization/helpline", "display": settings.helpline_name},
        "performer": [{"reference": f"Organization/center-{center.id}",
                       "display": center.name}],
        "note": [{"text": shared},
                 {"text": f"{REDISCLOSURE_NOTICE} {NOTICE_EXPLAINED}"}],
    }


def task(settings: Settings, referral: Referral, center: TreatmentCenter,
         authored: dt.datetime, now: dt.datetime) -> dict[str, Any]:
    """The request that the center fulfil the ServiceRequest; its status says where the
    referral stands now (requested until the center or staff report otherwise)."""
    status = TASK_STATUS_OF_OUTCOME.get(referral.outcome, "requested")
    resource: dict[str, Any] = {
        "resourceType": "Task", "id": resource_id(referral.id),
        "meta": {"profile": [PROFILES["Task"]]},
        "identifier": [_identifier(settings, "referral", referral.id)],
        "status": status, "intent": "order",
        "code": {"coding": [TASK_CODE]},
        "focus": {"reference": f"ServiceRequest/{resource_id(referral.id)}"},
        "for": {"reference": f"Patient/{resource_id(referral.id)}"},
        "authoredOn": _instant(authored), "lastModified": _instant(now),
        "requester": {"reference": "Organization/helpline", "display": settings.helpline_name},
        "owner": {"reference": f"Organization/center-{center.id}", "display": center.name},
        "businessStatus": {"text": OUTCOMES.get(referral.outcome or "", "Referral sent")},
    }
    if referral.outcome == "not_admitted" and referral.outcome_reason in NOT_ADMITTED_REASONS:
        resource["statusReason"] = {
            "coding": [{"system": reason_system(settings), "code": referral.outcome_reason,
                        "display": NOT_ADMITTED_REASONS[referral.outcome_reason]}],
            "text": NOT_ADMITTED_REASONS[referral.outcome_reason]}
    elif referral.outcome == "lost_to_contact":
        resource["statusReason"] = {"text": OUTCOMES["lost_to_contact"]}
    return resource


def _instant(moment: dt.datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def validated(resource: dict[str, Any]) -> dict[str, Any]:
    """``resource`` checked with the FHIR models (a pydantic ValidationError if it is not a
    valid R4 resource), as plain JSON data."""
    kind = resource.get("resourceType")
    if kind == "Bundle":
        model: Any = Bundle.model_validate(resource)
    else:
        model = get_fhir_model_class(str(kind)).model_validate(resource)
    data: dict[str, Any] = json.loads(model.model_dump_json(exclude_none=True))
    return data


# --- the export ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FhirReferral:
    """An exported referral: the bundle (valid FHIR, as JSON data), the consent it rests on
    and the disclosure logged for it."""

    bundle: dict[str, Any]
    consent: Consent
    disclosure: Disclosure

    def json(self) -> str:
        return json.dumps(self.bundle, indent=2, ensure_ascii=False)

    @property
    def filename(self) -> str:
        return f"{self.bundle['id']}.json"


def center_of(session: Session, referral: Referral) -> TreatmentCenter:
    if referral.kind != "center":
        raise FhirExportError("only a referral to a treatment center can be sent as a FHIR "
                              "referral")
    center = session.get(TreatmentCenter, referral.target_id)
    if center is None:
        raise FhirExportError("this center is no longer in the directory")
    return center


def export_referral(session: Session, referral: Referral, by: User, settings: Settings,
                    now: dt.datetime | None = None) -> FhirReferral:
    """The referral as a FHIR Bundle for its treatment center, after the consent door allowed
    sharing with that center for treatment intake; the disclosure logged (with the §2.32
    notice) and audited. Refused with PermissionError (a record this user may not open),
    FhirExportError or ConsentError (saying why) before anything is disclosed."""
    now = now or utcnow()
    contact = referral.contact
    if not can_view_contact(by, contact):
        raise PermissionError("not allowed to send this referral")
    center = center_of(session, referral)
    consent = require_consent(session, contact.caller_hash, "provider",
                              handoff.recipient(center), handoff.PURPOSE, now)
    if "seeking_treatment" not in consent.information:
        # The ServiceRequest itself says the caller seeks substance use treatment.
        raise ConsentError("the caller's consent does not cover saying they are looking for "
                           "substance use treatment, which a referral to a treatment center "
                           "says")
    facts = handoff.shared_facts(session, contact, consent)
    disclosure = log_disclosure(session, consent, channel="fhir", by=by, notice="short",
                                contact_id=contact.id, referral_id=referral.id, now=now)
    resources = [
        service_request(settings, referral, center, consent, facts, now),
        task(settings, referral, center, now, now),
        patient(settings, referral, consent),
        helpline_organization(settings),
        center_organization(settings, center),
    ]
    base = namespace(settings)
    bundle = validated({
        "resourceType": "Bundle", "id": f"referral-{referral.id}-disclosure-{disclosure.id}",
        "identifier": _identifier(settings, "disclosure", disclosure.id),
        "type": "collection", "timestamp": _instant(now),
        "entry": [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r}
                  for r in resources],
    })
    audit.record(session, "referral.fhir_export", actor=by, record_type="referral",
                 record_id=referral.id,
                 detail={"contact_id": contact.id, "center_id": center.id,
                         "consent_id": consent.id, "disclosure_id": disclosure.id})
    return FhirReferral(bundle=bundle, consent=consent, disclosure=disclosure)
