"""Staff read words, never codes, and every time in the helpline's own zone, labelled.

A counselor and a supervisor walk every page they can reach from Home (links followed, a
few of each kind of page) over demo-like data: a caller for a loved one waiting in the
Spanish queue, a counselor on a call, past calls, a follow-up and a referral. The visible
text of each page (tags, scripts and form values left out) must hold no snake_case code, no
queue code such as ``general-en``, no bare language code and no time labelled UTC.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import urldefrag, urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from helpline.db import utcnow
from helpline.directory.demo import load_demo_directory
from helpline.models import AgentStatus, Contact, User
from helpline.records import contacts
from tests.factories import make_call
from tests.fixtures.consent import OnCall, make_center
from tests.fixtures.referrals import refer

# Codes people type or that name a thing, not a word staff should be shown.
SNAKE = re.compile(r"(?<![\w./@{-])[a-z]+(?:_[a-z0-9]+)+(?![\w./@-])")
QUEUE = re.compile(r"(?<![\w./-])(?:general|crisis|treatment|self|loved_one|groups|resources)"
                   r"-(?:en|es)(?![\w-])")
BARE_LANGUAGE = re.compile(r"(?:^|[\s:(,])(?:en|es)(?:$|[\s),.])")
UTC_LABEL = re.compile(r"\bUTC\b")
# What may stay: sign-in names, typed by people.
ALLOWED = {"counselor_on_call", "supervisor_on_duty"}
HIDDEN = ("script", "style", "template", "code", "textarea")
SKIP_PATHS = ("/sign-out", "/static/", "/ivr/", "/api/", "/phone")
SKIP_SUFFIXES = (".csv", ".json", ".ics", ".zip")
PER_KIND = 2  # pages of each kind visited (records, follow-ups, centers...)
MAX_PAGES = 80


class VisibleText(HTMLParser):
    """The text a person sees: no tags, scripts, styles or hidden templates; no ``<code>``
    (shown as code on purpose: the audit log's raw detail) and no text typed into a
    ``<textarea>``. Text marked as another language (``lang="es"``) is kept apart, as "en"
    is a Spanish word."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.foreign: list[str] = []
        self.links: list[str] = []
        self._hidden = 0
        self._foreign_tag: str | None = None
        self._foreign_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in HIDDEN:
            self._hidden += 1
        if tag == "a" and attributes.get("href"):
            self.links.append(str(attributes["href"]))
        if self._foreign_tag == tag:
            self._foreign_depth += 1
        elif (self._foreign_tag is None and tag != "html"
              and not (attributes.get("lang") or "en").startswith("en")):
            self._foreign_tag, self._foreign_depth = tag, 1

    def handle_endtag(self, tag: str) -> None:
        if tag in HIDDEN and self._hidden:
            self._hidden -= 1
        if tag == self._foreign_tag:
            self._foreign_depth -= 1
            if not self._foreign_depth:
                self._foreign_tag = None

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            (self.foreign if self._foreign_tag else self.parts).append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.parts).split())

    @property
    def foreign_text(self) -> str:
        return " ".join(" ".join(self.foreign).split())


def _kind(link: str) -> str:
    """Pages of one kind: the same address but for numbers (each list view is its own)."""
    return re.sub(r"\d+", "N", link)


def walk(client: FlaskClient) -> Iterator[tuple[str, VisibleText]]:
    """(path, visible text) of each page reached from Home by following links."""
    queue, seen, kinds = ["/"], set(), {}
    while queue and len(seen) < MAX_PAGES:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        resp = client.get(path, follow_redirects=True)
        if resp.status_code != 200 or not resp.mimetype.startswith("text/html"):
            continue
        page = VisibleText()
        page.feed(resp.get_data(as_text=True))
        yield resp.request.full_path.rstrip("?"), page
        for href in page.links:
            link = urldefrag(href)[0]
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or not link.startswith("/"):
                continue
            if link.startswith(SKIP_PATHS) or parts.path.endswith(SKIP_SUFFIXES):
                continue
            kind = _kind(link)
            if link not in seen and kinds.get(kind, 0) < PER_KIND:
                kinds[kind] = kinds.get(kind, 0) + 1
                queue.append(link)


def codes_in(page: VisibleText) -> list[str]:
    """Each code shown, with the words around it (to find the template that printed it)."""
    found = []
    checks = [(SNAKE, page.text), (QUEUE, page.text), (BARE_LANGUAGE, page.text),
              (UTC_LABEL, page.text), (SNAKE, page.foreign_text), (QUEUE, page.foreign_text)]
    for pattern, text in checks:
        for m in pattern.finditer(text):
            if m.group(0) not in ALLOWED:
                around = text[max(0, m.start() - 40):m.end() + 20]
                found.append(f"{m.group(0).strip()!r} in '{around}'")
    return found


@pytest.fixture
def shift(session: Session, staff_factory, make_followup):  # type: ignore[no-untyped-def]
    """A shift under way: past calls, a caller waiting, a counselor on a call with a
    referral attached, a follow-up assigned to them and one for a caller in California."""
    counselor = staff_factory("counselor", username="counselor_on_call")
    supervisor = staff_factory("supervisor", username="supervisor_on_duty")
    load_demo_directory(session, centers=40)
    user = session.get(User, counselor.user_id)
    now = utcnow()
    for i, (need, lang) in enumerate([("loved_one", "es"), ("self", "en"), ("crisis", "en"),
                                      ("treatment", "es"), ("groups", "en")]):
        started = now - dt.timedelta(days=i + 1, hours=2)
        call = make_call(session, f"+1555555{100 + i:04d}", need=need, language=lang,
                         queue_name=f"{need}-{lang}", status="completed", outcome="answered",
                         started_at=started, answered_at=started + dt.timedelta(seconds=40),
                         ended_at=started + dt.timedelta(minutes=15), wait_seconds=40,
                         talk_seconds=800, counselor_id=user.id)
        session.add(Contact(call_id=call.id, counselor_id=user.id, caller_hash=call.caller_hash,
                            caller_type="family", substances=["opioids"], need=need,
                            language=lang, outcome="information", status="closed",
                            created_at=started, closed_at=call.ended_at, notes="Demo note."))
    make_call(session, "+15555550190", need="loved_one", language="es", status="queued",
              queue_name="general-es", started_at=now - dt.timedelta(minutes=3),
              enqueued_at=now - dt.timedelta(minutes=2))
    live = make_call(session, "+15555550191", need="loved_one", language="es",
                     status="in-progress", queue_name="general-es",
                     started_at=now - dt.timedelta(minutes=9),
                     answered_at=now - dt.timedelta(minutes=8), counselor_id=user.id)
    record = contacts.open_contact_for_call(session, user, live,
                                            now=now - dt.timedelta(minutes=8))
    user.status = AgentStatus.ON_CALL
    session.commit()
    refer(session, OnCall(user, live, record), make_center(session))
    make_followup("reminder", assign_to=user)
    make_followup("sms_checkin", zip_code="94103")  # a caller in another zone
    return counselor, supervisor


@pytest.mark.parametrize("role", ["counselor", "supervisor"])
def test_staff_see_words_never_codes(shift, role: str) -> None:  # type: ignore[no-untyped-def]
    counselor, supervisor = shift
    staff = counselor if role == "counselor" else supervisor
    pages = dict(walk(staff.client))
    assert len(pages) > (12 if role == "supervisor" else 6)  # the walk reached the pages
    found = {path: sorted(set(codes)) for path, text in pages.items()
             if (codes := codes_in(text))}
    assert found == {}, "\n".join(f"{path}: {codes}" for path, codes in found.items())
