"""A published version that still fails a caller at run time: the last good version answers
that caller and the next ones, and supervisors are told where they look."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline.db import Database
from helpline.flows.live import LiveFlows
from helpline.flows.versions import new_draft, publish, save_draft, values_of
from helpline.models import AuditEvent, User
from tests.factories import make_user

EMERGENCIES = " Emergencies: 9 1 1. Suicidal crisis: 9 8 8."


@pytest.fixture
def live(app: Flask) -> LiveFlows:
    return app.extensions["ivr_live"]


def published(session: Session, live: LiveFlows, lead: User, greeting: str) -> int:
    draft = new_draft(session, live.defaults, based_on=0, by=lead)
    values = {**values_of(live.defaults, draft), "en.prompts.greeting": greeting}
    save_draft(session, live.defaults, draft.id, values, by=lead)
    publish(session, live.defaults, draft.id, by=lead)
    session.commit()
    live.invalidate()
    return draft.id


@pytest.fixture
def broken_live_version(session: Session, live: LiveFlows, db: Database) -> Any:
    """Version 1 served callers; version 2 is live and, forced past the checks, breaks."""
    lead = make_user(session, "supervisor")
    session.commit()
    good = published(session, live, lead, "Version one at {helpline}." + EMERGENCIES)

    def go(broken_greeting: str) -> tuple[int, int]:
        assert live.current(db).version == good
        bad = published(session, live, lead, "Version two at {helpline}." + EMERGENCIES)
        assert live.current(db).version == bad
        # As if a rule had let it through: the prompt in memory is what callers get.
        live.in_memory.flows["en"].prompts["greeting"] = broken_greeting
        return good, bad
    return go


@pytest.mark.parametrize("broken", ["Version two at {}." + EMERGENCIES,
                                    "Version two. " + "x" * 70_000 + EMERGENCIES],
                         ids=["a placeholder", "a document over 64 kB"])
def test_callers_hear_the_last_good_greeting_when_the_live_one_breaks(
        broken_live_version, phone, session, broken):  # type: ignore[no-untyped-def]
    good, bad = broken_live_version(broken)
    for caller in (phone(), phone("+15555550124")):
        answer = caller.call()
        assert answer.status_code == 200
        assert "Version one" in answer.says and "Version two" not in answer.says
        assert "9 1 1" in answer.says and "9 8 8" in answer.says
        assert "having trouble" not in answer.says
        # The rest of the call goes on in the same version.
        assert caller.press(answer, "1").has("Gather")
        assert caller.record(session).events[0].detail["flow_version"] == good
    session.expire_all()
    failures = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "ivr.runtime_fallback")).all()
    assert len(failures) == 1  # once per process, not once per caller
    assert failures[0].record_id == str(bad) and failures[0].actor == "ivr"
    assert failures[0].detail["playing"] == good
    assert failures[0].detail["field"].startswith("en.prompts")


def test_supervisors_see_the_failure_on_the_ivr_settings_and_the_wallboard(
        broken_live_version, phone, supervisor_client, session):  # type: ignore[no-untyped-def]
    good, bad = broken_live_version("Version two at {}." + EMERGENCIES)
    phone().call()
    for path in ("/supervisor/ivr", f"/supervisor/ivr/{bad}", "/supervisor/wallboard"):
        page = supervisor_client.get(path).get_data(as_text=True)
        assert 'id="ivr-runtime-failure"' in page, path
        assert f"The live IVR version {bad} failed a caller" in page
        assert "en.prompts.greeting" in page
        assert f"Callers hear version {good}, the last good one" in page


def test_no_notice_once_a_new_version_is_live(
        broken_live_version, phone, supervisor_client, session, live):  # type: ignore[no-untyped-def]
    broken_live_version("Version two at {}." + EMERGENCIES)
    phone().call()
    lead = make_user(session, "supervisor")
    session.commit()
    fixed = published(session, live, lead, "Version three at {helpline}." + EMERGENCIES)
    assert "Version three" in phone().call().says
    page = supervisor_client.get("/supervisor/ivr").get_data(as_text=True)
    assert 'id="ivr-runtime-failure"' not in page and f"{fixed}" in page
