"""The call flow as data: one TOML file per language, checked when the app starts.

A bad entry stops the start-up with a :class:`FlowError` that names the file and the entry
(``es.toml: options[3].key``), so a typo never reaches a caller. The same checks judge the
versions supervisors edit in the dashboard (ivr/versions.py), where the "file" is the field.
"""

from __future__ import annotations

import re
import string
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpline import phones
from helpline.models import Need

FLOWS_DIR = Path(__file__).parent
ROUTES = {"queue", "crisis", "locator", "groups", "resources"}
VALID_KEYS = set("0123456789*")
# Language/voice pairs Twilio's <Say> accepts for the languages we ship; a wrong pair breaks
# <Say> for every caller, so it is refused at start-up. No voice ("") is Twilio's default,
# which speaks English only: a Spanish flow must name a Spanish voice.
VOICES = {
    "en-US": {"", "alice", "Polly.Joanna", "Polly.Matthew", "Polly.Salli", "Polly.Joanna-Neural"},
    "es-MX": {"Polly.Mia", "Polly.Mia-Neural", "Polly.Andres-Neural"},
    "es-US": {"Polly.Lupe", "Polly.Penelope", "Polly.Miguel", "Polly.Lupe-Neural",
              "Google.es-US-Standard-A", "Google.es-US-Neural2-A"},
}

REQUIRED_PROMPTS: dict[str, set[str]] = {
    "greeting": {"helpline"}, "safety_line": set(), "language_offer": set(),
    "menu_intro": set(), "not_an_option": {"key"}, "not_understood": set(), "no_input": set(),
    "to_counselor": set(), "crisis_transfer": set(), "crisis_queue": set(),
    "medical_emergency": set(),
    "crisis_failed": set(), "queue_enter": set(), "queue_position": {"position"},
    "queue_estimate": {"minutes"}, "queue_callback_offer": set(),
    "queue_voicemail_offer": set(), "queue_still_holding": set(), "queue_calm": set(),
    "queue_connected": set(), "no_counselor": set(), "no_counselor_choices": set(),
    "no_counselor_choices_no_callback": set(), "callback_confirm": {"last_four"},
    "callback_enter": set(), "callback_bad_number": set(), "callback_recorded": {"digits"},
    "callback_goodbye": set(), "voicemail_prompt": set(), "voicemail_thanks": set(),
    "zip_ask": set(), "zip_unknown": set(), "zip_none_found": set(),
    "locator_unavailable": set(), "center": {"n", "name", "distance", "phone"},
    "center_waitlist": set(), "center_waitlist_days": {"days"},
    "locator_choices": set(), "sms_sent": set(), "sms_opted_out": set(),
    "sms_no_number": set(), "sms_refused": set(), "info_choices": set(), "groups_info": set(),
    "resources_info": set(), "goodbye": set(), "trouble": set(),
    "groups_choices": set(), "meetings_zip_ask": set(), "meetings_none_found": set(),
    "meetings_unavailable": set(), "meeting": {"n", "name", "when", "distance", "place"},
    "meeting_online": {"name", "when"}, "meeting_today": {"time"},
    "meeting_tomorrow": {"time"}, "meetings_choices": set(),
}
REQUIRED_SMS: dict[str, set[str]] = {
    "help": {"helpline", "number"}, "stopped": set(), "started": set(), "other": {"number"},
    "centers": {"centers"}, "groups": {"number"}, "resources": {"number"},
    "meetings": {"meetings"},
}
REQUIRED_QUEUES = {"general", "crisis"}
# What each placeholder is filled with, for the people who edit the prompts.
PLACEHOLDERS = {
    "helpline": "the helpline's name",
    "key": "the key the caller pressed, read out",
    "position": "the caller's place in line",
    "minutes": "the estimated wait, in whole minutes",
    "last_four": "the last four digits of the caller's number, read one by one",
    "digits": "the callback number, read digit by digit",
    "n": "the center's or meeting's place in the list (1 to 3)",
    "name": "the center's or meeting's name",
    "distance": "the distance in miles from the ZIP code's center",
    "phone": "the center's phone number, read digit by digit",
    "number": "the helpline's phone number",
    "centers": "the names and phone numbers of the centers found",
    "days": "the center's waitlist, in days (said only when the center gave its length)",
    "when": "when the meeting starts: the 'today' or 'tomorrow' prompt filled in",
    "place": "the meeting's building, or its street",
    "time": "the meeting's start time, in the time zone of the caller's ZIP code",
    "meetings": "the meetings found: name, day and time, address or link",
}
# Whatever else changes, every caller hears where emergencies go (the safety line, in each
# language), and a caller heard describing a medical emergency is told to dial 911.
MUST_MENTION = {"safety_line": ("911", "988"), "medical_emergency": ("911",)}
_MENTIONED_FOR = {"911": "medical emergencies", "988": "suicidal crisis"}
MAX_PROMPT = 1000  # characters: a longer prompt is a lecture, not a menu
MAX_SMS = 320  # two SMS segments at most
MAX_CRISIS_WORDS, MAX_CRISIS_WORD = 100, 60
MAX_QUEUE_PRIORITY = 1000
MAX_URL = 500
# Where crisis calls may be transferred: 988, a three-digit N11 code such as 911, or E.164.
_CRISIS_NUMBER = re.compile(r"^(988|[2-9]11|\+[1-9]\d{6,14})$")
MAX_HOLD_RANGE = (30, 7200)


