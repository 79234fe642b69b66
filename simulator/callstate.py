"""The state of one simulated call, as plain data a browser can carry between requests."""

from __future__ import annotations

import dataclasses
import json
import secrets
from dataclasses import dataclass
from typing import Any

ACCOUNT_SID = "AC" + "5" * 32
WITHHELD = "+266696687"  # what Twilio sends as From for a blocked caller ID in North America


@dataclass
class Event:
    """One thing that happened on the line, for the log and the speaker.

    ``kind``: say, play, pause (the caller hears it), counselor (the counselor's leg hears it),
    note, request, queue, transfer, connected, ended, error.
    """

    kind: str
    text: str
    language: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "text": self.text, "language": self.language}


@dataclass
class CallState:
    call_sid: str
    from_number: str | None
    to_number: str
    base: str  # the helpline's address as Twilio reaches it (before /ivr/)
    started_at: float
    mode: str = "ringing"  # gather, record, hold, connected, transfer, ended
    doc: str = ""  # the TwiML being played, and where it came from
    doc_url: str = ""
    pc: int = 0  # the next verb of doc
    gather: dict[str, Any] | None = None
    record: dict[str, Any] | None = None
    queue: dict[str, Any] | None = None  # while enqueued: name, URLs, times, counters
    dial: dict[str, Any] | None = None
    answered_at: float | None = None

    @property
    def ended(self) -> bool:
        return self.mode == "ended"

    @property
    def in_queue(self) -> bool:
        return self.queue is not None and self.mode != "connected"

    @property
    def accepts(self) -> list[str]:
        """What the caller can usefully do now."""
        if self.mode == "gather":
            inputs = ["keys", "timeout", "hangup"]
            if "speech" in (self.gather or {}).get("input", ""):
                inputs.insert(1, "speech")
            return inputs + (["poll"] if self.in_queue else [])
        if self.mode == "record":
            return ["keys", "speech", "timeout", "hangup"]
        if self.mode == "hold":
            return ["timeout", "poll", "hangup"]
        if self.mode == "connected" and self.queue is not None:
            return ["hangup", "poll"]  # hold, transfer, a supervisor: asked of the helpline
        if self.mode in {"connected", "transfer"}:
            return ["hangup"]
        return []

    @property
    def timeout(self) -> int:
        """Seconds of silence before Twilio moves on (0 when nothing is waiting for input)."""
        if self.mode == "gather" and self.gather:
            return int(self.gather.get("timeout", 5))
        if self.mode == "record" and self.record:
            return int(self.record.get("timeout", 5))
        if self.mode == "hold":
            return 10
        return 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallState:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown call state fields: {sorted(unknown)}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))


def new_call_sid() -> str:
    return "CA" + secrets.token_hex(16)


def caller_id(value: str | None) -> str | None:
    """The From a caller presents: a number, or Twilio's marker for a withheld one."""
    if value is None:
        return None
    text = value.strip()
    if text.lower() in {"anonymous", "blocked", "withheld", "private", "restricted", "unknown"}:
        return WITHHELD
    return text
