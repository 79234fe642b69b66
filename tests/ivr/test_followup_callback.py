"""A bridged follow-up callback, both legs: the scheduler rings the counselor, who presses 1;
the helpline then dials the caller with its own number as caller ID and records the result."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from helpline.followups import lifecycle
from helpline.followups.delivery import deliver_due_followups
from helpline.models import FollowUp, OutboxMessage
from helpline.models.followups import FollowUpState
from tests.fixtures.twilio import Phone

CALLER = "+15555550123"
SUD_WORDS = re.compile(r"addict|substance|drug|alcohol|opioid|detox|overdose|rehab|recovery",
                       re.IGNORECASE)


def _ring_counselor(phone, session, app, settings) -> tuple[Phone, FollowUp, OutboxMessage]:  # type: ignore[no-untyped-def]
    """A caller in the queue asks for a callback; the scheduler rings the counselor."""
    caller = phone(CALLER)
    queued = caller.press(caller.english_menu(), "1")
    caller.press(caller.press(caller.wait(queued), "1"), "1")
    caller.queue_result(queued, "leave")
    followup = session.scalar(select(FollowUp).where(FollowUp.call_id == caller.record(
        session).id))
    rt = app.extensions["helpline"]
    # The IVR booked it on the real clock: deliver when the caller's quiet hours allow, as the
    # scheduler would, so that the test does not depend on the hour it runs at.
    when = lifecycle.earliest_allowed(followup, followup.due_at + dt.timedelta(seconds=5),
                                      settings)
    report = deliver_due_followups(rt.db, rt.telephony, settings, now=when)
    assert report.delivered == [followup.id]
    session.expire_all()
    ring = session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "call"))
    # The counselor's leg: their phone (here the browser phone) from the helpline's number.
    counselor_leg = phone(settings.helpline_number)
    return counselor_leg, followup, ring


def test_counselor_leg_asks_for_a_key_then_dials_the_caller_from_the_helpline_number(
        phone, available_counselor, session, app, settings):
    counselor_leg, followup, ring = _ring_counselor(phone, session, app, settings)
    assert ring.to_number == f"client:{available_counselor.client_identity}"
    assert ring.from_number == settings.helpline_number
    assert CALLER[-7:] not in ring.twiml_url

    answer = counselor_leg.post(ring.twiml_url)
    gather = answer.first("Gather")
    assert "Press 1 to connect" in answer.says
    assert answer.first("Redirect").text == gather.attrib["action"]

    bridge = counselor_leg.press(answer, "1")
    dial = bridge.first("Dial")
    assert dial.attrib["callerId"] == settings.helpline_number
    number = bridge.first("Number")
    assert number.text == CALLER
    for url in (dial.attrib["action"], number.attrib["url"], gather.attrib["action"]):
        assert CALLER[-7:] not in url and url.startswith(settings.public_base_url)

    # The caller's leg: a neutral greeting before the bridge.
    caller_leg = phone(settings.helpline_number).post(number.attrib["url"])
    assert "call back you asked for" in caller_leg.says
    assert not SUD_WORDS.search(caller_leg.says)

    ended = counselor_leg.post(dial.attrib["action"], DialCallStatus="completed")
    assert "record the outcome" in ended.says and ended.has("Hangup")
    session.refresh(followup)
    assert followup.state == FollowUpState.DONE
    assert [a.result for a in followup.attempt_log] == ["reached"]


def test_a_caller_who_does_not_answer_is_tried_again_later(phone, available_counselor, session, app,
                                                          settings):
    counselor_leg, followup, ring = _ring_counselor(phone, session, app, settings)
    bridge = counselor_leg.press(counselor_leg.post(ring.twiml_url), "1")
    counselor_leg.post(bridge.first("Dial").attrib["action"], DialCallStatus="no-answer")
    session.refresh(followup)
    assert followup.state == FollowUpState.RETRY
    assert [a.result for a in followup.attempt_log] == ["no_answer"]
    # Twilio retries the webhook: the result is recorded once.
    counselor_leg.post(bridge.first("Dial").attrib["action"], DialCallStatus="no-answer")
    session.refresh(followup)
    assert len(followup.attempt_log) == 1


def test_a_counselor_who_presses_nothing_hands_the_callback_back(phone, available_counselor,
                                                                 session,
                                                                  app, settings):
    counselor_leg, followup, ring = _ring_counselor(phone, session, app, settings)
    answer = counselor_leg.post(ring.twiml_url)
    silent = counselor_leg.silence(answer)
    assert "offered again" in silent.says and not silent.has("Dial")
    session.refresh(followup)
    assert followup.state == FollowUpState.RETRY and followup.bridged_to_id is None
    assert followup.attempts == 0  # the caller was never dialled: not their attempt


def test_a_counselor_who_misses_the_ring_passes_it_to_the_next_one(phone, available_counselor,
                                                                   session,
                                                                    app, settings):
    counselor_leg, followup, _ring = _ring_counselor(phone, session, app, settings)
    counselor_leg.post(f"/ivr/followups/{followup.id}/status", CallStatus="no-answer")
    session.refresh(followup)
    assert followup.state == FollowUpState.RETRY and followup.bridged_to_id is None


def test_withdrawn_consent_stops_the_bridge_before_the_caller_is_dialled(
        phone, available_counselor, session, app, settings):
    counselor_leg, followup, ring = _ring_counselor(phone, session, app, settings)
    answer = counselor_leg.post(ring.twiml_url)
    lifecycle.withdraw_consent(session, followup.consent, by=None, how="caller asked")
    session.commit()
    bridge = counselor_leg.press(answer, "1")
    assert not bridge.has("Dial") and "no longer waiting" in bridge.says


def test_the_callback_steps_refuse_unsigned_requests(phone, available_counselor, session, app,
                                                     settings,
                                                     twilio):
    _leg, followup, ring = _ring_counselor(phone, session, app, settings)
    path = ring.twiml_url[len(settings.public_base_url):]
    assert twilio.post(path, {"CallSid": "CA" + "9" * 32}, forge=True).status_code == 403
    assert twilio.post(f"/ivr/followups/{followup.id}/connect", {"Digits": "1"},
                       forge=True).status_code == 403


@pytest.mark.parametrize(("language", "words", "voice"), [
    ("en", "Press 1 to connect", "Polly.Joanna"), ("es", "Pulse 1 para conectar", "Polly.Mia")])
def test_both_legs_hear_the_callers_language_in_a_voice_that_speaks_it(
        phone, available_counselor, session, app, settings, language, words, voice):
    counselor_leg, followup, ring = _ring_counselor(phone, session, app, settings)
    followup.language = language
    session.commit()
    answer = counselor_leg.post(ring.twiml_url)
    assert words in answer.says
    # The flow's voice for the language (es-MX, Polly.Mia as shipped): Twilio's default voice
    # reads Spanish with English sounds. The TwiML rules refuse a Spanish <Say> with no voice.
    said = answer.first("Say").attrib
    assert (said["language"], said["voice"]) == (
        {"en": "en-US", "es": "es-MX"}[language], voice)
    bridge = counselor_leg.press(answer, "1")
    caller_leg = phone(settings.helpline_number).post(bridge.first("Number").attrib["url"])
    assert caller_leg.first("Say").attrib["voice"] == voice
