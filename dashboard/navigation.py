"""Which item of the top navigation the current page belongs to (shown with aria-current)."""

from __future__ import annotations

from flask import request

from helpline.models import User
from helpline.staff.roles import Action, can

# Endpoint prefixes of whole areas, then single pages; the first match wins.
_AREAS = (
    ("dashboard.supervisor_", "supervisor"),
    ("dashboard.directory_", "directory"),
    ("dashboard.handoff", "home"),
    ("phone.", "phone"),
)
_PAGES = {
    "dashboard.home": "home",
    "dashboard.record": "home",
    "dashboard.overdose_protocol": "home",
    "dashboard.search_referrals": "home",
    "dashboard.caller_consents_record": "home",
    "dashboard.history": "history",
    "dashboard.my_followups": "my_followups",
    "dashboard.followups_console": "followups",
    "dashboard.accounts": "accounts",
    "dashboard.api_tokens_page": "api_tokens",
    "dashboard.account_settings": "account",
    "dashboard.change_password": "account",
}
_FOLLOWUP_PAGES = frozenset({"dashboard.followup_page", "dashboard.caller_consents_followup"})


def current_section(user: User | None) -> str | None:
    """The navigation item of this request's page: records belong to Home, where they open."""
    endpoint = request.endpoint or ""
    if endpoint in _FOLLOWUP_PAGES:
        # A follow-up opens from the console for those who manage them, else from their list.
        return "followups" if can(user, Action.MANAGE_FOLLOWUPS) else "my_followups"
    for prefix, section in _AREAS:
        if endpoint.startswith(prefix):
            return section
    return _PAGES.get(endpoint)
