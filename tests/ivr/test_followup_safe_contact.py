"""A bridged callback's caller leg obeys the caller's safe-contact preferences: no voicemail
means answering-machine detection and a hang-up before a word is said; someone else answering
is screened out; the greeting names the helpline only as the caller allowed; the call is
logged as a disclosure resting on the follow-up's consent."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from helpline import crypto
from helpline.followups import lifecycle, safe_contact
from helpline.followups.delivery import deliver_due_followups
from helpline.models import Disclosure, OutboxMessage
from helpline.models.followups import FollowUpState
from tests.ivr.test_followup_callback import CALLER, SUD_WORDS

# 11 am in New York: outside quiet hours whatever the real clock says.
NOW = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)
# The webhooks run on the real clock: the consent must outlast it.
CONSENT_UNTIL = dt.datetime(2036, 1, 1, tzinfo=dt.UTC)


def _ring_counselor(phone, session, app, settings, counselor):  # type: ignore[no-untyped-def]
    """A bridged callback falls due and the scheduler rings the counselor (a fixed clock)."""
    followup = lifecycle.request_followup(
        session, phone=CALLER, channel="call", kind="bridged_callback", requested_by=counselor,
        consent_wording="May we call you back at this number? - Yes.", zip_code="10001",
        settings=settings, now=NOW - dt.timedelta(hours=1), consent_until=CONSENT_UNTIL)
    lifecycle.schedule(session, followup, at=NOW, by=counselor, settings=settings,
                       now=NOW - dt.timedelta(minutes=30))
    session.commit()
    rt = app.extensions["helpline"]
    assert deliver_due_followups(rt.db, rt.telephony, settings, now=NOW).delivered == [
        followup.id]
    session.expire_all()
    ring = session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "call"))
    return phone(settings.helpline_number), followup, ring


def _prefs(session, settings, counselor, **kw):  # type: ignore[no-untyped-def]
    values = dict(voicemail_ok=False, name_choice="alias", allow_calls=True, allow_texts=True,
                  safe_hours=None, someone_else_risk=False)
    values.update(kw)
    safe_contact.set_preferences(session, crypto.caller_hash(CALLER), counselor, settings,
                                 **values)
    session.commit()


def _bridge(phone, counselor, session, app, settings):  # type: ignore[no-untyped-def]
    counselor_leg, followup, ring = _ring_counselor(phone, session, app, settings, counselor)
    bridge = counselor_leg.press(counselor_leg.post(ring.twiml_url), "1")
    return counselor_leg, followup, bridge


def test_a_no_voicemail_callback_that_reaches_voicemail_hangs_up_without_a_message(
        phone, available_counselor, session, app, settings):
    counselor_leg, followup, bridge = _bridge(phone, available_counselor, session, app, settings)
    number = bridge.first("Number")
    assert number.attrib["machineDetection"] == "Enable"  # no preference recorded: no voicemail

    machine = phone(settings.helpline_number).post(number.attrib["url"],
                                                   AnsweredBy="machine_start")
    assert machine.has("Hangup") and machine.says == "" and not machine.has("Play")
    session.refresh(followup)
    assert followup.state == FollowUpState.RETRY
    assert [a.result for a in followup.attempt_log] == ["voicemail_not_left"]

    # The caller leg ended without a bridge: the counselor is told, the attempt stays one.
    ended = counselor_leg.post(bridge.first("Dial").attrib["action"], DialCallStatus="completed")
    assert "no message was left" in ended.says and ended.has("Hangup")
    session.refresh(followup)
    assert [a.result for a in followup.attempt_log] == ["voicemail_not_left"]
    assert followup.state == FollowUpState.RETRY and followup.due_at is not None


def test_a_caller_who_allowed_voicemail_is_dialled_without_machine_detection(
        phone, available_counselor, session, app, settings):
    _prefs(session, settings, available_counselor, voicemail_ok=True)
    _leg, _followup, bridge = _bridge(phone, available_counselor, session, app, settings)
    number = bridge.first("Number")
    assert "machineDetection" not in number.attrib
    greeting = phone(settings.helpline_number).post(number.attrib["url"])
    assert "call back you asked for" in greeting.says and not greeting.has("Gather")


def test_a_person_is_greeted_under_the_name_the_caller_allowed(phone, available_counselor, session,
                                                               app,
                                                                settings):
    _leg, _followup, bridge = _bridge(phone, available_counselor, session, app, settings)
    human = phone(settings.helpline_number).post(bridge.first("Number").attrib["url"],
                                                 AnsweredBy="human")
    assert f"this is {settings.safe_contact_alias} with the call back" in human.says
    assert settings.helpline_name not in human.says and not SUD_WORDS.search(human.says)
    assert not human.has("Hangup")  # the whisper ends and the caller is bridged


def test_an_unsure_detection_must_press_1_or_is_hung_up_on(phone, available_counselor, session, app,
                                                            settings):
    _leg, followup, bridge = _bridge(phone, available_counselor, session, app, settings)
    leg = phone(settings.helpline_number)
    unsure = leg.post(bridge.first("Number").attrib["url"], AnsweredBy="unknown")
    assert "press 1" in unsure.says.lower()
    silent = leg.silence(unsure)
    assert silent.has("Hangup") and silent.says == ""
    session.refresh(followup)
    assert [a.result for a in followup.attempt_log] == ["voicemail_not_left"]


def test_when_someone_else_is_a_risk_whoever_answers_must_confirm_before_a_word_is_said(
        phone, available_counselor, session, app, settings):
    _prefs(session, settings, available_counselor, someone_else_risk=True, voicemail_ok=True)
    _leg, followup, bridge = _bridge(phone, available_counselor, session, app, settings)
    leg = phone(settings.helpline_number)
    screen = leg.post(bridge.first("Number").attrib["url"], AnsweredBy="human")
    assert "If you are the person expecting this call, press 1" in screen.says
    assert settings.safe_contact_alias not in screen.says
    assert settings.helpline_name not in screen.says and not SUD_WORDS.search(screen.says)
    someone_else = leg.press(screen, "2")
    assert someone_else.has("Hangup") and someone_else.says == ""
    session.refresh(followup)
    assert [a.result for a in followup.attempt_log] == ["not_confirmed"]


def test_the_caller_who_confirms_is_connected(phone, available_counselor, session, app, settings):
    _prefs(session, settings, available_counselor, someone_else_risk=True)
    _leg, followup, bridge = _bridge(phone, available_counselor, session, app, settings)
    leg = phone(settings.helpline_number)
    screen = leg.post(bridge.first("Number").attrib["url"], AnsweredBy="human")
    confirmed = leg.press(screen, "1")
    assert "Connecting" in confirmed.says and not confirmed.has("Hangup")
    session.refresh(followup)
    assert followup.state == FollowUpState.AWAITING_RESULT


def test_dialling_the_caller_is_logged_once_as_a_disclosure(phone, available_counselor, session,
                                                            app,
                                                            settings):
    counselor_leg, followup, _bridged = _bridge(phone, available_counselor, session, app, settings)
    # Twilio retries a webhook: the same attempt is logged once.
    counselor_leg.press(counselor_leg.post(f"/ivr/followups/{followup.id}/answer"), "1")
    [logged] = session.scalars(select(Disclosure)).all()
    assert (logged.followup_id, logged.consent_id, logged.channel, logged.recipient_kind,
            logged.disclosed_by_id) == (followup.id, followup.consent_id, "call", "caller",
                                        available_counselor.id)
