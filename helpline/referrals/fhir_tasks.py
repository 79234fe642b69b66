"""A treatment center's status update on a referral's FHIR ``Task`` closes the loop: accepted,
in progress, completed, rejected, cancelled or failed change the referral's outcome, as if a
counselor had recorded it, with the center named in the audit event.

Only a Task that was sent (a referral exported by :mod:`helpline.referrals.fhir`, whose
disclosure is logged) can be read or updated; anything else is "not found". The update must be
a valid FHIR R4 Task (checked with ``fhir.resources``) with the id of its address, focused on
that referral's ServiceRequest and owned by that referral's center.

Task status -> referral outcome (:data:`OUTCOME_OF_STATUS`):

- accepted -> appointment ("Got an appointment": the center will take the caller in);
- in-progress, completed -> admitted;
- rejected, cancelled, failed -> not admitted, for the reason coded in ``statusReason`` with
  the helpline's reason codes (``{namespace}/CodeSystem/referral-not-admitted-reason``: waitlist,
  cost, not_eligible, declined, no_show, other), else "other";
- draft, requested, received, ready, on-hold, entered-in-error: acknowledged, no change.

A final outcome (admitted, not admitted, lost to contact) is never moved back to an earlier
one by a center's update: updates can arrive out of order, and the consent that rested on the
open referral ended with it. ``statusReason.text`` is free text that may name the caller: it is
neither stored nor logged.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from helpline import audit
from helpline.config import Settings
from helpline.db import utcnow
from helpline.models import Disclosure, Referral
from helpline.referrals import fhir
from helpline.referrals.outcomes import (
    FINAL_OUTCOMES,
    NOT_ADMITTED_REASONS,
    record_provider_outcome,
)

#: FHIR R4 Task.status codes (http://hl7.org/fhir/task-status).
TASK_STATUSES = frozenset({"draft", "requested", "received", "accepted", "rejected", "ready",
                           "cancelled", "in-progress", "on-hold", "failed", "completed",
                           "entered-in-error"})
OUTCOME_OF_STATUS = {
    "accepted": "appointment",
    "in-progress": "admitted",
    "completed": "admitted",
    "rejected": "not_admitted",
    "cancelled": "not_admitted",
    "failed": "not_admitted",
}


class TaskError(ValueError):
    """An update refused; ``status`` is the HTTP status FHIR's update interaction gives it
    (400 not a valid Task, 404 no such Task, 422 a Task for another referral or center) and
    ``code`` the OperationOutcome issue type. The message is safe to send back."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class TaskUpdate:
    """What an update did: the outcome before and after, and the Task as it now stands."""

    referral: Referral
    status: str
    before: str | None
    after: str | None
    changed: bool
    task: dict[str, Any]


def _sent(session: Session, task_id: str) -> tuple[Referral, dt.datetime]:
    """The referral a sent Task stands for, and when it was first sent; else 404."""
    referral_id = fhir.referral_id_of(task_id)
    referral = session.get(Referral, referral_id) if referral_id else None
    first_sent = session.scalar(select(func.min(Disclosure.disclosed_at)).where(
        Disclosure.referral_id == referral.id, Disclosure.channel == "fhir")) if (
        referral is not None) else None
    if referral is None or first_sent is None:
        raise TaskError(404, "not-found", f"no Task {task_id} was sent by this helpline")
    return referral, first_sent


def current_task(session: Session, task_id: str, settings: Settings,
                 now: dt.datetime | None = None) -> dict[str, Any]:
    """The Task of a sent referral as it now stands (its status from the referral's outcome)."""
    referral, first_sent = _sent(session, task_id)
    center = fhir.center_of(session, referral)
    return fhir.validated(fhir.task(settings, referral, center, first_sent, now or utcnow()))


def _reference_names(reference: Any, expected: str) -> bool:
    # A relative reference ("Organization/center-3") or an absolute one ending in it.
    value = reference.get("reference", "") if isinstance(reference, dict) else ""
    return value == expected or value.endswith("/" + expected)


def _reason(task: dict[str, Any], settings: Settings) -> str:
    system = fhir.reason_system(settings)
    for coding in (task.get("statusReason") or {}).get("coding", []):
        if coding.get("system") == system and coding.get("code") in NOT_ADMITTED_REASONS:
            return str(coding["code"])
    return "other"


def _checked(body: object, task_id: str) -> dict[str, Any]:
    if not isinstance(body, dict) or body.get("resourceType") != "Task":
        raise TaskError(400, "structure", "expected a FHIR Task resource (JSON)")
    try:
        task = fhir.validated(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "Task"
        raise TaskError(400, "structure", f"not a valid FHIR R4 Task: {where}: "
                                          f"{first['msg']}") from None
    if task.get("id") != task_id:
        raise TaskError(400, "invalid", f"the Task's id must be {task_id}, the id in the "
                                        "address")
    if task.get("status") not in TASK_STATUSES:
        raise TaskError(400, "code-invalid", "Task.status is not a FHIR task status")
    return task


def apply_task_update(session: Session, task_id: str, body: object, settings: Settings,
                      now: dt.datetime | None = None) -> TaskUpdate:
    """Apply a center's update of a sent referral's Task (see the module's mapping); audited.
    Refused with :class:`TaskError` before anything changes."""
    now = now or utcnow()
    referral, first_sent = _sent(session, task_id)
    center = fhir.center_of(session, referral)
    task = _checked(body, task_id)
    if not _reference_names(task.get("focus"), f"ServiceRequest/{task_id}"):
        raise TaskError(422, "business-rule", f"Task.focus must be ServiceRequest/{task_id}")
    if not _reference_names(task.get("owner"), f"Organization/center-{center.id}"):
        raise TaskError(422, "business-rule", "Task.owner must be the center the referral "
                                              f"was sent to (Organization/center-{center.id})")
    status = str(task["status"])
    before = referral.outcome
    outcome = OUTCOME_OF_STATUS.get(status)
    reason = _reason(task, settings) if outcome == "not_admitted" else None
    reopens = before in FINAL_OUTCOMES and outcome not in FINAL_OUTCOMES
    changed = outcome is not None and not reopens and (outcome, reason) != (
        before, referral.outcome_reason)
    source = f"fhir:center-{center.id}"
    if changed and outcome is not None:
        record_provider_outcome(session, referral, outcome, reason=reason, source=source,
                                now=now)
    audit.record(session, "referral.fhir_task_update", actor=source, record_type="referral",
                 record_id=referral.id,
                 detail={"task_status": status, "from": before, "to": referral.outcome,
                         "changed": changed, "reason": reason})
    return TaskUpdate(referral=referral, status=status, before=before, after=referral.outcome,
                      changed=changed,
                      task=fhir.validated(fhir.task(settings, referral, center, first_sent,
                                                    now)))
