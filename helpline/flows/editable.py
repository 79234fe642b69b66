"""What supervisors may change in the IVR, grouped and explained, and how a change applies.

A version of the settings is a flat mapping of field names to values::

    {"line.crisis_number": "988", "en.prompts.greeting": "Thank you for calling {helpline}...",
     "en.labels.9": "If you are in crisis ...", "en.hold.pause_seconds": 20, ...}

Applied over the shipped flow files, it gives flow data that :mod:`ivr.flow` checks with the
same rules as the files. The structure (keys, routes, queues, voices) stays in the files.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from helpline.flows.flow import (
    MAX_SMS,
    PLACEHOLDERS,
    REQUIRED_PROMPTS,
    REQUIRED_SMS,
    FlowError,
    LineSettings,
    check_crisis_number,
    check_crisis_words,
    check_max_hold_seconds,
    check_music_url,
    check_pause_seconds,
    check_prompt,
    check_text,
    check_word_lists,
    fold,
)

# (group title, prompt keys) in the order a caller meets them.
PROMPT_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Greeting and menu", ("greeting", "safety_line", "language_offer", "menu_intro",
                           "not_an_option", "not_understood", "no_input", "to_counselor")),
    ("Crisis", ("crisis_transfer", "crisis_queue", "crisis_failed", "medical_emergency")),
    ("Hold messages", ("queue_enter", "queue_position", "queue_estimate",
                       "queue_callback_offer", "queue_voicemail_offer", "queue_still_holding",
                       "queue_calm", "queue_connected")),
    ("No counselor free, callbacks and messages", (
        "no_counselor", "no_counselor_choices", "no_counselor_choices_no_callback",
        "callback_confirm", "callback_enter", "callback_bad_number", "callback_recorded",
        "callback_goodbye", "voicemail_prompt", "voicemail_thanks")),
    ("Treatment locator", ("zip_ask", "zip_unknown", "zip_none_found", "locator_unavailable",
                           "center", "center_waitlist", "center_waitlist_days",
                           "locator_choices", "sms_sent", "sms_opted_out",
                           "sms_no_number", "sms_refused")),
    ("Support groups, resources and goodbyes", ("info_choices", "groups_info",
                                                "resources_info", "goodbye", "trouble")),
    ("Tonight's meetings", ("groups_choices", "meetings_zip_ask", "meeting", "meeting_online",
                            "meeting_today", "meeting_tomorrow", "meetings_none_found",
                            "meetings_unavailable", "meetings_choices")),
)

PROMPT_LABELS = {
    "greeting": "Greeting (before the language choice; keep it under 15 seconds with the "
                "safety lines)",
    "safety_line": "Safety line: 911 and 988 (said after the greeting in every language)",
    "language_offer": "Language offer",
    "menu_intro": "Menu introduction",
    "not_an_option": "A key that is not an option",
    "not_understood": "Words that were not understood",
    "no_input": "Nothing heard",
    "to_counselor": "Passing the caller to a counselor",
    "crisis_transfer": "Before the transfer to the crisis line",
    "crisis_queue": "Before the in-house crisis queue",
    "crisis_failed": "The crisis line did not answer",
    "medical_emergency": "A medical emergency was heard (dial 911, then the crisis queue)",
    "queue_enter": "Entering the queue",
    "queue_position": "Place in line",
    "queue_estimate": "Estimated wait",
    "queue_callback_offer": "Callback offer while holding",
    "queue_voicemail_offer": "Message offer while holding (callbacks off)",
    "queue_still_holding": "After the longest hold",
    "queue_calm": "Calm message while holding",
    "queue_connected": "A counselor answers",
    "no_counselor": "No counselor for the caller's language",
    "no_counselor_choices": "Choices when no counselor is free",
    "no_counselor_choices_no_callback": "Choices when no counselor is free (callbacks off)",
    "callback_confirm": "Confirming the callback number",
    "callback_enter": "Asking for another number",
    "callback_bad_number": "A number that is not ten digits",
    "callback_recorded": "Callback booked",
    "callback_goodbye": "Goodbye after booking a callback",
    "voicemail_prompt": "Before the message",
    "voicemail_thanks": "After the message",
    "zip_ask": "Asking for the ZIP code",
    "zip_unknown": "An unknown ZIP code",
    "zip_none_found": "No center near the ZIP code",
    "locator_unavailable": "The search is not available",
    "center": "Reading one center",
    "center_waitlist": "After a center with a waitlist (its length not known)",
    "center_waitlist_days": "After a center with a waitlist of a known length",
    "locator_choices": "Choices after the centers",
    "sms_sent": "A text was sent",
    "sms_opted_out": "The number asked for no texts",
    "sms_no_number": "The number is hidden",
    "sms_refused": "A text was refused (limit or country)",
    "info_choices": "Choices after information",
    "groups_info": "Support groups",
    "resources_info": "Other resources",
    "goodbye": "Goodbye",
    "trouble": "Something went wrong",
    "groups_choices": "Choices after the support groups (with tonight's meetings)",
    "meetings_zip_ask": "Asking for the ZIP code for tonight's meetings",
    "meeting": "Reading one meeting near the caller",
    "meeting_online": "Reading one online meeting",
    "meeting_today": "A meeting starting today",
    "meeting_tomorrow": "A meeting starting tomorrow (after midnight)",
    "meetings_none_found": "No meeting starting soon near the ZIP code",
    "meetings_unavailable": "The meeting search is not available",
    "meetings_choices": "Choices after the meetings",
}

SMS_LABELS = {
    "help": "Reply to HELP",
    "stopped": "Reply to STOP (empty: Twilio's own reply only)",
    "started": "Reply to START (empty: Twilio's own reply only)",
    "other": "Reply to any other text",
    "centers": "The treatment centers found",
    "groups": "Support groups",
    "resources": "Other resources",
    "meetings": "Tonight's meetings found",
}

LINE_DEFAULT_KEYS = ("crisis_number", "handle_crisis_in_house", "max_hold_seconds",
                     "callbacks_enabled")


@dataclass(frozen=True)
class Field:
    """One value a supervisor may edit."""

    name: str  # "en.prompts.greeting"
    kind: str  # "prompt", "sms", "label", "words", "pause", "music", "crisis_number", ...
    label: str
    group: str
    language: str | None = None  # None for the line settings
    placeholders: tuple[str, ...] = ()

    @property
    def element_id(self) -> str:
        return "f-" + self.name.replace(".", "-").replace("*", "star")

    @property
    def explained(self) -> list[tuple[str, str]]:
        return [(p, PLACEHOLDERS.get(p, "")) for p in self.placeholders]


LINE_FIELDS = (
    Field("line.crisis_number", "crisis_number", "Crisis line number", "The line"),
    Field("line.handle_crisis_in_house", "flag", "Crisis calls go to", "The line"),
    Field("line.max_hold_seconds", "max_hold", "Longest hold before the offer (seconds)",
          "The line"),
    Field("line.callbacks_enabled", "flag", "Callbacks", "The line"),
)


def fields_for(raw_flows: Mapping[str, Mapping[str, Any]]) -> list[Field]:
    """Every editable field, the line first, then each language group by group."""
    fields = list(LINE_FIELDS)
    for language, data in raw_flows.items():
        def add(kind: str, key: str, label: str, group: str,
                allowed: set[str] | frozenset[str] = frozenset(), lang: str = language) -> None:
            fields.append(Field(f"{lang}.{key}", kind, label, group, lang,
                                tuple(sorted(allowed))))

        for group, keys in PROMPT_GROUPS:
            if group == "Greeting and menu":
                for key in keys[:4]:
                    add("prompt", f"prompts.{key}", PROMPT_LABELS[key], group,
                        REQUIRED_PROMPTS[key])
                for option in data.get("options", []):
                    add("label", f"labels.{option.get('key')}",
                        f"Menu option {option.get('key')} "
                        f"({str(option.get('need')).replace('_', ' ')})", group)
                keys = keys[4:]
            for key in keys:
                add("prompt", f"prompts.{key}", PROMPT_LABELS[key], group, REQUIRED_PROMPTS[key])
            if group == "Crisis":
                add("words", "emergency_words",
                    "Medical emergency words (one per line; matched first)", group)
                add("words", "crisis_words", "Suicidal crisis words (one per line)", group)
            if group == "Hold messages":
                add("pause", "hold.pause_seconds", "Seconds of calm between messages", group)
                add("music", "hold.music_url", "Hold audio (an https address, or empty)", group)
        for key, allowed in REQUIRED_SMS.items():
            add("sms", f"sms.{key}", SMS_LABELS[key], "Text messages", allowed)
    return fields


def values_of(raw_flows: Mapping[str, Mapping[str, Any]], line: LineSettings) -> dict[str, Any]:
    """The editable values of the shipped files and the environment's line settings."""
    values: dict[str, Any] = {f"line.{k}": getattr(line, k) for k in LINE_DEFAULT_KEYS}
    for language, data in raw_flows.items():
        for key, text in data.get("prompts", {}).items():
            if key in REQUIRED_PROMPTS:
                values[f"{language}.prompts.{key}"] = text
        for key, text in data.get("sms", {}).items():
            if key in REQUIRED_SMS:
                values[f"{language}.sms.{key}"] = text
        for option in data.get("options", []):
            values[f"{language}.labels.{option.get('key')}"] = option.get("label")
        values[f"{language}.crisis_words"] = list(data.get("crisis", {}).get("words", []))
        values[f"{language}.emergency_words"] = list(
            data.get("emergency", {}).get("words", []))
        hold = data.get("hold", {})
        values[f"{language}.hold.pause_seconds"] = hold.get("pause_seconds", 20)
        values[f"{language}.hold.music_url"] = hold.get("music_url", "")
    return values


