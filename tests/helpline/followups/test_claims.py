"""A delivery run that dies leaves no follow-up stuck: its claims expire, the next run takes
them up, and each follow-up still goes out exactly once (helpline.followups.claims)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from twilio.http.response import Response

from helpline import audit
from helpline.config import ConfigError, Settings, load_settings
from helpline.followups import claims
from helpline.followups.delivery import DeliveryReport, checkin_text, deliver_due_followups
from helpline.models import AuditEvent, OutboxMessage
from helpline.models.followups import FollowUp, FollowUpAttempt, FollowUpState
from helpline.models.users import AgentStatus
from helpline.telephony import OutboxTelephony, TwilioTelephony
from tests.factories import make_user
from tests.fakes.twilio_api import FakeTwilioApi
from tests.fixtures.followups import CALLER, NOW, due_checkins, race

SECOND = dt.timedelta(seconds=1)


class Killed(BaseException):
    """The process died here: nothing after it runs, nothing uncommitted stays."""


class DyingOutbox(OutboxTelephony):
    """The outbox, in a process that dies at its ``dies_at``-th text."""

    def __init__(self, settings: Settings, dies_at: int) -> None:
        super().__init__(settings)
        self.left = dies_at

    def send_sms(self, *args: Any, **kwargs: Any) -> OutboxMessage:
        self.left -= 1
        if self.left == 0:
            raise Killed
        return super().send_sms(*args, **kwargs)


class DyingTwilioApi(FakeTwilioApi):
    """Twilio, talking to a process that dies just before or just after its first request
    that creates a text or a call (``when``: "before" or "after")."""

    def __init__(self, when: str) -> None:
        super().__init__()
        self.when = when

    def request(self, method: str, uri: str, *args: Any, **kwargs: Any) -> Response:
        if method == "POST" and self.when == "before":
            raise Killed
        answer = super().request(method, uri, *args, **kwargs)
        if method == "POST" and self.when == "after":
            raise Killed
        return answer


def _expired(settings: Settings) -> dt.datetime:
    return NOW + dt.timedelta(seconds=settings.followup_claim_seconds) + SECOND


def _die(run: Any) -> None:
    with pytest.raises(Killed):
        run()


def _sends_per_followup(session: Session) -> dict[int, int]:
    session.expire_all()
    return dict(session.execute(
        select(FollowUpAttempt.followup_id, func.count(OutboxMessage.id))
        .join(OutboxMessage, OutboxMessage.id == FollowUpAttempt.outbox_id)
        .group_by(FollowUpAttempt.followup_id)).all())


def _states(session: Session) -> dict[str, int]:
    session.expire_all()
    return dict(session.execute(
        select(FollowUp.state, func.count(FollowUp.id)).group_by(FollowUp.state)).all())


def _actions(session: Session, action: str) -> list[str]:
    return list(session.scalars(select(AuditEvent.record_id)
                                .where(AuditEvent.action == action)))


def _assert_each_sent_once(session: Session, ids: list[int]) -> None:
    assert _sends_per_followup(session) == dict.fromkeys(ids, 1)
    assert session.scalar(select(func.count(OutboxMessage.id))) == len(ids)
    assert _states(session) == {FollowUpState.DONE: len(ids)}


# --- with the outbox --------------------------------------------------------------------------


def test_expired_claims_a_dead_run_never_sent_are_delivered_once(session, db, settings):
    ids = due_checkins(session, 30, "+1555558")
    # The first chunk of 20 is committed; the run dies on the 25th text.
    _die(lambda: deliver_due_followups(db, DyingOutbox(settings, 25), settings, now=NOW))
    assert len(_sends_per_followup(session)) == 20
    assert _states(session) == {FollowUpState.DONE: 20, FollowUpState.SENDING: 10}

    report = deliver_due_followups(db, OutboxTelephony(settings), settings,
                                   now=_expired(settings))
    assert report.retaken == 10 and len(report.delivered) == 10
    _assert_each_sent_once(session, ids)
    # The dead run's claim was an attempt that never happened: each counts one.
    assert set(session.scalars(select(FollowUp.attempts))) == {1}
    assert len(_actions(session, "followup.claim_retaken")) == 10
    assert audit.verify_chain(session) is None


def test_claims_not_yet_expired_are_left_to_the_run_that_holds_them(session, db, settings):
    due_checkins(session, 5, "+1555558")
    _die(lambda: deliver_due_followups(db, DyingOutbox(settings, 1), settings, now=NOW))
    just_before = NOW + dt.timedelta(seconds=settings.followup_claim_seconds)
    report = deliver_due_followups(db, OutboxTelephony(settings), settings, now=just_before)
    assert report == DeliveryReport()
    assert _states(session) == {FollowUpState.SENDING: 5}
    assert session.scalar(select(func.count(OutboxMessage.id))) == 0


def test_a_run_that_outlived_its_claim_sends_nothing_the_next_run_took_over(
        session, db, settings):
    """The claim is the run's token: once another run re-took it, the slow one stands down."""
    ids = due_checkins(session, 3, "+1555558")
    _die(lambda: deliver_due_followups(db, DyingOutbox(settings, 1), settings, now=NOW))
    deliver_due_followups(db, OutboxTelephony(settings), settings, now=_expired(settings))
    with Session(db.engine) as other:
        assert claims.hold(other, ids, NOW) == set()
    _assert_each_sent_once(session, ids)


