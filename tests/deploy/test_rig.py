"""deploy/ as deployed: nginx before two web processes and two schedulers. One web process is
killed -9 in the middle of a burst of calls and the active scheduler in the middle of
delivering follow-ups; every caller is still answered, every acknowledged step is stored once,
every follow-up goes out exactly once, and a supervisor's live wallboard keeps updating."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
import requests
from sqlalchemy import func, select

from helpline.db import Database
from helpline.models import AuditEvent
from helpline.models.followups import FollowUp, FollowUpAttempt, FollowUpState
from tests.deploy.render import UPSTREAM_HEADER
from tests.deploy.rig import ACCOUNT_SID, Deployment, Proc, staff_session
from tests.factories import make_user
from tests.fakes.twilio_proxy import TwilioProxy
from tests.faults.calls import FALLBACK_WORDS, PlacedCall, burst, exactly_once, summary
from tests.faults.rig import free_port
from tests.fixtures.followups import due_checkins

pytestmark = [pytest.mark.faults, pytest.mark.postgres]

CALLERS = 8
# Webhooks answered before a web process is killed, and after (the burst then stops).
KILL_WEB_AFTER = 60
BURST_AFTER_KILL = 150
CHECKINS = 24
CHECKIN_PREFIX = "+1312555"  # Chicago numbers, texted from the helpline
# The active scheduler is killed while Twilio holds its answer to this check-in text: Twilio
# has the text, the scheduler never hears so.
HELD_TEXT = 8
# The shortest claim the settings allow: a dead run's claims are taken up after it.
CLAIM_SECONDS = 60


@dataclass
class Deployed:
    deployment: Deployment
    twilio_api: TwilioProxy
    checkins: list[int]
    phones: list[str]
    supervisor: str
    totp_secret: str
    # The scheduler killed while Twilio held its text (or why none could be).
    killed: list[Proc | Exception]


@pytest.fixture
def deployed(deploy_database: str, tmp_path: Path) -> Iterator[Deployed]:
    """The deployment started, with check-ins due and a supervisor who uses a second factor;
    its schedulers text through a fake api.twilio.com."""
    db = Database(deploy_database)
    secret = pyotp.random_base32()
    with db.sessions() as session:
        checkins = due_checkins(session, CHECKINS, prefix=CHECKIN_PREFIX)
        supervisor = make_user(session, "supervisor", totp_secret=secret, totp_enabled=True)
        username = supervisor.username
        session.commit()
    db.dispose()
    proxy_port = free_port()
    deployment = Deployment(tmp_path / "machine", deploy_database, env={
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "HTTPS_PROXY": f"http://127.0.0.1:{proxy_port}",
        "FOLLOWUP_CLAIM_SECONDS": str(CLAIM_SECONDS),
        # The check-ins go out whatever the hour where the test runs.
        "QUIET_HOURS_START": "0", "QUIET_HOURS_END": "0",
    })
    killed: list[Proc | Exception] = []

    def kill_the_sender() -> None:
        # At once: the sender gives up on Twilio after TWILIO_TIMEOUT_SECONDS.
        try:
            sender = deployment.active_scheduler(timeout=5)
            sender.kill()
            killed.append(sender)
        except Exception as exc:
            killed.append(exc)
        twilio_api.release()

    twilio_api = TwilioProxy(deployment.twilio_api_cert.cert, deployment.twilio_api_cert.key,
                             port=proxy_port, hold_text=HELD_TEXT, hold_prefix=CHECKIN_PREFIX,
                             on_hold=kill_the_sender)
    try:
        deployment.start()
        yield Deployed(deployment, twilio_api, checkins,
                       [f"{CHECKIN_PREFIX}{i:04d}" for i in range(CHECKINS)], username, secret,
                       killed)
    finally:
        twilio_api.release()
        deployment.stop()
        twilio_api.close()


class Wallboard:
    """A supervisor's browser on the live wallboard: an EventSource, reconnecting after the
    server's retry whenever its stream ends or breaks."""

    def __init__(self, browser: requests.Session, url: str) -> None:
        self.browser = browser
        self.url = url
        self.boards: list[tuple[float, str]] = []  # (when it arrived, the board's HTML)
        self.broken = 0
        self.upstream = ""  # the web process serving the current stream, as nginx says
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def run(self) -> None:
        retry = 1.0
        while not self.done.is_set():
            try:
                with self.browser.get(self.url + "/supervisor/wallboard/events", stream=True,
                                      timeout=(5, 30)) as stream:
                    stream.raise_for_status()
                    self.upstream = stream.headers.get(UPSTREAM_HEADER, "")
                    data: list[str] = []
                    for raw in stream.iter_lines():
                        line = raw.decode()
                        if self.done.is_set():
                            return
                        if line.startswith("retry: "):
                            retry = int(line.removeprefix("retry: ")) / 1000
                        elif line.startswith("data: "):
                            data.append(line.removeprefix("data: "))
                        elif not line and data:
                            self.boards.append((time.monotonic(), "\n".join(data)))
                            data = []
            except (requests.RequestException, OSError):
                self.broken += 1
            self.done.wait(retry)

    def since(self, moment: float) -> list[str]:
        return [board for at, board in self.boards if at > moment]

    def stop(self) -> None:
        self.done.set()
        self.thread.join(timeout=40)


def figures(board: str) -> tuple[int, int]:
    """Today's abandoned calls and callbacks, as the board shows them."""
    found = dict(re.findall(r'data-figure="(abandoned|callbacks)">(\d+)<', board))
    return int(found.get("abandoned", 0)), int(found.get("callbacks", 0))


