"""Hostile input on every route of the app answers a refusal in words, never a server error.

Every rule of the URL map is called with hostile path values, query strings and forms: by an
anonymous client, by signed-in counselor, supervisor and admin clients (with a valid CSRF
token), and, for /ivr/, as Twilio (signed), where every answer must also be TwiML. The names
filled in are those the view's module reads (found in its source), a few common ones and the
fields of the templates; the sample is random but seeded, so a failure repeats.
"""

from __future__ import annotations

import inspect
import logging
import random
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.routing import Rule

from helpline.models import User
from tests.factories import make_user
from tests.factories.directory import make_group, make_resource
from tests.fixtures.consent import make_center, on_call
from tests.fixtures.followups import MakeFollowUp
from tests.fixtures.referrals import agree_to_calls, refer
from tests.fixtures.staff import Staff

ROOT = Path(__file__).resolve().parents[2]
SEED = 20260310

HOSTILE = [
    "99999999999999999999999", "9223372036854775808", "2147483648", "-1", "-99999999999999999999",
    "0", "abc", "", " ", "ü€😀", "²³", "١٢", "x" * 5000, "1e309", "nan", "inf", "-inf", "1.5",
    "9999-12-31", "0001-01-01", "2026-02-30", "99999-01-01", "2026-01-01T25:61",
    "9999-12-31T23:59", "0001-01-01T00:00", "<script>alert(1)</script>", "' OR 1=1 --", "%",
    "../../etc/passwd", "\x00", "a\x00b", "\u202e", "\ud7ff", "+" * 300, "on", "1", "yes",
]
# Path values for <int:...> (the converter takes only digits: the rest must answer 404).
HOSTILE_IDS = ["99999999999999999999999", "9223372036854775808", "2147483648", "2147483647",
               "0", "-1", "abc", "²", "1.5"]
HOSTILE_WORDS = ["", "x" * 300, "ü€😀", "..", "%00", "<b>", "99999999999999999999999"]
COMMON = ["id", "page", "after", "before", "from", "to", "lang", "q", "state", "kind", "view",
          "counselor", "status", "next", "limit", "offset", "sort", "format", "lifetime"]

_READS = re.compile(
    r"""(?:request\.(?:args|form|values)|\bargs|\bform|\bdata)\s*"""
    r"""(?:\.(?:get|getlist)\(\s*|\[\s*)["']([A-Za-z_][\w-]*)["']"""
    r"""|\b\w+_(?:arg|field|args)\(\s*["']([A-Za-z_][\w-]*)["']""")
_TEMPLATE_NAMES = re.compile(r"""\bname=["']([A-Za-z_][\w-]*)["']""")


def _names_in(text: str) -> set[str]:
    return {a or b for a, b in _READS.findall(text)}


def _module_names(view: Any) -> list[str]:
    source = inspect.getsourcefile(inspect.unwrap(view))
    return sorted(_names_in(Path(source).read_text())) if source else []


def _template_names() -> list[str]:
    names: set[str] = set()
    for folder in ("dashboard", "ivr", "simulator"):
        for path in (ROOT / folder).rglob("*.html"):
            names |= set(_TEMPLATE_NAMES.findall(path.read_text()))
    return sorted(names)


def _ids(ctx: dict[str, int], variable: str, rng: random.Random, real: bool) -> str:
    if real and variable in ctx:
        return str(ctx[variable])
    return rng.choice(HOSTILE_IDS)


def _path(rule: Rule, ctx: dict[str, Any], rng: random.Random, real: bool) -> str:
    def fill(match: re.Match[str]) -> str:
        converter, variable = match.group(1) or "default", match.group(2)
        if converter.startswith("int"):
            return _ids(ctx, variable, rng, real)
        if real and variable in ctx:
            return str(ctx[variable])
        return rng.choice(HOSTILE_WORDS).replace("/", "")

    return re.sub(r"<(?:(\w+(?:\([^)]*\))?):)?(\w+)>", fill, rule.rule)


def _values(names: list[str], rng: random.Random) -> list[tuple[str, str]]:
    chosen = [n for n in names if rng.random() < 0.5]
    chosen += [f"{rng.choice('abcxyz')}{rng.randrange(1000)}" for _ in range(2)]
    pairs = [(n, rng.choice(HOSTILE)) for n in chosen]
    if pairs and rng.random() < 0.3:  # the same name twice
        pairs.append((pairs[0][0], rng.choice(HOSTILE)))
    return pairs


