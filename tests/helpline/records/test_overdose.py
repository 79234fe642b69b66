"""The protocol as a service: every step timed (a fake clock), the location sealed and read
only through an audited door, 911 conferenced in with the caller on the line, the §2.51
disclosure recorded, and after-care proposing a follow-up."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text

from helpline.models import AuditEvent, OutboxMessage, ProtocolStep
from helpline.records import contacts, overdose
from helpline.telephony import OutboxTelephony, TwilioTelephony
from tests.factories import make_user
from tests.fakes.twilio_api import FakeTwilioApi
from tests.fixtures.overdose import T0, at, on_call

ADDRESS = "12 Maple Street, Apt 3, Springfield"


def audits(session, action: str) -> int:  # type: ignore[no-untyped-def]
    return session.scalar(select(func.count()).select_from(AuditEvent)
                          .where(AuditEvent.action == action))


def test_every_step_is_recorded_with_its_time_who_did_it_and_the_outcome(session, worker,
                                                                         settings):
    live = on_call(session, worker)
    phone = OutboxTelephony(settings)
    protocol = overdose.start_protocol(session, live.contact, worker, now=T0)
    overdose.confirm_location(session, protocol, live.contact, worker, kind="address",
                              location=ADDRESS, now=at(25))
    overdose.connect_emergency(session, protocol, live.contact, worker, phone, settings,
                               now=at(40))
    overdose.record_emergency_outcome(session, protocol, live.contact, worker, "ems_reached",
                                      now=at(95))
    overdose.record_disclosure(session, protocol, live.contact, worker,
                               recipient_name="Dispatcher 41",
                               recipient_affiliation="Springfield County 911",
                               nature="suspected_opioid_overdose",
                               information=["location", "condition"], now=at(130))
    overdose.mark(session, protocol, live.contact, worker, "naloxone_given", now=at(150))
    overdose.mark(session, protocol, live.contact, worker, "rescue_breathing", now=at(160))
    overdose.mark(session, protocol, live.contact, worker, "naloxone_given", now=at(330))
    overdose.mark(session, protocol, live.contact, worker, "breathing", now=at(345))
    overdose.mark(session, protocol, live.contact, worker, "ems_arrived", now=at(600))
    overdose.end_emergency(session, protocol, live.contact, worker, "ems_took_over", now=at(660))
    session.commit()

    steps = list(session.scalars(select(ProtocolStep).where(
        ProtocolStep.protocol_id == protocol.id).order_by(ProtocolStep.at, ProtocolStep.id)))
    assert [(s.step, s.at, s.by_id, s.outcome) for s in steps] == [
        ("started", T0, worker.id, "counselor"),
        ("location_confirmed", at(25), worker.id, "address"),
        ("emergency_dialed", at(40), worker.id, "placed"),
        ("emergency_outcome", at(95), worker.id, "ems_reached"),
        ("disclosure_recorded", at(130), worker.id, "suspected_opioid_overdose"),
        ("naloxone_given", at(150), worker.id, None),
        ("rescue_breathing", at(160), worker.id, None),
        ("naloxone_given", at(330), worker.id, None),
        ("breathing", at(345), worker.id, None),
        ("ems_arrived", at(600), worker.id, None),
        ("ended", at(660), worker.id, "ems_took_over"),
        ("followup_proposed", at(660), worker.id, None),
    ]
    assert [s.detail.get("dose") for s in steps if s.step == "naloxone_given"] == [1, 2]
    assert (protocol.started_at, protocol.ended_at, protocol.end_outcome) == (
        T0, at(660), "ems_took_over")
    # The record follows: imminent overdose risk, and the crisis steps the protocol covered,
    # so the record can be wrapped up.
    assert live.contact.overdose_risk == "imminent"
    assert live.contact.crisis_steps == ["got_location", "called_911", "ems_confirmed"]
    live.contact.suicide_risk, live.contact.outcome = "none", "emergency"
    contacts.wrap_up(session, live.contact, worker, now=at(700))
    assert live.contact.status == "closed"


def test_marking_an_overdose_twice_keeps_one_protocol(session, worker):
    live = on_call(session, worker)
    first = overdose.start_protocol(session, live.contact, worker, now=T0)
    again = overdose.start_protocol(session, live.contact, worker, now=at(5))
    assert again.id == first.id
    assert [s.step for s in first.steps] == ["started"]


def test_the_location_is_sealed_at_rest_and_every_read_is_audited(session, worker, db):
    live = on_call(session, worker)
    protocol = overdose.start_protocol(session, live.contact, worker, now=T0)
    overdose.confirm_location(session, protocol, live.contact, worker, kind="address",
                              location=ADDRESS, now=at(20))
    session.commit()
    with db.engine.connect() as conn:
        raw = conn.execute(text("SELECT location FROM overdose_protocols WHERE id = :i"),
                           {"i": protocol.id}).scalar()
    assert raw.startswith("hl1:") and "Maple" not in raw

    assert overdose.read_location(session, worker, protocol, live.contact, "10.0.0.5") == ADDRESS
    assert audits(session, "overdose.location.read") == 1
    read = session.scalar(select(AuditEvent).where(AuditEvent.action == "overdose.location.read"))
    assert read.actor_id == worker.id and read.address == "10.0.0.5"
    assert "Maple" not in str(read.detail)

    stranger = make_user(session)
    with pytest.raises(PermissionError):
        overdose.read_location(session, stranger, protocol, live.contact, "10.0.0.6")
    assert audits(session, "overdose.location.refused") == 1


@pytest.mark.parametrize(("kind", "location", "message"), [
    ("address", "   ", "type the address"),
    ("zip", "1234", "5 digits"),
    ("street", ADDRESS, "address, a ZIP code, or unknown"),
    ("address", "x" * 301, "at most 300"),
])
def test_a_location_that_cannot_be_used_is_refused(session, worker, kind, location, message):
    live = on_call(session, worker)
    protocol = overdose.start_protocol(session, live.contact, worker, now=T0)
    with pytest.raises(overdose.ProtocolError, match=message):
        overdose.confirm_location(session, protocol, live.contact, worker, kind=kind,
                                  location=location)


def test_an_unknown_location_is_recorded_without_a_value(session, worker):
    live = on_call(session, worker)
    protocol = overdose.start_protocol(session, live.contact, worker, now=T0)
    overdose.confirm_location(session, protocol, live.contact, worker, kind="unknown",
                              location="ignored", now=at(10))
    assert overdose.read_location(session, worker, protocol, live.contact, None) == ""
    assert "got_location" not in live.contact.crisis_steps


def test_911_is_conferenced_in_with_the_caller_and_counselor_staying_on(session, worker,
                                                                        settings):
    live = on_call(session, worker)
    phone = OutboxTelephony(settings)
    # The counselor's leg, as take_next_call placed it.
    leg = phone.place_call(session, f"client:{worker.client_identity}",
                           "http://helpline.test/ivr/counselor/connect", purpose="counselor_leg")
    protocol = overdose.start_protocol(session, live.contact, worker, now=T0)
    overdose.connect_emergency(session, protocol, live.contact, worker, phone, settings,
                               now=at(30))
    session.commit()
    room = f"overdose-{protocol.id}"
    sent = list(session.scalars(select(OutboxMessage).where(
        OutboxMessage.purpose.in_(("overdose_conference", "overdose_911")))
        .order_by(OutboxMessage.id)))
    assert [(m.kind, m.provider_sid, m.to_number, m.purpose) for m in sent] == [
        ("redirect", live.call.call_sid, "+15555550123", "overdose_conference"),
        ("redirect", leg.provider_sid, f"client:{worker.client_identity}",
         "overdose_conference"),
        ("call", sent[2].provider_sid, "911", "overdose_911"),
    ]
    for message, role in zip(sent, ("caller", "counselor", "emergency"), strict=True):
        assert message.twiml_url == (f"http://helpline.test/ivr/conference/join?room={room}"
                                     f"&role={role}&lang=en")
    assert sent[2].from_number == settings.helpline_number
    assert protocol.conference_room == room


def test_the_emergency_number_is_a_setting(session, worker, settings):
    live = on_call(session, worker)
    local = settings.with_overrides(emergency_number="933")
    protocol = overdose.start_protocol(session, live.contact, worker, now=T0)
    legs = overdose.connect_emergency(session, protocol, live.contact, worker,
                                      OutboxTelephony(local), local)
    assert legs[-1].to_number == "933"


def test_through_twilio_the_live_calls_are_moved_and_911_is_dialled(session, worker, settings):
    live = on_call(session, worker)
    api = FakeTwilioApi()
    twilio = TwilioTelephony(settings.with_overrides(
        twilio_account_sid="AC" + "1" * 32, telephony="twilio"), http_client=api)
    protocol = overdose.start_protocol(session, live.contact, worker, now=T0)
    overdose.connect_emergency(session, protocol, live.contact, worker, twilio, settings)
    caller_update, counselor_call, emergency_call = api.requests
    assert caller_update.uri.endswith(f"/Calls/{live.call.call_sid}.json")
    assert caller_update.data["Url"].endswith("role=caller&lang=en")
    assert counselor_call.data["To"] == f"client:{worker.client_identity}"
    assert emergency_call.data["To"] == "911"
    assert emergency_call.data["From"] == settings.helpline_number
    assert protocol.steps[-1].outcome == "placed"


def test_a_failed_emergency_call_is_recorded_as_failed(session, worker, settings):
    class FailingEmergency(FakeTwilioApi):
        def request(self, method, uri, params=None, data=None, **kw):  # type: ignore[no-untyped-def]
            if (data or {}).get("To") == "911":
                self.fail_next = (400, 13224, "cannot call this number")
            return super().request(method, uri, params, data, **kw)

    live = on_call(session, worker)
    twilio = TwilioTelephony(settings.with_overrides(
        twilio_account_sid="AC" + "1" * 32, telephony="twilio"), http_client=FailingEmergency())
    protocol = overdose.start_protocol(session, live.contact, worker, now=T0)
    legs = overdose.connect_emergency(session, protocol, live.contact, worker, twilio, settings)
    assert legs[-1].status == "failed"
    assert protocol.steps[-1].outcome == "failed"
    assert "called_911" not in live.contact.crisis_steps


def test_the_disclosure_to_ems_records_whom_who_when_and_the_nature(session, worker, settings):
    live = on_call(session, worker)
    protocol = overdose.start_protocol(session, live.contact, worker, now=T0)
    overdose.connect_emergency(session, protocol, live.contact, worker,
                               OutboxTelephony(settings), settings, now=at(30))
    disclosure = overdose.record_disclosure(
        session, protocol, live.contact, worker, recipient_name="  Dispatcher   41 ",
        recipient_affiliation="Springfield County 911", nature="suspected_opioid_overdose",
        information=["substances", "location"], now=at(90))
    session.commit()
    assert (disclosure.recipient_name, disclosure.recipient_affiliation) == (
        "Dispatcher 41", "Springfield County 911")
    assert disclosure.disclosed_by_id == worker.id
    # Made when 911 was conferenced in; recorded right after.
    assert (disclosure.disclosed_at, disclosure.recorded_at) == (at(30), at(90))
    assert disclosure.nature == "suspected_opioid_overdose"
    assert disclosure.information == ["location", "substances"]
    assert disclosure.legal_basis == "42 CFR 2.51"
    # Easy to list later: by record, by caller, by time.
    for listed in (overdose.emergency_disclosures(session, contact_id=live.contact.id),
                   overdose.emergency_disclosures(session, caller_hash=live.call.caller_hash),
                   overdose.emergency_disclosures(session, since=T0, until=at(60))):
        assert [d.id for d in listed] == [disclosure.id]
    assert overdose.emergency_disclosures(session, since=at(60)) == []
    assert audits(session, "disclosure.emergency") == 1


@pytest.mark.parametrize(("fields", "message"), [
    ({"recipient_name": ""}, "who received it"),
    ({"recipient_affiliation": " "}, "their service"),
    ({"nature": "overdose"}, "nature of the emergency"),
    ({"information": ["notes"]}, "not one of the choices"),
    ({"disclosed_at": T0 + dt.timedelta(hours=1)}, "future"),
])
def test_an_incomplete_disclosure_is_refused(session, worker, fields, message):
    live = on_call(session, worker)
    protocol = overdose.start_protocol(session, live.contact, worker, now=T0)
    args = {"recipient_name": "Dispatcher 41", "recipient_affiliation": "County 911",
            "nature": "suspected_overdose", "information": ["location"], "now": at(60),
            **fields}
    with pytest.raises(overdose.ProtocolError, match=message):
        overdose.record_disclosure(session, protocol, live.contact, worker, **args)


def test_after_care_proposes_a_follow_up_24_to_72_hours_later(session, worker):
    live = on_call(session, worker)
    protocol = overdose.start_protocol(session, live.contact, worker, now=T0)
    overdose.end_emergency(session, protocol, live.contact, worker, "recovered_declined",
                           now=at(600))
    assert [s.step for s in protocol.steps][-2:] == ["ended", "followup_proposed"]
    # 19:10 UTC is 14:10 in New York; the window opens a day later and closes three days later.
    assert overdose.followup_window(protocol, "America/New_York") == (
        "2026-03-05T14:10", "2026-03-07T14:10")
    assert overdose.followup_requested(session, protocol) is None


def test_nothing_more_is_recorded_once_the_emergency_is_over(session, worker):
    live = on_call(session, worker)
    protocol = overdose.start_protocol(session, live.contact, worker, now=T0)
    overdose.end_emergency(session, protocol, live.contact, worker, "transported", now=at(60))
    with pytest.raises(overdose.ProtocolError, match="already closed"):
        overdose.mark(session, protocol, live.contact, worker, "naloxone_given")
    # The disclosure may still be recorded right after, even once it is over.
    overdose.record_disclosure(session, protocol, live.contact, worker, recipient_name="Medic 7",
                               recipient_affiliation="County EMS", nature="suspected_overdose",
                               information=[], now=at(70))


def test_another_counselor_cannot_record_a_step(session, worker):
    live = on_call(session, worker)
    protocol = overdose.start_protocol(session, live.contact, worker, now=T0)
    other = make_user(session)
    with pytest.raises(overdose.ProtocolError, match="not yours"):
        overdose.mark(session, protocol, live.contact, other, "naloxone_given")
    with pytest.raises(overdose.ProtocolError, match="not yours"):
        overdose.start_protocol(session, on_call(session, worker).contact, other)


def test_an_unknown_action_is_refused(session, worker):
    live = on_call(session, worker)
    protocol = overdose.start_protocol(session, live.contact, worker, now=T0)
    with pytest.raises(overdose.ProtocolError):
        overdose.mark(session, protocol, live.contact, worker, "ended")


def test_the_retention_purge_removes_old_locations(session, worker, settings):
    from helpline.app.jobs import purge_expired_data

    live = on_call(session, worker)
    protocol = overdose.start_protocol(session, live.contact, worker, now=T0)
    overdose.confirm_location(session, protocol, live.contact, worker, kind="address",
                              location=ADDRESS, now=at(20))
    disclosure = overdose.record_disclosure(
        session, protocol, live.contact, worker, recipient_name="Medic 7",
        recipient_affiliation="County EMS", nature="suspected_overdose", information=[],
        now=at(30))
    session.commit()
    assert disclosure.caller_hash is not None
    keep = settings.with_overrides(retention_days=30)
    assert purge_expired_data(session, keep, now=T0 + dt.timedelta(days=29))[
        "overdose_locations"] == 0
    counts = purge_expired_data(session, keep, now=T0 + dt.timedelta(days=31))
    session.commit()
    assert counts["overdose_locations"] == 1
    session.expire_all()
    # The §2.51 record stays (who was told what, when) but no longer names the caller.
    assert disclosure.caller_hash is None and disclosure.recipient_name == "Medic 7"
    assert overdose.read_location(session, worker, protocol, live.contact, None) == ""
    # The steps and their times stay: they are not confidential.
    assert [s.step for s in protocol.steps] == [
        "started", "location_confirmed", "disclosure_recorded"]
