"""An allow-list checker for the TwiML we answer: verbs, nesting, attributes and values.

twilio.twiml validates nothing (an unknown keyword becomes an attribute, a list becomes
"['a', 'b']"), and Twilio rejects what it does not know at call time; this catches it first.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

URL = re.compile(r"^https?://[\x21-\x7e]+$")
METHOD = {"GET", "POST"}
BOOL = {"true", "false"}
INT = re.compile(r"^\d{1,5}$")
LANG = re.compile(r"^[a-z]{2}-[A-Z]{2}$")

_ATTRS: dict[str, dict[str, object]] = {
    "Say": {"voice": re.compile(r"^(alice|man|woman|Polly\.[A-Za-z-]+|Google\.[\w-]+)$"),
            "language": LANG, "loop": INT},
    "Play": {"loop": INT, "digits": re.compile(r"^[0-9wW*#]+$")},
    "Pause": {"length": INT},
    "Gather": {"action": URL, "method": METHOD, "timeout": INT, "numDigits": INT,
               "finishOnKey": re.compile(r"^[0-9*#]?$"), "input": {"dtmf", "speech",
                                                                    "dtmf speech"},
               "language": LANG, "speechTimeout": re.compile(r"^(auto|\d+)$"),
               "hints": re.compile(r"^[^\[\]]*$"), "actionOnEmptyResult": BOOL},
    "Redirect": {"method": METHOD},
    "Hangup": {},
    "Leave": {},
    "Dial": {"action": URL, "method": METHOD, "timeout": INT, "callerId": re.compile(r".+"),
             "answerOnBridge": BOOL, "timeLimit": INT, "record": re.compile(r"^[a-z-]+$")},
    "Number": {"url": URL, "method": METHOD, "sendDigits": re.compile(r"^[0-9wW*#]+$"),
               "machineDetection": {"Enable", "DetectMessageEnd"},
               "machineDetectionTimeout": INT},
    "Client": {"url": URL, "method": METHOD},
    "Queue": {"url": URL, "method": METHOD},
    "Conference": {"startConferenceOnEnter": BOOL, "endConferenceOnExit": BOOL,
                   "beep": {"true", "false", "onEnter", "onExit"}},
    "Enqueue": {"action": URL, "method": METHOD, "waitUrl": URL, "waitUrlMethod": METHOD},
    "Record": {"action": URL, "method": METHOD, "timeout": INT, "maxLength": INT,
               "finishOnKey": re.compile(r"^[0-9*#]*$"), "playBeep": BOOL, "transcribe": BOOL,
               "transcribeCallback": URL, "trim": {"trim-silence", "do-not-trim"}},
    "Message": {},
}
TOP_VOICE = {"Say", "Play", "Pause", "Gather", "Redirect", "Hangup", "Dial", "Enqueue",
             "Record", "Leave"}
WAIT_VERBS = {"Play", "Say", "Pause", "Hangup", "Redirect", "Leave", "Gather"}
CHILDREN = {"Gather": {"Say", "Play", "Pause"},
            "Dial": {"Number", "Client", "Queue", "Conference"}}
LEAF_TEXT = {"Say", "Play", "Redirect", "Number", "Client", "Queue", "Enqueue", "Message",
             "Conference"}


class TwimlError(AssertionError):
    pass


def _check_attrs(el: ET.Element, where: str) -> None:
    allowed = _ATTRS.get(el.tag)
    if allowed is None:
        raise TwimlError(f"{where}: <{el.tag}> is not an allowed verb or noun")
    for name, value in el.attrib.items():
        rule = allowed.get(name)
        if rule is None:
            raise TwimlError(f"{where}: <{el.tag}> has no attribute {name!r}")
        ok = value in rule if isinstance(rule, set) else bool(rule.match(value))  # type: ignore[union-attr]
        if not ok:
            raise TwimlError(f"{where}: <{el.tag} {name}={value!r}> is not a valid value")


def _check_text(el: ET.Element, where: str) -> None:
    text = (el.text or "").strip()
    if el.tag in LEAF_TEXT and not text:
        raise TwimlError(f"{where}: <{el.tag}> is empty")
    if el.tag in {"Redirect", "Play"} and not URL.match(text):
        raise TwimlError(f"{where}: <{el.tag}> needs an absolute URL, got {text!r}")
    if "['" in text or "{" in text:
        raise TwimlError(f"{where}: <{el.tag}> text looks unformatted: {text!r}")


def check_voice(xml: str | bytes, *, wait_url: bool = False) -> ET.Element:
    """Check one voice document; ``wait_url`` applies Twilio's Enqueue waitUrl verb list."""
    root = ET.fromstring(xml)
    if root.tag != "Response":
        raise TwimlError("the root element must be <Response>")
    verbs = list(root)
    if not verbs:
        raise TwimlError("an empty <Response> leaves the caller in silence")
    allowed_top = WAIT_VERBS if wait_url else TOP_VOICE
    for i, verb in enumerate(verbs):
        where = f"verb {i + 1}"
        if verb.tag not in allowed_top:
            raise TwimlError(f"{where}: <{verb.tag}> is not allowed "
                             f"{'in a wait URL document' if wait_url else 'at the top'}")
        _check_attrs(verb, where)
        _check_text(verb, where)
        allowed_children = CHILDREN.get(verb.tag, set())
        for child in verb:
            if child.tag not in allowed_children:
                raise TwimlError(f"{where}: <{child.tag}> cannot be inside <{verb.tag}>")
            _check_attrs(child, f"{where} > {child.tag}")
            _check_text(child, f"{where} > {child.tag}")
            if len(child):
                raise TwimlError(f"{where} > {child.tag}: nothing may be nested deeper")
        if verb.tag == "Dial" and not len(verb) and not (verb.text or "").strip():
            raise TwimlError(f"{where}: <Dial> dials nothing")
        if verb.tag == "Gather":
            if "action" not in verb.attrib:
                raise TwimlError(f"{where}: <Gather> without action re-requests the document")
            if not wait_url and (i + 1 >= len(verbs) or verbs[i + 1].tag != "Redirect"):
                raise TwimlError(f"{where}: <Gather> must be followed by <Redirect> (no input)")
    return root


def check_sms(xml: str | bytes) -> ET.Element:
    root = ET.fromstring(xml)
    if root.tag != "Response":
        raise TwimlError("the root element must be <Response>")
    for child in root:
        if child.tag != "Message" or len(child):
            raise TwimlError(f"<{child.tag}> is not allowed in a messaging response")
        _check_text(child, "Message")
    return root


def spoken(root: ET.Element) -> list[str]:
    """Every <Say> text of a document, in order (inside Gathers too)."""
    return [(el.text or "").strip() for el in root.iter("Say")]


def says(root: ET.Element) -> str:
    return " ".join(spoken(root))