@pytest.mark.parametrize("runs", [2, 4])
def test_runs_racing_over_expired_claims_deliver_each_once(session, db, settings, runs):
    ids = due_checkins(session, 120, "+1555558")
    _die(lambda: deliver_due_followups(db, DyingOutbox(settings, 1), settings, now=NOW,
                                       batch_size=200))
    assert _states(session) == {FollowUpState.SENDING: 120}
    reports = race(settings, runs, lambda own: deliver_due_followups(
        own, OutboxTelephony(settings), settings, now=_expired(settings), batch_size=10))
    assert sum(r.retaken for r in reports) == 120
    assert sorted(i for r in reports for i in r.delivered) == ids
    _assert_each_sent_once(session, ids)
    assert sorted(_actions(session, "followup.claim_retaken")) == sorted(map(str, ids))
    assert audit.verify_chain(session) is None


def test_an_intent_nobody_can_ask_about_is_left_for_a_supervisor_and_audited_once(
        session, db, settings, make_followup):
    fu = make_followup(due=NOW)
    twilio = TwilioTelephony(settings.with_overrides(twilio_account_sid="AC" + "0" * 32),
                             DyingTwilioApi("after"))
    _die(lambda: deliver_due_followups(db, twilio, settings, now=NOW))
    # This run has only the outbox: it cannot ask Twilio whether the text went out.
    for later in (1, 2):
        report = deliver_due_followups(db, OutboxTelephony(settings), settings,
                                       now=_expired(settings) + later * SECOND)
        assert report.delivered == [] and report.retaken == 0
    session.refresh(fu)
    assert fu.state == FollowUpState.SENDING and fu.claimed_at == NOW
    assert [a.result for a in fu.attempt_log] == [claims.UNRESOLVED]
    assert _actions(session, "followup.claim_unresolved") == [str(fu.id)]
    assert session.scalar(select(func.count(OutboxMessage.id))) == 0


# --- with Twilio ----------------------------------------------------------------------------


@pytest.fixture
def twilio_settings(settings: Settings) -> Settings:
    return settings.with_overrides(twilio_account_sid="AC" + "0" * 32, telephony="twilio")


def _posts(api: FakeTwilioApi, resource: str) -> int:
    return sum(1 for r in api.requests if r.method == "POST" and r.uri.endswith(resource))


def _taken_up_and_sent_once(session: Session, db: Any, settings: Settings,
                            api: DyingTwilioApi, fu: FollowUp) -> None:
    """Once the claim has expired, the next run delivers the follow-up: one text, recorded."""
    api.when = "never"
    report = deliver_due_followups(db, TwilioTelephony(settings, api), settings,
                                   now=_expired(settings))
    assert report.delivered == [fu.id]
    assert _posts(api, "/Messages.json") == 1
    session.refresh(fu)
    [attempt] = fu.attempt_log
    assert attempt.result == "sent" and attempt.provider_sid == api.created[0]["sid"]


def test_with_twilio_a_text_the_dead_run_sent_is_recorded_and_not_sent_again(
        session, db, twilio_settings, make_followup):
    fu = make_followup(due=NOW)
    api = DyingTwilioApi("after")
    api.clock = NOW + SECOND
    # Twilio took the text; the run died before it could record the answer.
    _die(lambda: deliver_due_followups(db, TwilioTelephony(twilio_settings, api),
                                       twilio_settings, now=NOW))
    session.refresh(fu)
    assert fu.state == FollowUpState.SENDING
    assert [a.result for a in fu.attempt_log] == [claims.INTENT]

    api.when = "never"
    report = deliver_due_followups(db, TwilioTelephony(twilio_settings, api), twilio_settings,
                                   now=_expired(twilio_settings))
    assert report.retaken == 1 and report.delivered == [fu.id]
    assert _posts(api, "/Messages.json") == 1
    [sent] = api.created
    session.refresh(fu)
    assert fu.state == FollowUpState.DONE and fu.attempts == 1
    [attempt] = fu.attempt_log
    assert attempt.result == "sent" and attempt.provider_sid == sent["sid"]
    [msg] = session.scalars(select(OutboxMessage)).all()
    assert msg.id == attempt.outbox_id and msg.to_number == CALLER
    assert msg.provider_sid == sent["sid"] and msg.body == sent["body"]
    assert deliver_due_followups(db, TwilioTelephony(twilio_settings, api), twilio_settings,
                                 now=_expired(twilio_settings) + dt.timedelta(hours=1)
                                 ).delivered == []
    assert _posts(api, "/Messages.json") == 1
    assert audit.verify_chain(session) is None


