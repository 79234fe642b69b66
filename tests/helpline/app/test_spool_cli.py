"""`helpline spool status` and `helpline spool replay`."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline.calls import spool
from helpline.config import Settings
from helpline.models import Call
from tests.fixtures.cli import CliInvoker
from tests.fixtures.twilio import UNREACHABLE


def _spool_two(settings: Settings) -> None:
    spool.append_all(settings.spool_dir, [
        {"op": "step", "key": f"cli{n}", "call_sid": f"CA{n:032d}", "kind": "menu",
         "at": "2026-12-06T10:00:00+00:00"} for n in range(2)])


def test_status_counts_and_replay_writes(run_cli: CliInvoker, settings: Settings,
                                         session: Session, keyring) -> None:  # type: ignore[no-untyped-def]
    _spool_two(settings)
    status = run_cli("spool", "status")
    assert status.exit_code == 0 and status.output.startswith("2 waiting in ")
    replay = run_cli("spool", "replay")
    assert replay.exit_code == 0 and "replayed 2" in replay.output
    assert len(list(session.scalars(select(Call)))) == 2
    assert run_cli("spool", "status").output.startswith("0 waiting")


def test_replay_says_so_when_the_database_cannot_be_reached(settings: Settings,
                                                             keyring) -> None:  # type: ignore[no-untyped-def]
    _spool_two(settings)
    result = CliInvoker(settings.with_overrides(database_url=UNREACHABLE))("spool", "replay")
    assert result.exit_code == 1
    assert "2 still waiting" in result.output and "could not be reached" in result.output
    assert len(spool.entries(settings.spool_dir)) == 2
