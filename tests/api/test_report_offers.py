"""The API's report figures count offers but never name the counselor who missed one."""

from __future__ import annotations

import datetime as dt

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from helpline.models import Offer
from helpline.staff import api_tokens
from tests.factories import make_call, make_user


def test_offers_are_counted_without_a_counselors_name(api: FlaskClient, session: Session) -> None:
    worker = make_user(session, display_name="Quinn Missedcall", username="quinn.m")
    at = dt.datetime(2026, 3, 3, 15, tzinfo=dt.UTC)
    call = make_call(session, started_at=at, enqueued_at=at, queue_name="general-en",
                     outcome="abandoned_queue", status="completed")
    session.add(Offer(call_id=call.id, counselor_id=worker.id, state="missed", offered_at=at,
                      expires_at=at + dt.timedelta(seconds=20),
                      ended_at=at + dt.timedelta(seconds=20)))
    _row, token = api_tokens.create_token(session, "county dashboard", by="test")
    session.commit()
    resp = api.get("/api/reports?year=2026&month=3", headers={"Authorization": f"Bearer {token}"})
    body = resp.get_json()
    tables = {t["key"]: t for t in body["tables"]}
    assert "counselor_offers" not in tables
    assert ["Missed (rang out)", 1] in tables["offers"]["rows"]
    assert ["Offers missed (rang out)", 1] in tables["summary"]["rows"]
    text = resp.get_data(as_text=True)
    assert "Quinn" not in text and "quinn.m" not in text