class FlowError(Exception):
    """A flow file is missing or wrong; the message names the file and the entry."""


class RenderError(FlowError):
    """A prompt or document that cannot be made for a caller: ``field`` names the value to
    change (``es.prompts.greeting``), as the supervisors' editor names it."""

    def __init__(self, field: str, problem: str) -> None:
        self.field, self.problem = field, problem
        super().__init__(f"{field}: {problem}")


@dataclass(frozen=True)
class MenuOption:
    key: str
    need: str
    route: str
    label: str
    words: tuple[str, ...]
    queue: str | None


@dataclass(frozen=True)
class QueueSpec:
    group: str
    priority: int


@dataclass(frozen=True)
class LineSettings:
    """What holds for the whole line rather than one language."""

    crisis_number: str
    handle_crisis_in_house: bool
    max_hold_seconds: int
    callbacks_enabled: bool


@dataclass(frozen=True)
class Flow:
    language: str
    name: str
    language_key: str
    say_language: str
    voice: str
    gather_language: str
    prompts: dict[str, str]
    sms: dict[str, str]
    crisis_words: tuple[str, ...]
    emergency_words: tuple[str, ...]
    options: tuple[MenuOption, ...]
    queues: dict[str, QueueSpec]
    pause_seconds: int
    music_url: str

    def option_for_key(self, key: str) -> MenuOption | None:
        return next((o for o in self.options if o.key == key), None)

    def option_by_route(self, route: str) -> MenuOption:
        return next(o for o in self.options if o.route == route)

    def queue_name(self, group: str) -> str:
        """Twilio queue name for a need group in this language, e.g. ``general-es``."""
        return f"{group}-{self.language}"

    def say(self, prompt: str, **values: object) -> str:
        """The prompt filled in; :class:`RenderError` (naming the field) when it cannot be,
        so that the IVR can tell a broken version from any other failure."""
        try:
            return self.prompts[prompt].format(**values)
        except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
            raise RenderError(f"{self.language}.prompts.{prompt}",
                              f"cannot be filled in ({type(exc).__name__})") from None

    @property
    def hints(self) -> str:
        words = [w for o in self.options for w in o.words] + list(self.crisis_words) + list(
            self.emergency_words)
        return ", ".join(dict.fromkeys(words))


