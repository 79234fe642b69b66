"""Behind a load balancer: the client's address, scheme and host come from the balancer's
X-Forwarded-* headers when TRUSTED_PROXY_COUNT says how many proxies stand in front, and from
the peer itself (the headers ignored) when it is 0."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from helpline.config import Settings
from helpline.models import AuditEvent, SignInFailure
from helpline.staff.auth import ADDRESS_THRESHOLD_FACTOR
from tests.factories import PASSWORD, make_user
from tests.fixtures.staff import csrf_of

HSTS = "max-age=31536000; includeSubDomains"
ATTACKER = "203.0.113.7"
COLLEAGUE = "198.51.100.9"


@pytest.fixture
def proxies() -> int:
    return 0


@pytest.fixture
def settings(settings: Settings, proxies: int) -> Settings:
    return settings.with_overrides(trusted_proxy_count=proxies)


def sign_in_from(client, address: str, username: str, password: str):  # type: ignore[no-untyped-def]
    return client.post("/sign-in", data={"username": username, "password": password,
                                         "csrf_token": csrf_of(client)},
                       headers={"X-Forwarded-For": address})


def fail_until_the_address_locks(app, client, address: str) -> None:  # type: ignore[no-untyped-def]
    limit = app.extensions["helpline"].settings.lockout_threshold * ADDRESS_THRESHOLD_FACTOR
    for n in range(limit):
        assert sign_in_from(client, address, f"nobody{n}", "wrong password").status_code == 401


@pytest.mark.parametrize("proxies", [1])
def test_behind_the_balancer_failures_count_per_client_address(app, client, session):
    user = make_user(session)
    session.commit()
    fail_until_the_address_locks(app, client, ATTACKER)

    # The guesser's address is locked; a colleague behind the same balancer is not.
    assert sign_in_from(client, ATTACKER, user.username, PASSWORD).status_code == 401
    assert sign_in_from(client, COLLEAGUE, user.username, "wrong password").status_code == 401
    assert sign_in_from(client, COLLEAGUE, user.username, PASSWORD).status_code == 302

    counted = list(session.scalars(select(SignInFailure.address)))
    assert set(counted) == {ATTACKER, COLLEAGUE}
    assert counted.count(COLLEAGUE) == 1
    audited = set(session.scalars(select(AuditEvent.address).where(
        AuditEvent.address.is_not(None))))
    assert audited == {ATTACKER, COLLEAGUE}


@pytest.mark.parametrize("proxies", [1])
def test_an_address_the_client_adds_itself_is_not_believed(client, session):
    # Only the entry the trusted balancer appended counts, not what the client sent before it.
    sign_in_from(client, f"{COLLEAGUE}, {ATTACKER}", "nobody", "wrong password")
    assert list(session.scalars(select(SignInFailure.address))) == [ATTACKER]


def test_without_trusted_proxies_x_forwarded_for_is_ignored(app, client, session):
    user = make_user(session)
    session.commit()
    fail_until_the_address_locks(app, client, ATTACKER)
    # Naming another address changes nothing: the peer's own address is the one locked.
    assert sign_in_from(client, COLLEAGUE, user.username, PASSWORD).status_code == 401
    assert set(session.scalars(select(SignInFailure.address))) == {"127.0.0.1"}
    assert set(session.scalars(select(AuditEvent.address).where(
        AuditEvent.address.is_not(None)))) == {"127.0.0.1"}


@pytest.mark.parametrize("proxies", [0, 1])
def test_hsts_on_https_only(client, proxies):
    assert client.get("/sign-in", base_url="https://helpline.test").headers[
        "Strict-Transport-Security"] == HSTS
    assert "Strict-Transport-Security" not in client.get("/sign-in").headers


@pytest.mark.parametrize(("proxies", "sent"), [(1, True), (0, False)])
def test_hsts_when_the_balancer_says_the_client_used_https(client, proxies, sent):
    response = client.get("/sign-in", headers={"X-Forwarded-Proto": "https"})
    assert ("Strict-Transport-Security" in response.headers) is sent
