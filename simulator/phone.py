"""The browser phone (/phone): staff call the helpline from the dashboard, as a caller would.

The page's script is a thin client. Every key, word, silence or hang-up is posted here and
played by the TwiML interpreter against the real, signed webhooks in this process. The call's
state travels with the browser, signed with the app's secret, so any web process can play the
next step. Counselors and supervisors may use it; a draft flow version (``?flow_version=N``) is
a supervisor's preview.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, jsonify, render_template, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from dashboard.access import current_user, permission_required
from helpline.app.runtime import close_session, end_transaction, settings
from helpline.staff.roles import Action, can
from simulator.callstate import CallState, Event
from simulator.interpreter import Interpreter
from simulator.terminal import DEFAULT_FROM, check_caller_id, refuse_without_outbox, start_url
from simulator.transport import AppTransport

phone_blueprint = Blueprint("phone", __name__, url_prefix="/phone", template_folder="templates",
                            static_folder="static", static_url_path="/static")
# The dashboard's transaction rule (its webhooks run in their own sessions, see _interpreter).
phone_blueprint.after_request(end_transaction)

STATE_MAX_AGE_SECONDS = 4 * 3600
ACTIONS = {"keys", "speech", "timeout", "poll", "hangup"}
PASSIVE_ACTIONS = {"timeout", "poll"}  # what the page does on its own, not the person
_SALT = "helpline.phone.call-state"


class PhoneError(Exception):
    """A request the phone cannot play; the message is shown to the staff member."""


def _languages() -> dict[str, str]:
    flows = current_app.extensions.get("ivr_flows") or {}
    return {code: getattr(flow, "name", code) for code, flow in flows.items()}


def _flow_version(raw: Any) -> int | None:
    text = str(raw or "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 6:  # "²" is a digit to isdigit()
        raise PhoneError("The flow version is a number.")
    user = current_user()
    if not can(user, Action.PREVIEW_IVR_DRAFT):
        abort(403)
    return int(text)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings().secret_key, salt=_SALT)


def _seal(state: CallState, owner: int) -> str:
    return _serializer().dumps({"owner": owner, "call": state.to_dict()})


def _unseal(blob: str, owner: int) -> CallState:
    try:
        data = _serializer().loads(blob, max_age=STATE_MAX_AGE_SECONDS)
        if data.get("owner") != owner:
            raise BadSignature("another staff member's call")
        return CallState.from_dict(data["call"])
    except (BadSignature, KeyError, TypeError, ValueError):
        raise PhoneError("This call cannot go on (it is too old, or not from this page). "
                         "Start a new call.") from None


def _interpreter() -> Interpreter:
    s = settings()
    # The webhooks about to run open their own sessions; this request keeps none open.
    close_session()
    return Interpreter(AppTransport(current_app._get_current_object()),  # type: ignore[attr-defined]
                       s.twilio_auth_token, account_sid=s.twilio_account_sid)


def _status(state: CallState) -> str:
    if state.mode == "gather":
        listening = "keys or words" if "speech" in state.accepts else "keys"
        if state.in_queue:
            return f"Holding for a counselor; the line listens for {listening}."
        return f"The line listens for {listening}."
    return {
        "record": "Recording a message: type what you say, then press # or stay silent.",
        "hold": "Holding for a counselor.",
        "connected": "Connected to a counselor.",
        "transfer": "Transferred (simulated): the other side is on the line.",
        "ended": "The call has ended.",
    }.get(state.mode, "Calling…")


def _answer(state: CallState, events: list[Event], owner: int) -> Response:
    return jsonify(state=None if state.ended else _seal(state, owner), call_sid=state.call_sid,
                   mode=state.mode, status=_status(state), accepts=state.accepts,
                   timeout=state.timeout, ended=state.ended,
                   events=[event.to_dict() for event in events])


def _payload() -> dict[str, Any]:
    data = request.get_json(silent=True) if request.is_json else None
    return data if isinstance(data, dict) else request.form.to_dict()


def _refused(message: str, status: int = 400) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


@phone_blueprint.get("")
@permission_required(Action.USE_PHONE)
def page() -> str:
    languages = _languages()
    lang = request.args.get("lang", "")
    try:
        flow_version = _flow_version(request.args.get("flow_version"))
    except PhoneError:
        flow_version = None
    try:
        caller = check_caller_id(request.args.get("from") or DEFAULT_FROM)
    except ValueError:
        caller = DEFAULT_FROM
    return render_template("simulator/phone.html", refusal=refuse_without_outbox(settings()),
                           from_number=caller, lang=lang if lang in languages else "",
                           languages=languages, flow_version=flow_version,
                           helpline_number=settings().helpline_number)


@phone_blueprint.post("/call")
@permission_required(Action.USE_PHONE)
def call() -> Response:
    """Dial the helpline: the first webhook (/ivr/voice) and everything up to the first wait."""
    refusal = refuse_without_outbox(settings())
    if refusal:
        return _refused(refusal, 404)
    data = _payload()
    try:
        caller = check_caller_id(str(data.get("from") or DEFAULT_FROM))
        lang = str(data.get("lang") or "")
        if lang and lang not in _languages():
            raise PhoneError("Choose English, Spanish, or let the caller choose.")
        flow_version = _flow_version(data.get("flow_version"))
    except ValueError:
        return _refused("Give a phone number such as +15555550123, or anonymous.")
    user = current_user()
    assert user is not None
    owner = user.id
    base = settings().public_base_url or request.host_url.rstrip("/")
    state, events = _interpreter().start(start_url(base, lang or None, flow_version), caller,
                                         settings().helpline_number)
    return _answer(state, events, owner)


def _play(passive: bool) -> Response:
    refusal = refuse_without_outbox(settings())
    if refusal:
        return _refused(refusal, 404)
    data = _payload()
    action, value = str(data.get("action", "")), str(data.get("value", ""))[:500]
    if action not in (PASSIVE_ACTIONS if passive else ACTIONS):
        return _refused("Unknown action.")
    user = current_user()
    assert user is not None
    owner = user.id
    try:
        state = _unseal(str(data.get("state", "")), owner)
    except PhoneError as exc:
        return _refused(str(exc))
    interpreter = _interpreter()
    if action == "keys":
        events = interpreter.press(state, value)
    elif action == "speech":
        events = interpreter.speak(state, value)
    elif action == "timeout":
        events = interpreter.silence(state)
    elif action == "poll":
        events = interpreter.poll(state)
    else:
        events = interpreter.hang_up(state)
    return _answer(state, events, owner)


@phone_blueprint.post("/step")
@permission_required(Action.USE_PHONE)
def step() -> Response:
    """What the caller does: keys, words, silence, hanging up."""
    return _play(passive=False)


@phone_blueprint.post("/poll")
@permission_required(Action.USE_PHONE)
def poll() -> Response:
    """What the page does on its own (Twilio's timeouts, asking whether a counselor took the
    call): not activity, so an open phone does not keep an idle staff member signed in."""
    return _play(passive=True)


@phone_blueprint.errorhandler(PhoneError)
def _phone_error(exc: PhoneError) -> Response:
    return _refused(str(exc))
