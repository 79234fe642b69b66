"""`helpline simulate-call`: a whole call in the terminal, through the real signed webhooks."""

from __future__ import annotations

from sqlalchemy import select

from helpline.models import Call, FollowUp


def _call(session) -> Call:  # type: ignore[no-untyped-def]
    session.expire_all()
    calls = list(session.scalars(select(Call)))
    assert len(calls) == 1, calls
    return calls[0]


def test_terminal_caller_holds_in_the_queue_and_books_a_callback(run_cli, session,
                                                                 available_counselor):
    # English, help for myself, then in the queue: 1 for a callback, 1 to confirm the number.
    result = run_cli("simulate-call", input="1\n1\n1\n1\n")
    out = result.output
    assert result.exit_code == 0, out
    assert "[en-US] Thank you for calling Helpline, free and confidential." in out
    assert "[es-MX] Para español, oprima 2." in out
    assert "* Holding in the queue general-en." in out
    assert "[en-US] You are number 1 in line." in out
    assert "[en-US] Thank you. We will call you back at 5 5 5 5 5 5 0 1 2 3." in out
    assert "[en-US] Your call back is booked." in out
    assert "* The call has ended." in out
    call = _call(session)
    assert out.rstrip().endswith(f"Call {call.call_sid} ended.")
    assert call.outcome == "callback" and call.status == "completed"
    assert call.queue_name == "general-en" and call.ended_at is not None
    followup = session.scalar(select(FollowUp).where(FollowUp.call_id == call.id))
    assert followup is not None and followup.phone == "+15555550123"


def test_terminal_caller_in_spanish_hears_spanish_and_waits_in_the_spanish_queue(
        run_cli, session, available_counselor):
    result = run_cli("simulate-call", "--lang", "es", input="1\nq\n")
    out = result.output
    assert result.exit_code == 0, out
    assert "[es-MX] Gracias por llamar" in out
    assert "[en-US]" not in out
    assert "* Holding in the queue general-es." in out
    assert "* You hung up." in out
    call = _call(session)
    assert call.language == "es" and call.queue_name == "general-es"
    assert call.outcome == "abandoned_queue"


def test_terminal_caller_saying_overdose_hears_911_and_holds_first_for_crisis(run_cli,
                                                                              session):
    result = run_cli("simulate-call", input="1\nsay: my friend took too much, overdose\nq\n")
    out = result.output
    assert result.exit_code == 0, out
    assert "[en-US] If nobody has called 9 1 1 yet, hang up now and dial 9 1 1." in out
    assert "* Holding in the queue crisis-en." in out
    call = _call(session)
    assert call.need == "crisis" and call.overdose_suspected is True


def test_terminal_caller_thinking_of_suicide_is_transferred_to_the_crisis_line(run_cli,
                                                                              session):
    result = run_cli("simulate-call", input="1\nsay: I want to kill myself\n")
    out = result.output
    assert result.exit_code == 0, out
    assert "[en-US] I am connecting you now to the crisis line." in out
    assert "* Transferred to number 988." in out
    # End of input hangs up: the Dial's action hears it ended, then the status callback.
    assert "* The call has ended." in out
    call = _call(session)
    assert call.need == "crisis" and call.outcome == "crisis_transfer"


def test_terminal_caller_with_a_blocked_number_is_served_without_a_number(run_cli, session):
    result = run_cli("simulate-call", "--from", "anonymous", "-v", input="1\n5\n0\n")
    out = result.output
    assert result.exit_code == 0, out
    assert "from a blocked number" in out
    assert "POST /ivr/voice → 200" in out  # --verbose shows each webhook
    assert "SAMHSA" in out  # resources, then the main menu again
    call = _call(session)
    assert call.caller_hash is None and call.caller_number is None
    assert call.status == "completed"


def test_silence_in_the_terminal_repeats_the_menu(run_cli, session):
    result = run_cli("simulate-call", "--lang", "en", input="\nq\n")
    out = result.output
    assert result.exit_code == 0, out
    assert "[en-US] I did not hear anything." in out
    assert out.count("For help for yourself, press 1.") == 2


def test_simulate_call_refuses_a_caller_id_that_is_not_a_number(run_cli):
    result = run_cli("simulate-call", "--from", "client:alice", input="q\n")
    assert result.exit_code == 2
    assert "--from" in result.output


def test_simulate_call_refuses_when_twilio_carries_the_calls(settings):
    from click.testing import CliRunner

    from helpline.app.cli import cli
    from helpline.app.cli_context import CliContext

    twilio_settings = settings.with_overrides(telephony="twilio",
                                              twilio_account_sid="AC" + "1" * 32)
    result = CliRunner().invoke(cli, ["simulate-call"], obj=CliContext(twilio_settings),
                                input="q\n")
    assert result.exit_code == 1
    assert "Simulated calls need the outbox telephony" in result.output
