"""A TwiML interpreter: plays one call against the helpline's real webhooks, as Twilio would.

`helpline simulate-call` and the browser phone (/phone) both drive it. The whole of a call is a
:class:`CallState` of plain JSON-able data, so the browser phone can carry it between requests
(signed) and any web process can play the next step: nothing is kept in memory in between.

What Twilio does and this mirrors: verbs run in order; ``<Gather>`` waits for keys (up to
``numDigits`` or ``finishOnKey``) or speech and, on silence, falls through to the next verb;
a document that runs out hangs up, except a queue's wait document, which is requested again
with a fresh ``QueuePosition`` and ``QueueTime``; ``<Enqueue action>`` is requested with a
``QueueResult`` after ``<Leave>``, a hang-up in the queue, or the end of a bridge; ``<Dial>``'s
action gets ``DialCallStatus`` when the dialled call ends; ``<Record>`` posts the recording and
then the transcription; a failed webhook sends the call to the fallback URL; the status callback
closes the call. Without Twilio there is no bridge: while a caller holds, the interpreter asks
``/ivr/queue/assignment`` whether a counselor took the call and then plays the counselor's leg
and the ``<Queue url>`` announcement itself.
"""

from __future__ import annotations

import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urljoin, urlsplit

from simulator.callstate import ACCOUNT_SID, CallState, Event, caller_id, new_call_sid
from simulator.holding import Holding
from simulator.transport import Reply, Signer, Transport

DTMF = set("0123456789*#")
MAX_REQUESTS_PER_ACTION = 25


def _attr_int(el: ET.Element, name: str, default: int) -> int:
    raw = el.attrib.get(name, "")
    return int(raw) if raw.isdigit() else default


class Interpreter:
    """Plays calls through ``transport``, signing with ``auth_token``. Holds no call state."""

    def __init__(self, transport: Transport, auth_token: str, *, account_sid: str = "",
                 clock: Callable[[], float] = time.time) -> None:
        self.transport = transport
        self.signer = Signer(auth_token)
        self.account_sid = account_sid or ACCOUNT_SID
        self.clock = clock

    # The caller's actions. Each returns what happened, and leaves the state ready for the next.

    def start(self, start_url: str, from_number: str | None, to_number: str,
              call_sid: str | None = None) -> tuple[CallState, list[Event]]:
        """Dial the helpline: request ``start_url`` (its /ivr/voice) and play until it waits."""
        base = start_url.split("/ivr/", 1)[0]
        state = CallState(call_sid=call_sid or new_call_sid(), from_number=caller_id(from_number),
                          to_number=to_number, base=base, started_at=self.clock())
        run = Run(self, state)
        run.fetch(start_url, "POST", call_status="ringing")
        run.play()
        return state, run.events

    def press(self, state: CallState, keys: str) -> list[Event]:
        run = Run(self, state)
        run.keys(keys)
        return run.events

    def speak(self, state: CallState, words: str) -> list[Event]:
        run = Run(self, state)
        run.speech(words.strip()[:500])
        return run.events

    def silence(self, state: CallState) -> list[Event]:
        """Say nothing until Twilio's timeout runs out (a wait document ends and returns)."""
        run = Run(self, state)
        run.timed_out()
        return run.events

    def poll(self, state: CallState) -> list[Event]:
        """While holding: has a counselor taken the call? While connected: did they hold or
        transfer it? (No events when nothing changed.)"""
        run = Run(self, state)
        if state.in_queue and state.mode in {"gather", "hold"}:
            run.check_assignment()
        elif state.mode == "connected" and state.queue is not None:
            run.check_control()
        return run.events

    def hang_up(self, state: CallState) -> list[Event]:
        run = Run(self, state)
        run.hang_up(by_caller=True)
        return run.events