def wait_for(condition: str, check: Callable[[], bool], timeout: float,
             explain: Callable[[], object] = lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, (
            f"{condition}: not within {timeout:.0f} s {explain()}")
        time.sleep(0.2)


def followups_settled(database_url: str, ids: list[int]) -> dict[str, int]:
    """The check-ins by state."""
    db = Database(database_url)
    try:
        with db.sessions() as session:
            return {str(state): n for state, n in session.execute(
                select(FollowUp.state, func.count()).where(FollowUp.id.in_(ids))
                .group_by(FollowUp.state))}
    finally:
        db.dispose()


def attempts_by_result(database_url: str, ids: list[int]) -> dict[int, list[str]]:
    db = Database(database_url)
    try:
        with db.sessions() as session:
            found: dict[int, list[str]] = {i: [] for i in ids}
            for followup_id, result in session.execute(
                    select(FollowUpAttempt.followup_id, FollowUpAttempt.result)
                    .where(FollowUpAttempt.followup_id.in_(ids))):
                found[followup_id].append(result)
            return found
    finally:
        db.dispose()


def audited(database_url: str, action: str) -> int:
    db = Database(database_url)
    try:
        with db.sessions() as session:
            return session.scalar(select(func.count()).where(AuditEvent.action == action)) or 0
    finally:
        db.dispose()


def test_a_killed_web_process_and_a_killed_scheduler_lose_no_caller_and_no_followup(
    deployed: Deployed, deploy_database: str
) -> None:
    deployment = deployed.deployment
    board = Wallboard(staff_session(deployment, deployed.supervisor, deployed.totp_secret),
                      deployment.url)
    board.start()
    wait_for("the wallboard's first update", lambda: bool(board.boards), 60)
    twilio = deployment.twilio()
    stop = threading.Event()
    placed: list[PlacedCall] = []
    callers = threading.Thread(target=lambda: placed.extend(burst(twilio, CALLERS, stop=stop)),
                               daemon=True)
    callers.start()

    # The web process streaming the wallboard dies in the middle of the burst: nginx sends
    # the webhooks it was answering to the other, and the browser reconnects to the other.
    wait_for("webhooks answered before the kill", lambda: twilio.answered >= KILL_WEB_AFTER, 120)
    victim = deployment.web_at(board.upstream)
    board_at_kill = figures(board.boards[-1][1])
    victim.kill()
    web_killed_at, answered_at_kill = time.monotonic(), twilio.answered

    # The active scheduler dies while Twilio holds its answer to a check-in text.
    assert deployed.twilio_api.holding.wait(timeout=120), (
        "no scheduler texted a check-in within 120 s")
    wait_for("the sender killed", lambda: bool(deployed.killed), 30)
    active = deployed.killed[0]
    assert isinstance(active, Proc), f"could not kill the sender: {active!r}"
    standby = next(p for p in deployment.schedulers if p is not active)

    wait_for("webhooks answered after the kill",
             lambda: twilio.answered >= answered_at_kill + BURST_AFTER_KILL, 180)
    stop.set()
    callers.join(timeout=120)
    assert not callers.is_alive(), "the callers did not stop"
    # Started again (as systemd's Restart= would), it is back in nginx's rotation.
    victim.start()
    wait_for("nginx passing requests to the restarted process",
             lambda: deployment.web_at(deployment.answered_by("/healthz")) is victim, 30)

    # The standby takes over; once the dead run's claims expire it settles them.
    wait_for("every check-in delivered",
             lambda: followups_settled(deploy_database, deployed.checkins)
             == {FollowUpState.DONE.value: CHECKINS}, CLAIM_SECONDS + 90,
             lambda: followups_settled(deploy_database, deployed.checkins))
    board.stop()

    # Every caller was answered by the helpline itself (no error, no fallback), and every
    # step a caller was answered for is stored once.
    unanswered = [f"{call.sid} {a.path}: {a.status} {a.text[:120]!r}" for call in placed
                  for a in call.answers if not a.ok or FALLBACK_WORDS in a.text]
    assert not unanswered, f"{summary(placed)}; unanswered:\n" + "\n".join(unanswered[:20])
    problems = exactly_once(deploy_database, placed)
    assert not problems, f"{summary(placed)}; {len(problems)} problems:\n" + "\n".join(
        problems[:40])
    assert deployment.retried(), "nginx never passed a webhook on to the other web process"

    # Every check-in went out exactly once, and is recorded once as sent: the dead run's
    # claims were taken up, and Twilio was asked about the text it had taken, not sent it again.
    assert audited(deploy_database, "followup.claim_retaken") > 0
    assert audited(deploy_database, "followup.claim_settled") == 1
    texts = deployed.twilio_api.texts_to()
    assert {phone: texts[phone] for phone in deployed.phones} == dict.fromkeys(
        deployed.phones, 1)
    attempts = attempts_by_result(deploy_database, deployed.checkins)
    assert all(results == ["sent"] for results in attempts.values()), attempts
    assert re.search(rf":{standby.pid}:\w+ is now the active one", standby.log()), (
        standby.log()[-2000:])

    # The wallboard went on updating after its web process died, with the calls since.
    after = board.since(web_killed_at)
    assert board.broken, "the wallboard's stream outlived the web process serving it"
    assert after, f"no wallboard update after the kill ({board.broken} broken streams)"
    assert max(figures(b) for b in after) > board_at_kill, (
        f"the wallboard stood still at {board_at_kill} (abandoned, callbacks)")
