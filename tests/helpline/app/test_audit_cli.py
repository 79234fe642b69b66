"""`helpline audit verify` and `helpline audit checkpoint`: a rewritten or cut-short audit log
is found, by its chain or by the signed checkpoints kept outside the database."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from helpline import audit
from helpline.config import Settings
from helpline.db import Database
from helpline.models import AuditEvent
from tests.fixtures.cli import CliInvoker


def append(db: Database, n: int) -> None:
    with db.session() as session:
        for i in range(n):
            audit.record(session, "contact.view", actor="a", record_type="contact", record_id=i)


def drop_append_only_triggers(db: Database) -> None:
    """What someone with write access to the database can do."""
    with db.engine.begin() as conn:
        if db.is_sqlite:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_change ON audit_events"))


def rewrite_and_rechain(db: Database, event_id: int) -> None:
    """Alter one event and recompute its hash and every later one, as the code would."""
    drop_append_only_triggers(db)
    with db.sessions() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        session.expunge_all()
    prev = audit.GENESIS
    with db.engine.begin() as conn:
        for ev in events:
            if ev.id == event_id:
                ev.record_id = "99"
            ev.prev_hash = prev
            ev.hash = prev = audit._digest(prev, ev)
            conn.execute(text("UPDATE audit_events SET record_id = :r, prev_hash = :p, "
                              "hash = :h WHERE id = :i"),
                         {"r": ev.record_id, "p": ev.prev_hash, "h": ev.hash, "i": ev.id})


def test_an_intact_log_verifies(run_cli: CliInvoker, db: Database) -> None:
    append(db, 2)
    assert run_cli("audit", "checkpoint").exit_code == 0
    append(db, 2)
    result = run_cli("audit", "verify")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == ("Audit log intact: 4 events, the chain links, "
                                     "signed checkpoints matched: 1.")


def test_an_empty_log_without_checkpoints_verifies(run_cli: CliInvoker) -> None:
    result = run_cli("audit", "verify")
    assert result.exit_code == 0
    assert "0 events" in result.output and "no signed checkpoints yet" in result.output


def test_an_event_edited_in_place_is_named(run_cli: CliInvoker, db: Database) -> None:
    append(db, 3)
    drop_append_only_triggers(db)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET record_id = '99' WHERE id = 2"))
    result = run_cli("audit", "verify")
    assert result.exit_code == 1
    assert "event 2 does not follow" in result.output


def test_a_rewritten_and_rechained_log_fails_against_its_checkpoints(
    run_cli: CliInvoker, db: Database
) -> None:
    append(db, 1)
    run_cli("audit", "checkpoint")
    append(db, 4)
    run_cli("audit", "checkpoint")
    rewrite_and_rechain(db, 3)
    with db.sessions() as session:
        assert audit.verify_chain(session) is None  # the chain alone cannot tell
    result = run_cli("audit", "verify")
    assert result.exit_code == 1
    assert "event 5 differs from its signed checkpoint" in result.output
    assert "rewritten after event 1" in result.output


def test_deleted_newest_events_fail_against_the_checkpoints(run_cli: CliInvoker,
                                                            db: Database) -> None:
    append(db, 5)
    run_cli("audit", "checkpoint")
    drop_append_only_triggers(db)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id > 3"))
    with db.sessions() as session:
        assert audit.verify_chain(session) is None  # the chain alone cannot tell
    result = run_cli("audit", "verify")
    assert result.exit_code == 1
    assert "event 5 is missing" in result.output
    assert "the newest events, after event 3, were deleted" in result.output


def test_a_checkpoint_not_signed_with_the_key_fails(run_cli: CliInvoker, db: Database,
                                                    settings: Settings) -> None:
    append(db, 2)
    with db.sessions() as session:
        head = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert head is not None
    settings.audit_checkpoint_file.write_text(
        f"2026-01-01T00:00:00+00:00 audit-checkpoint event={head.id} hash={head.hash} "
        f"sig={'0' * 64}\n")
    result = run_cli("audit", "verify")
    assert result.exit_code == 1
    assert "line 1" in result.output and "not signed with this helpline's" in result.output


def test_a_checkpoint_is_logged_and_appended_once_per_new_end(
    run_cli: CliInvoker, db: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    append(db, 2)
    with caplog.at_level("INFO", logger="helpline.reporting.audit_integrity"):
        assert "Checkpoint of event 2 written" in run_cli("audit", "checkpoint").output
    assert "Nothing new to sign" in run_cli("audit", "checkpoint").output
    lines = settings.audit_checkpoint_file.read_text().splitlines()
    assert len(lines) == 1
    logged = [r.getMessage() for r in caplog.records if "audit-checkpoint" in r.getMessage()]
    assert len(logged) == 1 and logged[0] in lines[0]


def test_no_checkpoint_vouches_for_a_rewritten_log(run_cli: CliInvoker, db: Database,
                                                  settings: Settings) -> None:
    append(db, 3)
    run_cli("audit", "checkpoint")
    rewrite_and_rechain(db, 2)
    append(db, 1)
    result = run_cli("audit", "checkpoint")
    assert result.exit_code == 1
    assert "event 3 differs from its signed checkpoint" in result.output
    assert len(settings.audit_checkpoint_file.read_text().splitlines()) == 1


def test_the_scheduler_signs_a_checkpoint_every_five_minutes(app, db: Database,
                                                             settings: Settings) -> None:
    from apscheduler.triggers.interval import IntervalTrigger

    from helpline.app import jobs
    from helpline.app.scheduler import job_specs

    spec = next(s for s in job_specs("UTC") if s.id == "audit.checkpoint")
    assert isinstance(spec.trigger, IntervalTrigger)
    assert spec.trigger.interval.total_seconds() == 300
    rt = app.extensions["helpline"]
    jobs.install(jobs.JobContext(db=rt.db, settings=rt.settings, telephony=rt.telephony))
    append(db, 2)
    assert spec.func() == 2
    assert "event=2 " in settings.audit_checkpoint_file.read_text()
