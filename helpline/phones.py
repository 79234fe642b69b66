"""Phone numbers: the one E.164 normaliser, and which country a number belongs to.

Every number a person types (a counselor, a supervisor, an admin, a caller on the keypad) and
every number the helpline dials or texts goes through :func:`to_e164`, built on Google's
libphonenumber (the ``phonenumbers`` package). A hand-rolled normaliser turned "555-0123" into
"+5550123" and "1-800-FLOWERS" into "+1800"; libphonenumber knows each country's lengths.

Only the length check (``is_possible_number``) is asked, not strict validity: the demo and
test numbers in the 555 range are possible but not valid, and a helpline must not refuse a
real caller's number because the library's tables lag behind a new area code. A number that is
possible only as a local number (seven digits with no area code) is refused: it cannot be
dialled from elsewhere.

An extension ("555-555-0100 x12", "ext. 12", ";ext=12") is never part of the E.164 number:
:func:`to_dialable` returns it apart, for the TwiML to send as keypad digits once the line
answers. Twilio dials only what it is given: a number with " x12" in it is a number it
cannot dial.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

# Ten digits without a country code are read as a number of the North American plan.
DEFAULT_REGION = "US"

# Caller IDs Twilio sends for withheld numbers; they must never link two strangers.
ANONYMOUS = frozenset({"", "anonymous", "restricted", "unknown", "private", "unavailable",
                       "+266696687", "266696687", "+7378742833", "+2562533", "+8656696"})

_LENGTH_WORDS = {
    ValidationResult.TOO_SHORT: "is too short for a phone number",
    ValidationResult.TOO_LONG: "is too long for a phone number",
    ValidationResult.INVALID_LENGTH: "has the wrong number of digits for its country",
    ValidationResult.INVALID_COUNTRY_CODE: "does not start with a known country code",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "needs its area code",
}


# Three-digit service codes dialled as they are (911, 988, 211, Twilio's 933 address test):
# not numbers of any country. The settings that hold them (EMERGENCY_NUMBER, CRISIS_NUMBER)
# are checked when they are read.
SERVICE_CODE = re.compile(r"[0-9]{3}")


class PhoneNumberError(ValueError):
    """A typed number that is not a phone number; the message names the field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field} {reason}")
        self.field = field
        self.reason = reason


class Dialable(NamedTuple):
    """A number as Twilio dials it: E.164, and the extension to key in once it answers."""

    e164: str
    extension: str | None = None


def to_e164(raw: str | None, *, field: str = "The phone number",
            region: str = DEFAULT_REGION) -> str:
    """The E.164 form of ``raw`` (e.g. ``+15555550123``), or :class:`PhoneNumberError`.

    ``field`` names the input in the refusal ("The follow-up number is too short for a phone
    number"). Letters are read as on a keypad, as libphonenumber does for vanity numbers.
    The refusal never repeats the number (it may reach a log or a page). An extension is
    left out: use :func:`to_dialable` where one must be keyed in.
    """
    return to_dialable(raw, field=field, region=region).e164


def to_dialable(raw: str | None, *, field: str = "The phone number",
                region: str = DEFAULT_REGION) -> Dialable:
    """``raw`` as E.164 with its extension apart (digits only, or None), or
    :class:`PhoneNumberError` as :func:`to_e164` refuses it."""
    text = (raw or "").strip()
    if not text:
        raise PhoneNumberError(field, "is empty")
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        raise PhoneNumberError(field, "is not a phone number") from None
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason != ValidationResult.IS_POSSIBLE:
        raise PhoneNumberError(field, _LENGTH_WORDS.get(reason, "is not a phone number"))
    extension = "".join(c for c in number.extension or "" if c.isascii() and c.isdigit())
    return Dialable(phonenumbers.format_number(number, PhoneNumberFormat.E164),
                    extension or None)


def dial_target(raw: str | None, *, field: str = "The number to dial") -> str:
    """What Twilio is given to dial or text: a browser phone (``client:...``) and a service
    code (911, 988) as they are, any other number in E.164; or :class:`PhoneNumberError`,
    also for a number with an extension, which a REST call cannot key in.

    Every call and text the helpline places goes through this (helpline.telephony).
    """
    text = (raw or "").strip()
    if text.startswith("client:") or SERVICE_CODE.fullmatch(text):
        return text
    dialable = to_dialable(text, field=field)
    if dialable.extension:
        raise PhoneNumberError(field, "has an extension, which can only be keyed in by TwiML")
    return dialable.e164


def extension_digits(extension: str | None) -> str | None:
    """The keypad digits that reach ``extension`` once the line answers, for ``<Play
    digits>``: each ``w`` waits half a second, so a switchboard's greeting can start first."""
    if not extension:
        return None
    return "ww" + extension


def caller_id(raw: str | None) -> str | None:
    """A caller ID as Twilio sends it, in E.164; None when withheld or not a number.

    A browser phone's identity (``client:...``) is kept as it is.
    """
    if raw is None:
        return None
    text = raw.strip()
    if text.lower() in ANONYMOUS:
        return None
    if text.startswith("client:"):
        return text
    try:
        return to_e164(text)
    except PhoneNumberError:
        return None


def region_of(e164: str) -> str:
    """The two-letter region of an E.164 number ("US", "PR", "JM"), "001" for numbers of no
    country (+882, +883: satellite and international networks), "ZZ" when not a number.

    A number of no known area code (the 555 demo range) belongs to the main country of its
    country code: the US for +1.
    """
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return "ZZ"
    region = phonenumbers.region_code_for_number(number)
    return region or phonenumbers.region_code_for_country_code(number.country_code or 0)


def is_region(code: str) -> bool:
    """True for a two-letter region libphonenumber knows (for checking settings)."""
    return code in phonenumbers.SUPPORTED_REGIONS


def masked(e164: str) -> str:
    """A number safe to show staff in a list or an error: its country code and last two
    digits only ("+1…23")."""
    try:
        code = phonenumbers.parse(e164, None).country_code
    except NumberParseException:
        return "…"
    return f"+{code}…{e164[-2:]}"
