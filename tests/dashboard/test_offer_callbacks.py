"""A queue callback's offer in the counselor's browser: the banner says it is a callback, and
Accept rings the counselor's phone first and opens the follow-up."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from helpline.calls import records, routing
from helpline.config import Settings, settings_for_tests
from helpline.db import utcnow
from helpline.models import AgentStatus, OutboxMessage
from helpline.models.followups import FollowUp, FollowUpState
from tests.factories import make_call
from tests.fixtures.staff import Staff


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    # The wall clock decides here: no quiet hours, so that a callback may ring at any hour.
    return settings_for_tests(tmp_path, database_url=database_url, quiet_hours_start=0,
                              quiet_hours_end=0)


def post_json(staff: Staff, url: str):  # type: ignore[no-untyped-def]
    return staff.client.post(url, headers={"X-CSRF-Token": staff.csrf,
                                           "Accept": "application/json"})


def test_accepting_a_callback_offer_rings_the_counselor_and_opens_the_follow_up(
        staff_factory, session, settings):  # type: ignore[no-untyped-def]
    counselor: Staff = staff_factory("counselor", languages="en", status=AgentStatus.AVAILABLE,
                                     phone="+13125550142")
    call = make_call(session, queue_name="general-en", language="en", status="queued",
                     need="general", enqueued_at=utcnow(), started_at=utcnow())
    records.record_callback(session, call.call_sid, "+13125550188", settings=settings)
    session.commit()
    followup = session.scalar(select(FollowUp).where(FollowUp.call_id == call.id))
    assert followup is not None
    assert routing.route(session, settings).offered_callbacks == [(followup.id, counselor.user_id)]
    session.commit()
    offer = counselor.get("/offers/current").get_json()["offer"]
    assert offer["kind"] == "callback" and offer["booked_seconds"] is not None
    answer = post_json(counselor, offer["accept_url"])
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["record_url"].endswith(f"/followups/{followup.id}")
    session.expire_all()
    [leg] = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "call")).all()
    assert leg.to_number == "+13125550142"
    assert session.get_one(FollowUp, followup.id).state == FollowUpState.AWAITING_RESULT
    assert counselor.get(answer.get_json()["record_url"]).status_code == 200
    again = post_json(counselor, offer["accept_url"])
    assert again.status_code == 409
