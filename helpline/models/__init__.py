"""Every model, imported so that the metadata is complete for Alembic and tests."""

from helpline.models.audit import AuditEvent
from helpline.models.calls import Call, CallEvent, Need, Outcome
from helpline.models.contacts import Contact, ContactStatus, Referral
from helpline.models.directory import TreatmentCenter
from helpline.models.followups import FollowUp, FollowUpAttempt, FollowUpKind, FollowUpState
from helpline.models.outbox import OutboxMessage, SmsOptOut
from helpline.models.users import AgentStatus, Role, User

__all__ = [
    "AgentStatus",
    "AuditEvent",
    "Call",
    "CallEvent",
    "Contact",
    "ContactStatus",
    "FollowUp",
    "FollowUpAttempt",
    "FollowUpKind",
    "FollowUpState",
    "Need",
    "OutboxMessage",
    "Outcome",
    "Referral",
    "Role",
    "SmsOptOut",
    "TreatmentCenter",
    "User",
]
