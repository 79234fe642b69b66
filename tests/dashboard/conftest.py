"""Dashboard fixtures: staff who sign in through the real pages (second factor included)."""

from __future__ import annotations

import pyotp
import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.factories import PASSWORD, make_user


class Staff:
    """A test client signed in as one staff member, with the session's CSRF token at hand."""

    def __init__(self, client: FlaskClient, user_id: int, username: str) -> None:
        self.client = client
        self.user_id = user_id
        self.username = username

    @property
    def csrf(self) -> str:
        with self.client.session_transaction() as s:
            return s.get("csrf_token", "")

    def get(self, path: str, **kw):  # type: ignore[no-untyped-def]
        return self.client.get(path, **kw)

    def post(self, path: str, data: dict | None = None, **kw):  # type: ignore[no-untyped-def]
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf)
        return self.client.post(path, data=data, **kw)


def csrf_of(client: FlaskClient) -> str:
    client.get("/sign-in")
    with client.session_transaction() as s:
        return s["csrf_token"]


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post("/sign-in", data={"username": username, "password": password,
                                         "csrf_token": csrf_of(client)})


@pytest.fixture
def staff_factory(app, session: Session):  # type: ignore[no-untyped-def]
    def make(role: str = "counselor", **fields) -> Staff:  # type: ignore[no-untyped-def]
        secret = pyotp.random_base32()
        user = make_user(session, role, totp_secret=secret, totp_enabled=True, **fields)
        session.commit()
        client = app.test_client()
        resp = sign_in(client, user.username)
        assert resp.status_code == 302, resp.data
        if resp.headers["Location"].endswith("/sign-in/second-factor"):
            resp = client.post("/sign-in/second-factor", data={
                "code": pyotp.TOTP(secret).now(), "csrf_token": csrf_of_session(client)})
            assert resp.status_code == 302
        return Staff(client, user.id, user.username)

    return make


def csrf_of_session(client: FlaskClient) -> str:
    with client.session_transaction() as s:
        return s["csrf_token"]


@pytest.fixture
def counselor(staff_factory) -> Staff:  # type: ignore[no-untyped-def]
    return staff_factory("counselor")


@pytest.fixture
def supervisor(staff_factory) -> Staff:  # type: ignore[no-untyped-def]
    return staff_factory("supervisor")


@pytest.fixture
def admin(staff_factory) -> Staff:  # type: ignore[no-untyped-def]
    return staff_factory("admin")
