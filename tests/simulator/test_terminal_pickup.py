"""`helpline simulate-call` shows a counselor's pickup while the caller holds, no Enter needed."""

from __future__ import annotations

import io
from collections.abc import Callable

from helpline.calls.queues import take_next_call
from simulator.interpreter import Interpreter
from simulator.terminal import PICKUP_POLL_SECONDS, line_reader, play_call
from simulator.transport import AppTransport


class Caller:
    """Lines typed at the terminal; a callable stands for a quiet spell (the reader times out)."""

    def __init__(self, *script: str | Callable[[], None]) -> None:
        self.script = list(script)
        self.timeouts: list[float | None] = []

    def __call__(self, timeout: float | None) -> str | None:
        self.timeouts.append(timeout)
        step = self.script.pop(0)
        if callable(step):
            step()
            return None
        return step


def test_holding_caller_hears_the_counselor_join_without_pressing_enter(  # type: ignore[no-untyped-def]
        app, settings, session, available_counselor, capsys):
    interpreter = Interpreter(AppTransport(app), settings.twilio_auth_token)

    def counselor_takes_the_call() -> None:
        user = session.get(type(available_counselor), available_counselor.id)
        assert take_next_call(session, user, app.extensions["helpline"].telephony,
                              settings) is not None
        session.commit()

    caller = Caller("1\n", "1\n", lambda: None, counselor_takes_the_call, "q\n")
    state = play_call(interpreter, settings.public_base_url + "/ivr/voice", "+15555550123",
                      settings.helpline_number, caller)

    out = capsys.readouterr().out
    assert "A counselor is joining you now." in out
    assert state.ended and not caller.script
    # Holding and on the line, the terminal waits a few seconds at a time (a pickup; a hold).
    assert caller.timeouts == [None, None, PICKUP_POLL_SECONDS, PICKUP_POLL_SECONDS,
                               PICKUP_POLL_SECONDS]
    assert out.count("(holding") + out.count("(keys") == 3  # no prompt repeated while quiet


def test_piped_input_is_read_as_it_comes() -> None:
    read = line_reader(io.StringIO("1\nq\n"))
    assert read(PICKUP_POLL_SECONDS) == "1\n" and read(None) == "q\n" and read(None) == ""
