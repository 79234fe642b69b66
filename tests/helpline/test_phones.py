"""The one E.164 normaliser: what people type, and what it becomes or why it is refused."""

from __future__ import annotations

import pytest

from helpline import crypto, phones


@pytest.mark.parametrize(("typed", "e164"), [
    ("(555) 555-0123", "+15555550123"),       # a demo number: possible, not valid
    ("555-555-0123", "+15555550123"),
    ("5555550123", "+15555550123"),
    ("1 555 555 0123", "+15555550123"),
    ("+1 (212) 555-0100", "+12125550100"),
    ("1-800-FLOWERS", "+18003569377"),        # letters read as on a keypad
    ("555-555-0100 x12", "+15555550100"),     # an extension is not dialled
    ("+44 20 7946 0018", "+442079460018"),
    ("011 44 20 7946 0018", "+442079460018"),  # dialled from the US
    ("+882 1234 5678", "+88212345678"),        # a real number; texts to it are refused elsewhere
])
def test_typed_numbers_become_e164(typed: str, e164: str) -> None:
    assert phones.to_e164(typed) == e164


@pytest.mark.parametrize(("typed", "why"), [
    ("555-0123", "needs its area code"),       # was "+5550123"
    ("1-800", "is too short for a phone number"),
    ("12345", "is too short for a phone number"),
    ("911", "is too short for a phone number"),
    ("+1 555 555 0123 4567", "is too long for a phone number"),
    ("call me", "is not a phone number"),
    ("", "is empty"),
    ("   ", "is empty"),
    ("+999 123 4567", "is not a phone number"),
])
def test_nonsense_is_refused_naming_the_field(typed: str, why: str) -> None:
    with pytest.raises(phones.PhoneNumberError) as refused:
        phones.to_e164(typed, field="The follow-up number")
    assert str(refused.value) == f"The follow-up number {why}"
    assert refused.value.field == "The follow-up number"


def test_the_refusal_never_repeats_the_number() -> None:
    with pytest.raises(phones.PhoneNumberError) as refused:
        phones.to_e164("555-0123")
    assert "0123" not in str(refused.value)


@pytest.mark.parametrize(("caller_id", "e164"), [
    ("+15555550123", "+15555550123"), ("anonymous", None), ("+266696687", None),
    ("client:counselor-7", "client:counselor-7"), ("555-0123", None), (None, None),
])
def test_caller_ids_as_twilio_sends_them(caller_id: str | None, e164: str | None) -> None:
    assert phones.caller_id(caller_id) == e164
    assert crypto.normalise_number(caller_id) == e164


@pytest.mark.parametrize(("number", "region"), [
    ("+12125550100", "US"), ("+15555550123", "US"), ("+14165550100", "CA"),
    ("+17875550100", "PR"), ("+13405550100", "VI"), ("+16715550100", "GU"),
    ("+16845550100", "AS"), ("+16705550100", "MP"), ("+18765550100", "JM"),
    ("+18095550100", "DO"), ("+12685550100", "AG"), ("+88212345678", "001"),
])
def test_the_region_of_a_number(number: str, region: str) -> None:
    assert phones.region_of(number) == region


@pytest.mark.parametrize(("written", "dialable"), [
    ("555-555-0102", ("+15555550102", None)),
    ("555-555-0100 x12", ("+15555550100", "12")),
    ("(555) 555-0100 ext. 12", ("+15555550100", "12")),
    ("555-555-0100;ext=345", ("+15555550100", "345")),
    ("+1 555 555 0100 extension 7", ("+15555550100", "7")),
])
def test_a_written_number_is_dialled_in_e164_with_its_extension_apart(
        written: str, dialable: tuple[str, str | None]) -> None:
    assert phones.to_dialable(written) == dialable
    assert phones.to_e164(written) == dialable[0]


def test_the_extension_is_keyed_in_after_a_short_wait() -> None:
    assert phones.extension_digits("12") == "ww12"
    assert phones.extension_digits(None) is None


@pytest.mark.parametrize(("to", "target"), [
    ("(555) 555-0147", "+15555550147"), ("+15555550147", "+15555550147"),
    ("911", "911"), ("988", "988"), ("933", "933"),
    ("client:counselor-3", "client:counselor-3"),
])
def test_what_twilio_is_given_to_dial(to: str, target: str) -> None:
    assert phones.dial_target(to) == target


@pytest.mark.parametrize(("to", "why"), [
    ("555-0147", "needs its area code"), ("1234", "is too short for a phone number"),
    ("555-555-0147 x2", "has an extension, which can only be keyed in by TwiML"),
])
def test_what_twilio_cannot_dial_is_refused(to: str, why: str) -> None:
    with pytest.raises(phones.PhoneNumberError, match=why):
        phones.dial_target(to)
