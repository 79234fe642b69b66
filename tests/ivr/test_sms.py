"""Texts to the helpline's number: HELP, STOP and START, anything else."""

from __future__ import annotations

import pytest

from helpline.consent.optouts import is_opted_out


def text(phone, body, number="+15555550190"):  # type: ignore[no-untyped-def]
    return phone(number).post("/ivr/sms", Body=body, MessageSid="SM" + "1" * 32)


def test_help_answers_with_the_helplines_info(phone, settings):
    answer = text(phone, "help")
    assert settings.helpline_name in answer.text and settings.helpline_number in answer.text


@pytest.mark.parametrize("word", ["STOP", "stop", "StopAll", "UNSUBSCRIBE", "cancel", "END",
                                  "quit", "Parar"])
def test_stop_words_opt_the_number_out(phone, session, word):
    text(phone, word)
    assert is_opted_out(session, "+15555550190")


def test_start_opts_back_in(phone, session):
    text(phone, "STOP")
    text(phone, "START")
    session.expire_all()
    assert not is_opted_out(session, "+15555550190")
    text(phone, "UNSTOP")
    assert not is_opted_out(session, "+15555550190")


def test_anything_else_gets_the_number_to_call(phone, settings):
    answer = text(phone, "is anyone there? 😢")
    assert settings.helpline_number in answer.text
    assert answer.root.find("Message") is not None


def test_spanish_help_is_answered_in_spanish(phone):
    assert "llame" in text(phone, "AYUDA").text
