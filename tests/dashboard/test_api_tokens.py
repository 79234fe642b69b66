"""The admin's API tokens page: a token made is shown once and works on the API; revoking
it (after a confirmation) stops it; nobody but an admin reaches the page."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard import confirm
from helpline.models import ApiToken


def test_an_admin_makes_a_token_that_the_api_takes_then_revokes_it(
        admin_client, session: Session) -> None:  # type: ignore[no-untyped-def]
    page = admin_client.post("/api-tokens/new", data={"name": "county dashboard"})
    assert page.status_code == 200
    token = re.search(r'id="api-token-value">([^<]+)<', page.get_data(as_text=True)).group(1)
    client = admin_client.client
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/reports?year=2026", headers=headers).status_code == 200
    # Listed without the token itself.
    listing = admin_client.get("/api-tokens").get_data(as_text=True)
    assert "county dashboard" in listing and token not in listing

    row = session.scalars(select(ApiToken)).one()
    asked = admin_client.post(f"/api-tokens/{row.id}/revoke")
    assert asked.status_code == 200 and "Revoke the API token" in asked.get_data(as_text=True)
    assert client.get("/api/reports?year=2026", headers=headers).status_code == 200
    done = admin_client.post(f"/api-tokens/{row.id}/revoke", data={confirm.FIELD: "1"})
    assert done.status_code == 302
    assert client.get("/api/reports?year=2026", headers=headers).status_code == 401


def test_a_name_given_twice_is_refused_with_the_reason(admin_client) -> None:  # type: ignore[no-untyped-def]
    admin_client.post("/api-tokens/new", data={"name": "county"})
    again = admin_client.post("/api-tokens/new", data={"name": "county"})
    assert again.status_code == 400 and "already a token" in again.get_data(as_text=True)


@pytest.mark.parametrize("role", ["counselor", "supervisor"])
def test_only_admins_reach_the_page(staff_factory, role: str) -> None:  # type: ignore[no-untyped-def]
    staff = staff_factory(role)
    assert staff.get("/api-tokens").status_code == 403
    assert staff.post("/api-tokens/new", data={"name": "x"}).status_code == 403