def _requests(app: Flask, ctx: dict[str, Any], *, per_rule: int, skip: frozenset[str],
              ivr: bool) -> Iterator[tuple[str, str, list[tuple[str, str]],
                                            list[tuple[str, str]]]]:
    """(method, path, query pairs, form pairs), a seeded sample per rule and method."""
    rng = random.Random(SEED)
    templates = _template_names()
    rules = sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint in skip, r.rule))
    for rule in rules:
        if rule.rule.startswith("/ivr/") != ivr:
            continue
        view = app.view_functions[rule.endpoint]
        names = sorted(set(_module_names(view)) | set(COMMON)
                       | set(rng.sample(templates, min(6, len(templates)))))
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            for n in range(per_rule):
                path = _path(rule, ctx, rng, real=n % 3 != 2)
                query = _values(names, rng)
                form = _values(names, rng) if method == "POST" else []
                yield method, path, query, form


def _call(client: FlaskClient, method: str, path: str, query: list[tuple[str, str]],
          form: list[tuple[str, str]], headers: dict[str, str] | None = None) -> tuple[int, str]:
    from werkzeug.datastructures import MultiDict
    response = client.open(path, method=method, query_string=MultiDict(query),
                           data=MultiDict(form) if method == "POST" else None,
                           headers=headers or {})
    # Streams (server-sent events) are not read: their first answer is what is checked.
    body = ("" if response.mimetype == "text/event-stream"
            else response.get_data().decode("utf-8", "replace"))
    response.close()
    return response.status_code, body


def _describe(method: str, path: str, query: list[tuple[str, str]],
              form: list[tuple[str, str]]) -> str:
    def short(pairs: list[tuple[str, str]]) -> str:
        return ", ".join(f"{k}={v[:40]!r}" for k, v in pairs)

    return f"{method} {path[:120]} ?{short(query)} form: {short(form)}"


@pytest.fixture
def scene(session: Session, app: Flask, counselor_client: Staff, supervisor_client: Staff,
          admin_client: Staff, make_followup: MakeFollowUp) -> dict[str, Any]:
    """Real rows for every kind of id in a path, so hostile values reach the views' parsing."""
    me = session.get(User, counselor_client.user_id)
    assert me is not None
    rec = on_call(session, me)
    center = make_center(session)
    referral = refer(session, rec, center)
    consent = agree_to_calls(session, rec, me)
    followup = make_followup("bridged_callback", assign_to=me)
    other = make_user(session, "counselor")
    group, resource = make_group(session), make_resource(session)
    session.commit()
    return {"contact_id": rec.contact.id, "referral_id": referral.id, "consent_id": consent.id,
            "followup_id": followup.id, "center_id": center.id, "group_id": group.id,
            "resource_id": resource.id, "user_id": other.id, "number": 1, "notice_id": 1,
            "instrument": "audit", "key": "calls", "filename": "app.js"}


# Endpoints that end or replace the client's session: called last, once the rest is done.
SESSION_ENDING = frozenset({"dashboard.sign_out", "dashboard.sign_in", "dashboard.second_factor",
                            "dashboard.enrol"})


@pytest.mark.parametrize("who", ["anonymous", "counselor", "supervisor", "admin"])
def test_hostile_input_on_every_dashboard_route_never_answers_5xx(
        app: Flask, client: FlaskClient, scene: dict[str, Any], who: str,
        request: pytest.FixtureRequest) -> None:
    staff: Staff | None = (None if who == "anonymous"
                           else request.getfixturevalue(f"{who}_client"))
    target = staff.client if staff else client
    failures: list[str] = []
    for method, path, query, form in _requests(app, scene, per_rule=2 if staff is None else 6,
                                               skip=SESSION_ENDING, ivr=False):
        if staff is not None and method == "POST":
            form = [*form, ("csrf_token", staff.csrf)]
        try:
            status, _ = _call(target, method, path, query, form)
        except Exception as exc:
            failures.append(f"{_describe(method, path, query, form)}\n    raised {exc!r:.300}")
            continue
        if status >= 500:
            failures.append(f"{_describe(method, path, query, form)}\n    answered {status}")
    assert not failures, f"{len(failures)} requests failed:\n" + "\n".join(failures[:40])