class Run(Holding):
    """One action's worth of work on a call: the requests it makes and the events it yields."""

    def __init__(self, interpreter: Interpreter, state: CallState) -> None:
        self.i = interpreter
        self.state = state
        self.events: list[Event] = []
        self.budget = MAX_REQUESTS_PER_ACTION

    def emit(self, kind: str, text: str, language: str = "") -> None:
        self.events.append(Event(kind, text, language))

    # Talking to the webhooks.

    def params(self, call_status: str = "in-progress") -> dict[str, str]:
        s = self.state
        data = {"CallSid": s.call_sid, "AccountSid": self.i.account_sid, "To": s.to_number,
                "Called": s.to_number, "Direction": "inbound", "ApiVersion": "2010-04-01",
                "CallStatus": call_status}
        if s.from_number is not None:
            data.update(From=s.from_number, Caller=s.from_number)
        q = s.queue
        if q is not None and s.in_queue:
            # Every request made from a queue's wait context carries the queue's figures.
            data.update(QueueSid=q["sid"], QueuePosition=str(q["position"]),
                        QueueTime=str(self._held(q)), AvgQueueTime=str(q["average"]),
                        CurrentQueueSize=str(q["size"]))
        return data

    def request(self, url: str, method: str = "POST", extra: dict[str, str] | None = None,
                *, params: dict[str, str] | None = None) -> Reply | None:
        if self.budget <= 0:
            self.emit("error", "The IVR kept redirecting without waiting for the caller; the "
                               "simulator stopped the call.")
            self.end_call(status_callback=True)
            return None
        self.budget -= 1
        data = {**(params if params is not None else self.params()), **(extra or {})}
        reply = self.i.signer.request(self.i.transport, method, url, data)
        parts = urlsplit(url)
        self.emit("request", f"{method} {parts.path}{'?' + parts.query if parts.query else ''}"
                             f" → {reply.status or 'no answer'}")
        return reply

    def fetch(self, url: str, method: str = "POST", extra: dict[str, str] | None = None, *,
              call_status: str = "in-progress") -> bool:
        """Request a TwiML document and make it the one being played (False if the call ended)."""
        url = urljoin(self.state.doc_url or url, url)
        reply = self.request(url, method, extra, params=self.params(call_status))
        if reply is None:
            return False
        doc = self.twiml_of(reply)
        if doc is None:
            return self.fallback(url, reply)
        self.load(doc, url)
        return True

    @staticmethod
    def twiml_of(reply: Reply) -> str | None:
        if reply.status != 200 or "xml" not in reply.content_type:
            return None
        try:
            root = ET.fromstring(reply.text)
        except ET.ParseError:
            return None
        return reply.text if root.tag == "Response" else None

    def load(self, doc: str, url: str) -> None:
        self.state.doc, self.state.doc_url, self.state.pc = doc, url, 0

    def fallback(self, failed_url: str, reply: Reply) -> bool:
        """Twilio asks the number's fallback URL when a webhook fails or answers bad TwiML."""
        if reply.status == 403:
            self.emit("error", "The helpline refused the simulator's signature: this simulator "
                               "and the server must share TWILIO_AUTH_TOKEN and PUBLIC_BASE_URL.")
        code = "11200" if reply.status != 200 else "12100"
        url = self.state.base + "/ivr/fallback"
        if urlsplit(failed_url).path.endswith("/ivr/fallback"):
            return self.application_error()
        self.emit("note", f"The webhook failed (Twilio error {code}); Twilio asks the fallback "
                          "URL.")
        self.state.queue = None
        second = self.request(url, "POST", {"ErrorCode": code, "ErrorUrl": failed_url})
        doc = self.twiml_of(second) if second is not None else None
        if doc is None:
            return self.application_error()
        self.load(doc, url)
        return True

    def application_error(self) -> bool:
        self.emit("say", "We are sorry, an application error has occurred. Goodbye.", "en-US")
        self.end_call(status_callback=True)
        return False

    # Playing a document.

    def verbs(self) -> list[ET.Element]:
        return list(ET.fromstring(self.state.doc)) if self.state.doc else []

    def play(self) -> None:
        """Run verbs until the caller is asked for something or the call ends."""
        s = self.state
        refetches = 0
        while not s.ended:
            verbs = self.verbs()
            if s.pc >= len(verbs):
                if not s.in_queue:
                    self.end_call(status_callback=True)  # Twilio hangs up when TwiML runs out
                    return
                # The wait document ran out: Twilio requests it again. Between two, ask
                # whether a counselor took the call (the simulator's stand-in for a bridge).
                if refetches:
                    s.mode = "hold"
                    return
                refetches += 1
                if self.check_assignment():
                    return
                if not self.fetch_wait():
                    return
                continue
            verb = verbs[s.pc]
            if not self.perform(verb):
                return

    def perform(self, verb: ET.Element) -> bool:
        """Carry out one verb; False when the call now waits (or ended)."""
        s = self.state
        tag = verb.tag
        if tag in {"Say", "Play", "Pause"}:
            self.hear(verb)
            s.pc += 1
            return True
        if tag == "Gather":
            for child in verb:
                self.hear(child)
            s.gather = {"action": verb.attrib.get("action", "") or s.doc_url,
                        "method": verb.attrib.get("method", "POST"),
                        "input": verb.attrib.get("input", "dtmf"),
                        "num_digits": _attr_int(verb, "numDigits", 0),
                        "finish_on_key": verb.attrib.get("finishOnKey", "#"),
                        "timeout": _attr_int(verb, "timeout", 5), "digits": ""}
            s.mode = "gather"
            return False
        if tag == "Redirect":
            return self.fetch((verb.text or "").strip(), verb.attrib.get("method", "POST"))
        if tag == "Hangup" or tag == "Reject":
            self.hang_up(by_caller=False)
            return False
        if tag == "Leave":
            return self.leave()
        if tag == "Enqueue":
            return self.enqueue(verb)
        if tag == "Dial":
            self.dial(verb)
            return False
        if tag == "Record":
            self.start_recording(verb)
            return False
        self.emit("note", f"(the simulator skips <{tag}>)")
        s.pc += 1
        return True

    def hear(self, verb: ET.Element) -> None:
        text = " ".join((verb.text or "").split())
        if verb.tag == "Say":
            self.emit("say", text, verb.attrib.get("language", "en-US"))
        elif verb.tag == "Play":
            what = f"tones {verb.attrib['digits']}" if "digits" in verb.attrib else text
            self.emit("play", f"(audio: {what})")
        elif verb.tag == "Pause":
            self.emit("pause", f"({_attr_int(verb, 'length', 1)} s of silence)")

    # The caller's input.

    def keys(self, keys: str) -> None:
        s = self.state
        pressed = "".join(c for c in keys if c in DTMF)
        if not pressed:
            self.emit("note", "Only 0-9, * and # are keys on a phone.")
            return
        if s.mode == "gather" and s.gather is not None:
            self.gather_keys(pressed)
        elif s.mode == "record" and s.record is not None:
            finish = s.record["finish_on_key"]
            key = next((c for c in pressed if c in finish), None)
            if key is not None:
                self.stop_recording(digits=key)
        elif s.mode in {"connected", "transfer"}:
            self.emit("note", f"(tones {pressed} go down the line)")
        else:
            self.emit("note", f"(nothing is listening for keys now: {pressed} ignored)")

    def gather_keys(self, pressed: str) -> None:
        g = self.state.gather
        assert g is not None
        finish, wanted = g["finish_on_key"], g["num_digits"]
        for key in pressed:
            if finish and key in finish:
                self.submit_gather(g["digits"], finished_on=key)
                return
            g["digits"] += key
            if wanted and len(g["digits"]) >= wanted:
                self.submit_gather(g["digits"])
                return
        self.emit("note", f"(keys so far: {g['digits']})")

    def submit_gather(self, digits: str, finished_on: str = "") -> None:
        s = self.state
        g = s.gather
        assert g is not None
        if not digits:
            self.gather_fell_through()
            return
        extra = {"Digits": digits}
        if finished_on:
            extra["FinishedOnKey"] = finished_on
        s.gather, s.mode = None, "playing"
        if self.fetch(g["action"], g["method"], extra):
            self.play()

    def gather_fell_through(self) -> None:
        s = self.state
        s.gather, s.mode = None, "playing"
        s.pc += 1
        self.play()

    def speech(self, words: str) -> None:
        s = self.state
        if not words:
            self.timed_out()
            return
        if s.mode == "gather" and s.gather is not None:
            if "speech" not in s.gather["input"]:
                self.emit("note", "(this prompt listens for keys only: nothing was heard)")
                return
            g, s.gather, s.mode = s.gather, None, "playing"
            if self.fetch(g["action"], g["method"], {"SpeechResult": words,
                                                     "Confidence": "0.92"}):
                self.play()
        elif s.mode == "record" and s.record is not None:
            s.record["text"] = (s.record["text"] + " " + words).strip()[:2000]
            self.emit("note", "(recording)")
        elif s.mode in {"connected", "transfer"}:
            self.emit("note", "(you talk; the other side listens)")
        else:
            self.emit("note", "(nobody is listening right now)")

    def timed_out(self) -> None:
        s = self.state
        if s.mode == "gather" and s.gather is not None:
            if s.gather["digits"]:
                self.submit_gather(s.gather["digits"])
            else:
                self.gather_fell_through()
        elif s.mode == "record":
            self.stop_recording(digits=None)
        elif s.mode == "hold":
            s.mode = "playing"
            self.play()

    # Dial and Record.

    def dial(self, verb: ET.Element) -> None:
        s = self.state
        targets = [f"{el.tag.lower()} {(el.text or '').strip()}" for el in verb] or \
                  [(verb.text or "").strip()]
        s.dial = {"action": urljoin(s.doc_url, verb.attrib.get("action", "")),
                  "method": verb.attrib.get("method", "POST"), "started": self.i.clock(),
                  "to": ", ".join(targets)}
        s.mode = "transfer"
        self.emit("transfer", f"Transferred to {s.dial['to']}. (Simulated: the other side "
                              "answers; hang up to end.)")

    def start_recording(self, verb: ET.Element) -> None:
        s = self.state
        s.record = {"action": urljoin(s.doc_url, verb.attrib.get("action", "")) or s.doc_url,
                    "method": verb.attrib.get("method", "POST"),
                    "finish_on_key": verb.attrib.get("finishOnKey", "1234567890*#"),
                    "timeout": _attr_int(verb, "timeout", 5),
                    "transcribe": verb.attrib.get("transcribe") == "true",
                    "callback": urljoin(s.doc_url, verb.attrib.get("transcribeCallback", "")),
                    "text": ""}
        s.mode = "record"
        if verb.attrib.get("playBeep", "true") == "true":
            self.emit("play", "(beep)")
        self.emit("note", "Recording: say your message, then press # or stay silent.")

    def stop_recording(self, digits: str | None, *, hanging_up: bool = False) -> None:
        s = self.state
        r = s.record
        assert r is not None
        s.record, s.mode = None, "playing"
        if not r["text"]:
            # Twilio keeps no empty recording and goes on with the next verb.
            self.emit("note", "(nothing was recorded)")
            if not hanging_up:
                s.pc += 1
                self.play()
            return
        recording_sid = "RE" + secrets.token_hex(16)
        recording_url = (f"https://api.twilio.com/2010-04-01/Accounts/{self.i.account_sid}"
                         f"/Recordings/{recording_sid}")
        extra = {"RecordingSid": recording_sid, "RecordingUrl": recording_url,
                 "RecordingDuration": str(max(1, round(len(r["text"].split()) / 2.5)))}
        if digits:
            extra["Digits"] = digits
        self.emit("note", "Message recorded.")
        fetched = False
        if hanging_up:
            self.request(r["action"], r["method"], extra)  # Twilio ignores what it answers
        else:
            fetched = self.fetch(r["action"], r["method"], extra)
        if r["transcribe"] and r["callback"]:
            self.request(r["callback"], "POST", {
                "RecordingSid": recording_sid, "RecordingUrl": recording_url,
                "TranscriptionSid": "TR" + secrets.token_hex(16),
                "TranscriptionStatus": "completed", "TranscriptionText": r["text"],
                "TranscriptionType": "fast"})
        if not hanging_up and fetched:
            self.play()

    # The end of the call.

    def hang_up(self, *, by_caller: bool) -> None:
        s = self.state
        if s.ended:
            return
        if by_caller:
            self.emit("note", "You hung up.")
        if s.mode == "record" and s.record is not None:
            self.stop_recording("hangup", hanging_up=True)
        if s.dial is not None:
            d, s.dial = s.dial, None
            if d["action"]:
                duration = max(0, int(self.i.clock() - d["started"]))
                self.request(d["action"], d["method"], {
                    "DialCallStatus": "completed", "DialCallSid": new_call_sid(),
                    "DialCallDuration": str(duration)})
        if s.queue is not None:
            q, s.queue = s.queue, None
            result = "bridged" if s.mode == "connected" else "hangup"
            if q["action"]:
                self.request(q["action"], q["method"], {
                    "QueueResult": result, "QueueSid": q["sid"], "QueueTime": str(
                        int((s.answered_at or self.i.clock()) - q["enqueued_at"]))})
        self.end_call(status_callback=True)

    def end_call(self, *, status_callback: bool) -> None:
        s = self.state
        if s.ended:
            return
        s.mode, s.gather, s.record = "ended", None, None
        if status_callback:
            now = self.i.clock()
            self.budget = max(self.budget, 1)
            self.request(s.base + "/ivr/status", "POST", {
                "CallStatus": "completed", "CallDuration": str(int(now - s.started_at)),
                "Timestamp": format_datetime(datetime.fromtimestamp(now, UTC)),
                "CallbackSource": "call-progress-events"})
        self.emit("ended", "The call has ended.")


__all__ = ["CallState", "Event", "Interpreter", "caller_id", "new_call_sid"]
