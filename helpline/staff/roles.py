"""Who may do what: every staff action named once, and the roles allowed each, as data.

The perimeters and the services ask :func:`can`; none of them lists roles. A rule that also
depends on the record (a counselor's own contact, the follow-up assigned to them) asks
:func:`can` for the role part and checks the record beside it, in the record's package.
An action not in :data:`RULES` is a programming error (:class:`KeyError`), never an opening.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from helpline.models import Role, User

__all__ = ["EVERYONE", "PHONE_STAFF", "RULES", "SECOND_FACTOR_ROLES", "SUPERVISION", "Action",
           "can", "roles_for"]


class Action(StrEnum):
    """Everything a staff member may be allowed to do."""

    # Calls and records
    SET_STATUS = "set_status"              # available / away / offline
    TAKE_CALLS = "take_calls"              # take the next caller; has records of their own
    USE_PHONE = "use_phone"                # the browser phone and the phone simulator
    CONTROL_CALLS = "control_calls"        # hold, transfer and end the call they are on
    READ_OWN_RECORDS = "read_own_records"  # the records they took, the caller they serve now
    READ_ALL_RECORDS = "read_all_records"  # every record and its notes
    VIEW_HISTORY = "view_history"
    EXPORT_HISTORY = "export_history"
    VIEW_CALLER_CONSENTS = "view_caller_consents"
    # Follow-ups
    WORK_FOLLOWUPS = "work_followups"      # be assigned, take, ring for and work follow-ups
    MANAGE_FOLLOWUPS = "manage_followups"  # every follow-up: schedule, assign, cancel, limits
    # Supervision
    VIEW_WALLBOARD = "view_wallboard"
    SUPERVISE_CALLS = "supervise_calls"    # listen to, coach and barge into a live call
    RUN_REPORTS = "run_reports"
    REVIEW_AUDIT = "review_audit"
    EDIT_IVR = "edit_ivr"
    PREVIEW_IVR_DRAFT = "preview_ivr_draft"  # call an unpublished IVR version from the phone
    MANAGE_ROUTING = "manage_routing"      # shift statistics, languages, phone, skills of staff
    MANAGE_FLOOR = "manage_floor"          # set a counselor's status, acknowledge a raised hand
    RAISE_HAND = "raise_hand"              # ask a supervisor for help from the wallboard
    # Accounts
    VIEW_ACCOUNTS = "view_accounts"
    UNLOCK_ACCOUNTS = "unlock_accounts"
    MANAGE_ACCOUNTS = "manage_accounts"    # create, reset, deactivate, change a role
    # Treatment directory
    SEARCH_DIRECTORY = "search_directory"  # search and confirm capacity
    EDIT_DIRECTORY = "edit_directory"
    # The API's tokens for staff-approved integrations (create, revoke)
    MANAGE_API_TOKENS = "manage_api_tokens"


# Role groups.
EVERYONE = frozenset(Role)
PHONE_STAFF = frozenset({Role.COUNSELOR, Role.SUPERVISOR})  # the people who talk to callers
SUPERVISION = frozenset({Role.SUPERVISOR, Role.ADMIN})
SUPERVISORS = frozenset({Role.SUPERVISOR})
COUNSELORS = frozenset({Role.COUNSELOR})
ADMINS = frozenset({Role.ADMIN})
# Roles that must enrol a second factor whatever the setting for everyone says.
SECOND_FACTOR_ROLES = SUPERVISION

# Admins manage accounts and never see a caller's record, notes, number or consents.
RULES: Mapping[Action, frozenset[Role]] = {
    Action.SET_STATUS: PHONE_STAFF,
    Action.TAKE_CALLS: COUNSELORS,
    Action.USE_PHONE: PHONE_STAFF,
    Action.CONTROL_CALLS: PHONE_STAFF,
    Action.READ_OWN_RECORDS: COUNSELORS,
    Action.READ_ALL_RECORDS: SUPERVISORS,
    Action.VIEW_HISTORY: PHONE_STAFF,
    Action.EXPORT_HISTORY: SUPERVISORS,
    Action.VIEW_CALLER_CONSENTS: PHONE_STAFF,
    Action.WORK_FOLLOWUPS: PHONE_STAFF,
    Action.MANAGE_FOLLOWUPS: SUPERVISORS,
    Action.VIEW_WALLBOARD: SUPERVISION,
    Action.SUPERVISE_CALLS: SUPERVISORS,
    Action.RUN_REPORTS: SUPERVISION,
    Action.REVIEW_AUDIT: SUPERVISION,
    Action.EDIT_IVR: SUPERVISION,
    Action.PREVIEW_IVR_DRAFT: SUPERVISORS,
    Action.MANAGE_ROUTING: SUPERVISION,
    Action.MANAGE_FLOOR: SUPERVISORS,
    Action.RAISE_HAND: COUNSELORS,
    Action.VIEW_ACCOUNTS: SUPERVISION,
    Action.UNLOCK_ACCOUNTS: SUPERVISION,
    Action.MANAGE_ACCOUNTS: ADMINS,
    Action.SEARCH_DIRECTORY: EVERYONE,
    Action.EDIT_DIRECTORY: SUPERVISION,
    Action.MANAGE_API_TOKENS: ADMINS,
}


def roles_for(action: Action | str) -> frozenset[Role]:
    """The roles allowed ``action`` (for queries: ``User.role.in_(roles_for(...))``)."""
    return RULES[Action(action)]


def can(user: User | None, action: Action | str) -> bool:
    """Whether ``user`` (an active account; None is nobody) may take ``action``."""
    return user is not None and user.role in roles_for(action)
