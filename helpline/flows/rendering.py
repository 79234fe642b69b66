"""A flow judged the way callers meet it: every prompt filled in, every document built.

Checking a template's text is not enough: a placeholder the code cannot fill (``{}``,
``{0}``) only fails when a caller reaches it, and a format such as ``{helpline:>9999999}``
turns a short prompt into megabytes of TwiML. So a version is also *rendered* before it is
saved, published or made live: each prompt and text message of each language is filled with
sample values as long as the real ones can be, and the TwiML documents the IVR answers with
are built from them and measured.

The documents are the IVR's answers as :mod:`ivr` composes them (which prompts one answer
speaks together, inside which ``<Gather>``), each built the largest it can be: every option
spoken, every offer made, the longest address Twilio is sent back to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from twilio.twiml.voice_response import Gather, VoiceResponse

from helpline.flows.flow import MAX_SMS, REQUIRED_PROMPTS, REQUIRED_SMS, Flow, RenderError

# Twilio refuses a TwiML answer larger than 64 kB (error 11750) and the caller hears its
# "application error" instead of the helpline, 911 and 988 included.
MAX_DOCUMENT = 64 * 1024
# A prompt once filled in: its template (flow.MAX_PROMPT) and the longest values it takes.
MAX_SPOKEN = 2000
# A text message once filled in; "centers" lists up to three names and numbers.
MAX_SMS_SENT = 1600  # Twilio's limit for one message body

# Values as long as the code ever fills in (a center's name is a 255-character column).
SAMPLE_VALUES: dict[str, str] = {
    "helpline": "H" * 120,
    "key": "1 2 3",
    "position": "999",
    "minutes": "999",
    "last_four": "5 5 5 5",
    "digits": "5 5 5 5 5 5 5 5 5 5",
    "n": "3",
    "name": "N" * 255,
    "distance": "999.9",
    "phone": "5 5 5 5 5 5 5 5 5 5",
    "number": "+18005550100",
    "centers": "; ".join(["N" * 255 + " +18005550100"] * 3),
    "days": "730",  # capacity.MAX_WAITLIST_DAYS
    # Tonight's meetings: "when" is the today or tomorrow prompt filled in, the rest as
    # ivr/views/meetings.py cuts them (a text's body is cut at 600 characters).
    "when": "W" * 200,
    "place": "P" * 255,
    "time": "12:59 PM",
    "meetings": "M" * 600,
}
# The longest address a <Gather>, <Redirect> or <Enqueue> sends Twilio back to.
SAMPLE_URL = "https://" + "h" * 200 + "/ivr/queue/wait?lang=es&group=general&tries=99&wrong=99" \
    "&flow_version=999999999"

# The IVR's answers: which prompts one document speaks, in order. "@options" is every menu
# option's label, "@offers" every language's offer, "@safety" every language's safety line;
# the rest are prompt keys.
DOCUMENTS: dict[str, tuple[str, ...]] = {
    "the greeting with the language offer": ("greeting", "@safety", "@offers"),
    "the greeting with the menu": ("greeting", "safety_line", "menu_intro", "@options"),
    "the menu after a wrong key": ("not_an_option", "not_understood", "no_input",
                                   "menu_intro", "@options"),
    "the crisis transfer": ("crisis_transfer", "crisis_queue", "crisis_failed",
                            "medical_emergency", "queue_enter"),
    "the queue's wait message": ("queue_still_holding", "queue_position", "queue_estimate",
                                 "queue_callback_offer", "queue_voicemail_offer", "queue_calm",
                                 "@music"),
    "entering the queue": ("to_counselor", "queue_enter", "no_counselor",
                           "no_counselor_choices", "no_counselor_choices_no_callback"),
    "the callback": ("callback_confirm", "callback_enter", "callback_bad_number",
                     "callback_recorded", "callback_goodbye", "voicemail_prompt",
                     "voicemail_thanks", "queue_connected"),
    "the treatment locator": ("zip_ask", "zip_unknown", "zip_none_found",
                              "locator_unavailable", "center", "center_waitlist_days",
                              "center", "center_waitlist_days", "center",
                              "center_waitlist_days", "locator_choices", "sms_sent",
                              "sms_opted_out", "sms_no_number", "sms_refused"),
    "information": ("groups_info", "resources_info", "info_choices", "groups_choices",
                    "goodbye", "trouble"),
    "tonight's meetings": ("meetings_zip_ask", "zip_unknown", "meetings_none_found",
                           "meetings_unavailable", "meeting", "meeting", "meeting",
                           "meeting_online", "meeting_online", "meetings_choices", "sms_sent",
                           "sms_opted_out", "sms_no_number", "sms_refused"),
}


def render_prompts(flow: Flow) -> dict[str, str]:
    """Every prompt of ``flow`` filled with :data:`SAMPLE_VALUES`; raise :class:`RenderError`."""
    return _render(flow, "prompts", flow.prompts, REQUIRED_PROMPTS, MAX_SPOKEN, "")


def render_texts(flow: Flow) -> dict[str, str]:
    """Every text message of ``flow`` filled in; raise :class:`RenderError`."""
    return _render(flow, "sms", flow.sms, REQUIRED_SMS, MAX_SMS_SENT,
                   f" (the template itself: {MAX_SMS})")


def _render(flow: Flow, section: str, templates: Mapping[str, str], keys: Iterable[str],
            limit: int, note: str) -> dict[str, str]:
    filled = {}
    for key in keys:
        field = f"{flow.language}.{section}.{key}"
        text = _fill(templates[key], field)
        if len(text) > limit:
            raise RenderError(field, f"{len(text)} characters once filled in; at most "
                                     f"{limit}{note}")
        filled[key] = text
    return filled


def _fill(template: str, field: str) -> str:
    try:
        return template.format(**SAMPLE_VALUES)
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
        raise RenderError(field, f"cannot be filled in ({type(exc).__name__}: use only "
                                 "{name} placeholders named under the field)") from None


def documents(flows: Mapping[str, Flow]) -> Iterable[tuple[str, list[str], str]]:
    """(what the document is, the fields it speaks, its TwiML) for each IVR answer of each
    language of a version, filled with the sample values."""
    spoken = {lang: render_prompts(flow) for lang, flow in flows.items()}
    for flow in flows.values():
        render_texts(flow)
    for lang, flow in flows.items():
        for name, pieces in DOCUMENTS.items():
            response = VoiceResponse()
            gather = Gather(action=SAMPLE_URL, method="POST", input="dtmf speech",
                            language=flow.gather_language, hints=flow.hints, timeout=6)
            fields: list[str] = []
            for piece in pieces:
                for field, speaker, text in _piece(flows, spoken, flow, piece):
                    _say(gather, speaker, text)
                    fields.append(field)
            response.append(gather)
            response.redirect(SAMPLE_URL, method="POST")
            yield f"{lang}: {name}", fields, str(response)


def _piece(flows: Mapping[str, Flow], spoken: Mapping[str, Mapping[str, str]], flow: Flow,
           piece: str) -> Iterable[tuple[str, Flow, str]]:
    lang = flow.language
    if piece in ("@offers", "@safety"):
        key = "language_offer" if piece == "@offers" else "safety_line"
        for other in flows.values():
            yield f"{other.language}.prompts.{key}", other, spoken[other.language][key]
    elif piece == "@options":
        for option in flow.options:
            yield f"{lang}.labels.{option.key}", flow, option.label
        yield f"{lang}.crisis_words", flow, ""
        yield f"{lang}.emergency_words", flow, ""
    elif piece == "@music":
        yield f"{lang}.hold.music_url", flow, flow.music_url
    elif piece in spoken[lang]:
        yield f"{lang}.prompts.{piece}", flow, spoken[lang][piece]


def _say(gather: Gather, flow: Flow, text: str) -> None:
    if not text:
        return
    if text.startswith("https://"):
        gather.play(text)
        return
    kwargs = {"language": flow.say_language}
    if flow.voice:
        kwargs["voice"] = flow.voice
    gather.say(text, **kwargs)


def check_renders(flows: Mapping[str, Flow]) -> None:
    """Raise :class:`RenderError` naming a field when a prompt or text of a version's flows
    cannot be filled in, or when an answer the IVR builds from them is larger than Twilio
    takes."""
    for name, fields, document in documents(flows):
        size = len(document.encode("utf-8"))
        if size > MAX_DOCUMENT:
            largest = max(dict.fromkeys(fields), key=lambda f: _weight(flows, f))
            raise RenderError(largest, f"{name} would be {size // 1024} kB of TwiML; Twilio "
                                       f"takes at most {MAX_DOCUMENT // 1024} kB: shorten it")


def _weight(flows: Mapping[str, Flow], field: str) -> int:
    """How much one field adds to a document, to name the one to shorten."""
    lang, _, rest = field.partition(".")
    flow = flows.get(lang)
    if flow is None:
        return 0
    section, _, key = rest.partition(".")
    if section == "prompts":
        return len(flow.prompts.get(key, ""))
    if section == "labels":
        option = flow.option_for_key(key)
        return len(option.label) if option else 0
    if section in ("crisis_words", "emergency_words"):
        return len(flow.hints)
    if section == "hold":
        return len(flow.music_url)
    return 0
