"""Every model, imported so that the metadata is complete for Alembic and tests."""

from helpline.models.audit import AuditEvent
from helpline.models.calls import Call, CallEvent, Need, Outcome
from helpline.models.contacts import Contact, ContactStatus, Referral
from helpline.models.directory import CenterService, Resource, SupportGroup, TreatmentCenter
from helpline.models.followups import (
    FollowUp,
    FollowUpAttempt,
    FollowUpConsent,
    FollowUpKind,
    FollowUpNotice,
    FollowUpState,
)
from helpline.models.ivr import Voicemail
from helpline.models.outbox import OutboxMessage, SmsOptOut
from helpline.models.signin import SignInFailure, StaffSession
from helpline.models.users import AgentStatus, Role, User

__all__ = [
    "AgentStatus",
    "AuditEvent",
    "Call",
    "CallEvent",
    "CenterService",
    "Contact",
    "ContactStatus",
    "FollowUp",
    "FollowUpAttempt",
    "FollowUpConsent",
    "FollowUpKind",
    "FollowUpNotice",
    "FollowUpState",
    "Need",
    "OutboxMessage",
    "Outcome",
    "Referral",
    "Resource",
    "Role",
    "SignInFailure",
    "SmsOptOut",
    "StaffSession",
    "SupportGroup",
    "TreatmentCenter",
    "User",
    "Voicemail",
]
