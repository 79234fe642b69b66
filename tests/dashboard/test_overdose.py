"""The protocol from the counselor's screen: the record switches to it, each step is a form,
the timeline shows the times; nobody else's counselor can open it; nothing confidential
reaches a URL or a log."""

from __future__ import annotations

import logging

from sqlalchemy import select

from helpline.models import AuditEvent, Contact, FollowUp, OverdoseProtocol, User
from helpline.records import overdose
from tests.fixtures.overdose import on_call

ADDRESS = "44 Birch Road, Lakeview"


def protocol_of(session, contact_id: int) -> OverdoseProtocol | None:  # type: ignore[no-untyped-def]
    session.expire_all()
    return session.scalar(select(OverdoseProtocol).where(
        OverdoseProtocol.contact_id == contact_id))


def test_counselor_marks_an_overdose_and_the_record_switches_to_the_protocol(counselor_client,
                                                                             session):
    live = on_call(session, session.get(User, counselor_client.user_id))
    record = counselor_client.get(f"/records/{live.contact.id}")
    assert b"Mark an overdose in progress" in record.data

    started = counselor_client.post(f"/records/{live.contact.id}/overdose/start")
    assert started.status_code == 302
    assert started.headers["Location"].endswith(f"/records/{live.contact.id}/overdose")
    page = counselor_client.get(f"/records/{live.contact.id}/overdose").get_data(as_text=True)
    for text in ("Overdose protocol", "Confirm where the person is", "Connect 911 now",
                 "not the caller's area", "local emergency number", "Give naloxone (Narcan)",
                 "one slow breath every 5 seconds", "Record the disclosure"):
        assert text in page, text
    assert 'id="od-location" name="location" type="text" maxlength="300" autocomplete="off" ' \
           'autofocus' in page

    # Leaving the protocol loses nothing: the record shows the way back.
    record = counselor_client.get(f"/records/{live.contact.id}").get_data(as_text=True)
    assert "Return to the overdose protocol" in record
    assert protocol_of(session, live.contact.id).source == "counselor"


def test_the_screen_pop_of_a_call_the_ivr_flagged_opens_the_protocol(counselor_client, session):
    live = on_call(session, session.get(User, counselor_client.user_id), overdose_suspected=True)
    first = counselor_client.get(f"/records/{live.contact.id}")
    assert first.status_code == 302
    assert first.headers["Location"].endswith(f"/records/{live.contact.id}/overdose")
    protocol = protocol_of(session, live.contact.id)
    assert protocol.source == "ivr"
    page = counselor_client.get(f"/records/{live.contact.id}/overdose").get_data(as_text=True)
    assert "because the phone menu heard an overdose" in page
    # Going back to the record does not pull the counselor into the protocol again.
    again = counselor_client.get(f"/records/{live.contact.id}")
    assert again.status_code == 200
    assert b"The phone menu heard an overdose." in again.data
    assert b"Return to the overdose protocol" in again.data


def test_each_step_shows_in_the_timeline_with_its_time(counselor_client, session, caplog):
    caplog.set_level(logging.DEBUG)
    live = on_call(session, session.get(User, counselor_client.user_id))
    base = f"/records/{live.contact.id}/overdose"
    counselor_client.post(f"{base}/start")
    located = counselor_client.post(f"{base}/location", {"kind": "address", "location": ADDRESS})
    assert located.headers["Location"].endswith(base)
    assert ADDRESS not in located.headers["Location"]
    connected = counselor_client.post(f"{base}/connect")
    assert connected.headers["Location"].endswith(base)
    counselor_client.post(f"{base}/emergency-outcome", {"outcome": "ems_reached"})
    counselor_client.post(f"{base}/disclosure", {"recipient_name": "Dispatcher 12",
                                                 "recipient_affiliation": "Lakeview 911",
                                                 "nature": "suspected_opioid_overdose",
                                                 "information": ["location", "condition"]})
    counselor_client.post(f"{base}/mark", {"action": "naloxone_given"})
    counselor_client.post(f"{base}/mark", {"action": "breathing"})
    page = counselor_client.get(base).get_data(as_text=True)

    protocol = protocol_of(session, live.contact.id)
    assert [s.step for s in protocol.steps] == [
        "started", "location_confirmed", "emergency_dialed", "emergency_outcome",
        "disclosure_recorded", "naloxone_given", "breathing"]
    timeline = page.split('id="od-timeline"')[1]
    for label in ("Overdose protocol started", "Location confirmed",
                  "Emergency number conferenced in", "help is on the way",
                  "Disclosure to emergency services recorded", "Naloxone given (dose 1)",
                  "Breathing on their own"):
        assert label in timeline, label
    assert timeline.count("<tr data-step=") == 7
    assert "+0:00" in timeline
    assert ADDRESS in page  # shown to the counselor, through the audited read
    assert "Dispatcher 12, Lakeview 911" in page
    reads = session.scalars(select(AuditEvent.action).where(
        AuditEvent.record_id == str(live.contact.id)))
    assert "overdose.location.read" in list(reads)
    assert ADDRESS not in caplog.text and "Birch" not in caplog.text


