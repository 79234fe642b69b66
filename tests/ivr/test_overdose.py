"""The phone menu hears an overdose: the call is flagged (the screen pop and the wallboard read
the flag) and waits first in the crisis queue after 911 is said (test_medical_emergency.py);
the protocol's conference room answers TwiML."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from helpline.models import CallEvent


@pytest.mark.parametrize("words", ["my friend is not breathing", "I think he overdosed",
                                   "she's OD'ing", "we have Narcan but he won't wake up",
                                   "mi hermano no respira", "creo que es una sobredosis",
                                   "tiene los labios azules"])
def test_overdose_words_flag_the_call_and_queue_it_for_crisis(phone, session, words):
    caller = phone()
    answer = caller.speak(caller.english_menu(), words)
    assert answer.first("Enqueue").text == "crisis-en"
    call = caller.record(session)
    assert call.overdose_suspected is True
    kinds = list(session.scalars(select(CallEvent.kind).where(CallEvent.call_id == call.id)))
    assert "medical_emergency" in kinds


def test_naloxone_mentioned_is_a_medical_emergency(phone, session):
    caller = phone()
    answer = caller.speak(caller.spanish_menu(), "usamos naloxona")
    assert answer.first("Enqueue").text == "crisis-es" and not answer.has("Dial")
    assert caller.record(session).overdose_suspected is True


@pytest.mark.parametrize("words", ["I want to kill myself", "suicide"])
def test_other_crisis_words_do_not_flag_an_overdose(phone, session, words):
    caller = phone()
    caller.speak(caller.english_menu(), words)
    assert caller.record(session).overdose_suspected is False


def test_the_crisis_key_alone_does_not_flag_an_overdose(phone, session):
    caller = phone()
    caller.press(caller.english_menu(), "9")
    assert caller.record(session).overdose_suspected is False


def test_words_inside_other_words_do_not_flag(phone, session):
    caller = phone()
    caller.speak(caller.english_menu(), "treatment in Odessa for myself")
    assert caller.record(session).overdose_suspected is False


@pytest.mark.parametrize("role", ["caller", "counselor", "emergency"])
def test_each_leg_joins_the_protocols_conference_room(phone, role):
    answer = phone().post(f"/ivr/conference/join?room=overdose-7&role={role}&lang=en")
    conference = answer.first("Conference")
    assert conference.text == "overdose-7"
    assert conference.attrib == {"startConferenceOnEnter": "true",
                                 "endConferenceOnExit": "false", "beep": "false"}
    assert ("needs emergency help" in answer.says) == (role == "emergency")


def test_a_bad_room_sends_the_leg_to_the_fallback_not_an_error(phone):
    answer = phone().post("/ivr/conference/join?room=../etc&role=caller")
    assert answer.status_code == 200
    assert not answer.has("Conference")


@pytest.mark.parametrize("lang", ["en", "es"])
def test_the_dispatcher_hears_english_in_the_english_voice_whatever_the_caller_speaks(phone,
                                                                                    lang):
    answer = phone().post(f"/ivr/conference/join?room=overdose-7&role=emergency&lang={lang}")
    said = answer.first("Say")
    assert "A caller needs emergency help" in (said.text or "")
    assert (said.attrib["language"], said.attrib["voice"]) == ("en-US", "Polly.Joanna")