def test_with_twilio_a_text_whose_answer_timed_out_is_recorded_once_not_retried(
        session, db, twilio_settings, make_followup):
    from requests.exceptions import ReadTimeout

    fu = make_followup(due=NOW)

    class SlowTwilio(DyingTwilioApi):
        def request(self, method: str, uri: str, *args: Any, **kwargs: Any) -> Response:
            answer = super().request(method, uri, *args, **kwargs)
            if method == "POST" and self.when == "slow":
                raise ReadTimeout("Twilio took the text; its answer came after the timeout")
            return answer

    api = SlowTwilio("slow")
    api.clock = NOW + SECOND
    report = deliver_due_followups(db, TwilioTelephony(twilio_settings, api), twilio_settings,
                                   now=NOW)
    # Neither sent nor failed: the claim is kept, not a retry that might text twice.
    assert report.delivered == [] and report.failed == 1
    session.refresh(fu)
    assert fu.state == FollowUpState.SENDING
    assert [a.result for a in fu.attempt_log] == [claims.INTENT]

    _taken_up_and_sent_once(session, db, twilio_settings, api, fu)
    assert _actions(session, "followup.deliver_error") == [str(fu.id)]


def test_with_twilio_a_text_the_dead_run_never_sent_is_sent_once(
        session, db, twilio_settings, make_followup):
    fu = make_followup(due=NOW)
    api = DyingTwilioApi("before")
    _die(lambda: deliver_due_followups(db, TwilioTelephony(twilio_settings, api),
                                       twilio_settings, now=NOW))
    _taken_up_and_sent_once(session, db, twilio_settings, api, fu)
    assert fu.attempts == 1


def test_with_twilio_an_older_identical_text_is_not_taken_for_the_dead_runs(
        session, db, twilio_settings, make_followup):
    """Only what Twilio created since the intent counts: an earlier text with the same words
    to the same number (another follow-up's, days ago) is not this one."""
    fu = make_followup(due=NOW)
    api = DyingTwilioApi("never")
    api.clock = NOW - dt.timedelta(days=3)
    TwilioTelephony(twilio_settings, api).client.messages.create(
        to=CALLER, from_=twilio_settings.helpline_number, body=checkin_text(twilio_settings))
    api.when = "before"
    _die(lambda: deliver_due_followups(db, TwilioTelephony(twilio_settings, api),
                                       twilio_settings, now=NOW))
    api.when, api.clock = "never", None
    deliver_due_followups(db, TwilioTelephony(twilio_settings, api), twilio_settings,
                          now=_expired(twilio_settings))
    assert _posts(api, "/Messages.json") == 2
    session.refresh(fu)
    assert fu.attempt_log[0].provider_sid == api.created[1]["sid"]


def test_with_twilio_unreachable_the_intent_is_left_for_a_supervisor(
        session, db, twilio_settings, make_followup):
    fu = make_followup(due=NOW)
    api = DyingTwilioApi("after")
    _die(lambda: deliver_due_followups(db, TwilioTelephony(twilio_settings, api),
                                       twilio_settings, now=NOW))
    api.when = "never"
    api.fail_next = (503, 20503, "Service unavailable")
    report = deliver_due_followups(db, TwilioTelephony(twilio_settings, api), twilio_settings,
                                   now=_expired(twilio_settings))
    assert report.unresolved == 1 and report.delivered == []
    assert _posts(api, "/Messages.json") == 1
    session.refresh(fu)
    assert fu.state == FollowUpState.SENDING
    assert [a.result for a in fu.attempt_log] == [claims.UNRESOLVED]
    assert _actions(session, "followup.claim_unresolved") == [str(fu.id)]
    # Not asked again, never re-sent: a supervisor decides.
    later = _expired(twilio_settings) + dt.timedelta(hours=1)
    assert deliver_due_followups(db, TwilioTelephony(twilio_settings, api), twilio_settings,
                                 now=later).retaken == 0
    assert _posts(api, "/Messages.json") == 1


