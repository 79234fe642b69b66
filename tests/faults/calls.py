"""Calls placed the way Twilio places them, what each answer promised, and the check that the
database holds every promised step exactly once."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select

from helpline.db import Database
from helpline.models import Call, CallEvent, FollowUp
from tests.faults.rig import Answer, Twilio

# The words of the callback confirmation (helpline/flows/en.toml: callback_recorded and
# callback_goodbye): a caller who heard them was promised a call back.
BOOKED_WORDS = ("We will call you back at", "Your call back is booked")
# The fallback's first words (prompt "trouble"): it records nothing.
FALLBACK_WORDS = "We are having trouble"
QUEUE_SID = "QU" + "1" * 32


def twiml(answer: Answer) -> ET.Element:
    """The answer's TwiML, or an AssertionError saying why it is not TwiML."""
    try:
        root = ET.fromstring(answer.text)
    except ET.ParseError as exc:
        raise AssertionError(f"{answer.path} answered {answer.status} with no TwiML "
                             f"({exc}): {answer.text[:200]!r}") from None
    assert root.tag == "Response", f"{answer.path}: not TwiML: {answer.text[:200]!r}"
    return root


def promised_booking(answer: Answer) -> bool:
    return answer.ok and any(words in answer.text for words in BOOKED_WORDS)


@dataclass
class PlacedCall:
    """One caller's call: the step each webhook records, and whether it was acknowledged
    (answered 2xx with an answer of its own, not the fallback)."""

    sid: str
    number: str
    acked: set[str] = field(default_factory=set)
    booked: bool = False
    answers: list[Answer] = field(default_factory=list)


class Caller:
    """Places calls through the menu to the queue, and for some a callback booking."""

    def __init__(self, twilio: Twilio, n: int) -> None:
        self.twilio = twilio
        self.number = f"+1202555{n:04d}"

    def _post(self, call: PlacedCall, kinds: Callable[[Answer], set[str]] | set[str],
              url: str, **extra: str) -> Answer | None:
        params = {"CallSid": call.sid, "AccountSid": "AC" + "5" * 32, "From": call.number,
                  "To": "+18005550100", "Direction": "inbound", "ApiVersion": "2010-04-01",
                  "CallStatus": "in-progress", **extra}
        answer = self.twilio.post(url, params)
        call.answers.append(answer)
        if not answer.ok or FALLBACK_WORDS in answer.text:
            return None
        call.acked |= kinds(answer) if callable(kinds) else kinds
        return answer

    def call(self, *, callback: bool) -> PlacedCall:
        call = PlacedCall("CA" + uuid.uuid4().hex, self.number)
        # An answer that is not TwiML ends the call; the tests look at every answer.
        with contextlib.suppress(AssertionError):
            self._walk(call, callback)
        return call

    def _walk(self, call: PlacedCall, callback: bool) -> None:
        voice = self._post(call, {"call_started"}, "/ivr/voice", CallStatus="ringing")
        if voice is None:
            return
        language = self._post(call, {"language"}, gather_action(voice), Digits="1")
        if language is None:
            return
        choice = self._post(call, _menu_kinds, gather_action(language), Digits="1")
        if choice is None:
            return
        enqueue = twiml(choice).find("Enqueue")
        if enqueue is not None:
            if callback:
                wait = self._post(call, set(), enqueue.attrib["waitUrl"], QueuePosition="1",
                                  QueueTime="20", AvgQueueTime="0", CurrentQueueSize="1",
                                  QueueSid=QUEUE_SID)
                booking = None if wait is None else self._book(call, gather_action(wait))
                if booking is None or "<Leave" not in booking.text:
                    return
                left = self._post(call, {"left_queue"}, enqueue.attrib["action"],
                                  QueueResult="leave", QueueTime="30", QueueSid=QUEUE_SID)
            else:
                left = self._post(call, {"queue_hangup"}, enqueue.attrib["action"],
                                  QueueResult="hangup", QueueTime="30", QueueSid=QUEUE_SID)
            if left is None:
                return
        elif (callback and "queue/unstaffed" in choice.text
              and self._book(call, gather_action(choice)) is None):
            return
        self._post(call, {"ended"}, "/ivr/status", CallStatus="completed", CallDuration="60")

    def _book(self, call: PlacedCall, offer_url: str) -> Answer | None:
        """Press 1 for a callback, then 1 to confirm the number: booked if the caller was
        told so. Returns the answer to the confirmation."""
        offer = self._post(call, set(), offer_url, Digits="1")
        if offer is None:
            return None
        answer = self._post(call, lambda a: {"callback_requested"} if promised_booking(a)
                            else set(), gather_action(offer), Digits="1")
        if answer is not None:
            call.booked = call.booked or promised_booking(answer)
        return answer


