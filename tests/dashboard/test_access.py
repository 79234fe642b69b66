"""Deny by default, and every access rule refused."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from dashboard.access import PUBLIC_ENDPOINTS, can_read_notes
from helpline.models import FULL_ATTESTATION, AuditEvent, Contact, Role, User
from helpline.staff.roles import RULES
from tests.factories import make_call, make_contact, make_user


def test_every_dashboard_page_sends_a_stranger_to_sign_in(app, client):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS or rule.rule.startswith(("/ivr/", "/api/")) \
                or "<" in rule.rule or rule.endpoint.startswith("health."):
            continue
        method = "GET" if "GET" in rule.methods else "POST"
        resp = client.open(rule.rule, method=method)
        assert resp.status_code in (302, 400, 401), rule.rule
        if resp.status_code == 302:
            assert "/sign-in" in resp.headers["Location"], rule.rule


def test_a_page_added_without_any_decorator_is_still_closed(app, client):
    from flask import Blueprint

    extra = Blueprint("extra", __name__)
    extra.add_url_rule("/forgotten", "forgotten", lambda: "secret")
    app.register_blueprint(extra)
    resp = client.get("/forgotten")
    assert resp.status_code == 302 and "/sign-in" in resp.headers["Location"]


def test_health_and_sign_in_are_open(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/sign-in").status_code == 200


def test_admin_is_refused_the_call_history(admin_client):
    assert admin_client.get("/history").status_code == 403


def test_counselor_is_refused_account_management(counselor_client):
    assert counselor_client.get("/accounts").status_code == 403
    assert counselor_client.post("/accounts/new", {"username": "x"}).status_code == 403


def test_supervisor_cannot_reset_passwords(supervisor_client, session):
    other = make_user(session)
    session.commit()
    assert supervisor_client.post(f"/accounts/{other.id}/reset-password").status_code == 403


def test_counselor_cannot_open_another_counselors_record(counselor_client, session):
    other = make_user(session)
    contact = make_contact(session, other, make_call(session), notes="private words")
    session.commit()
    resp = counselor_client.get(f"/records/{contact.id}")
    assert resp.status_code == 404
    assert b"private words" not in resp.data
    refused = session.scalars(select(AuditEvent).where(AuditEvent.action == "contact.refused"))
    assert [e.record_id for e in refused] == [str(contact.id)]


def test_admin_never_reads_notes(admin_client, session):
    counselor = make_user(session)
    contact = make_contact(session, counselor, make_call(session), notes="private words")
    session.commit()
    resp = admin_client.get(f"/records/{contact.id}")
    assert resp.status_code == 404 and b"private words" not in resp.data


def test_supervisor_reads_any_record(supervisor_client, session):
    counselor = make_user(session)
    contact = make_contact(session, counselor, make_call(session), notes="visible to supervisor")
    session.commit()
    resp = supervisor_client.get(f"/records/{contact.id}")
    assert resp.status_code == 200 and b"visible to supervisor" in resp.data


def test_counselor_reads_earlier_notes_of_the_caller_they_are_serving(session, keyring):
    first, second = make_user(session), make_user(session)
    old = make_contact(session, first, make_call(session, "+15555550123"), notes="earlier")
    stranger_call = make_call(session, "+15555550999")
    stranger = make_contact(session, first, stranger_call, notes="someone else")
    assert not can_read_notes(second, old)
    make_contact(session, second, make_call(session, "+15555550123",
                                            caller_attestation=FULL_ATTESTATION))  # on it now
    assert can_read_notes(second, old)
    assert not can_read_notes(second, stranger)


def test_an_unverified_caller_id_does_not_open_earlier_notes(session, keyring):
    first, second = make_user(session), make_user(session)
    old = make_contact(session, first, make_call(session, "+15555550123"), notes="earlier")
    make_contact(session, second, make_call(session, "+15555550123",
                                            caller_attestation="TN-Validation-Passed-B"))
    assert not can_read_notes(second, old)


def test_can_read_notes_refuses_admin_and_allows_supervisor(session, keyring):
    counselor = make_user(session)
    contact = make_contact(session, counselor)
    assert not can_read_notes(make_user(session, "admin"), contact)
    assert can_read_notes(make_user(session, "supervisor"), contact)
    assert isinstance(session.get(User, counselor.id), User)
    assert isinstance(session.get(Contact, contact.id), Contact)


def test_security_headers_on_every_page(client):
    resp = client.get("/sign-in")
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["Cache-Control"] == "no-store"


def test_static_files_are_served(client):
    assert client.get("/static/vendor/htmx.min.js").status_code == 200
    assert client.get("/static/dashboard.css").status_code == 200


@pytest.mark.parametrize("role", [str(r) for r in Role])
def test_every_page_naming_an_action_refuses_the_roles_not_allowed_it(app, staff_factory,
                                                                      role):
    staff = staff_factory(role)
    refused = []
    for rule in app.url_map.iter_rules():
        action = getattr(app.view_functions[rule.endpoint], "permission", None)
        if action is None or role in RULES[action]:
            continue
        path = re.sub(r"<[^<>]+>", "1", rule.rule)
        resp = staff.get(path) if "GET" in rule.methods else staff.post(path)
        assert resp.status_code == 403, (rule.rule, action)
        refused.append(rule.endpoint)
    assert refused  # each role is refused some page: the rules are not all open
