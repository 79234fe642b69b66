"""The call flow as data: one TOML file per language, checked when the app starts.

A bad entry stops the start-up with a :class:`FlowError` that names the file and the entry
(``es.toml: options[3].key``), so a typo never reaches a caller.
"""

from __future__ import annotations

import re
import string
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpline.models import Need

FLOWS_DIR = Path(__file__).parent / "flows"
ROUTES = {"queue", "crisis", "locator", "groups", "resources"}
VALID_KEYS = set("0123456789*")
# Language/voice pairs Twilio's <Say> accepts for the languages we ship; a wrong pair breaks
# <Say> for every caller, so it is refused at start-up.
VOICES = {
    "en-US": {"", "alice", "Polly.Joanna", "Polly.Matthew", "Polly.Salli", "Polly.Joanna-Neural"},
    "es-MX": {"", "Polly.Mia", "Polly.Mia-Neural", "Polly.Andres-Neural"},
    "es-US": {"", "Polly.Lupe", "Polly.Penelope", "Polly.Miguel", "Polly.Lupe-Neural"},
}

REQUIRED_PROMPTS: dict[str, set[str]] = {
    "greeting": {"helpline"}, "language_offer": set(), "menu_intro": set(),
    "not_an_option": {"key"}, "not_understood": set(), "no_input": set(),
    "to_counselor": set(), "crisis_transfer": set(), "crisis_queue": set(),
    "crisis_failed": set(), "queue_enter": set(), "queue_position": {"position"},
    "queue_estimate": {"minutes"}, "queue_callback_offer": set(),
    "queue_voicemail_offer": set(), "queue_still_holding": set(), "queue_calm": set(),
    "queue_connected": set(), "no_counselor": set(), "no_counselor_choices": set(),
    "no_counselor_choices_no_callback": set(), "callback_confirm": {"last_four"},
    "callback_enter": set(), "callback_bad_number": set(), "callback_recorded": {"digits"},
    "callback_goodbye": set(), "voicemail_prompt": set(), "voicemail_thanks": set(),
    "zip_ask": set(), "zip_unknown": set(), "zip_none_found": set(),
    "locator_unavailable": set(), "center": {"n", "name", "distance", "phone"},
    "locator_choices": set(), "sms_sent": set(), "sms_opted_out": set(),
    "sms_no_number": set(), "info_choices": set(), "groups_info": set(),
    "resources_info": set(), "goodbye": set(), "trouble": set(),
}
REQUIRED_SMS: dict[str, set[str]] = {
    "help": {"helpline", "number"}, "stopped": set(), "started": set(), "other": {"number"},
    "centers": {"centers"}, "groups": {"number"}, "resources": {"number"},
}
REQUIRED_QUEUES = {"general", "crisis"}


class FlowError(Exception):
    """A flow file is missing or wrong; the message names the file and the entry."""


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
        return self.prompts[prompt].format(**values)

    @property
    def hints(self) -> str:
        words = [w for o in self.options for w in o.words] + list(self.crisis_words)
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
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name}
    except ValueError as exc:
        raise FlowError(f"{where}: malformed template ({exc})") from None


def _text(table: dict[str, Any], key: str, where: str, allowed: set[str]) -> str:
    value = table.get(key)
    if not isinstance(value, str):
        raise FlowError(f"{where}.{key}: missing or not text")
    unknown = _placeholders(value, f"{where}.{key}") - allowed
    if unknown:
        raise FlowError(f"{where}.{key}: unknown placeholder {{{sorted(unknown)[0]}}}")
    return value


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
    prompts = {k: _text(prompts_table, k, f"{source}: prompts", allowed)
               for k, allowed in REQUIRED_PROMPTS.items()}
    sms_table = need("sms")
    sms = {k: _text(sms_table, k, f"{source}: sms", allowed)
           for k, allowed in REQUIRED_SMS.items()}

    crisis_words = need("crisis").get("words") if isinstance(data.get("crisis"), dict) else None
    if not crisis_words or not all(isinstance(w, str) and w.strip() for w in crisis_words):
        raise FlowError(f"{source}: crisis.words: a list of words or phrases is needed")

    queues_table = need("queues")
    queues: dict[str, QueueSpec] = {}
    for group, spec in queues_table.items():
        where = f"{source}: queues.{group}"
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,30}", group):
            raise FlowError(f"{where}: a queue name is lower-case letters and digits")
        priority = spec.get("priority") if isinstance(spec, dict) else None
        if not isinstance(priority, int) or not 0 <= priority <= 1000:
            raise FlowError(f"{where}.priority: a whole number from 0 to 1000 is needed")
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
    pause = hold.get("pause_seconds", 20)
    if not isinstance(pause, int) or not 1 <= pause <= 60:
        raise FlowError(f"{source}: hold.pause_seconds: a whole number from 1 to 60 is needed")
    music = hold.get("music_url", "")
    if not isinstance(music, str) or (music and not music.startswith("https://")):
        raise FlowError(f"{source}: hold.music_url: an https address or empty")
    return Flow(language, str(need("name")), language_key, say_language, voice,
                gather_language, prompts, sms, tuple(crisis_words), tuple(options), queues,
                pause, music)


def load_flows(directory: Path | None = None) -> dict[str, Flow]:
    """Read and check every ``*.toml`` flow in ``directory``; English is required."""
    directory = directory or FLOWS_DIR
    flows: dict[str, Flow] = {}
    for path in sorted(directory.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise FlowError(f"{path.name}: cannot be read ({exc})") from None
        flow = parse_flow(data, path.name)
        if flow.language != path.stem:
            raise FlowError(f"{path.name}: language: {flow.language!r} but the file is "
                            f"named {path.stem}")
        flows[flow.language] = flow
    if "en" not in flows:
        raise FlowError(f"{directory}: en.toml: missing (English is the default flow)")
    first = flows["en"]
    keys: dict[str, str] = {}
    for flow in flows.values():
        if flow.language_key in keys:
            raise FlowError(f"{flow.language}.toml: language_key: {flow.language_key} is also "
                            f"the key of {keys[flow.language_key]}.toml")
        keys[flow.language_key] = flow.language
    for flow in flows.values():
        if set(flow.queues) != set(first.queues):
            raise FlowError(f"{flow.language}.toml: queues: must name the same queues as en.toml")
    return flows
