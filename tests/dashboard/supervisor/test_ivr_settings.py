"""The IVR settings pages: versions, a draft's form with errors by field, the changes, publish
and roll back (audited), and who may open them."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline.flows.versions import live_version
from helpline.models import AuditEvent, FlowVersion

PAGES = ["/supervisor/ivr", "/supervisor/ivr/0", "/supervisor/ivr/0/changes"]
POSTS = ["/supervisor/ivr/drafts", "/supervisor/ivr/1", "/supervisor/ivr/1/publish",
         "/supervisor/ivr/0/rollback"]


def make_draft(staff, based_on: int = 0) -> int:  # type: ignore[no-untyped-def]
    resp = staff.post("/supervisor/ivr/drafts", {"based_on": str(based_on),
                                                  "note": "Warmer greeting"})
    assert resp.status_code == 302, resp.data
    return int(resp.headers["Location"].rsplit("/", 1)[1])


def form_of(staff, number: int) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Every field of the draft's form as the browser would send it."""
    html = staff.get(f"/supervisor/ivr/{number}").get_data(as_text=True)
    fields = dict(re.findall(r'<textarea id="[^"]+" name="([^"]+)"[^>]*>([^<]*)</textarea>',
                             html))
    fields.update(re.findall(r'<input type="text" id="f-[^"]+" name="([^"]+)" value="([^"]*)"',
                             html))
    fields.update(re.findall(r'<input type="radio" name="([^"]+)" value="([^"]+)" checked', html))
    import html as html_module

    return {k: html_module.unescape(v) for k, v in fields.items()}


@pytest.mark.parametrize("path", PAGES)
def test_a_counselor_cannot_open_the_ivr_settings(counselor_client, path: str) -> None:  # type: ignore[no-untyped-def]
    assert counselor_client.get(path).status_code == 403


@pytest.mark.parametrize("path", POSTS)
def test_a_counselor_cannot_change_the_ivr_settings(counselor_client, path: str, session) -> None:  # type: ignore[no-untyped-def]
    assert counselor_client.post(path, {"based_on": "0"}).status_code == 403
    assert session.scalar(select(FlowVersion)) is None


@pytest.mark.parametrize("path", PAGES)
def test_nobody_signed_out_sees_the_ivr_settings(client, path: str) -> None:  # type: ignore[no-untyped-def]
    assert client.get(path).status_code in (302, 401)


def test_the_supervisor_menu_links_the_ivr_settings(supervisor_client) -> None:  # type: ignore[no-untyped-def]
    html = supervisor_client.get("/supervisor/wallboard").get_data(as_text=True)
    assert 'href="/supervisor/ivr"' in html and ">IVR settings</a>" in html


def test_the_versions_page_shows_version_zero_live(supervisor_client) -> None:  # type: ignore[no-untyped-def]
    html = supervisor_client.get("/supervisor/ivr").get_data(as_text=True)
    assert 'data-version="0" data-state="live"' in html
    assert "Nothing published yet" in html