def _fell_back(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The IVR answers an exception with its fallback TwiML (the caller reaches a person), which
    hides the failure from the status code: its log line is what shows it."""
    return [r.getMessage() for r in caplog.records
            if r.name == "ivr.blueprint" and r.levelno >= logging.ERROR]


def test_hostile_webhooks_answer_twiml_never_5xx(app: Flask, twilio: Any, scene: dict[str, Any],
                                                 caplog: pytest.LogCaptureFixture) -> None:
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    for method, path, query, form in _requests(app, scene, per_rule=8, skip=frozenset(),
                                               ivr=True):
        if method != "POST":
            continue
        url = path + ("?" + "&".join(f"{k}={_quote(v)}" for k, v in query) if query else "")
        params = dict(form)  # Twilio sends each of its names once
        try:
            response = twilio.post(url, params)
        except Exception as exc:
            failures.append(f"{_describe(method, path, query, form)}\n    raised {exc!r:.300}")
            continue
        text = response.get_data(as_text=True)
        statuses[response.status_code] += 1
        if _fell_back(caplog):
            failures.append(f"{_describe(method, path, query, form)}\n    fell back: "
                            f"{caplog.records[-1].exc_info!r:.300}")
            caplog.clear()
        if response.status_code >= 500:
            failures.append(f"{_describe(method, path, query, form)}\n    answered "
                            f"{response.status_code}")
        elif response.status_code == 200 and response.mimetype == "text/xml" and text.strip():
            try:
                root = ET.fromstring(text)
            except ET.ParseError as exc:
                failures.append(f"{_describe(method, path, query, form)}\n    not XML: {exc}")
                continue
            if root.tag != "Response":
                failures.append(f"{_describe(method, path, query, form)}\n    not TwiML: "
                                f"{text[:100]}")
    assert not failures, f"{len(failures)} webhooks failed:\n" + "\n".join(failures[:40])
    # The signature was right: the hostile values reached the views.
    assert statuses[200] > sum(statuses.values()) // 2, statuses


def _quote(value: str) -> str:
    from urllib.parse import quote
    return quote(value, safe="")


@pytest.mark.parametrize(("path", "field"), [
    ("/history?counselor=99999999999999999999999", "counselor"),
    ("/history?counselor=%C2%B2", "counselor"),
    ("/history?from=9999-12-31&to=9999-12-31", "from"),
    ("/history?after=2026-01-01T00:00:00_99999999999999999999", "after"),
    ("/history.csv?to=0000-01-01", "to"),
    ("/followups?counselor=99999999999999999999999", "counselor"),
    ("/supervisor/staff?start=9999-12-31", "start"),
    ("/supervisor/reports?start=0001-01-01&end=9999-12-31", "start"),
    ("/supervisor/audit?page=99999999999999999999999", "page"),
    ("/supervisor/wallboard/events?lifetime=abc", "lifetime"),
    ("/directory?miles=1e309", "miles"),
    ("/records/99999999999999999999999", None),
    ("/supervisor/ivr/2147483648/changes", None),
    ("/phone?flow_version=%C2%B2", ""),
])
def test_a_value_out_of_range_is_refused_in_words(supervisor_client: Staff, path: str,
                                                  field: str | None) -> None:
    response = supervisor_client.get(path)
    if field is None:  # an id no row can have: the route does not match
        assert response.status_code == 404
    elif not field:  # a page that ignores an unusable value
        assert response.status_code == 200
    else:
        assert response.status_code == 400
        assert f"“{field}”" in response.get_data(as_text=True)


def test_a_counselor_gets_words_for_an_unusable_lifetime(counselor_client: Staff) -> None:
    response = counselor_client.get("/queues/events?lifetime=abc")
    assert response.status_code == 400
    assert "“lifetime”" in response.get_data(as_text=True)


@pytest.mark.parametrize(("path", "form"), [
    ("/ivr/menu?tries=%C2%B2", {"Digits": "9"}),
    ("/ivr/queue/wait?lang=en&group=general", {"QueuePosition": "²", "QueueTime": "١٢"}),
    ("/ivr/status", {"CallStatus": "completed", "SequenceNumber": "99999999999999999999",
                     "CallDuration": "²³"}),
])
def test_digits_that_are_not_ascii_still_answer_twiml(twilio: Any, path: str,
                                                      form: dict[str, str],
                                                      caplog: pytest.LogCaptureFixture) -> None:
    response = twilio.post(path, {"CallSid": "CA" + "7" * 32, "From": "+15555550123", **form})
    assert response.status_code < 500
    assert not _fell_back(caplog)
    text = response.get_data(as_text=True)
    assert not text.strip() or ET.fromstring(text).tag == "Response"