def test_with_twilio_a_callback_the_dead_run_placed_is_recorded_and_not_placed_again(
        session, db, twilio_settings, make_followup):
    counselor = make_user(session, "counselor", username="ana", phone="+15555550160",
                          status=AgentStatus.AVAILABLE, languages="en")
    session.commit()
    fu = make_followup("bridged_callback", due=NOW)
    api = DyingTwilioApi("after")
    api.clock = NOW + SECOND
    _die(lambda: deliver_due_followups(db, TwilioTelephony(twilio_settings, api),
                                       twilio_settings, now=NOW))
    api.when = "never"
    report = deliver_due_followups(db, TwilioTelephony(twilio_settings, api), twilio_settings,
                                   now=_expired(twilio_settings))
    assert report.delivered == [fu.id]
    assert _posts(api, "/Calls.json") == 1
    session.refresh(fu)
    assert fu.state == FollowUpState.AWAITING_RESULT and fu.bridged_to_id == counselor.id
    [attempt] = fu.attempt_log
    assert attempt.result == "pending" and attempt.provider_sid == api.created[0]["sid"]


# --- a real process killed mid-delivery -----------------------------------------------------

_SLOW_SCHEDULER = textwrap.dedent("""
    import datetime as dt, pathlib, sys, time
    from helpline import crypto
    from helpline.config import settings_for_tests
    from helpline.db import Database
    from helpline.followups.delivery import deliver_due_followups
    from helpline.telephony import OutboxTelephony

    tmp, url, marker, now, hang_at = sys.argv[1:]
    settings = settings_for_tests(pathlib.Path(tmp), database_url=url)
    crypto.install(crypto.Keyring(settings.data_keys, settings.hash_key))

    class SlowOutbox(OutboxTelephony):
        sent = 0

        def send_sms(self, *args, **kwargs):
            SlowOutbox.sent += 1
            if SlowOutbox.sent == int(hang_at):
                pathlib.Path(marker).touch()
                time.sleep(3600)  # killed here, halfway through a chunk of texts
            time.sleep(0.002)
            return super().send_sms(*args, **kwargs)

    deliver_due_followups(Database(url), SlowOutbox(settings), settings,
                          now=dt.datetime.fromisoformat(now))
""")


def test_a_scheduler_killed_mid_delivery_leaves_nothing_stuck_and_sends_each_once(
        session, db, settings, tmp_path: Path):
    ids = due_checkins(session, 200, "+1555558")
    marker = tmp_path / "hanging"
    child = subprocess.Popen(
        [sys.executable, "-c", _SLOW_SCHEDULER, str(tmp_path), settings.database_url,
         str(marker), NOW.isoformat(), "50"],
        cwd=Path(__file__).resolve().parents[3], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, child.communicate()[0]
            assert time.monotonic() < deadline, "the scheduler never reached its 50th text"
            time.sleep(0.05)
        # Two chunks of 20 committed; the first batch of 100 claimed; the rest still due.
        assert _states(session) == {FollowUpState.DONE: 40, FollowUpState.SENDING: 60,
                                    FollowUpState.SCHEDULED: 100}
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=60)

    outbox = OutboxTelephony(settings)
    # Another scheduler, before the dead one's claims expire: it delivers what was still due
    # and leaves the claims alone.
    report = deliver_due_followups(db, outbox, settings, now=NOW + 10 * SECOND)
    assert len(report.delivered) == 100 and report.retaken == 0
    assert _states(session) == {FollowUpState.DONE: 140, FollowUpState.SENDING: 60}
    report = deliver_due_followups(db, outbox, settings, now=_expired(settings))
    assert report.retaken == 60 and len(report.delivered) == 60
    _assert_each_sent_once(session, ids)
    assert audit.verify_chain(session) is None


# --- the setting ----------------------------------------------------------------------------


def test_the_claim_lasts_five_minutes_unless_set_between_one_and_nine(tmp_path: Path):
    base = {"HELPLINE_INSTANCE_DIR": str(tmp_path)}
    assert load_settings(base, env_file=None).followup_claim_seconds == 300
    assert load_settings({**base, "FOLLOWUP_CLAIM_SECONDS": "120"},
                         env_file=None).followup_claim_seconds == 120
    for bad in ("30", "600", "soon"):
        with pytest.raises(ConfigError, match=r"^FOLLOWUP_CLAIM_SECONDS: "):
            load_settings({**base, "FOLLOWUP_CLAIM_SECONDS": bad}, env_file=None)
