"""Medical emergency and suicidal crisis words: two lists per language, both edited in the IVR
settings, a word in one list only; versions made before the emergency list keep loading."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from helpline.flows import editable
from helpline.flows.live import LiveFlows
from helpline.flows.versions import (
    InvalidVersion,
    check_values,
    flow_set_of,
    new_draft,
    publish,
    save_draft,
    values_of,
)
from helpline.models import FlowVersion, User

OLD_CRISIS_WORDS = {
    "en": ["suicide", "suicidal", "kill myself", "end my life", "overdose", "overdosing",
           "not breathing", "emergency", "crisis"],
    "es": ["suicidio", "suicidarme", "matarme", "quitarme la vida", "sobredosis", "no respira",
           "no está respirando", "emergencia", "crisis"],
}
OLD_GREETING = ("Thank you for calling {helpline}, free and confidential. In a medical "
                "emergency, hang up and dial 9 1 1. For a suicidal crisis, call 9 8 8.")
NEW_KEYS = ("emergency_words", "prompts.safety_line", "prompts.medical_emergency")


def old_version(session: Session, live: LiveFlows, lead: User) -> int:
    """A published version as the release before the emergency list stored it."""
    draft = new_draft(session, live.defaults, based_on=0, by=lead)
    values: dict[str, Any] = {k: v for k, v in values_of(live.defaults, draft).items()
                              if not k.endswith(NEW_KEYS)}
    values.update({f"{lang}.crisis_words": words for lang, words in OLD_CRISIS_WORDS.items()})
    values["en.prompts.greeting"] = OLD_GREETING
    values["en.prompts.goodbye"] = "Goodbye from an old version."
    draft.values = values
    session.commit()
    return draft.id


def test_both_lists_are_fields_of_the_crisis_group_in_each_language(live):
    fields = {f.name: f for f in live.defaults.fields}
    for lang in ("en", "es"):
        emergency, crisis = fields[f"{lang}.emergency_words"], fields[f"{lang}.crisis_words"]
        assert emergency.kind == crisis.kind == "words"
        assert emergency.group == crisis.group == "Crisis"
        assert fields[f"{lang}.prompts.medical_emergency"].group == "Crisis"
        assert fields[f"{lang}.prompts.safety_line"].group == "Greeting and menu"
    values = live.defaults.values
    assert "not breathing" in values["en.emergency_words"]
    assert "no respira" in values["es.emergency_words"]
    assert "not breathing" not in values["en.crisis_words"]


def test_the_editor_saves_both_lists_from_the_form(session, live, lead):
    draft = new_draft(session, live.defaults, based_on=0, by=lead)
    session.commit()
    form = {"en.emergency_words": "not breathing\r\nchoking, turned blue",
            "es.crisis_words": "suicidio\nquiero morir"}
    values = editable.from_form(live.defaults.fields, form, values_of(live.defaults, draft))
    changed = save_draft(session, live.defaults, draft.id, values, by=lead)
    session.commit()
    assert set(changed) == {"en.emergency_words", "es.crisis_words"}
    flows = flow_set_of(session, live.defaults, draft.id).flows
    assert flows["en"].emergency_words == ("not breathing", "choking", "turned blue")
    assert flows["es"].crisis_words == ("suicidio", "quiero morir")


@pytest.mark.parametrize(("field", "value", "problem"), [
    ("en.emergency_words", [], "a list of words or phrases"),
    ("es.emergency_words", ["no respira", " "], "a list of words or phrases"),
    ("en.emergency_words", ["x" * 61], "at most 100 words"),
    ("en.emergency_words", ["not breathing", "Suicide"], "'Suicide' is also a crisis word"),
    ("es.emergency_words", ["no respira", "Suicidio"], "'Suicidio' is also a crisis word"),
])
def test_a_bad_list_is_named_by_its_field(live, field, value, problem):
    with pytest.raises(InvalidVersion) as err:
        check_values(live.defaults, {**live.defaults.values, field: value})
    assert list(err.value.errors) == [field]
    assert problem in err.value.errors[field]


def test_a_crisis_word_moved_into_the_emergency_list_is_refused_until_removed(live):
    values = {**live.defaults.values,
              "en.emergency_words": [*live.defaults.values["en.emergency_words"], "suicidal"]}
    with pytest.raises(InvalidVersion):
        check_values(live.defaults, values)
    values["en.crisis_words"] = [w for w in values["en.crisis_words"] if w != "suicidal"]
    assert "suicidal" in check_values(live.defaults, values).flows["en"].emergency_words


def test_an_old_version_without_the_emergency_list_still_loads_and_publishes(
        session, live, lead):
    number = old_version(session, live, lead)
    values = values_of(live.defaults, session.get_one(FlowVersion, number))
    # The shipped emergency words, and the old crisis words that are now emergency words
    # leave the crisis list (they would be matched first anyway).
    assert values["en.emergency_words"] == live.defaults.values["en.emergency_words"]
    assert values["en.crisis_words"] == ["suicide", "suicidal", "kill myself", "end my life",
                                         "crisis"]
    assert "no respira" not in values["es.crisis_words"]
    # The new prompts fall back to the shipped text; its own prompts are kept.
    assert values["es.prompts.medical_emergency"] == \
        live.defaults.values["es.prompts.medical_emergency"]
    assert values["en.prompts.goodbye"] == "Goodbye from an old version."
    publish(session, live.defaults, number, by=lead)
    session.commit()
    flows = flow_set_of(session, live.defaults, number).flows
    assert "overdose" in flows["en"].emergency_words
    assert flows["en"].prompts["greeting"] == OLD_GREETING


def test_callers_of_an_old_published_version_not_breathing_hear_911(session, live, lead,
                                                                    phone):
    publish(session, live.defaults, old_version(session, live, lead), by=lead)
    session.commit()
    live.invalidate()
    caller = phone()
    assert "9 8 8" in caller.call().says
    answer = caller.speak(caller.english_menu(), "my friend is not breathing")
    assert "hang up now and dial 9 1 1" in answer.says
    assert answer.first("Enqueue").text == "crisis-en" and not answer.has("Dial")
    suicidal = phone()
    assert suicidal.speak(suicidal.english_menu(), "suicide").first("Number").text == "988"


def test_an_old_version_whose_crisis_words_were_all_emergency_words_keeps_shipped_ones(
        session, live, lead):
    number = old_version(session, live, lead)
    version = session.get_one(FlowVersion, number)
    version.values = {**version.values, "en.crisis_words": ["overdose", "Not Breathing"]}
    session.commit()
    values = values_of(live.defaults, version)
    assert values["en.crisis_words"] == live.defaults.values["en.crisis_words"]
    check_values(live.defaults, values)
