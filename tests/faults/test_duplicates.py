"""The same webhook delivered twice (Twilio's retries, a load balancer's): its steps are
recorded once, whether the deliveries come one after the other or together, with Twilio's
idempotency token or without it."""

from __future__ import annotations

import threading
import uuid

import pytest

from tests.faults.calls import PlacedCall, exactly_once, gather_action, recorded
from tests.faults.rig import Answer, FaultyDatabase, ServerProcess, Twilio

pytestmark = pytest.mark.faults

TOGETHER = 4


@pytest.mark.parametrize("with_token", [True, False], ids=["token", "hash"])
def test_a_webhook_delivered_twice_records_its_steps_once(
    server: ServerProcess, twilio: Twilio, faulty_db: FaultyDatabase, with_token: bool
) -> None:
    call = PlacedCall("CA" + uuid.uuid4().hex, "+12025550143")
    params = {"CallSid": call.sid, "AccountSid": "AC" + "5" * 32, "From": call.number,
              "To": "+18005550100", "Direction": "inbound", "CallStatus": "in-progress"}

    def token() -> str | None:
        return str(uuid.uuid4()) if with_token else None

    voice = _once(twilio, call, "/ivr/voice", {**params, "CallStatus": "ringing"}, token())
    # One after the other: the language choice and the end of the call.
    language = _sequential(twilio, call, gather_action(voice), {**params, "Digits": "1"}, token())
    # Together: the menu choice that queues the caller.
    _together(twilio, call, gather_action(language), {**params, "Digits": "1"}, token())
    _sequential(twilio, call, "/ivr/status", {**params, "CallStatus": "completed",
                                              "CallDuration": "30"}, token())
    call.acked |= {"call_started", "language", "menu", "queue", "ended"}

    twice = recorded(faulty_db.check_url, [call]).twice()
    assert not twice, "\n".join(twice)
    server.wait_spool_empty(timeout=60)
    problems = exactly_once(faulty_db.check_url, [call])
    assert not problems, "\n".join(problems)


def _once(twilio: Twilio, call: PlacedCall, url: str, params: dict[str, str],
          token: str | None) -> Answer:
    answer = twilio.post(url, params, token=token)
    call.answers.append(answer)
    assert answer.status == 200, answer
    return answer


def _sequential(twilio: Twilio, call: PlacedCall, url: str, params: dict[str, str],
                token: str | None) -> Answer:
    first = twilio.post(url, params, token=token)
    again = twilio.post(url, params, token=token)
    call.answers += [first, again]
    assert first.ok and again.ok, (first, again)
    return first


def _together(twilio: Twilio, call: PlacedCall, url: str, params: dict[str, str],
              token: str | None) -> None:
    answers: list[Answer] = []
    start = threading.Barrier(TOGETHER)

    def deliver() -> None:
        start.wait(timeout=30)
        answers.append(twilio.post(url, params, token=token))

    threads = [threading.Thread(target=deliver) for _ in range(TOGETHER)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    call.answers += answers
    # A delivery that is still being answered may be refused (Twilio retries it); one is
    # answered with the queue.
    assert any(a.status == 200 and "<Enqueue" in a.text for a in answers), answers