def test_a_supervisor_edits_previews_and_publishes_a_draft(  # type: ignore[no-untyped-def]
        supervisor_client, session: Session) -> None:
    number = make_draft(supervisor_client)
    page = supervisor_client.get(f"/supervisor/ivr/{number}").get_data(as_text=True)
    assert f'href="/phone?flow_version={number}"' in page
    assert "<code>{position}</code> is the caller&#39;s place in line" in page
    assert 'id="f-en-prompts-greeting"' in page and 'id="f-es-sms-help"' in page

    form = form_of(supervisor_client, number)
    assert form["line.crisis_number"] == "988"
    form["en.prompts.greeting"] = "Welcome to {helpline}. This call is free and\r\nconfidential."
    form["line.handle_crisis_in_house"] = "true"
    form["note"] = "Warmer greeting, crisis in house"
    saved = supervisor_client.post(f"/supervisor/ivr/{number}", form, follow_redirects=True)
    assert saved.status_code == 200
    assert b"Draft %d saved (2 fields changed)" % number in saved.data

    changes = supervisor_client.get(f"/supervisor/ivr/{number}/changes").get_data(as_text=True)
    assert 'data-field="en.prompts.greeting"' in changes
    assert 'data-field="line.handle_crisis_in_house"' in changes
    assert ("<del>Thank you for calling {helpline}, </del>"
            "<ins>Welcome to {helpline}. This call is </ins>free and confidential.") in changes

    published = supervisor_client.post(f"/supervisor/ivr/{number}/publish", {"confirm": "1"},
                                       follow_redirects=True)
    assert f"Version {number} is live".encode() in published.data
    assert live_version(session) == number
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "ivr.publish"))
    version = session.get(FlowVersion, number)
    assert version.values["en.prompts.greeting"] == (
        "Welcome to {helpline}. This call is free and confidential.")
    assert version.note == "Warmer greeting, crisis in house"

    again = supervisor_client.post(f"/supervisor/ivr/{number}", form, follow_redirects=True)
    assert b"can no longer change" in again.data
    assert b'readonly' in supervisor_client.get(f"/supervisor/ivr/{number}").data


def test_errors_are_named_by_field_and_nothing_is_saved(  # type: ignore[no-untyped-def]
        supervisor_client, session: Session) -> None:
    number = make_draft(supervisor_client)
    form = form_of(supervisor_client, number)
    form["line.crisis_number"] = "98"
    form["es.prompts.queue_position"] = "Usted es el número {lugar}."
    form["en.hold.pause_seconds"] = "soon"
    resp = supervisor_client.post(f"/supervisor/ivr/{number}", form)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "The draft was not saved: 3 problems" in html
    assert '<a href="#f-line-crisis_number">The line · Crisis line number</a>' in html
    assert ("Español · Hold messages · Place in line</a>: unknown placeholder {lugar}; "
            "this one may use {position}") in html
    assert 'aria-invalid="true"' in html and 'id="f-en-hold-pause_seconds-error"' in html
    assert 'value="soon"' in html  # what was typed stays on the page
    session.expire_all()
    assert session.get(FlowVersion, number).values["line.crisis_number"] == "988"


def test_a_rollback_from_the_page_is_audited(supervisor_client, session: Session) -> None:  # type: ignore[no-untyped-def]
    number = make_draft(supervisor_client)
    supervisor_client.post(f"/supervisor/ivr/{number}/publish", {"confirm": "1"})
    page = supervisor_client.get("/supervisor/ivr").get_data(as_text=True)
    assert f'data-version="{number}" data-state="live"' in page
    assert 'data-version="0" data-state="retired"' in page
    resp = supervisor_client.post("/supervisor/ivr/0/rollback", {"confirm": "1"},
                                  follow_redirects=True)
    assert b"version 0 is live again" in resp.data
    assert live_version(session) == 0
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "ivr.rollback")).all()
    assert [(e.record_id, e.detail) for e in events] == [("0", {"previous": number})]
    history = supervisor_client.get("/supervisor/ivr").get_data(as_text=True)
    assert "Rolled back to version 0" in history and f"Published version {number}" in history


def test_an_unknown_version_is_not_found(supervisor_client) -> None:  # type: ignore[no-untyped-def]
    assert supervisor_client.get("/supervisor/ivr/41").status_code == 404
    assert supervisor_client.get("/supervisor/ivr/41/changes").status_code == 404
    assert supervisor_client.post("/supervisor/ivr/drafts", {"based_on": "41"}).status_code == 404


def test_changing_the_ivr_settings_needs_the_forms_token(  # type: ignore[no-untyped-def]
        supervisor_client, session: Session) -> None:
    resp = supervisor_client.client.post("/supervisor/ivr/drafts", data={"based_on": "0"})
    assert resp.status_code == 400
    assert session.scalar(select(FlowVersion)) is None
