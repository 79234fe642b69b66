"""Versioned IVR settings: drafts checked by the flow's rules, publish, roll back, every process
picks up what is live, the database down keeps the last good version, previews only of drafts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from helpline.app import create_app
from helpline.config import Settings
from helpline.db import Database
from helpline.flows.flow import FlowError
from helpline.flows.live import LiveFlows
from helpline.flows.versions import (
    InvalidVersion,
    VersionError,
    check_values,
    diff,
    list_versions,
    live_version,
    new_draft,
    publish,
    rollback,
    save_draft,
    values_of,
)
from helpline.models import AuditEvent, FlowVersion, User
from tests.fixtures.twilio import UNREACHABLE, Phone, TwilioSigner

NEW_GREETING = ("Welcome to {helpline}, a new greeting. Calls are free and confidential. "
                "Emergencies: 9 1 1. Suicidal crisis: 9 8 8.")


def draft_with(session: Session, live: LiveFlows, lead: User, based_on: int = 0,
               **changes: Any) -> int:
    """A saved draft with ``changes`` (field names with dots written as __)."""
    draft = new_draft(session, live.defaults, based_on=based_on, by=lead)
    values = values_of(live.defaults, draft)
    values.update({k.replace("__", "."): v for k, v in changes.items()})
    save_draft(session, live.defaults, draft.id, values, by=lead)
    session.commit()
    return draft.id


def audit_actions(session: Session) -> list[str]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent.action).where(
        AuditEvent.action.like("ivr.%")).order_by(AuditEvent.id)))


# -- the rules ------------------------------------------------------------------------------

def test_version_zero_is_the_shipped_files_with_the_environments_line_settings(live):
    values = live.defaults.values
    assert values["en.prompts.greeting"].startswith("Thank you for calling {helpline}")
    assert values["es.prompts.greeting"].startswith("Gracias por llamar a {helpline}")
    assert values["en.labels.9"] == "If you are in crisis or thinking about suicide, press 9."
    assert values["line.crisis_number"] == "988"
    assert values["line.callbacks_enabled"] is True
    assert check_values(live.defaults, values).flows["es"].say_language == "es-MX"


@pytest.mark.parametrize(("field", "value", "problem"), [
    ("line.crisis_number", "12345", "is not 988, a three-digit code such as 911"),
    ("line.crisis_number", "+1555", "is not 988"),
    ("line.crisis_number", "+1555555012", "is not 988"),  # one digit short of a number
    ("line.max_hold_seconds", 5, "from 30 to 7200"),
    ("line.max_hold_seconds", "ten", "from 30 to 7200"),
    ("line.callbacks_enabled", "maybe", "true or false"),
    ("en.prompts.queue_position", "You are number {place} in line.",
     "unknown placeholder {place}; this one may use {position}"),
    ("es.prompts.menu_intro", "Oprima {key}.", "unknown placeholder {key}; this one takes none"),
    ("en.prompts.greeting", "   ", "must not be empty"),
    ("en.prompts.safety_line", "In an emergency, dial 9 1 1.",
     "must still tell callers about 988"),
    ("es.prompts.medical_emergency", "Le comunico con un consejero.",
     "must still tell callers about 911"),
    ("en.prompts.greeting", "Hello {helpline", "malformed template"),
    ("en.labels.9", "", "must not be empty"),
    ("en.sms.help", "x" * 400, "at most 320"),
    ("es.hold.pause_seconds", 0, "from 1 to 60"),
    ("en.hold.music_url", "http://example.org/hold.mp3", "an https address or empty"),
    ("en.crisis_words", [], "a list of words or phrases"),
    ("es.emergency_words", [], "a list of words or phrases"),
])
def test_a_bad_value_is_named_by_its_field(live, field, value, problem):
    values = {**live.defaults.values, field: value}
    with pytest.raises(InvalidVersion) as err:
        check_values(live.defaults, values)
    assert list(err.value.errors) == [field]
    assert problem in err.value.errors[field]


def test_every_bad_field_is_named_at_once(live):
    values = {**live.defaults.values, "line.crisis_number": "5", "es.prompts.zip_ask": ""}
    with pytest.raises(InvalidVersion) as err:
        check_values(live.defaults, values)
    assert set(err.value.errors) == {"line.crisis_number", "es.prompts.zip_ask"}


@pytest.mark.parametrize("number", ["988", "911", "211", "+18005550199", "+442071234567"])
def test_the_crisis_number_may_be_988_a_short_code_or_e164(live, number):
    values = {**live.defaults.values, "line.crisis_number": number}
    assert check_values(live.defaults, values).line.crisis_number == number


@pytest.mark.parametrize("number", ["9111", "18005550199", "+0123456789", "", "011", "988 "])
def test_other_crisis_numbers_are_refused(live, number):
    with pytest.raises(InvalidVersion):
        check_values(live.defaults, {**live.defaults.values, "line.crisis_number": number})


def test_the_app_does_not_start_with_a_bad_crisis_number_in_the_environment(settings):
    with pytest.raises(FlowError, match=r"CRISIS_NUMBER: '9 8 8' is not 988"):
        create_app(settings.with_overrides(crisis_number="9 8 8"))


# -- drafts, publish, roll back -------------------------------------------------------------

def test_a_draft_is_saved_only_when_valid(session, live, lead):
    draft = new_draft(session, live.defaults, based_on=0, by=lead)
    session.commit()
    values = {**values_of(live.defaults, draft), "en.prompts.greeting": "Hi {who}",
              "en.prompts.goodbye": "Bye now."}
    with pytest.raises(InvalidVersion):
        save_draft(session, live.defaults, draft.id, values, by=lead)
    session.rollback()
    kept = values_of(live.defaults, session.get(FlowVersion, draft.id))
    assert kept["en.prompts.greeting"].startswith("Thank you for calling")
    assert kept["en.prompts.goodbye"] == live.defaults.values["en.prompts.goodbye"]


def test_publishing_makes_a_draft_live_and_read_only(session, live, lead):
    number = draft_with(session, live, lead, en__prompts__greeting=NEW_GREETING)
    assert live_version(session) == 0
    publish(session, live.defaults, number, by=lead, address="127.0.0.1")
    session.commit()
    assert live_version(session) == number
    with pytest.raises(VersionError, match="published and can no longer change"):
        save_draft(session, live.defaults, number, live.defaults.values, by=lead)
    with pytest.raises(VersionError, match="is published"):
        publish(session, live.defaults, number, by=lead)
    assert audit_actions(session) == ["ivr.draft", "ivr.draft_save", "ivr.publish"]
    event_ = session.scalar(select(AuditEvent).where(AuditEvent.action == "ivr.publish"))
    assert event_.actor == lead.username and event_.record_id == str(number)
    assert event_.detail == {"previous": 0} and event_.address == "127.0.0.1"


def test_a_rollback_makes_an_earlier_version_live_again_and_every_version_stays(
        session, live, lead):
    first = draft_with(session, live, lead, en__prompts__greeting=NEW_GREETING)
    publish(session, live.defaults, first, by=lead)
    second = draft_with(session, live, lead, based_on=first,
                        en__prompts__queue_calm="Breathe slowly. Someone will answer.")
    publish(session, live.defaults, second, by=lead)
    session.commit()
    assert live_version(session) == second

    rollback(session, live.defaults, first, by=lead)
    session.commit()
    assert live_version(session) == first
    states = {v.number: v.state for v in list_versions(session)}
    assert states == {second: "retired", first: "live", 0: "retired"}

    rollback(session, live.defaults, 0, by=lead)
    session.commit()
    assert live_version(session) == 0
    assert audit_actions(session)[-2:] == ["ivr.rollback", "ivr.rollback"]
    with pytest.raises(VersionError, match="already live"):
        rollback(session, live.defaults, 0, by=lead)


def test_a_draft_cannot_be_rolled_back_to(session, live, lead):
    number = draft_with(session, live, lead)
    with pytest.raises(VersionError, match="is a draft"):
        rollback(session, live.defaults, number, by=lead)


def test_the_diff_names_the_changed_fields_and_words(session, live, lead):
    number = draft_with(session, live, lead, en__prompts__queue_calm="You are not alone. Stay.",
                        line__callbacks_enabled=False)
    changes = {c.field.name: c for c in diff(session, live.defaults, number)}
    assert set(changes) == {"en.prompts.queue_calm", "line.callbacks_enabled"}
    calm = changes["en.prompts.queue_calm"]
    assert ("added", "Stay.") in calm.pieces
    assert any(kind == "removed" and "someone will answer" in text for kind, text in calm.pieces)
    assert changes["line.callbacks_enabled"].after.startswith("off")


# -- what callers hear ----------------------------------------------------------------------

def test_a_published_version_is_what_a_new_call_hears(session, live, lead, phone):
    assert "Thank you for calling" in phone().call().says
    number = draft_with(session, live, lead, en__prompts__greeting=NEW_GREETING,
                        line__crisis_number="+15555550199")
    publish(session, live.defaults, number, by=lead)
    session.commit()
    live.invalidate()  # as the publishing view does
    caller = phone()
    assert "a new greeting" in caller.call().says
    assert caller.press(caller.english_menu(), "9").first("Number").text == "+15555550199"
    started = caller.record(session).events[0]
    assert started.detail == {"flow_version": number, "preview": False}


def test_callbacks_switched_off_in_a_version_offer_a_message(session, live, lead, phone,
                                                             available_counselor):
    number = draft_with(session, live, lead, line__callbacks_enabled=False,
                        line__max_hold_seconds=60)
    publish(session, live.defaults, number, by=lead)
    session.commit()
    live.invalidate()
    caller = phone()
    waiting = caller.wait(caller.press(caller.english_menu(), "1"), held=61)
    assert "You have waited a while." in waiting.says
    assert "leave a message" in waiting.says and "call back" not in waiting.says


def test_sms_replies_come_from_the_live_version(session, live, lead, phone):
    number = draft_with(session, live, lead,
                        en__sms__other="Texts are not read here. Call {number}, day or night.")
    publish(session, live.defaults, number, by=lead)
    session.commit()
    live.invalidate()
    answer = phone().post("/ivr/sms", Body="hello")
    assert "day or night" in answer.text


@pytest.fixture
def second_app(settings: Settings) -> Iterator[Flask]:
    """Another web process on the same database."""
    other = create_app(settings)
    yield other
    other.extensions["helpline"].db.dispose()


def count_queries(db: Database) -> list[str]:
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_a: statements.append(statement))
    return statements


def test_another_process_picks_up_a_publication_within_the_check_interval(
        session, live, lead, second_app):
    other: LiveFlows = second_app.extensions["ivr_live"]
    other_db = second_app.extensions["helpline"].db
    assert other.check_seconds == 2
    assert other.current(other_db, now=1000.0).version == 0

    number = draft_with(session, live, lead, en__prompts__greeting=NEW_GREETING)
    publish(session, live.defaults, number, by=lead)
    session.commit()

    queries = count_queries(other_db)
    for tick in range(100):  # a busy second: no question to the database at all
        assert other.current(other_db, now=1000.0 + tick / 100).version == 0
    assert queries == []
    picked = other.current(other_db, now=1002.0)
    assert picked.version == number
    assert "a new greeting" in picked.flows["en"].prompts["greeting"]
    assert other.current(other_db, now=1004.5).version == number
    # Once known, a check is one small query: the newest publication's id.
    assert len(queries) == 3 and all("ivr_flow_publications" in q for q in (queries[0],
                                                                            queries[-1]))


def test_the_ivr_keeps_the_last_good_version_while_the_database_is_down(
        app, session, live, lead, phone, settings):
    number = draft_with(session, live, lead, en__prompts__greeting=NEW_GREETING)
    publish(session, live.defaults, number, by=lead)
    session.commit()
    live.invalidate()
    assert "a new greeting" in phone().call().says

    runtime = app.extensions["helpline"]
    real = runtime.db
    runtime.db = Database(UNREACHABLE)
    try:
        live.invalidate()
        caller = phone()
        assert "a new greeting" in caller.call().says
        assert caller.press(caller.english_menu(), "9").first("Number").text == "988"
    finally:
        runtime.db.dispose()
        runtime.db = real


def test_a_process_started_while_the_database_is_down_plays_its_local_copy(
        app, session, live, lead, phone, settings):
    number = draft_with(session, live, lead, en__prompts__greeting=NEW_GREETING)
    publish(session, live.defaults, number, by=lead)
    session.commit()
    live.invalidate()
    phone().call()  # this process learns the version and keeps a copy in the instance folder

    cut_off = settings.with_overrides(database_url=UNREACHABLE)
    restarted = create_app(cut_off)
    try:
        caller = Phone(TwilioSigner(restarted.test_client(), cut_off), cut_off, "+15555550123")
        assert "a new greeting" in caller.call().says
    finally:
        restarted.extensions["helpline"].db.dispose()


def test_a_live_version_broken_by_newer_rules_is_not_played(session, live, lead, phone):
    number = draft_with(session, live, lead, en__prompts__greeting=NEW_GREETING)
    publish(session, live.defaults, number, by=lead)
    session.commit()
    # As if a release had added a rule this version breaks.
    version = session.get(FlowVersion, number)
    version.values = {**version.values, "line.crisis_number": "12"}
    session.commit()
    live.invalidate()
    caller = phone()
    assert "Thank you for calling" in caller.call().says
    assert caller.press(caller.english_menu(), "9").first("Number").text == "988"


# -- preview --------------------------------------------------------------------------------

def urls_in(answer: Any) -> list[str]:
    found = []
    for element in answer.root.iter():
        found += [v for k, v in element.attrib.items() if k in {"action", "waitUrl",
                                                                "transcribeCallback"}]
        if element.tag == "Redirect":
            found.append(element.text or "")
    return found


def test_a_preview_call_hears_the_draft_in_every_step_while_callers_hear_the_live_version(
        session, live, lead, phone, available_counselor):
    number = draft_with(session, live, lead, en__prompts__greeting=NEW_GREETING,
                        en__prompts__queue_enter="Please hold, preview edition.",
                        en__prompts__queue_calm="Preview calm words.")
    tester = phone()
    greeting = tester.call(f"/ivr/voice?flow_version={number}")
    assert "a new greeting" in greeting.says
    menu = tester.press(greeting, "1")
    queued = tester.press(menu, "1")
    waiting = tester.wait(queued)
    again = tester.silence(menu)
    for answer in (greeting, menu, queued, waiting, again):
        urls = urls_in(answer)
        assert urls and all(f"flow_version={number}" in u for u in urls), urls
    assert "preview edition" in queued.says and "Preview calm words." in waiting.says
    assert tester.record(session).events[0].detail == {"flow_version": number, "preview": True}

    caller = phone()
    heard = caller.call()
    assert "Thank you for calling" in heard.says
    assert not any("flow_version" in u for u in urls_in(heard))
    queued = caller.press(caller.press(heard, "1"), "1")
    assert "preview edition" not in queued.says


def test_only_drafts_can_be_previewed(session, live, lead, phone):
    number = draft_with(session, live, lead, en__prompts__greeting=NEW_GREETING)
    publish(session, live.defaults, number, by=lead)
    rollback(session, live.defaults, 0, by=lead)
    session.commit()
    live.invalidate()
    for asked in (str(number), "999", "0", "abc"):
        heard = phone().call(f"/ivr/voice?flow_version={asked}")
        assert "Thank you for calling" in heard.says
        assert not any("flow_version" in u for u in urls_in(heard))


def test_a_preview_request_must_be_signed_like_any_other(session, live, lead, phone):
    number = draft_with(session, live, lead, en__prompts__greeting=NEW_GREETING)
    tester = phone()
    response = tester.twilio.post(f"/ivr/voice?flow_version={number}",
                                  {"CallSid": tester.call_sid}, forge=True)
    assert response.status_code == 403
    # The signature covers the version: a request signed without it does not carry it in.
    signed_without = tester.twilio.signature("/ivr/voice", {"CallSid": tester.call_sid})
    response = tester.twilio.client.post(f"/ivr/voice?flow_version={number}",
                                         data={"CallSid": tester.call_sid},
                                         headers={"X-Twilio-Signature": signed_without})
    assert response.status_code == 403
