"""A referral another system can receive: exported as a FHIR R4 Bundle (ServiceRequest + Task
after the HL7 SDOH Clinical Care IG) through the consent door, with only what the consent
names and the §2.32 notice; the center's Task updates close the loop."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from helpline.consent.door import ConsentError, withdraw
from helpline.consent.terms import REDISCLOSURE_NOTICE
from helpline.models import AuditEvent, Consent, Disclosure, Referral
from helpline.referrals import fhir
from helpline.referrals.fhir_tasks import TaskError, apply_task_update, current_task
from helpline.referrals.outcomes import record_outcome
from tests.factories import make_user
from tests.fixtures.consent import CALLER, NOW, on_call
from tests.fixtures.referrals import agree_to_share, refer

LATER = NOW + dt.timedelta(days=2)


def _scene(session, counselor, information=None):  # type: ignore[no-untyped-def]
    rec = on_call(session, counselor)
    rec.contact.substances = ["opioids", "alcohol"]
    rec.contact.insurance = "medicaid"
    rec.contact.age_range = "26_40"
    rec.contact.state, rec.contact.zip_code = "NY", "12203"
    referral = refer(session, rec)
    consent = agree_to_share(session, rec, referral.target_id, counselor, information)
    return rec, referral, consent


def _resources(bundle: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for entry in bundle["entry"]:
        found.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    return found


def _update(referral: Referral, status: str, **fields: object) -> dict:
    task = {"resourceType": "Task", "id": f"referral-{referral.id}", "status": status,
            "intent": "order",
            "focus": {"reference": f"ServiceRequest/referral-{referral.id}"},
            "owner": {"reference": f"Organization/center-{referral.target_id}"}}
    return {**task, **fields}


def test_a_referral_goes_out_as_fhir_and_the_centers_task_updates_close_the_loop(
        session, counselor, settings):
    _rec, referral, consent = _scene(session, counselor)
    sent = fhir.export_referral(session, referral, counselor, settings, now=NOW)
    session.commit()

    bundle = json.loads(sent.json())
    Bundle.model_validate(bundle)  # valid FHIR R4 (fhir.resources' R4B models)
    assert bundle["type"] == "collection"
    found = _resources(bundle)
    [request], [task], [patient] = found["ServiceRequest"], found["Task"], found["Patient"]
    helpline_org, center_org = found["Organization"]
    rid = f"referral-{referral.id}"
    assert request["meta"]["profile"] == [fhir.PROFILES["ServiceRequest"]]
    assert (request["status"], request["intent"]) == ("active", "order")
    assert request["category"][0]["coding"][0]["code"] == "sdoh-category-unspecified"
    assert request["code"]["coding"][0] == {"system": "http://snomed.info/sct",
                                            "code": "385989002",
                                            "display": "Substance use therapy (regime/therapy)"}
    assert request["subject"] == {"reference": f"Patient/{rid}"}
    assert request["requester"]["reference"] == "Organization/helpline"
    assert request["performer"][0]["reference"] == f"Organization/center-{referral.target_id}"
    assert request["authoredOn"] == "2026-03-10T15:00:00Z"
    assert any(REDISCLOSURE_NOTICE in note["text"] for note in request["note"])

    assert task["meta"]["profile"] == [fhir.PROFILES["Task"]]
    assert (task["status"], task["intent"], task["code"]["coding"][0]["code"]) == (
        "requested", "order", "fulfill")
    assert task["focus"] == {"reference": f"ServiceRequest/{rid}"}
    assert task["for"] == {"reference": f"Patient/{rid}"}
    assert task["owner"] == request["performer"][0]
    assert task["businessStatus"]["text"] == "Referral sent"
    assert center_org["name"] == "Harbor Recovery (fictional)"
    assert center_org["identifier"][0]["value"] == str(referral.target_id)
    assert helpline_org["name"] == settings.helpline_name
    assert patient["gender"] == "unknown" and "name" in patient

    [logged] = session.scalars(select(Disclosure)).all()
    assert (logged.channel, logged.notice, logged.consent_id, logged.referral_id,
            logged.recipient_center_id) == ("fhir", "short", consent.id, referral.id,
                                            referral.target_id)
    assert session.scalar(select(AuditEvent.id).where(
        AuditEvent.action == "referral.fhir_export")) is not None

    accepted = apply_task_update(session, rid, _update(referral, "accepted"), settings,
                                 now=LATER)
    assert (accepted.before, accepted.after, accepted.changed) == (
        None, "appointment", True)
    assert accepted.task["status"] == "accepted"
    completed = apply_task_update(session, rid, _update(referral, "completed"), settings,
                                  now=LATER)
    session.commit()
    session.expire_all()
    done = session.get(Referral, referral.id)
    assert (done.outcome, done.outcome_at.replace(tzinfo=dt.UTC), done.outcome_by_id) == (
        "admitted", LATER, None)
    assert completed.task["status"] == "completed"
    # The consent that was to last until the referral closed has ended with it.
    assert session.get(Consent, consent.id).expires_at is not None
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "referral.outcome")
                            .order_by(AuditEvent.id.desc())).first()
    assert event.actor == f"fhir:center-{referral.target_id}"
    assert current_task(session, rid, settings)["status"] == "completed"


def test_no_export_without_a_live_consent_for_that_center(session, counselor, settings):
    rec = on_call(session, counselor)
    referral = refer(session, rec)
    with pytest.raises(ConsentError, match=r"has not agreed to sharing with Harbor Recovery "
                                           r"\(fictional\) for treatment intake"):
        fhir.export_referral(session, referral, counselor, settings, now=NOW)
    consent = agree_to_share(session, rec, referral.target_id, counselor)
    withdraw(session, consent, by=counselor, now=NOW - dt.timedelta(seconds=30))
    with pytest.raises(ConsentError, match="withdrew consent"):
        fhir.export_referral(session, referral, counselor, settings, now=NOW)
    assert session.scalar(select(Disclosure.id)) is None
    assert session.scalar(select(AuditEvent.id).where(
        AuditEvent.action == "referral.fhir_export")) is None


def test_a_consent_that_does_not_cover_seeking_treatment_is_refused(session, counselor,
                                                                      settings):
    _rec, referral, _consent = _scene(session, counselor, ["insurance"])
    with pytest.raises(ConsentError, match="looking for substance use treatment"):
        fhir.export_referral(session, referral, counselor, settings, now=NOW)


def test_only_what_the_consent_names_is_in_the_bundle(session, counselor, settings):
    rec, referral, _consent = _scene(session, counselor, ["seeking_treatment", "insurance"])
    text = fhir.export_referral(session, referral, counselor, settings, now=NOW).json()
    [patient] = _resources(json.loads(text))["Patient"]
    assert "address" not in patient and "birthDate" not in patient and "telecom" not in patient
    assert "Insurance: Medicaid." in text
    for withheld in ("Opioids", "Alcohol", "26-40", "12203", CALLER, CALLER[2:],
                     rec.contact.caller_hash, rec.call.call_sid):
        assert withheld not in text


def test_the_location_goes_in_the_patient_only_when_consented(session, counselor, settings):
    _rec, referral, _consent = _scene(session, counselor)  # the default: everything
    text = fhir.export_referral(session, referral, counselor, settings, now=NOW).json()
    [patient] = _resources(json.loads(text))["Patient"]
    assert patient["address"] == [{"state": "NY", "postalCode": "12203", "country": "US"}]
    assert "Substances: Opioids and fentanyl, Alcohol." in text and "26-40" in text


def test_a_rejection_records_the_coded_reason_or_other(session, counselor, settings):
    _rec, referral, _consent = _scene(session, counselor)
    fhir.export_referral(session, referral, counselor, settings, now=NOW)
    rid = f"referral-{referral.id}"
    reason = {"coding": [{"system": fhir.reason_system(settings), "code": "waitlist"}],
              "text": "No bed this month"}
    update = apply_task_update(session, rid, _update(referral, "rejected", statusReason=reason),
                               settings, now=LATER)
    assert (referral.outcome, referral.outcome_reason) == ("not_admitted", "waitlist")
    assert update.task["statusReason"]["coding"][0]["code"] == "waitlist"
    apply_task_update(session, rid, _update(referral, "cancelled"), settings, now=LATER)
    assert (referral.outcome, referral.outcome_reason) == ("not_admitted", "other")
    # A late "accepted" does not reopen a closed loop.
    late = apply_task_update(session, rid, _update(referral, "accepted"), settings, now=LATER)
    assert late.changed is False and referral.outcome == "not_admitted"
    # Free text from the center is neither stored nor logged.
    assert not any("No bed" in json.dumps(e.detail) for e in session.scalars(select(AuditEvent)))


def test_task_updates_are_refused_for_unsent_or_mismatched_tasks(session, counselor, settings):
    _rec, referral, _consent = _scene(session, counselor)
    rid = f"referral-{referral.id}"
    with pytest.raises(TaskError) as unsent:
        apply_task_update(session, rid, _update(referral, "accepted"), settings, now=LATER)
    assert unsent.value.status == 404
    fhir.export_referral(session, referral, counselor, settings, now=NOW)
    cases = [
        (_update(referral, "accepted", owner={"reference": "Organization/center-999"}), 422),
        (_update(referral, "accepted", focus={"reference": "ServiceRequest/referral-999"}), 422),
        (_update(referral, "accepted", id="referral-999"), 400),
        (_update(referral, "bogus"), 400),
        ({k: v for k, v in _update(referral, "accepted").items() if k != "intent"}, 400),
        ({"resourceType": "Patient", "id": rid}, 400),
        ("not json", 400),
    ]
    for body, status in cases:
        with pytest.raises(TaskError) as refused:
            apply_task_update(session, rid, body, settings, now=LATER)
        assert refused.value.status == status, body
    assert referral.outcome is None
    with pytest.raises(TaskError) as nothing:
        apply_task_update(session, "referral-abc", _update(referral, "accepted"), settings)
    assert nothing.value.status == 404


def test_staff_outcomes_show_in_the_task(session, counselor, settings):
    _rec, referral, _consent = _scene(session, counselor)
    fhir.export_referral(session, referral, counselor, settings, now=NOW)
    record_outcome(session, referral, "lost_to_contact", by=counselor, now=LATER)
    task = current_task(session, f"referral-{referral.id}", settings)
    assert (task["status"], task["statusReason"]["text"]) == ("failed", "Lost to contact")


def test_only_staff_who_may_open_the_record_can_export(session, counselor, settings):
    _rec, referral, _consent = _scene(session, counselor)
    other = make_user(session, "counselor")
    with pytest.raises(PermissionError):
        fhir.export_referral(session, referral, other, settings, now=NOW)
    assert session.scalar(select(Disclosure.id)) is None
