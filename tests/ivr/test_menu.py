"""The first minute of a call: greeting, language, the need menu, silence and wrong keys."""

from __future__ import annotations

from helpline.flows.flow import load_flows


def test_greeting_names_the_helpline_and_where_to_go_in_an_emergency(phone, settings):
    answer = phone().call()
    text = answer.says
    assert settings.helpline_name in text
    assert "free and confidential" in text
    assert "9 1 1" in text and "9 8 8" in text
    assert "For English, press 1." in text and "Para español, oprima 2." in text
    spanish = [s for s in answer.root.iter("Say") if "español" in (s.text or "")]
    assert spanish[0].attrib["language"] == "es-MX"


def test_greeting_fits_in_fifteen_seconds():
    flows = load_flows()
    words = len(flows["en"].prompts["greeting"].split()) + sum(
        len(f.prompts["safety_line"].split()) + len(f.prompts["language_offer"].split())
        for f in flows.values())
    # About 2.5 spoken words a second (a calm pace, numbers read digit by digit).
    assert words / 2.5 <= 15


def test_menu_offers_crisis_first_and_every_need_as_purpose_then_key(phone):
    menu = phone().english_menu()
    gather = menu.first("Gather")
    assert gather.attrib["input"] == "dtmf speech"
    labels = [s.text for s in gather.iter("Say")][1:]
    assert labels[0].startswith("If you are in crisis")
    for purpose in ("yourself", "someone you care about", "treatment centers",
                    "support groups", "resources", "counselor"):
        assert any(purpose in label for label in labels), purpose
    assert all(label.rstrip(".").split()[-2] == "press" for label in labels)


def test_silence_repeats_the_menu_twice_then_reaches_a_counselor(phone, available_counselor,
                                                                 session):
    caller = phone()
    menu = caller.english_menu()
    again = caller.silence(menu)
    assert "I did not hear anything." in again.says and again.has("Gather")
    third = caller.silence(again)
    assert third.has("Gather")
    last = caller.silence(third)
    assert "connect you with a counselor" in last.says
    assert last.first("Enqueue").text == "general-en"
    assert caller.record(session).status == "queued"


def test_wrong_key_is_named_and_the_menu_offered_again(phone):
    caller = phone()
    answer = caller.press(caller.english_menu(), "7")
    assert answer.says.startswith("Sorry, 7 is not an option.")
    assert "press 9" in answer.says


def test_repeated_wrong_keys_reach_a_counselor_rather_than_loop(phone, available_counselor):
    caller = phone()
    answer = caller.english_menu()
    for _ in range(2):
        answer = caller.press(answer, "8")
    answer = caller.press(answer, "8")
    assert answer.has("Enqueue")


def test_speech_picks_an_option(phone, available_counselor):
    caller = phone()
    answer = caller.speak(caller.english_menu(), "I need help for my son")
    assert answer.first("Enqueue").text == "family-en"


def test_unclear_speech_is_asked_again(phone):
    caller = phone()
    answer = caller.speak(caller.english_menu(), "purple elephants")
    assert answer.says.startswith("Sorry, I did not understand that.")


def test_spanish_caller_hears_spanish_from_the_menu_to_the_queue(phone, available_counselor,
                                                                 session):
    caller = phone()
    menu = caller.spanish_menu()
    assert "oprima" in menu.says
    assert {s.attrib["language"] for s in menu.root.iter("Say")} == {"es-MX"}
    assert menu.first("Gather").attrib["language"] == "es-MX"
    queued = caller.press(menu, "1")
    assert queued.first("Enqueue").text == "general-es"
    assert "espere" in queued.says
    waiting = caller.wait(queued, position=2, average=300)
    assert "Usted es el número 2 en la fila." in waiting.says
    assert "unos 5 minutos" in waiting.says
    assert {s.attrib["language"] for s in waiting.root.iter("Say")} == {"es-MX"}
    assert caller.record(session).language == "es"


def test_a_spanish_number_skips_the_language_choice(phone):
    answer = phone().call("/ivr/voice?lang=es")
    assert "Gracias por llamar" in answer.says
    assert answer.first("Gather").attrib["language"] == "es-MX"


def test_silence_at_the_language_choice_goes_on_in_english(phone):
    caller = phone()
    answer = caller.silence(caller.call())
    assert "Please tell me or press a key." in answer.says
