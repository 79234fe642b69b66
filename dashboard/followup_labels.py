"""How follow-ups read on the dashboard: kinds, states, results, outcomes, history entries."""

from __future__ import annotations

KINDS = {
    "reminder": "Reminder to call",
    "sms_checkin": "Text check-in",
    "bridged_callback": "Bridged callback",
}
STATES = {
    "requested": "Waiting to be scheduled",
    "scheduled": "Scheduled",
    "retry": "To try again",
    "sending": "Being delivered",
    "awaiting_result": "Waiting for a result",
    "done": "Done",
    "cancelled": "Cancelled",
    "stopped": "Stopped",
}
SOURCES = {
    "counselor": "A counselor's request",
    "ivr_callback": "A callback chosen while holding",
    "supervisor": "A supervisor",
    "handoff": "A warm handoff (to confirm admission)",
}
RESULTS = {
    "reached": "Reached",
    "no_answer": "No answer",
    "busy": "Busy",
    "wrong_number": "Wrong number",
    "opted_out": "Opted out",
    "failed": "Failed",
    "voicemail_not_left": "No answer: a machine answered, no message left",
    "not_confirmed": "Someone else answered: hung up without saying why",
    "sent": "Text sent",
    "pending": "Waiting for the result",
    "sending": "Being sent (a scheduler had it when it stopped)",
    "unknown": "Unknown: the provider could not be asked whether it went out (for a supervisor)",
}
#: Results only the system records: never offered to staff.
SYSTEM_RESULTS = {"sent", "pending", "sending", "unknown"}
OUTCOMES = {
    "reached_in_treatment": "Reached: in treatment",
    "reached_referred": "Reached: referred to treatment",
    "reached_declined": "Reached: declined",
    "reached_other": "Reached: other",
    "checkin_sent": "Check-in text sent",
    "unreachable": "Unreachable",
    "wrong_number": "Wrong number",
    "opted_out": "Opted out",
    "consent_withdrawn": "Consent withdrawn",
    "consent_expired": "Consent expired",
    "unsafe_channel": "Channel not safe for the caller",
    "cancelled": "Cancelled",
}
#: The outcomes staff choose; the rest follow from what happened (a text sent, a cancel...).
STAFF_OUTCOMES = {k: OUTCOMES[k] for k in (
    "reached_in_treatment", "reached_referred", "reached_declined", "reached_other",
    "unreachable", "wrong_number", "opted_out")}
ACTIONS = {
    "consent.recorded": "Consent recorded",
    "consent.withdrawn": "Consent withdrawn",
    "consent.expired": "Consent expired",
    "followup.max_attempts_raised": "More attempts allowed",
    "followup.request": "Requested",
    "followup.schedule": "Scheduled",
    "followup.assign": "Assigned",
    "followup.reassign": "Reassigned",
    "followup.take": "Taken on",
    "followup.cancel": "Cancelled",
    "followup.outcome": "Outcome recorded",
    "followup.attempt": "Attempt recorded",
    "followup.deliver": "Delivered",
    "followup.deliver_error": "Delivery failed (left for a supervisor)",
    "followup.claim_retaken": "Taken up again after a scheduler stopped",
    "followup.claim_settled": "Checked with the provider after a scheduler stopped",
    "followup.claim_unresolved": "Could not check with the provider (left for a supervisor)",
    "followup.claim_lost": "Delivery given up by a scheduler that ran out of time",
    "followup.stopped": "Stopped before delivery",
    "followup.escalate": "Reported overdue",
    "followup.counselor_missed": "Counselor did not take the call",
    "followup.view": "Opened",
    "followup.refused": "Refused to someone not allowed",
    "followup.number.read": "Number shown",
    "followup.number.refused": "Number refused",
}
