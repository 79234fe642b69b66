"""The words of consent: scopes, purposes, what may be shared, expiry events, the scripts
counselors read aloud (with their versions), and the §2.32 notice.

Kept apart from :mod:`helpline.consent` (the door) so that pages, the IVR and the door all read
the same words. Change a script's wording only with a new version key: recorded consents name
the version they were given under.
"""

from __future__ import annotations

#: Separate, revocable scopes (42 CFR §2.31; texts are TCPA consent of their own).
SCOPES = {
    "call": "Follow-up calls to the caller",
    "sms": "Texts to the caller",
    "provider": "Sharing with a named treatment provider",
    "third_party": "Contacting a third party the caller named",
}
#: Who receives a disclosure under each scope.
RECIPIENT_OF_SCOPE = {"call": "caller", "sms": "caller", "provider": "provider",
                      "third_party": "third_party"}
SCOPE_NOUNS = {"call": "calls", "sms": "texts", "provider": "sharing with a treatment provider",
               "third_party": "contacting a third party"}

PURPOSES = {
    "followup": "Following up after the call (check-ins, call backs, reminders to call)",
    "referral": "Sending the caller the referral details they asked for",
    "treatment_intake": "Arranging treatment intake and admission (warm handoff)",
    "care_coordination": "Coordinating support with someone the caller named",
}
PURPOSE_NOUNS = {"followup": "follow-up", "referral": "referral details",
                 "treatment_intake": "treatment intake",
                 "care_coordination": "coordinating support"}
#: The purposes each scope may serve.
PURPOSES_OF_SCOPE = {
    "call": ("followup",),
    "sms": ("followup", "referral"),
    "provider": ("treatment_intake",),
    "third_party": ("care_coordination",),
}

#: What may be shared. SUD information is described explicitly, as §2.31(a)(2) asks.
INFORMATION = {
    "followup_contact": "That the helpline is contacting them at this number "
                        "(nothing about the call)",
    "referral_list": "Names, addresses and phone numbers of the places referred to",
    "seeking_treatment": "SUD information: that the caller is seeking substance use treatment",
    "substances": "SUD information: which substances the caller uses",
    "screening": "SUD information: screening results (e.g. the AUDIT-C score)",
    "insurance": "Insurance",
    "age_range": "Age range",
    "location": "State and ZIP code",
}
#: What each scope shares by default (the caller can be asked for less or more).
DEFAULT_INFORMATION = {
    ("call", "followup"): ("followup_contact",),
    ("sms", "followup"): ("followup_contact",),
    ("sms", "referral"): ("referral_list",),
    ("provider", "treatment_intake"): ("seeking_treatment", "substances", "insurance",
                                       "age_range", "location"),
    ("third_party", "care_coordination"): ("seeking_treatment",),
}
#: Information a message to the caller's own phone may carry: nothing about substance use
#: (a text alone reveals contact with an SUD service; assume the lock screen shows it).
CALLER_SAFE_INFORMATION = frozenset({"followup_contact", "referral_list"})

#: Events that end a consent early; when one happens, the consent's expires_at is set.
EXPIRY_EVENTS = {
    "referral_closed": "When the referral's outcome is known (admitted, not admitted or "
                       "lost to contact)",
}

METHODS = {"verbal": "Verbally, on the phone (counselor's attestation)",
           "ivr_keypress": "By pressing a key in the phone menu"}

#: The scripts a counselor reads aloud, by version. {helpline} is the name the caller may
#: hear; {recipient} the provider or third party; {until} the expiry.
SCRIPTS = {
    "sms-referral-1": (
        "May we text you the names, addresses and phone numbers of the places we talked "
        "about, at this number? The text will not say what we talked about. You can reply "
        "STOP at any time."),
    "followup-call-1": (
        "May we call you back at this number in the next few days to see how you are doing? "
        "We will only say we are calling from {helpline}. You can tell us to stop at any time, "
        "and this agreement ends {until}."),
    "followup-sms-1": (
        "May we send you a short check-in text at this number in the next few days? It will "
        "not say what we talked about. You can reply STOP at any time, and this agreement "
        "ends {until}."),
    "provider-1": (
        "To connect you with {recipient}'s intake, may I tell them {information}? They may "
        "use it only to arrange your treatment and may not pass it on. You can take this back "
        "at any time, except for what was already shared, and it ends {until}."),
    "third-party-1": (
        "May we contact {recipient} about supporting you, and tell them {information}? They "
        "may not pass it on. You can take this back at any time, and it ends {until}."),
}
#: The script for each (scope, purpose).
SCRIPT_FOR = {
    ("call", "followup"): "followup-call-1",
    ("sms", "followup"): "followup-sms-1",
    ("sms", "referral"): "sms-referral-1",
    ("provider", "treatment_intake"): "provider-1",
    ("third_party", "care_coordination"): "third-party-1",
}
#: The IVR's callback prompt, recorded word for word as the consent a keypress gives.
IVR_CALLBACK_SCRIPT = "ivr-callback-1"
IVR_CALLBACK_WORDING = (
    "Caller pressed the key for a call back at the number they called from, instead of holding.")

#: §2.32(a)(2): the statement that goes with every disclosure made with consent (the 2024
#: rule's wording). Not needed on a message to the caller themself.
REDISCLOSURE_NOTICE = "42 CFR part 2 prohibits unauthorized use or disclosure of these records."
NOTICE_EXPLAINED = (
    "This information is shared with the caller's consent for the purpose stated. You may use "
    "it only for that purpose and may not pass it on without the caller's written consent.")


def script_text(version: str, *, helpline: str, recipient: str = "", information: str = "",
                until: str = "") -> str:
    """The words of a script version, filled in for this caller."""
    return SCRIPTS[version].format(helpline=helpline, recipient=recipient or "them",
                                   information=information or "nothing more",
                                   until=until or "when you withdraw it")


def information_phrase(codes: list[str] | tuple[str, ...]) -> str:
    """What may be shared, as a phrase for a script (e.g. "which substances you use...")."""
    plain = {
        "followup_contact": "that we are calling you back",
        "referral_list": "the places we talked about",
        "seeking_treatment": "that you are looking for substance use treatment",
        "substances": "which substances you use",
        "screening": "your screening results",
        "insurance": "your insurance",
        "age_range": "your age range",
        "location": "your state and ZIP code",
    }
    parts = [plain[c] for c in codes if c in plain]
    if len(parts) > 1:
        return ", ".join(parts[:-1]) + " and " + parts[-1]
    return parts[0] if parts else ""