def test_a_refused_step_says_why_and_records_nothing(counselor_client, session):
    live = on_call(session, session.get(User, counselor_client.user_id))
    base = f"/records/{live.contact.id}/overdose"
    counselor_client.post(f"{base}/start")
    refused = counselor_client.post(f"{base}/location", {"kind": "zip", "location": "123"},
                                    follow_redirects=True)
    assert b"Not recorded: a ZIP code is 5 digits." in refused.data
    assert [s.step for s in protocol_of(session, live.contact.id).steps] == ["started"]


def test_the_guidance_is_read_in_spanish_to_a_spanish_speaking_caller(counselor_client, session):
    live = on_call(session, session.get(User, counselor_client.user_id), language="es")
    counselor_client.post(f"/records/{live.contact.id}/overdose/start")
    page = counselor_client.get(f"/records/{live.contact.id}/overdose").get_data(as_text=True)
    assert 'lang="es"' in page and "Dé naloxona (Narcan)" in page
    english = counselor_client.get(
        f"/records/{live.contact.id}/overdose?lang=en").get_data(as_text=True)
    assert "Give naloxone (Narcan)" in english
    # Marking a step keeps the language the counselor is reading in.
    marked = counselor_client.post(f"/records/{live.contact.id}/overdose/mark",
                                   {"action": "naloxone_given", "lang": "en"})
    assert marked.headers["Location"].endswith("/overdose?lang=en")


def test_after_care_proposes_a_prefilled_follow_up_that_still_needs_consent(counselor_client,
                                                                            session):
    live = on_call(session, session.get(User, counselor_client.user_id))
    base = f"/records/{live.contact.id}/overdose"
    counselor_client.post(f"{base}/start")
    ended = counselor_client.post(f"{base}/end", {"outcome": "ems_took_over"},
                                  follow_redirects=True)
    page = ended.get_data(as_text=True)
    assert "A follow-up is proposed below" in page
    protocol = protocol_of(session, live.contact.id)
    start, end = overdose.followup_window(protocol, "America/New_York")
    assert f'name="window_start" type="datetime-local" value="{start}"' in page
    assert f'name="window_end" type="datetime-local" value="{end}"' in page
    assert 'name="consent" value="1" required' in page

    # Without the caller's consent nothing is requested.
    counselor_client.post(f"/records/{live.contact.id}/followup", {"channel": "call",
                                                                   "same_number": "1"})
    assert session.scalar(select(FollowUp).where(FollowUp.contact_id == live.contact.id)) is None
    counselor_client.post(f"/records/{live.contact.id}/followup", {
        "consent": "1", "channel": "call", "same_number": "1", "window_start": start,
        "window_end": end})
    session.expire_all()
    followup = session.scalar(select(FollowUp).where(FollowUp.contact_id == live.contact.id))
    assert followup is not None and followup.state == "requested"
    page = counselor_client.get(base).get_data(as_text=True)
    assert "A follow-up was requested" in page


def test_another_counselor_cannot_open_the_protocol(counselor_client, staff_factory, session):
    live = on_call(session, session.get(User, counselor_client.user_id))
    base = f"/records/{live.contact.id}/overdose"
    counselor_client.post(f"{base}/start")
    counselor_client.post(f"{base}/location", {"kind": "address", "location": ADDRESS})
    other = staff_factory("counselor")
    page = other.get(base)
    assert page.status_code == 404
    assert ADDRESS.encode() not in page.data
    assert other.post(f"{base}/mark", {"action": "naloxone_given"}).status_code == 404
    assert other.post(f"/records/{live.contact.id}/overdose/start").status_code == 404
    refused = session.scalars(select(AuditEvent).where(AuditEvent.action == "contact.refused"))
    assert {(e.actor_id, e.record_id) for e in refused} == {(other.user_id,
                                                             str(live.contact.id))}
    assert [s.step for s in protocol_of(session, live.contact.id).steps] == [
        "started", "location_confirmed"]


def test_a_supervisor_follows_the_protocol_without_changing_it(counselor_client, supervisor_client,
                                                               session):
    live = on_call(session, session.get(User, counselor_client.user_id))
    base = f"/records/{live.contact.id}/overdose"
    counselor_client.post(f"{base}/start")
    page = supervisor_client.get(base).get_data(as_text=True)
    assert "Overdose protocol" in page and "in progress" in page
    assert "Connect 911 now" not in page and "Record the disclosure" not in page
    supervisor_client.post(f"{base}/mark", {"action": "naloxone_given"})
    assert [s.step for s in protocol_of(session, live.contact.id).steps] == ["started"]


def test_a_record_without_a_protocol_has_no_protocol_page(counselor_client, session):
    live = on_call(session, session.get(User, counselor_client.user_id))
    assert counselor_client.get(f"/records/{live.contact.id}/overdose").status_code == 404
    assert session.get(Contact, live.contact.id).overdose_risk is None
