"""Every model, imported so that the metadata is complete for Alembic and tests."""

from helpline.models.api import ApiRequestCount, ApiToken
from helpline.models.audit import AuditEvent
from helpline.models.calls import FULL_ATTESTATION, Call, CallEvent, Need, Outcome
from helpline.models.consent import Consent, Disclosure, SafeContactPreferences
from helpline.models.contacts import Contact, ContactStatus, Referral
from helpline.models.directory import (
    CenterSchedule,
    CenterService,
    MeetingFeed,
    Resource,
    SupportGroup,
    TreatmentCenter,
)
from helpline.models.flow_versions import FlowPublication, FlowVersion
from helpline.models.followups import (
    FollowUp,
    FollowUpAttempt,
    FollowUpKind,
    FollowUpNotice,
    FollowUpState,
)
from helpline.models.ivr import AppliedOperation, Voicemail
from helpline.models.outbox import OutboxMessage, SmsOptOut, SmsQuota
from helpline.models.protocols import EmergencyDisclosure, OverdoseProtocol, ProtocolStep
from helpline.models.routing import Offer, OfferState
from helpline.models.screenings import Screening
from helpline.models.signin import SignInFailure, StaffSession
from helpline.models.users import AgentStatus, Role, User

__all__ = [
    "FULL_ATTESTATION",
    "AgentStatus",
    "ApiRequestCount",
    "ApiToken",
    "AppliedOperation",
    "AuditEvent",
    "Call",
    "CallEvent",
    "CenterSchedule",
    "CenterService",
    "Consent",
    "Contact",
    "ContactStatus",
    "Disclosure",
    "EmergencyDisclosure",
    "FlowPublication",
    "FlowVersion",
    "FollowUp",
    "FollowUpAttempt",
    "FollowUpKind",
    "FollowUpNotice",
    "FollowUpState",
    "MeetingFeed",
    "Need",
    "Offer",
    "OfferState",
    "OutboxMessage",
    "Outcome",
    "OverdoseProtocol",
    "ProtocolStep",
    "Referral",
    "Resource",
    "Role",
    "SafeContactPreferences",
    "Screening",
    "SignInFailure",
    "SmsOptOut",
    "SmsQuota",
    "StaffSession",
    "SupportGroup",
    "TreatmentCenter",
    "User",
    "Voicemail",
]
