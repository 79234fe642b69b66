"""A caller heard describing a medical emergency is told to dial 911 at once, in their language,
then waits first in the in-house crisis queue; a suicidal crisis still goes to 988."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from helpline.app import create_app
from helpline.models import CallEvent
from tests.fixtures.twilio import Answer, Phone, TwilioSigner

TELL_911_EN = "If nobody has called 9 1 1 yet, hang up now and dial 9 1 1."
TELL_911_ES = "Si nadie ha llamado al 9 1 1 todavía, cuelgue ahora y marque 9 1 1."


def said_in(answer: Answer, text: str) -> dict[str, str]:
    """The attributes (language, voice) of the <Say> that speaks ``text``."""
    assert answer.root is not None
    found = [s for s in answer.root.iter("Say") if text in (s.text or "")]
    assert found, f"{text!r} not said in {answer.text}"
    return dict(found[0].attrib)


def events(session, call_id: int) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    rows = session.execute(select(CallEvent.kind, CallEvent.detail)
                           .where(CallEvent.call_id == call_id)).all()
    return {kind: detail for kind, detail in rows}


def test_an_english_caller_not_breathing_hears_911_then_waits_first_for_a_crisis_counselor(
        phone, session):
    caller = phone()
    words = "my friend overdosed and is not breathing"
    answer = caller.speak(caller.english_menu(), words)
    assert said_in(answer, TELL_911_EN) == {"language": "en-US", "voice": "Polly.Joanna"}
    assert "connect you with a counselor right away" in answer.says
    assert not answer.has("Dial")
    assert answer.first("Enqueue").text == "crisis-en"
    call = caller.record(session)
    assert call.need == "crisis" and call.overdose_suspected is True
    assert call.priority == 100  # the crisis queue's: served before every other queue
    assert call.status == "queued" and call.queue_name == "crisis-en"
    # Which list matched is kept; what the caller said is not.
    detail = events(session, call.id)["medical_emergency"]
    assert detail == {"list": "en.emergency_words"}
    assert not any(words in str(d) or "breathing" in str(d)
                   for d in events(session, call.id).values())


def test_a_spanish_caller_hears_911_in_spanish_with_the_spanish_voice(phone, session):
    caller = phone()
    answer = caller.speak(caller.spanish_menu(), "mi hermano no respira")
    assert said_in(answer, TELL_911_ES) == {"language": "es-MX", "voice": "Polly.Mia"}
    assert "9 1 1" in answer.says and "Number" not in answer.text
    assert answer.first("Enqueue").text == "crisis-es"
    call = caller.record(session)
    assert call.priority == 100 and call.overdose_suspected is True
    assert events(session, call.id)["medical_emergency"] == {"list": "es.emergency_words"}


@pytest.mark.parametrize("words", ["she's OD'ing", "he won't wake up and his lips are blue",
                                   "it's an emergency, she's unconscious", "turning blue",
                                   "creo que es una sobredosis", "está inconsciente",
                                   "no despierta", "se está poniendo azul"])
def test_medical_emergency_words_in_either_language_come_before_988(phone, words):
    caller = phone()
    answer = caller.speak(caller.english_menu(), words)
    assert "9 1 1" in answer.says
    assert not answer.has("Dial") and answer.first("Enqueue").text == "crisis-en"


def test_medical_words_win_over_crisis_words_said_together(phone, session):
    caller = phone()
    answer = caller.speak(caller.english_menu(),
                          "I am suicidal and I took an overdose, I am passing out")
    assert TELL_911_EN in answer.says and not answer.has("Dial")
    assert caller.record(session).overdose_suspected is True


@pytest.mark.parametrize(("menu", "words"), [("english_menu", "I am thinking about suicide"),
                                             ("spanish_menu", "pienso en el suicidio")])
def test_a_suicidal_crisis_still_goes_to_988(phone, session, menu, words):
    caller = phone()
    answer = caller.speak(getattr(caller, menu)(), words)
    assert answer.first("Number").text == "988"
    assert "9 1 1" not in answer.says
    assert caller.record(session).overdose_suspected is False


@pytest.fixture
def in_house_app(settings) -> Flask:  # type: ignore[no-untyped-def]
    app = create_app(settings.with_overrides(handle_crisis_in_house=True))
    yield app
    app.extensions["helpline"].db.dispose()


def test_a_medical_emergency_waits_in_the_in_house_crisis_queue_in_arrival_order(
        in_house_app, settings, session):
    def caller(number: str) -> Phone:
        return Phone(TwilioSigner(in_house_app.test_client(), settings), settings, number)

    crisis, emergency = caller("+15555550123"), caller("+15555550124")
    crisis.speak(crisis.english_menu(), "I want to end my life")
    answer = emergency.speak(emergency.english_menu(), "he is not breathing")
    assert TELL_911_EN in answer.says
    assert answer.first("Enqueue").text == "crisis-en"
    # Not ahead of the crisis caller already holding: the counselor's leg takes the first
    # caller of the Twilio queue, and the record opened must be theirs.
    assert emergency.record(session).priority == crisis.record(session).priority == 100


def test_the_greeting_says_the_safety_line_in_each_language_with_its_voice(phone):
    answer = phone().call()
    english = said_in(answer, "Emergencies: dial 9 1 1. Suicidal crisis: 9 8 8.")
    spanish = said_in(answer, "Emergencias: marque 9 1 1. Crisis suicida: 9 8 8.")
    assert english == {"language": "en-US", "voice": "Polly.Joanna"}
    assert spanish == {"language": "es-MX", "voice": "Polly.Mia"}
    assert answer.root is not None
    texts = [s.text or "" for s in answer.root.iter("Say")]
    # Once each, after the greeting and before the language choice.
    assert sum("9 1 1" in t for t in texts) == 2
    assert texts.index(next(t for t in texts if "Emergencias" in t)) < texts.index(
        "For English, press 1.")


def test_a_one_language_number_says_its_own_safety_line(phone):
    answer = phone().call("/ivr/voice?lang=es")
    assert said_in(answer, "Crisis suicida: 9 8 8.")["language"] == "es-MX"
    assert "Suicidal crisis" not in answer.says
