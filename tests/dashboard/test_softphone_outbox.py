"""Without Twilio (the outbox), there is no browser phone: nothing changes for anyone."""

from __future__ import annotations

import datetime as dt

from dashboard.headers import CONTENT_SECURITY_POLICY
from helpline.models import User
from tests.factories import make_call


def test_no_voice_token_without_twilio(counselor_client):
    resp = counselor_client.client.post("/softphone/token",
                                        headers={"X-CSRF-Token": counselor_client.csrf})
    assert resp.status_code == 404
    assert b"eyJ" not in resp.data


def test_home_has_no_browser_phone_and_keeps_the_strict_policy(counselor_client):
    resp = counselor_client.get("/")
    html = resp.get_data(as_text=True)
    assert 'id="softphone"' not in html and "twilio.min.js" not in html
    assert resp.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert 'id="take-next"' in html and 'hx-post="/take-next"' not in html


def test_no_choice_of_where_calls_ring_without_twilio(counselor_client):
    assert "Where your calls ring" not in counselor_client.get("/account").get_data(as_text=True)
    resp = counselor_client.post("/account/take-calls-on", {"take_calls_on": "browser"})
    assert resp.status_code == 404


def test_taking_the_next_call_still_opens_the_record(counselor_client, session):
    session.get(User, counselor_client.user_id).status = "available"
    make_call(session, "+15555550123", language="en", queue_name="general-en",
              status="queued", enqueued_at=dt.datetime.now(dt.UTC), priority=10)
    session.commit()
    resp = counselor_client.post("/take-next")
    assert resp.status_code == 302 and "/records/" in resp.headers["Location"]
