"""A caller's phone for the IVR tests: signed webhooks, and every answer checked as TwiML."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline.config import Settings
from helpline.models import AgentStatus, Call, User
from tests.factories import make_user
from tests.ivr import twiml_rules

_sids = itertools.count(1)
# A database that never answers (nothing listens on port 1).
UNREACHABLE = "postgresql+psycopg://nobody@127.0.0.1:1/helpline?connect_timeout=1"


@dataclass
class Answer:
    status_code: int
    text: str
    root: ET.Element | None

    @property
    def says(self) -> str:
        return twiml_rules.says(self.root) if self.root is not None else ""

    def first(self, tag: str) -> ET.Element:
        assert self.root is not None
        found = self.root.find(f".//{tag}")
        assert found is not None, f"no <{tag}> in {self.text}"
        return found

    def has(self, tag: str) -> bool:
        return self.root is not None and self.root.find(f".//{tag}") is not None


class Phone:
    """One caller: posts the webhooks Twilio would post for their call, signed."""

    def __init__(self, twilio: Any, settings: Settings, from_number: str | None,
                 call_sid: str | None = None) -> None:
        self.twilio = twilio
        self.settings = settings
        self.from_number = from_number
        self.call_sid = call_sid or f"CA{next(_sids):032x}"

    def path(self, url: str) -> str:
        base = self.settings.public_base_url
        return url[len(base):] if url.startswith(base) else url

    def post(self, url: str, **params: str) -> Answer:
        path = self.path(url)
        data = {"CallSid": self.call_sid, "AccountSid": "AC" + "0" * 32,
                "To": self.settings.helpline_number, **params}
        if self.from_number is not None:
            data.setdefault("From", self.from_number)
        response = self.twilio.post(path, data)
        assert response.status_code < 500, response.text
        text = response.get_data(as_text=True)
        root = None
        if response.status_code == 200 and text.strip():
            bare = path.split("?")[0]
            if bare == "/ivr/sms":
                root = twiml_rules.check_sms(text)
            elif bare == "/ivr/queue/assignment":
                root = None
            elif bare == "/ivr/voicemail/transcription":
                root = ET.fromstring(text)
            else:
                root = twiml_rules.check_voice(text, wait_url=bare == "/ivr/queue/wait")
        return Answer(response.status_code, text, root)

    def call(self, path: str = "/ivr/voice") -> Answer:
        return self.post(path, CallStatus="ringing", Direction="inbound")

    def press(self, answer: Answer, keys: str) -> Answer:
        return self.post(answer.first("Gather").attrib["action"], Digits=keys)

    def speak(self, answer: Answer, words: str) -> Answer:
        return self.post(answer.first("Gather").attrib["action"], SpeechResult=words,
                         Confidence="0.9")

    def silence(self, answer: Answer) -> Answer:
        """Say nothing: Twilio moves on to the <Redirect> after the <Gather>."""
        return self.post(answer.first("Redirect").text or "")

    def wait(self, enqueue_answer: Answer, position: int = 1, held: int = 30,
             average: int = 0) -> Answer:
        enqueue = enqueue_answer.first("Enqueue")
        return self.post(enqueue.attrib["waitUrl"], QueuePosition=str(position),
                         QueueTime=str(held), AvgQueueTime=str(average),
                         CurrentQueueSize=str(position), QueueSid="QU" + "1" * 32)

    def queue_result(self, enqueue_answer: Answer, result: str, held: int = 60) -> Answer:
        return self.post(enqueue_answer.first("Enqueue").attrib["action"], QueueResult=result,
                         QueueTime=str(held))

    def hang_up(self, sequence: int = 3, duration: int = 60) -> Answer:
        return self.post("/ivr/status", CallStatus="completed", SequenceNumber=str(sequence),
                         CallDuration=str(duration))

    def record(self, session: Session) -> Call:
        session.expire_all()
        call = session.scalar(select(Call).where(Call.call_sid == self.call_sid))
        assert call is not None, "no call record"
        return call

    def english_menu(self) -> Answer:
        return self.press(self.call(), "1")

    def spanish_menu(self) -> Answer:
        return self.press(self.call(), "2")


@pytest.fixture
def phone(twilio: Any, settings: Settings):  # type: ignore[no-untyped-def]
    def make(from_number: str | None = "+15555550123", call_sid: str | None = None) -> Phone:
        return Phone(twilio, settings, from_number, call_sid)
    return make


@pytest.fixture
def counselor(session: Session) -> User:
    """A counselor signed in and available, for English and Spanish callers."""
    user = make_user(session, languages="en es", status=AgentStatus.AVAILABLE)
    session.commit()
    return user


@pytest.fixture
def english_counselor(session: Session) -> User:
    user = make_user(session, languages="en", status=AgentStatus.AVAILABLE)
    session.commit()
    return user
