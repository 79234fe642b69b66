"""A simulated caller holding in a queue: the wait document, the assignment poll, the bridge.

Twilio bridges a queued caller when a counselor's leg runs ``<Dial><Queue>``. Without Twilio
nobody bridges, so between wait documents the interpreter asks ``/ivr/queue/assignment``
(outbox telephony only) whether a counselor took the call, and then plays the counselor's leg
and the ``<Queue url>`` announcement itself. Once connected it asks ``/ivr/call/control``
what the counselor did (hold, transfer, a supervisor joining, the end of the call) and says
it to the caller as Twilio's conference would.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urljoin

from simulator.callstate import new_call_sid

if TYPE_CHECKING:
    from simulator.callstate import CallState
    from simulator.transport import Reply, Signer, Transport


class Line(Protocol):
    """What holding needs of the interpreter that runs it (the interpreter imports this module,
    so this module names the interpreter only by what it uses)."""

    transport: Transport
    signer: Signer
    account_sid: str
    clock: Callable[[], float]


class Holding:
    """The queue half of an interpreter run (mixed into :class:`simulator.interpreter.Run`)."""

    i: Line
    state: CallState

    if TYPE_CHECKING:  # provided by Run
        def emit(self, kind: str, text: str, language: str = "") -> None: ...
        def request(self, url: str, method: str = "POST", extra: dict[str, str] | None = None,
                    *, params: dict[str, str] | None = None) -> Reply | None: ...
        def fetch(self, url: str, method: str = "POST", extra: dict[str, str] | None = None,
                  *, call_status: str = "in-progress") -> bool: ...
        def params(self, call_status: str = "in-progress") -> dict[str, str]: ...
        def hear(self, verb: ET.Element) -> None: ...
        def twiml_of(self, reply: Reply) -> str | None: ...
        def play(self) -> None: ...
        def end_call(self, *, status_callback: bool) -> None: ...

    def enqueue(self, verb: ET.Element) -> bool:
        s = self.state
        name = (verb.text or "").strip()
        s.queue = {"name": name, "sid": "QU" + hashlib.sha256(name.encode()).hexdigest()[:32],
                   "wait_url": urljoin(s.doc_url, verb.attrib.get("waitUrl", "")),
                   "wait_method": verb.attrib.get("waitUrlMethod", "POST"),
                   "action": urljoin(s.doc_url, verb.attrib.get("action", "")),
                   "method": verb.attrib.get("method", "POST"),
                   "enqueued_at": self.i.clock(), "resume_doc": s.doc,
                   "resume_url": s.doc_url, "resume_pc": s.pc + 1,
                   "position": 1, "size": 1, "average": 0, "polls": True}
        self.emit("queue", f"Holding in the queue {name}.")
        if self.check_assignment():
            return False
        return self.fetch_wait()

    def held(self) -> int:
        return self._held(self.state.queue) if self.state.queue else 0

    def fetch_wait(self) -> bool:
        q = self.state.queue
        assert q is not None
        if not q["wait_url"]:
            self.state.mode = "hold"
            return False
        return self.fetch(q["wait_url"], q["wait_method"], {
            "QueueSid": q["sid"], "QueuePosition": str(q["position"]),
            "QueueTime": str(self.held()), "AvgQueueTime": str(q["average"]),
            "CurrentQueueSize": str(q["size"])})

    def check_assignment(self) -> bool:
        """Ask the helpline whether a counselor took this call; bridge if so (True)."""
        q = self.state.queue
        if q is None or not q["polls"]:
            return False
        url = self.state.base + "/ivr/queue/assignment"
        data = self.i.signer.request(self.i.transport, "POST", url, self.params())
        if data.status == 404:
            q["polls"] = False
            self.emit("note", "This server carries calls through Twilio: a counselor cannot "
                              "take a simulated call.")
            return False
        try:
            answer = json.loads(data.text) if data.status == 200 else {}
        except ValueError:
            answer = {}
        for name in ("position", "size", "average"):
            value = answer.get(name)
            if isinstance(value, int) and value >= 0:
                q[name] = value
        if not answer.get("assigned"):
            return False
        self.bridge(str(answer.get("counselor_leg", "")))
        return True

    def bridge(self, counselor_leg: str) -> None:
        """Play the counselor's leg (<Dial><Queue>) and the <Queue url> announcement."""
        s, q = self.state, self.state.queue
        assert q is not None
        leg_sid = new_call_sid()
        leg_params = {"CallSid": leg_sid, "AccountSid": self.i.account_sid,
                      "From": s.to_number, "To": "client:counselor", "Direction": "outbound-api",
                      "ApiVersion": "2010-04-01", "CallStatus": "in-progress"}
        reply = self.request(counselor_leg, "POST", params=leg_params) if counselor_leg else None
        doc = self.twiml_of(reply) if reply is not None else None
        queue_noun = None
        if doc is not None:
            for el in ET.fromstring(doc).iter():
                if el.tag == "Say":
                    self.emit("counselor", "Counselor's phone: " + " ".join((el.text or "")
                                                                          .split()))
                if el.tag == "Queue" and (el.text or "").strip() == q["name"]:
                    queue_noun = el
        if queue_noun is None:
            self.emit("note", "The counselor's leg did not take this queue; still holding.")
            s.mode = "hold"
            return
        extra = {"QueueSid": q["sid"], "QueueTime": str(self.held()),
                 "DequeingCallSid": leg_sid}
        url = queue_noun.attrib.get("url", "")
        if url:
            self.announce(urljoin(counselor_leg, url), queue_noun.attrib.get("method", "POST"),
                          extra)
        s.gather = None
        s.mode = "connected"
        s.answered_at = self.i.clock()
        self.emit("connected", "You are connected to a counselor.")

    def check_control(self) -> None:
        """While connected: what did the counselor do to the call (hold, transfer, a
        supervisor, ending it)? Outbox telephony only: with Twilio the conference does it."""
        s, q = self.state, self.state.queue
        if q is None or not q.get("control_polls", True):
            return
        since = int(q.get("control_seen", 0))
        url = f"{s.base}/ivr/call/control?since={since}"
        data = self.i.signer.request(self.i.transport, "POST", url, self.params())
        if data.status == 404:
            q["control_polls"] = False
            return
        try:
            answer = json.loads(data.text) if data.status == 200 else {}
        except ValueError:
            answer = {}
        language = q["name"].rpartition("-")[2] or "en"
        for event in answer.get("events") or []:
            q["control_seen"] = max(int(q.get("control_seen", 0)), int(event.get("id", 0)))
            kind, text = str(event.get("kind", "")), str(event.get("text", ""))
            if kind == "end":
                self.emit("note", text)
                self.end_call(status_callback=True)
                return
            if kind == "requeue":
                self.emit("transfer", text)
                self.requeue(str(event.get("url", "")))
                return
            if kind in {"hold", "resume", "transfer", "supervisor"}:
                # What the caller hears, said in their language.
                self.emit("say", text, language)
                if kind == "hold":
                    self.emit("play", "(hold music)")
            else:
                self.emit(kind if kind in {"counselor", "note"} else "note", text)
        if answer.get("ended") and not s.ended:
            self.emit("note", "The counselor's side of the call has ended.")
            self.end_call(status_callback=True)

    def requeue(self, url: str) -> None:
        """Twilio moves the caller's call to new TwiML (<Enqueue> again): play it."""
        s = self.state
        if not url:
            return
        seen = (s.queue or {}).get("control_seen", 0)
        s.queue, s.answered_at, s.mode = None, None, "ringing"
        if self.fetch(urljoin(s.base + "/", url.lstrip("/"))):
            self.play()
        if s.queue is not None:
            s.queue["control_seen"] = seen

    def announce(self, url: str, method: str, extra: dict[str, str]) -> None:
        """The <Queue url> document: said to the caller before the bridge (Say/Play/Pause)."""
        for _ in range(5):
            reply = self.request(url, method, extra)
            doc = self.twiml_of(reply) if reply is not None else None
            if doc is None:
                return
            redirect = None
            for verb in ET.fromstring(doc):
                if verb.tag in {"Say", "Play", "Pause"}:
                    self.hear(verb)
                elif verb.tag == "Redirect":
                    redirect = urljoin(url, (verb.text or "").strip())
                    method = verb.attrib.get("method", "POST")
                    break
            if redirect is None:
                return
            url = redirect

    def leave(self) -> bool:
        """<Leave>: out of the queue; the Enqueue action gets QueueResult=leave."""
        s, q = self.state, self.state.queue
        if q is None:
            s.pc += 1
            return True
        s.queue = None
        self.emit("queue", "Left the queue.")
        if q["action"]:
            return self.fetch(q["action"], q["method"], {
                "QueueResult": "leave", "QueueSid": q["sid"], "QueueTime": str(self._held(q))})
        s.doc, s.doc_url, s.pc = q["resume_doc"], q["resume_url"], q["resume_pc"]
        return True

    def _held(self, q: dict[str, Any]) -> int:
        return max(0, int(self.i.clock() - q["enqueued_at"]))
