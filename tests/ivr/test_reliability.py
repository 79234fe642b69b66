"""The caller always gets somewhere: database down, fallback URL, malformed input."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from helpline.app import create_app
from helpline.calls import spool
from helpline.calls.journal import replay_spool
from helpline.db import Database
from helpline.models import Call
from tests.fixtures.twilio import UNREACHABLE


def _until_replayed(settings, seconds: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    """The replay runs behind the webhooks, on a thread of its own."""
    until = time.monotonic() + seconds
    while spool.pending(settings.spool_dir):
        assert time.monotonic() < until, "the spool was not replayed"
        time.sleep(0.02)


@pytest.fixture
def database_down(app, session):  # type: ignore[no-untyped-def]
    # `session` first: the test's own view of the real database, made before the outage.
    runtime = app.extensions["helpline"]
    real = runtime.db
    runtime.db = Database(UNREACHABLE)

    def restore() -> None:
        runtime.db.dispose()
        runtime.db = real

    yield restore
    if runtime.db is not real:
        restore()


def test_calls_are_answered_while_the_database_is_down_and_nothing_is_lost(
        database_down, phone, settings, session):
    caller = phone("+15555550155")
    menu = caller.english_menu()
    assert "press 9" in menu.says
    queued = caller.press(menu, "2")
    assert queued.first("Enqueue").text == "family-en"
    caller.wait(queued)
    caller.queue_result(queued, "hangup")
    caller.hang_up()
    kept = spool.entries(settings.spool_dir)
    assert [e["op"] for e in kept][:3] == ["steps", "steps", "steps"]
    assert session.scalar(select(Call)) is None

    database_down()
    other = phone()
    other.call()  # the first write that reaches the database starts the replay
    _until_replayed(settings)
    call = caller.record(session)
    assert [e.kind for e in call.events][:4] == ["call_started", "language", "menu", "queue"]
    assert call.need == "loved_one" and call.outcome == "abandoned_queue"
    assert call.caller_number == "+15555550155"
    assert spool.entries(settings.spool_dir) == []


def test_the_spool_does_not_hold_numbers_in_plain_text(database_down, phone, settings):
    phone("+15555550156").call()
    raw = (settings.spool_dir / spool.SPOOL).read_text()
    assert "0156" not in raw


def test_the_scheduler_can_replay_the_spool(database_down, phone, settings, app, session):
    caller = phone()
    caller.call()
    database_down()
    assert replay_spool(app.extensions["helpline"].db, settings) == 1
    assert caller.record(session).events[0].kind == "call_started"


def test_the_scheduler_job_replays_the_spool(database_down, phone, app, session):
    from helpline.app import jobs

    caller = phone()
    caller.call()
    database_down()
    rt = app.extensions["helpline"]
    jobs.install(jobs.JobContext(db=rt.db, settings=rt.settings, telephony=rt.telephony))
    assert jobs.replay_ivr_spool() == 1
    assert caller.record(session).events[0].kind == "call_started"


def test_crisis_still_transfers_with_the_database_down(database_down, phone):
    caller = phone()
    assert caller.press(caller.english_menu(), "9").first("Number").text == "988"


def test_callback_with_the_database_down_is_kept_and_confirmed(database_down, phone, session,
                                                                settings):
    caller = phone("+15555550157")
    queued = caller.press(caller.english_menu(), "1")
    booked = caller.press(caller.press(caller.wait(queued), "1"), "1")
    assert booked.has("Leave")
    goodbye = caller.queue_result(queued, "leave")
    assert "call you as soon as one is free" in goodbye.says
    database_down()
    phone().call()
    _until_replayed(settings)
    assert caller.record(session).outcome == "callback"


def test_locator_with_the_database_down_offers_a_counselor(database_down, phone):
    caller = phone()
    read = caller.press(caller.press(caller.english_menu(), "3"), "10001")
    assert "not available right now" in read.says
    assert "talk with a counselor, press 3" in read.says


def test_fallback_never_touches_the_database(database_down, phone, settings):
    answer = phone().post("/ivr/fallback")
    assert answer.first("Enqueue").text == "general-en"
    assert "trouble" in answer.says
    assert spool.entries(settings.spool_dir) == []


def test_fallback_dials_the_fallback_number_when_set(settings):
    from tests.fixtures.twilio import Phone, TwilioSigner

    changed = settings.with_overrides(fallback_number="+15555550100",
                                      database_url=UNREACHABLE)
    app = create_app(changed)
    caller = Phone(TwilioSigner(app.test_client(), changed), changed, "+15555550123")
    assert caller.post("/ivr/fallback").first("Dial").text == "+15555550100"


STEPS = ["/ivr/voice", "/ivr/language", "/ivr/menu", "/ivr/menu/choice", "/ivr/crisis/done",
         "/ivr/queue/unstaffed", "/ivr/queue/wait", "/ivr/queue/key", "/ivr/queue/done",
         "/ivr/queue/connected", "/ivr/callback/confirm", "/ivr/callback/number",
         "/ivr/locator/again", "/ivr/locator/zip", "/ivr/locator/choice", "/ivr/info/choice",
         "/ivr/voicemail/done", "/ivr/voicemail/transcription", "/ivr/counselor/connect",
         "/ivr/status", "/ivr/sms", "/ivr/fallback"]
GARBAGE = [
    {},
    {"Digits": "1" * 100_000},
    {"Digits": "\x00\xff\x1b[31m", "SpeechResult": "\udcff"},
    {"Digits": "٣", "SpeechResult": "💊" * 500, "QueuePosition": "-1", "QueueTime": "1e9"},
    {"Digits": "#*#", "QueueResult": "<script>", "CallStatus": "bogus", "SequenceNumber": "x"},
]


@pytest.mark.parametrize("path", STEPS)
@pytest.mark.parametrize("params", range(len(GARBAGE)))
def test_malformed_input_gets_valid_twiml_or_a_4xx(phone, available_counselor, path, params):
    caller = phone(None, call_sid="")
    data = {k: v.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
            for k, v in GARBAGE[params].items()}
    answer = caller.post(f"{path}?lang=zz&tries=abc&group=../x&q=9&topic=%00", **data)
    assert answer.status_code in {200, 204, 400, 404}


def test_unknown_steps_are_not_found(phone):
    assert phone().post("/ivr/nowhere").status_code == 404


def test_an_unexpected_failure_still_answers_with_a_way_to_help(app, phone, monkeypatch):
    import ivr.views.menu

    def broken(*_a, **_kw):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    monkeypatch.setattr(ivr.views.menu, "menu", broken)
    answer = phone().post("/ivr/language", Digits="1")
    assert answer.status_code == 200 and answer.has("Enqueue")
