"""The offer ringing for a counselor, as the browser asks for it: what rings, accepting and
declining it (with the words of a refusal), who may, and the live stream."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline.calls import routing
from helpline.config import Settings
from helpline.db import utcnow
from helpline.models import AgentStatus, Call, Offer, OfferState, StaffSession, User
from tests.factories import make_call
from tests.fixtures.staff import Staff


@pytest.fixture
def available(staff_factory) -> Staff:  # type: ignore[no-untyped-def]
    return staff_factory("counselor", languages="en", status=AgentStatus.AVAILABLE,
                         skills="crisis")


def waiting_caller(session: Session, group: str = "general", waited: float = 12) -> Call:
    now = utcnow()
    call = make_call(session, queue_name=f"{group}-en", language="en", status="queued",
                     need=group, enqueued_at=now - dt.timedelta(seconds=waited),
                     started_at=now - dt.timedelta(seconds=waited + 30),
                     priority=10 if group == "crisis" else 0)
    session.commit()
    return call


def rung(session: Session, settings: Settings, now: dt.datetime | None = None) -> routing.Pass:
    done = routing.route(session, settings, now)
    session.commit()
    return done


def offer_of(session: Session, counselor_id: int) -> Offer:
    session.expire_all()
    offer = session.scalars(select(Offer).where(Offer.counselor_id == counselor_id)
                            .order_by(Offer.id.desc())).first()
    assert offer is not None
    return offer


def post_json(staff: Staff, url: str):  # type: ignore[no-untyped-def]
    # As static/offers.js posts: the CSRF token in a header, JSON asked for.
    return staff.client.post(url, headers={"X-CSRF-Token": staff.csrf,
                                           "Accept": "application/json"})


def test_nothing_rings_for_an_available_counselor_without_callers(available):
    answer = available.get("/offers/current")
    assert answer.status_code == 200
    assert answer.get_json() == {"status": "available", "missed": False, "offer": None}


def test_a_ringing_offer_says_queue_language_wait_and_ring_time(available, session, settings):
    call = waiting_caller(session, "crisis", waited=12)
    assert rung(session, settings).offered == [(call.id, available.user_id)]
    offer = offer_of(session, available.user_id)

    state = available.get("/offers/current").get_json()
    assert state["status"] == "available" and state["missed"] is False
    shown = state["offer"]
    assert shown["id"] == offer.id
    assert (shown["queue"], shown["language"], shown["crisis"]) == ("Crisis, English",
                                                                    "English", True)
    assert 12 <= shown["waited_seconds"] <= 15
    assert settings.ring_timeout_seconds - 3 <= shown["rings_seconds_left"] <= \
        settings.ring_timeout_seconds
    assert shown["accept_url"] == f"/offers/{offer.id}/accept"
    assert shown["decline_url"] == f"/offers/{offer.id}/decline"


def test_accepting_assigns_the_call_and_opens_its_record(available, session, settings):
    call = waiting_caller(session)
    rung(session, settings)
    offer = offer_of(session, available.user_id)

    answer = post_json(available, f"/offers/{offer.id}/accept")
    assert answer.status_code == 200, answer.data
    body = answer.get_json()
    assert body["record_url"].startswith("/records/")
    assert body["message"] == "The caller is being put through."
    session.expire_all()
    assert session.get(Call, call.id).counselor_id == available.user_id
    assert session.get(User, available.user_id).status == AgentStatus.ON_CALL
    assert offer_of(session, available.user_id).state == OfferState.ACCEPTED
    assert available.get(body["record_url"]).status_code == 200
    assert available.get("/offers/current").get_json() == {
        "status": "on_call", "missed": False, "offer": None}

    again = post_json(available, f"/offers/{offer.id}/accept")
    assert again.status_code == 409
    assert again.get_json() == {"error": "You already accepted that call."}


def test_declining_passes_the_caller_on_and_cannot_then_accept(available, staff_factory,
                                                               session, settings):
    call = waiting_caller(session)
    rung(session, settings)
    offer = offer_of(session, available.user_id)

    answer = post_json(available, f"/offers/{offer.id}/decline")
    assert answer.status_code == 200
    assert answer.get_json() == {"message": "Declined: the caller goes to the next counselor."}
    assert available.get("/offers/current").get_json()["offer"] is None
    late = post_json(available, f"/offers/{offer.id}/accept")
    assert late.status_code == 409
    assert late.get_json() == {"error": "You declined that call."}

    other = staff_factory("counselor", languages="en", status=AgentStatus.AVAILABLE)
    assert rung(session, settings).offered == [(call.id, other.user_id)]
    theirs = offer_of(session, other.user_id)
    stolen = post_json(available, f"/offers/{theirs.id}/accept")
    assert stolen.status_code == 409
    assert stolen.get_json() == {"error": "That call is not offered to you."}
    refused = post_json(available, f"/offers/{theirs.id}/decline")
    assert refused.status_code == 409
    assert refused.get_json() == {"error": "That call is not offered to you."}


def test_an_offer_that_rang_out_says_so_and_the_counselor_is_away(available, session,
                                                                  settings):
    waiting_caller(session)
    rung(session, settings)
    offer = offer_of(session, available.user_id)
    later = utcnow() + dt.timedelta(seconds=settings.ring_timeout_seconds + 1)
    assert rung(session, settings, later).missed

    assert available.get("/offers/current").get_json() == {
        "status": "away", "missed": True, "offer": None}
    late = post_json(available, f"/offers/{offer.id}/accept")
    assert late.status_code == 409
    assert late.get_json() == {"error": "That call rang out and went to the next counselor."}

    # Choosing a status again ends the notice.
    assert available.post("/status", {"status": "available"}).status_code == 302
    assert available.get("/offers/current").get_json() == {
        "status": "available", "missed": False, "offer": None}


def test_a_caller_who_hung_up_is_withdrawn_with_words(available, session, settings):
    call = waiting_caller(session)
    rung(session, settings)
    offer = offer_of(session, available.user_id)
    call.status = "completed"
    session.commit()
    rung(session, settings)
    answer = post_json(available, f"/offers/{offer.id}/accept")
    assert answer.status_code == 409
    assert answer.get_json() == {"error": "The caller hung up or was answered by someone else."}


def test_accepting_needs_the_csrf_token(available, session, settings):
    waiting_caller(session)
    rung(session, settings)
    offer = offer_of(session, available.user_id)
    answer = available.client.post(f"/offers/{offer.id}/accept")
    assert answer.status_code in (400, 403)
    assert offer_of(session, available.user_id).state == OfferState.RINGING


@pytest.mark.parametrize("role", ["admin", "supervisor"])
def test_staff_who_do_not_take_calls_are_refused(role, staff_factory, available, session,
                                                 settings):
    waiting_caller(session)
    rung(session, settings)
    offer = offer_of(session, available.user_id)
    other = staff_factory(role)
    assert other.get("/offers/current").status_code == 403
    assert other.get("/offers/events?lifetime=0").status_code == 403
    assert post_json(other, f"/offers/{offer.id}/accept").status_code == 403
    assert post_json(other, f"/offers/{offer.id}/decline").status_code == 403
    assert offer_of(session, available.user_id).state == OfferState.RINGING
    # Their pages carry no banner.
    page = other.get("/account").get_data(as_text=True)
    assert 'id="offers"' not in page and "offers.js" not in page


def test_signed_out_browsers_are_refused(client):
    assert client.get("/offers/current").status_code == 302
    assert client.get("/offers/events", headers={"Accept": "text/event-stream"}).status_code \
        == 401


def test_every_page_of_a_counselor_carries_the_banner(available):
    for path in ("/", "/account", "/history"):
        page = available.get(path).get_data(as_text=True)
        assert 'id="offers"' in page and 'data-events-url="/offers/events"' in page
        assert "offers.js" in page and "offers.css" in page
        assert "softphone/incoming.wav" in page
    assert 'id="allow-notifications"' in available.get("/").get_data(as_text=True)


def test_the_stream_sends_the_offer(available, session, settings):
    call = waiting_caller(session)
    rung(session, settings)
    offer = offer_of(session, available.user_id)
    answer = available.get("/offers/events?lifetime=0")
    assert answer.status_code == 200 and answer.mimetype == "text/event-stream"
    body = answer.get_data(as_text=True)
    assert body.startswith("retry: 1000\n\n")
    events = [block for block in body.split("\n\n") if block.startswith("event: offer")]
    assert len(events) == 1
    state = json.loads(events[0].split("data: ", 1)[1])
    assert state["offer"]["id"] == offer.id and state["offer"]["queue"] == "General, English"
    assert call.id == offer.call_id


def test_the_stream_sends_a_change_as_it_happens(available, session, settings):
    answer = available.client.get("/offers/events?lifetime=3", buffered=False)
    chunks = iter(answer.response)
    assert next(chunks).startswith(b"retry: ")
    first = next(chunks).decode()
    assert first.startswith("event: offer") and '"offer": null' in first
    waiting_caller(session)
    rung(session, settings)
    second = next(chunks).decode()  # re-read every half second without a routing thread
    assert second.startswith("event: offer") and '"accept_url"' in second
    answer.close()


def test_asking_what_rings_does_not_keep_an_idle_session_alive(available, session):
    staff = session.scalars(select(StaffSession).where(
        StaffSession.user_id == available.user_id)).one()
    idle_since = staff.last_seen_at - dt.timedelta(minutes=5)
    staff.last_seen_at = idle_since
    session.commit()
    assert available.get("/offers/current").status_code == 200
    available.get("/offers/events?lifetime=0").get_data()
    session.refresh(staff)
    assert staff.last_seen_at == idle_since