def fold(text: str) -> str:
    """Lower case without accents, punctuation reduced to spaces: for matching speech."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " " + re.sub(r"[^a-z0-9]+", " ", plain).strip() + " "


def mentions(speech: str, words: tuple[str, ...]) -> bool:
    """True when a whole word or phrase of ``words`` is in ``speech``."""
    folded = fold(speech)
    return any(fold(w) in folded for w in words if w.strip())


def _placeholders(template: str, where: str) -> set[str]:
    """The names of the ``{name}`` placeholders; anything else between braces is refused.

    ``str.format`` would take ``{}`` and ``{0}`` (filled by position: the code passes none),
    ``{name.attr}`` and ``{name[0]}`` (reaching into the value), and ``{name:>9999999}`` or
    ``{name!r}`` (a width or conversion that can turn a prompt into megabytes). Braces meant
    as text are written ``{{`` and ``}}``.
    """
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise FlowError(f"{where}: malformed template ({exc}); write {{{{ and }}}} for a "
                        "brace") from None
    names = set()
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not re.fullmatch(r"[a-z_]+", name):
            shown = "{}" if not name else f"{{{name}}}"
            raise FlowError(f"{where}: {shown} is not a placeholder; use a name such as "
                            "{helpline} (write {{ and }} for a brace)")
        if spec or conversion:
            raise FlowError(f"{where}: {{{name}}} takes no format or conversion; write it "
                            f"as {{{name}}}")
        names.add(name)
    return names


# Characters an XML document cannot carry (TwiML is XML): a prompt holding one breaks the
# whole answer it is spoken in.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def check_text(value: object, where: str, allowed: set[str], *, required: bool = False,
               limit: int = MAX_PROMPT) -> str:
    """A prompt or text template: text, not too long, only the placeholders it may use."""
    if not isinstance(value, str):
        raise FlowError(f"{where}: missing or not text")
    if required and not value.strip():
        raise FlowError(f"{where}: must not be empty (the caller would hear nothing)")
    if len(value) > limit:
        raise FlowError(f"{where}: {len(value)} characters; at most {limit}")
    if _NOT_XML.search(value):
        raise FlowError(f"{where}: holds a control character that a phone call cannot carry")
    unknown = _placeholders(value, where) - allowed
    if unknown:
        raise FlowError(f"{where}: unknown placeholder {{{sorted(unknown)[0]}}}"
                        + (f"; this one may use {', '.join(f'{{{a}}}' for a in sorted(allowed))}"
                           if allowed else "; this one takes none"))
    return value


def check_prompt(key: str, value: object, where: str) -> str:
    """A prompt: :func:`check_text` with its placeholders, and what it must always say."""
    text = check_text(value, where, REQUIRED_PROMPTS[key], required=True)
    spoken_digits = re.sub(r"[^0-9]", "", text)
    missing = [n for n in MUST_MENTION.get(key, ()) if n not in spoken_digits]
    if missing:
        raise FlowError(f"{where}: must still tell callers about {' and '.join(missing)} "
                        f"({', '.join(_MENTIONED_FOR[n] for n in missing)})")
    return text


def _text(table: dict[str, Any], key: str, where: str, allowed: set[str], *,
          required: bool = True, limit: int = MAX_PROMPT) -> str:
    return check_text(table.get(key), f"{where}.{key}", allowed, required=required, limit=limit)


def check_crisis_words(value: object, where: str) -> tuple[str, ...]:
    if (not isinstance(value, list | tuple) or not value
            or not all(isinstance(w, str) and w.strip() for w in value)):
        raise FlowError(f"{where}: a list of words or phrases is needed")
    # They are sent to Twilio as speech hints in every menu: a long list bloats each answer.
    if len(value) > MAX_CRISIS_WORDS or any(len(w) > MAX_CRISIS_WORD for w in value):
        raise FlowError(f"{where}: at most {MAX_CRISIS_WORDS} words or phrases of at most "
                        f"{MAX_CRISIS_WORD} characters each")
    if any(_NOT_XML.search(w) for w in value):
        raise FlowError(f"{where}: holds a control character")
    return tuple(value)


def check_word_lists(crisis: tuple[str, ...] | list[str],
                     emergency: tuple[str, ...] | list[str], where: str) -> None:
    """A word or phrase belongs to one list: medical emergency or suicide crisis."""
    crisis_folded = {fold(w) for w in crisis}
    both = [w for w in emergency if fold(w) in crisis_folded]
    if both:
        raise FlowError(f"{where}: {both[0]!r} is also a crisis word; keep each word in one "
                        "list (medical emergency words are matched first)")


def check_pause_seconds(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 60:
        raise FlowError(f"{where}: a whole number from 1 to 60 is needed")
    return value


def check_music_url(value: object, where: str) -> str:
    if not isinstance(value, str) or (value and not re.fullmatch(r"https://\S+", value)):
        raise FlowError(f"{where}: an https address or empty")
    if len(value) > MAX_URL:
        raise FlowError(f"{where}: {len(value)} characters; an address of at most {MAX_URL}")
    return value


def check_crisis_number(value: object, where: str) -> str:
    if not isinstance(value, str) or not _CRISIS_NUMBER.match(value) or (
            value.startswith("+") and not _is_e164(value)):
        raise FlowError(f"{where}: {value!r} is not 988, a three-digit code such as 911, "
                        "or an E.164 number such as +18005550100")
    return value


def _is_e164(value: str) -> bool:
    # A number the one normaliser leaves as it is: possible, and written in E.164.
    try:
        return phones.to_e164(value) == value
    except phones.PhoneNumberError:
        return False


def check_max_hold_seconds(value: object, where: str) -> int:
    low, high = MAX_HOLD_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FlowError(f"{where}: a whole number of seconds from {low} to {high} is needed")
    return value


def _flag(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise FlowError(f"{where}: true or false is needed")
    return value


def parse_line(data: dict[str, Any], source: str) -> LineSettings:
    """Check the line settings (crisis number, in-house crisis, hold limit, callbacks)."""
    return LineSettings(
        crisis_number=check_crisis_number(data.get("crisis_number"),
                                          f"{source}: crisis_number"),
        handle_crisis_in_house=_flag(data.get("handle_crisis_in_house"),
                                     f"{source}: handle_crisis_in_house"),
        max_hold_seconds=check_max_hold_seconds(data.get("max_hold_seconds"),
                                                f"{source}: max_hold_seconds"),
        callbacks_enabled=_flag(data.get("callbacks_enabled"), f"{source}: callbacks_enabled"),
    )


def parse_flow(data: dict[str, Any], source: str) -> Flow:
    """Check one flow's data and return it; raise :class:`FlowError` naming the bad entry."""
    def need(key: str) -> Any:
        if key not in data:
            raise FlowError(f"{source}: {key}: missing")
        return data[key]

    language = need("language")
    if not isinstance(language, str) or not re.fullmatch(r"[a-z]{2}", language):
        raise FlowError(f"{source}: language: expected a two-letter code such as en")
    say_language, voice = need("say_language"), data.get("voice", "")
    if say_language not in VOICES:
        raise FlowError(f"{source}: say_language: {say_language!r} is not one of "
                        f"{', '.join(sorted(VOICES))}")
    if voice not in VOICES[say_language]:
        raise FlowError(f"{source}: voice: {voice!r} does not speak {say_language}")
    language_key = need("language_key")
    if not isinstance(language_key, str) or language_key not in VALID_KEYS:
        raise FlowError(f"{source}: language_key: {language_key!r} is not a single key")
    gather_language = need("gather_language")
    if not isinstance(gather_language, str) or not re.fullmatch(r"[a-z]{2}-[A-Z]{2}",
                                                                  gather_language):
        raise FlowError(f"{source}: gather_language: expected e.g. es-MX")

    prompts_table = need("prompts")
    prompts = {k: check_prompt(k, prompts_table.get(k), f"{source}: prompts.{k}")
               for k in REQUIRED_PROMPTS}
    sms_table = need("sms")
    # An empty text is allowed: Twilio answers STOP and START itself on long codes.
    sms = {k: _text(sms_table, k, f"{source}: sms", allowed, required=False, limit=MAX_SMS)
           for k, allowed in REQUIRED_SMS.items()}

    crisis = data.get("crisis")
    crisis_words = check_crisis_words(crisis.get("words") if isinstance(crisis, dict) else None,
                                      f"{source}: crisis.words")
    emergency = data.get("emergency")
    emergency_words = check_crisis_words(
        emergency.get("words") if isinstance(emergency, dict) else None,
        f"{source}: emergency.words")
    check_word_lists(crisis_words, emergency_words, f"{source}: emergency.words")

    queues_table = need("queues")
    queues: dict[str, QueueSpec] = {}
    for group, spec in queues_table.items():
        where = f"{source}: queues.{group}"
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,30}", group):
            raise FlowError(f"{where}: a queue name is lower-case letters and digits")
        priority = spec.get("priority") if isinstance(spec, dict) else None
        if not isinstance(priority, int) or not 0 <= priority <= MAX_QUEUE_PRIORITY:
            raise FlowError(f"{where}.priority: a whole number from 0 to {MAX_QUEUE_PRIORITY} "
                            "is needed")
        queues[group] = QueueSpec(group, priority)
    for group in REQUIRED_QUEUES - set(queues):
        raise FlowError(f"{source}: queues.{group}: missing")

    raw_options = need("options")
    if not isinstance(raw_options, list) or not raw_options:
        raise FlowError(f"{source}: options: at least one menu option is needed")
    options: list[MenuOption] = []
    for i, raw in enumerate(raw_options):
        where = f"{source}: options[{i}]"
        key = raw.get("key")
        if not isinstance(key, str) or key not in VALID_KEYS:
            raise FlowError(f"{where}.key: {key!r} is not a single key 0-9 or *")
        if any(o.key == key for o in options):
            raise FlowError(f"{where}.key: key {key} is used twice")
        need_value = raw.get("need")
        if need_value not in {n.value for n in Need}:
            raise FlowError(f"{where}.need: {need_value!r} is not one of "
                            f"{', '.join(n.value for n in Need)}")
        route = raw.get("route")
        if route not in ROUTES:
            raise FlowError(f"{where}.route: {route!r} is not one of {', '.join(sorted(ROUTES))}")
        queue = raw.get("queue")
        if route == "queue" and queue not in queues:
            raise FlowError(f"{where}.queue: {queue!r} is not a queue defined under [queues]")
        label = _text(raw, "label", where, set())
        words = raw.get("words", [])
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise FlowError(f"{where}.words: a list of words is needed")
        options.append(MenuOption(key, need_value, route, label, tuple(words), queue))
    if not any(o.route == "crisis" for o in options):
        raise FlowError(f"{source}: options: the first menu must offer crisis")
    if options[0].route != "crisis":
        raise FlowError(f"{source}: options[0]: crisis is offered first")

    hold = data.get("hold", {})
    pause = check_pause_seconds(hold.get("pause_seconds", 20), f"{source}: hold.pause_seconds")
    music = check_music_url(hold.get("music_url", ""), f"{source}: hold.music_url")
    return Flow(language, str(need("name")), language_key, say_language, voice,
                gather_language, prompts, sms, crisis_words, emergency_words, tuple(options),
                queues, pause, music)


