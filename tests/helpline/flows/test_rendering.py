"""A version is judged the way callers meet it: every prompt and text filled in with values as
long as the real ones, every answer the IVR builds measured; refused with the field named."""

from __future__ import annotations

from typing import Any

import pytest

from helpline.flows import rendering
from helpline.flows.versions import (
    InvalidVersion,
    check_values,
    new_draft,
    publish,
    save_draft,
    values_of,
)
from helpline.models import FlowVersion

EMERGENCIES = " Emergencies: 9 1 1. Suicidal crisis: 9 8 8."
# Each passed the old checks and broke every call, or made each answer megabytes long.
BROKEN_GREETINGS = {
    "empty braces": "Welcome to {}." + EMERGENCIES,
    "a position": "Welcome to {0}." + EMERGENCIES,
    "an unknown name": "Welcome to {unknown}." + EMERGENCIES,
    "a megabyte": "Welcome. " + "x" * 1_000_000 + EMERGENCIES,
    "a width": "Welcome to {helpline:>30000000}." + EMERGENCIES,
    "a conversion": "Welcome to {helpline!r}." + EMERGENCIES,
    "an attribute": "Welcome to {helpline.__class__}." + EMERGENCIES,
    "a control character": "Welcome\x00 to {helpline}." + EMERGENCIES,
}


@pytest.mark.parametrize("greeting", BROKEN_GREETINGS.values(), ids=BROKEN_GREETINGS.keys())
def test_a_greeting_that_cannot_be_spoken_is_refused_at_save(session, live, lead, greeting):
    draft = new_draft(session, live.defaults, based_on=0, by=lead)
    session.commit()
    values = {**values_of(live.defaults, draft), "es.prompts.greeting": greeting}
    with pytest.raises(InvalidVersion) as err:
        save_draft(session, live.defaults, draft.id, values, by=lead)
    assert list(err.value.errors) == ["es.prompts.greeting"]
    session.rollback()
    assert session.get(FlowVersion, draft.id).values.get("es.prompts.greeting") != greeting


@pytest.mark.parametrize("greeting", BROKEN_GREETINGS.values(), ids=BROKEN_GREETINGS.keys())
def test_a_greeting_that_cannot_be_spoken_is_refused_at_publish(session, live, lead, greeting):
    draft = new_draft(session, live.defaults, based_on=0, by=lead)
    # Stored past the save's checks (an older release, a hand-edited row).
    draft.values = {**values_of(live.defaults, draft), "es.prompts.greeting": greeting}
    session.commit()
    with pytest.raises(InvalidVersion) as err:
        publish(session, live.defaults, draft.id, by=lead)
    assert list(err.value.errors) == ["es.prompts.greeting"]


@pytest.mark.parametrize(("field", "value"), [
    ("en.sms.help", "Reply from {}"),
    ("es.sms.other", "Llame al {number:>99999}"),
    ("en.prompts.queue_position", "You are number {position[0]}."),
    ("es.prompts.center", "{n}: {name!s}, {distance} millas, {phone}."),
    ("en.crisis_words", ["suicide"] * 101),
    ("en.hold.music_url", "https://example.org/" + "a" * 600),
])
def test_every_template_and_what_goes_into_an_answer_is_bounded(live, field, value):
    with pytest.raises(InvalidVersion) as err:
        check_values(live.defaults, {**live.defaults.values, field: value})
    assert list(err.value.errors) == [field]


def test_braces_written_as_text_are_spoken_as_braces(live):
    values = {**live.defaults.values, "en.prompts.goodbye": "Goodbye {{and}} take care."}
    flow_set = check_values(live.defaults, values)
    assert rendering.render_prompts(flow_set.flows["en"])["goodbye"] == \
        "Goodbye {and} take care."


def test_the_shipped_answers_are_far_below_what_twilio_takes(live):
    flow_set = check_values(live.defaults, dict(live.defaults.values))
    sizes = [len(document.encode()) for _, _, document in rendering.documents(flow_set.flows)]
    assert sizes and max(sizes) < rendering.MAX_DOCUMENT // 4


def test_an_answer_larger_than_twilio_takes_names_the_field_to_shorten(
        live, monkeypatch: Any):
    shipped = check_values(live.defaults, dict(live.defaults.values))
    largest = max(len(d.encode()) for _, _, d in rendering.documents(shipped.flows))
    monkeypatch.setattr(rendering, "MAX_DOCUMENT", largest + 100)
    # Every field is within its own limit; together they make the menu too large.
    values = dict(live.defaults.values)
    for name in [n for n in values if n.startswith("es.labels.")]:
        values[name] = "Para hablar " + "a" * 800
    values["es.labels.1"] = "Para hablar " + "a" * 980
    with pytest.raises(InvalidVersion) as err:
        check_values(live.defaults, values)
    assert list(err.value.errors) == ["es.labels.1"]
    assert "shorten it" in err.value.errors["es.labels.1"]
