"""Crisis goes first: by key or by words, in either language."""

from __future__ import annotations

import pytest
from flask import Flask

from helpline.app import create_app
from tests.fixtures.twilio import Phone


def test_crisis_key_transfers_to_the_crisis_line_at_once(phone, session):
    caller = phone()
    answer = caller.press(caller.english_menu(), "9")
    assert "connecting you now to the crisis line" in answer.says
    assert answer.first("Number").text == "988"
    caller.hang_up()
    call = caller.record(session)
    assert call.need == "crisis"
    assert call.outcome == "crisis_transfer"


@pytest.mark.parametrize("words", ["I want to kill myself", "I want to end my life",
                                   "I am suicidal", "suicide"])
def test_crisis_words_in_english_transfer_at_once(phone, words):
    caller = phone()
    answer = caller.speak(caller.english_menu(), words)
    assert answer.first("Number").text == "988"


@pytest.mark.parametrize("words", ["quiero matarme", "quiero quitarme la vida", "estoy en crisis",
                                   "pienso en el suicidio"])
def test_crisis_words_in_spanish_transfer_at_once(phone, words):
    caller = phone()
    answer = caller.speak(caller.spanish_menu(), words)
    assert answer.first("Number").text == "988"
    assert "línea de crisis" in answer.says


def test_crisis_is_recognised_even_in_the_other_language(phone):
    caller = phone()
    answer = caller.speak(caller.english_menu(), "quiero matarme")
    assert answer.has("Dial")


def test_crisis_line_not_answering_sends_the_caller_to_our_crisis_queue(phone, session):
    caller = phone()
    transfer = caller.press(caller.english_menu(), "9")
    after = caller.post(transfer.first("Dial").attrib["action"], DialCallStatus="no-answer")
    assert "did not answer" in after.says
    assert after.first("Enqueue").text == "crisis-en"
    call = caller.record(session)
    assert call.outcome is None and call.priority == 100


def test_completed_crisis_transfer_ends_quietly(phone):
    caller = phone()
    transfer = caller.press(caller.english_menu(), "9")
    after = caller.post(transfer.first("Dial").attrib["action"], DialCallStatus="completed")
    assert after.has("Hangup")


@pytest.fixture
def in_house_app(settings) -> Flask:  # type: ignore[no-untyped-def]
    app = create_app(settings.with_overrides(handle_crisis_in_house=True,
                                             crisis_number="+15555550199"))
    yield app
    app.extensions["helpline"].db.dispose()


def test_in_house_crisis_goes_to_the_crisis_queue_ahead_of_everyone(in_house_app, settings,
                                                                    session):
    from tests.fixtures.twilio import TwilioSigner

    caller = Phone(TwilioSigner(in_house_app.test_client(), settings), settings, "+15555550123")
    answer = caller.press(caller.english_menu(), "9")
    assert answer.first("Enqueue").text == "crisis-en"
    call = caller.record(session)
    assert call.priority == 100 and call.status == "queued"