def gather_action(answer: Answer) -> str:
    """Where the answer's Gather sends the caller's keys."""
    gather = twiml(answer).find(".//Gather")
    assert gather is not None, f"{answer.path}: no Gather in {answer.text[:300]!r}"
    return gather.attrib["action"]


def _menu_kinds(answer: Answer) -> set[str]:
    if "<Enqueue" in answer.text:
        return {"menu", "queue"}
    if "queue/unstaffed" in answer.text:
        return {"menu", "no_counselor"}
    return {"menu"}


def burst(twilio: Twilio, callers: int, *, calls_each: int | None = None,
          stop: threading.Event | None = None, callback_every: int = 3) -> list[PlacedCall]:
    """``callers`` threads placing calls back to back (``calls_each`` each, or until ``stop``);
    every ``callback_every``-th call books a callback. Returns every call placed."""
    placed: list[PlacedCall] = []
    lock = threading.Lock()

    def run(n: int) -> None:
        caller = Caller(twilio, n)
        made = 0
        while (calls_each is None or made < calls_each) and not (stop and stop.is_set()):
            call = caller.call(callback=(n + made) % callback_every == 0)
            made += 1
            with lock:
                placed.append(call)

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    return placed


def acknowledged(placed: list[PlacedCall]) -> int:
    return sum(1 for call in placed for a in call.answers if a.ok)


@dataclass(frozen=True)
class Recorded:
    """What the database holds of some calls: status and end, events and follow-ups."""

    calls: dict[str, tuple[str, dt.datetime | None]]
    events: Counter[tuple[str, str]]
    followups: Counter[str]

    def twice(self) -> list[str]:
        """Anything recorded more than once (waiting for a replay never mends that)."""
        problems = [f"{sid}: step {kind!r} recorded {n} times"
                    for (sid, kind), n in sorted(self.events.items()) if n > 1]
        return problems + [f"{sid}: {n} follow-ups"
                           for sid, n in sorted(self.followups.items()) if n > 1]

    def lost(self, placed: list[PlacedCall]) -> list[str]:
        """Acknowledged steps, ends and booked callbacks that are not in."""
        problems: list[str] = []
        for call in placed:
            if call.acked and call.sid not in self.calls:
                problems.append(f"{call.sid}: acknowledged {sorted(call.acked)}, no call record")
                continue
            problems += [f"{call.sid}: acknowledged step {kind!r} lost"
                         for kind in sorted(call.acked) if not self.events[(call.sid, kind)]]
            if "ended" in call.acked:
                status, ended = self.calls[call.sid]
                if status != "completed" or ended is None:
                    problems.append(f"{call.sid}: acknowledged end, but the call is "
                                    f"{status!r}, ended at {ended}")
            if call.booked and not self.followups[call.sid]:
                problems.append(f"{call.sid}: the caller was told the callback is booked; "
                                "no follow-up")
        return problems


def recorded(check_url: str, placed: list[PlacedCall]) -> Recorded:
    sids = [call.sid for call in placed]
    db = Database(check_url)
    try:
        with db.sessions() as session:
            calls = {sid: (status, ended) for sid, status, ended in session.execute(
                select(Call.call_sid, Call.status, Call.ended_at)
                .where(Call.call_sid.in_(sids)))}
            events = Counter({(sid, kind): n for sid, kind, n in session.execute(
                select(Call.call_sid, CallEvent.kind, func.count(CallEvent.id))
                .join(CallEvent, CallEvent.call_id == Call.id)
                .where(Call.call_sid.in_(sids)).group_by(Call.call_sid, CallEvent.kind))})
            followups = Counter({sid: n for sid, n in session.execute(
                select(Call.call_sid, func.count(FollowUp.id))
                .join(FollowUp, FollowUp.call_id == Call.id)
                .where(Call.call_sid.in_(sids)).group_by(Call.call_sid))})
    finally:
        db.dispose()
    return Recorded(calls, events, followups)


def exactly_once(check_url: str, placed: list[PlacedCall]) -> list[str]:
    """What the database got wrong about these calls: an acknowledged step, end or booked
    callback missing, or anything recorded twice. Empty when all is well."""
    held = recorded(check_url, placed)
    return held.lost(placed) + held.twice()


def summary(placed: list[PlacedCall]) -> str:
    steps = sum(len(call.acked) for call in placed)
    booked = sum(call.booked for call in placed)
    return (f"{len(placed)} calls, {acknowledged(placed)} webhooks answered 2xx, {steps} "
            f"acknowledged steps, {booked} callbacks booked")
