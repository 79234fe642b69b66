"""Disk full (a small tmpfs under the spool) with the database down: nothing can be stored,
so no caller is told something was stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.calls import BOOKED_WORDS, QUEUE_SID, gather_action, twiml
from tests.faults.rig import FaultyDatabase, ServerProcess, Twilio, fill

pytestmark = pytest.mark.faults


@pytest.fixture
def spool_dir(full_disk_spool: Path) -> Path:
    return full_disk_spool


def test_with_nowhere_to_store_no_callback_is_promised_and_no_status_acknowledged(
    server: ServerProcess, twilio: Twilio, faulty_db: FaultyDatabase, spool_dir: Path
) -> None:
    sid = "CA" + "4" * 32
    params = {"CallSid": sid, "AccountSid": "AC" + "5" * 32, "From": "+12025550142",
              "To": "+18005550100", "Direction": "inbound", "CallStatus": "in-progress"}
    # The caller reaches the queue and asks for a callback while all is well ...
    voice = twilio.post("/ivr/voice", {**params, "CallStatus": "ringing"})
    menu = twilio.post(gather_action(voice), {**params, "Digits": "1"})
    queued = twilio.post(gather_action(menu), {**params, "Digits": "1"})
    enqueue = twiml(queued).find("Enqueue")
    assert enqueue is not None, queued
    wait = twilio.post(enqueue.attrib["waitUrl"], {
        **params, "QueuePosition": "1", "QueueTime": "20", "QueueSid": QUEUE_SID})
    offer = twilio.post(gather_action(wait), {**params, "Digits": "1"})

    # ... then the disk fills and the database goes.
    fill(spool_dir)
    faulty_db.down()
    booking = twilio.post(gather_action(offer), {**params, "Digits": "1"})
    assert booking.status == 200, booking
    answer = twiml(booking)
    assert not [words for words in BOOKED_WORDS if words in booking.text], booking.text
    # Still a way on: words for the caller (hold on, or call back later).
    assert answer.find(".//Say") is not None, booking.text

    status = twilio.post("/ivr/status", {**params, "CallStatus": "completed",
                                         "CallDuration": "60"})
    # Not acknowledged: Twilio keeps the status callback and tries again.
    assert not 200 <= status.status < 300, status

    log = server.log()
    assert "No space left on device" in log, log[-3000:]
    assert [line for line in log.splitlines() if str(spool_dir) in line], (
        f"no log line names the spool {spool_dir}:\n{log[-3000:]}")

