"""The phone menu's texts under the limits: a caller hears when a text could not be sent, and
parallel presses on one call cannot get past the per-call limit (SQLite and PostgreSQL: run
with DATABASE_URL=postgresql+psycopg://... for the latter)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from helpline.config import Settings
from helpline.models import OutboxMessage

SENT = "I have sent you a text message."
REFUSED = "I could not send a text message to this number"


def statuses(session) -> list[str]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return sorted(session.scalars(select(OutboxMessage.status)))


def test_a_fourth_text_in_one_call_is_refused_and_the_caller_hears_it(phone, session):
    caller = phone("+15555550177")
    info = caller.press(caller.english_menu(), "5")
    heard = [caller.press(info, "1").says for _ in range(4)]
    assert all(SENT in said for said in heard[:3])
    assert REFUSED in heard[3] and SENT not in heard[3]
    assert statuses(session) == ["recorded"] * 3 + ["refused"]


def test_a_satellite_caller_is_told_no_text_went(phone, session):
    caller = phone("+88212345678")
    info = caller.press(caller.english_menu(), "5")
    assert REFUSED in caller.press(info, "1").says
    assert statuses(session) == ["refused"]


def test_a_help_text_from_a_satellite_number_gets_no_reply(phone, session):
    answer = phone("+88212345678").post("/ivr/sms", Body="HELP", MessageSid="SM" + "2" * 32)
    assert answer.status_code == 200 and "<Message>" not in answer.text
    assert statuses(session) == ["refused"]


def test_help_replies_count_toward_the_numbers_day(phone, session, settings):
    for _ in range(settings.sms_max_per_number_per_day + 1):
        answer = phone("+15555550190").post("/ivr/sms", Body="HELP",
                                            MessageSid="SM" + "3" * 32)
    assert "<Message>" not in answer.text
    assert statuses(session) == ["refused"]


def test_parallel_presses_on_one_call_get_exactly_the_calls_texts(served: str,
                                                                  settings: Settings,
                                                                  session) -> None:  # type: ignore[no-untyped-def]
    path = "/ivr/info/choice?lang=en&topic=groups"
    params = {"CallSid": "CA" + "7" * 32, "AccountSid": "AC" + "0" * 32, "Digits": "1",
              "From": "+15555550188", "To": settings.helpline_number}
    signature = RequestValidator(settings.twilio_auth_token).compute_signature(
        settings.public_base_url + path, params)
    presses = 8
    barrier = threading.Barrier(presses)

    def press(_: int) -> str:
        barrier.wait()
        return requests.post(served + path, data=params, timeout=120,
                             headers={"X-Twilio-Signature": signature}).text

    with ThreadPoolExecutor(presses) as pool:
        heard = list(pool.map(press, range(presses)))
    assert sum(SENT in said for said in heard) == settings.sms_max_per_call
    assert sum(REFUSED in said for said in heard) == presses - settings.sms_max_per_call
    assert statuses(session) == (["recorded"] * settings.sms_max_per_call
                                 + ["refused"] * (presses - settings.sms_max_per_call))