def read_flow_files(directory: Path | None = None) -> dict[str, dict[str, Any]]:
    """The raw data of every ``*.toml`` flow in ``directory``, by language (the file's stem)."""
    directory = directory or FLOWS_DIR
    raw: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.toml")):
        try:
            raw[path.stem] = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise FlowError(f"{path.name}: cannot be read ({exc})") from None
    if "en" not in raw:
        raise FlowError(f"{directory}: en.toml: missing (English is the default flow)")
    return raw


def build_flows(raw: dict[str, dict[str, Any]], suffix: str = ".toml") -> dict[str, Flow]:
    """Check every language's data and the rules between them; errors name ``<lang><suffix>``."""
    flows: dict[str, Flow] = {}
    for stem, data in raw.items():
        flow = parse_flow(data, f"{stem}{suffix}")
        if flow.language != stem:
            raise FlowError(f"{stem}{suffix}: language: {flow.language!r} but the file is "
                            f"named {stem}")
        flows[flow.language] = flow
    if "en" not in flows:
        raise FlowError(f"en{suffix}: missing (English is the default flow)")
    first = flows["en"]
    keys: dict[str, str] = {}
    for flow in flows.values():
        if flow.language_key in keys:
            raise FlowError(f"{flow.language}{suffix}: language_key: {flow.language_key} is "
                            f"also the key of {keys[flow.language_key]}{suffix}")
        keys[flow.language_key] = flow.language
    for flow in flows.values():
        if set(flow.queues) != set(first.queues):
            raise FlowError(f"{flow.language}{suffix}: queues: must name the same queues as "
                            f"en{suffix}")
    return flows


def load_flows(directory: Path | None = None) -> dict[str, Flow]:
    """Read and check every ``*.toml`` flow in ``directory``; English is required."""
    return build_flows(read_flow_files(directory))
