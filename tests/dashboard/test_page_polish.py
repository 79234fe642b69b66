"""Every staff page: styled 404 and 500 pages with the navigation, the current page marked in
it, and counselor statuses as pills of their own colour."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import text

from helpline.app import create_app
from helpline.app.runtime import db_session
from helpline.config import Settings
from helpline.plurals import plural


def _fail_after_a_broken_statement() -> str:
    # A statement the database refuses leaves the transaction failed (on PostgreSQL, every
    # later query is refused until a rollback): the error page must still find its user.
    db_session().execute(text("SELECT no_such_column FROM no_such_table"))
    return "unreachable"


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings)
    app.add_url_rule("/records/broken", "broken_page", _fail_after_a_broken_statement)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as in production, not raise to the test
    yield app
    app.extensions["helpline"].db.dispose()


def main_nav(html: str) -> str:
    found = re.search(r'<nav aria-label="Main">(.*?)</nav>', html, re.S)
    assert found, "the page has no main navigation"
    return found.group(1)


def current_items(html: str) -> list[str]:
    return [re.sub(r"<.*", "", label, flags=re.S).strip()
            for label in re.findall(r'aria-current="page">(.*?)</a>', main_nav(html), re.S)]


def test_unknown_address_answers_a_styled_404_with_the_navigation(counselor_client):  # type: ignore[no-untyped-def]
    page = counselor_client.get("/no/such/page")
    assert page.status_code == 404
    html = page.get_data(as_text=True)
    assert "<h1>Page not found</h1>" in html and "Error 404" in html
    assert 'href="/history"' in main_nav(html)  # the counselor's own menu, to go on from here
    assert 'href="/static/dashboard.css"' in html


def test_unknown_address_signed_out_is_the_styled_404_without_a_menu(client):  # type: ignore[no-untyped-def]
    page = client.get("/no/such/page")
    assert page.status_code == 404
    html = page.get_data(as_text=True)
    assert "<h1>Page not found</h1>" in html and '<nav aria-label="Main">' not in html


def test_unknown_api_address_still_answers_json(client):  # type: ignore[no-untyped-def]
    answer = client.get("/api/no-such-thing")
    assert answer.status_code == 404 and answer.is_json


def test_failure_answers_a_calm_500_page_with_the_navigation(counselor_client):  # type: ignore[no-untyped-def]
    page = counselor_client.get("/records/broken")
    assert page.status_code == 500
    html = page.get_data(as_text=True)
    assert "<h1>Something went wrong</h1>" in html and "nothing was saved" in html
    assert 'href="/history"' in main_nav(html)
    assert "no_such_table" not in html  # nothing of the failure's inside is shown


@pytest.mark.parametrize(("path", "item"), [
    ("/", "Home"),
    ("/history", "Call history"),
    ("/phone", "Phone"),
    ("/followups/mine", "My follow-ups"),
    ("/directory", "Directory"),
    ("/directory/groups", "Directory"),
    ("/account", "My account"),
])
def test_counselor_sees_where_they_are_in_the_navigation(counselor_client, path, item):  # type: ignore[no-untyped-def]
    page = counselor_client.get(path)
    assert page.status_code == 200, path
    assert current_items(page.get_data(as_text=True)) == [item]


@pytest.mark.parametrize(("path", "item"), [
    ("/followups", "Follow-ups"),
    ("/supervisor/wallboard", "Supervisor"),
    ("/supervisor/reports", "Supervisor"),
    ("/supervisor/ivr", "Supervisor"),
    ("/supervisor/audit", "Supervisor"),
])
def test_supervisor_sees_where_they_are_in_the_navigation(supervisor_client, path, item):  # type: ignore[no-untyped-def]
    page = supervisor_client.get(path)
    assert page.status_code == 200, path
    assert current_items(page.get_data(as_text=True)) == [item]


def test_admin_sees_accounts_marked_in_the_navigation(admin_client):  # type: ignore[no-untyped-def]
    page = admin_client.get("/accounts")
    assert current_items(page.get_data(as_text=True)) == ["Accounts"]


def test_available_and_offline_are_pills_of_their_own(counselor_client):  # type: ignore[no-untyped-def]
    offline = counselor_client.get("/").get_data(as_text=True)
    assert re.search(r'class="[^"]*agent-status status-offline[^"]*" id="current-status">Offline',
                     offline)
    counselor_client.post("/status", {"status": "available"})
    available = counselor_client.get("/").get_data(as_text=True)
    assert re.search(r'class="[^"]*agent-status status-available[^"]*" id="current-status">'
                     r'Available', available)


def test_counts_take_the_noun_that_fits() -> None:
    assert plural(1, "minute") == "1 minute"
    assert plural(0, "minute") == "0 minutes"
    assert plural(5, "attempt") == "5 attempts"
    assert plural(2, "person", "people") == "2 people"