def apply(raw_flows: Mapping[str, Mapping[str, Any]],
          values: Mapping[str, Any]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The flow data with ``values`` applied over the files, and the line settings' data.

    A value for something the files no longer have (a removed language or option) is ignored.
    """
    flows = copy.deepcopy({k: dict(v) for k, v in raw_flows.items()})
    line = {k: values.get(f"line.{k}") for k in LINE_DEFAULT_KEYS}
    for name, value in values.items():
        language, _, rest = name.partition(".")
        data = flows.get(language)
        if data is None:
            continue
        section, _, key = rest.partition(".")
        if section in ("prompts", "sms") and key in data.get(section, {}):
            data[section][key] = value
        elif section == "labels":
            for option in data.get("options", []):
                if option.get("key") == key:
                    option["label"] = value
        elif section == "crisis_words":
            data.setdefault("crisis", {})["words"] = value
        elif section == "emergency_words":
            data.setdefault("emergency", {})["words"] = value
        elif section == "hold" and key in ("pause_seconds", "music_url"):
            data.setdefault("hold", {})[key] = value
    return flows, line


def check_field(field: Field, value: Any) -> str | None:
    """The problem with one field's value, or None: the flow files' own rules."""
    where = field.name
    checks = {
        "prompt": lambda: check_prompt(where.rpartition(".")[2], value, where),
        "label": lambda: check_text(value, where, set(), required=True),
        "sms": lambda: check_text(value, where, set(field.placeholders), limit=MAX_SMS),
        "words": lambda: check_crisis_words(value, where),
        "pause": lambda: check_pause_seconds(value, where),
        "music": lambda: check_music_url(value, where),
        "crisis_number": lambda: check_crisis_number(value, where),
        "max_hold": lambda: check_max_hold_seconds(value, where),
        "flag": lambda: value if isinstance(value, bool) else _not_a_flag(where),
    }
    try:
        checks[field.kind]()
    except FlowError as exc:
        return str(exc).removeprefix(f"{where}: ")
    return None


def check_between(values: Mapping[str, Any], errors: Mapping[str, str]) -> dict[str, str]:
    """Problems between fields, named on a field: a word in both lists of a language."""
    problems = {}
    for name, emergency in values.items():
        language, _, rest = name.partition(".")
        crisis_name = f"{language}.crisis_words"
        if rest != "emergency_words" or name in errors or crisis_name in errors:
            continue
        try:
            check_word_lists(values.get(crisis_name) or [], emergency, name)
        except FlowError as exc:
            problems[name] = str(exc).removeprefix(f"{name}: ")
    return problems


def upgraded(defaults: Mapping[str, Any], stored: Mapping[str, Any]) -> dict[str, Any]:
    """A version's stored values over the defaults, read by today's rules.

    A version made before the medical emergency words existed gets the shipped ones, and its
    crisis words lose any that are now emergency words (they would be matched as such
    anyway), so that it stays valid and a caller not breathing hears 911 first.
    """
    values = {**defaults, **{k: v for k, v in stored.items() if k in defaults}}
    for name in defaults:
        language, _, rest = name.partition(".")
        crisis_name = f"{language}.crisis_words"
        if rest != "emergency_words" or name in stored or not isinstance(
                values.get(crisis_name), list):
            continue
        emergency = {fold(w) for w in values[name]}
        kept = [w for w in values[crisis_name] if fold(w) not in emergency]
        values[crisis_name] = kept or [w for w in defaults[crisis_name]
                                       if fold(w) not in emergency]
    return values


def _not_a_flag(where: str) -> None:
    raise FlowError(f"{where}: true or false is needed")


def from_form(fields: list[Field], form: Mapping[str, str],
              current: Mapping[str, Any]) -> dict[str, Any]:
    """Values from a submitted form, typed; a field the form lacks keeps its current value.

    Text that is not a number stays text, so that the check names the field.
    """
    values = dict(current)
    for field in fields:
        if field.name not in form:
            continue
        raw = form[field.name]
        if field.kind in ("pause", "max_hold"):
            text = raw.strip()
            values[field.name] = int(text) if text.isdigit() and len(text) < 7 else text
        elif field.kind == "flag":
            values[field.name] = raw == "true" if raw in ("true", "false") else raw
        elif field.kind == "words":
            values[field.name] = [w.strip() for w in raw.replace(",", "\n").splitlines()
                                  if w.strip()]
        elif field.kind in ("crisis_number", "music"):
            values[field.name] = raw.strip()
        else:
            # Browsers send CRLF from a textarea; a prompt is one spoken paragraph.
            values[field.name] = " ".join(raw.split()) if field.kind != "sms" else raw.strip()
    return values


def display(field: Field, value: Any) -> str:
    """A value as a person reads it (in the diff and the form)."""
    if field.kind == "words":
        return "\n".join(value) if isinstance(value, list) else str(value)
    if field.name == "line.handle_crisis_in_house":
        return "our own crisis queue" if value is True else "the crisis line (transfer)"
    if field.name == "line.callbacks_enabled":
        return "offered" if value is True else "off (callers may leave a message)"
    return "" if value is None else str(value)
