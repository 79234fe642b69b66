"""The access policy as data: every action allows exactly the roles listed for it."""

from __future__ import annotations

import pytest

from helpline.models import Role, User
from helpline.staff.roles import RULES, Action, can, roles_for

REFUSED = [(action, role) for action in Action for role in Role if role not in RULES[action]]
ALLOWED = [(action, role) for action in Action for role in RULES[action]]


def test_every_action_has_a_rule_and_no_rule_names_an_unknown_action() -> None:
    assert set(RULES) == set(Action)
    assert all(RULES[action] <= frozenset(Role) for action in Action)


@pytest.mark.parametrize(("action", "role"), REFUSED, ids=[f"{a}-{r}" for a, r in REFUSED])
def test_an_action_is_refused_to_every_role_not_listed(action: Action, role: Role) -> None:
    assert not can(User(username="x", role=str(role)), action)


@pytest.mark.parametrize(("action", "role"), ALLOWED, ids=[f"{a}-{r}" for a, r in ALLOWED])
def test_an_action_is_allowed_to_the_roles_listed(action: Action, role: Role) -> None:
    assert can(User(username="x", role=str(role)), action)


@pytest.mark.parametrize("action", list(Action))
def test_nobody_signed_in_may_do_anything(action: Action) -> None:
    assert not can(None, action)


def test_admins_never_reach_a_callers_record_number_or_consents() -> None:
    for action in (Action.READ_OWN_RECORDS, Action.READ_ALL_RECORDS, Action.VIEW_HISTORY,
                   Action.VIEW_CALLER_CONSENTS, Action.WORK_FOLLOWUPS, Action.USE_PHONE):
        assert Role.ADMIN not in roles_for(action)


def test_a_misspelt_action_is_an_error_not_an_opening() -> None:
    with pytest.raises(ValueError):
        can(User(username="x", role="supervisor"), "view_everything")
