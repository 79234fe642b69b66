"""The call record: screen pop, autosave, notes audited, XSS shown as text, wrap-up,
referrals texted only with consent, history and its export."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from helpline.models import (
    FULL_ATTESTATION,
    AgentStatus,
    AuditEvent,
    Contact,
    OutboxMessage,
    Referral,
    SmsOptOut,
    User,
)
from helpline.records import contacts
from tests.factories import make_call, make_contact, make_user

SCRIPT = "<script>alert(1)</script>"


def open_record(session, staff, number="+15555550111", **call_fields):  # type: ignore[no-untyped-def]
    user = session.get(User, staff.user_id)
    call = make_call(session, number, need="treatment", language="es", zip_code="10001",
                     wait_seconds=95, **call_fields)
    contact = contacts.open_contact_for_call(session, user, call)
    user.status = AgentStatus.ON_CALL
    session.commit()
    return contact


def test_screen_pop_shows_what_the_ivr_learned_and_earlier_contacts(counselor_client, session):
    other = make_user(session)
    old = make_contact(session, other, make_call(session, "+15555550111"), outcome="referred",
                       notes="earlier note")
    session.commit()
    contact = open_record(session, counselor_client, caller_attestation=FULL_ATTESTATION)
    page = counselor_client.get(f"/records/{contact.id}")
    assert page.status_code == 200
    for text in (b"treatment", b"10001", b"1 min 35 s", b"earlier-contacts", b"earlier note"):
        assert text in page.data
    assert page.headers["Cache-Control"] == "no-store"
    reads = session.scalars(select(AuditEvent.record_id).where(
        AuditEvent.action == "contact.notes.read"))
    assert str(old.id) in list(reads)


def _earlier_contact_of_another_counselor(session):  # type: ignore[no-untyped-def]
    other = make_user(session)
    old = make_contact(session, other, make_call(session, "+15555550111"), outcome="referred",
                       notes="what the caller confided")
    old.referrals.append(Referral(kind="center", target_id=1, target_name="Harbor Clinic"))
    session.commit()
    return old


def _screen_pop_audit(session, contact):  # type: ignore[no-untyped-def]
    return session.scalars(select(AuditEvent).where(
        AuditEvent.action == "contact.view", AuditEvent.record_id == str(contact.id))).one()


def test_a_verified_caller_id_shows_earlier_notes_on_the_screen_pop(counselor_client, session):
    old = _earlier_contact_of_another_counselor(session)
    contact = open_record(session, counselor_client, caller_attestation="TN-Validation-Passed-A")
    page = counselor_client.get(f"/records/{contact.id}")
    assert page.status_code == 200
    assert b"what the caller confided" in page.data
    assert b"earlier-notes-hidden" not in page.data
    assert _screen_pop_audit(session, contact).detail == {
        "caller_id": "verified", "attestation": "TN-Validation-Passed-A"}
    assert counselor_client.get(f"/records/{old.id}").status_code == 200


@pytest.mark.parametrize("attestation", ["TN-Validation-Passed-B", "TN-Validation-Passed-C",
                                         "TN-Validation-Failed", "No-TN-Validation", None])
def test_an_unverified_caller_id_hides_earlier_notes_and_keeps_the_rest(
        counselor_client, session, attestation):  # type: ignore[no-untyped-def]
    old = _earlier_contact_of_another_counselor(session)
    contact = open_record(session, counselor_client, caller_attestation=attestation)
    page = counselor_client.get(f"/records/{contact.id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "what the caller confided" not in text
    assert "caller ID is not verified" in text
    # Dates, outcomes and referrals still tell the counselor this caller has called before.
    assert old.created_at.strftime("%Y-%m-%d") in text
    assert "Referred to treatment" in text and "Harbor Clinic" in text
    assert _screen_pop_audit(session, contact).detail == {
        "caller_id": "unverified", "attestation": attestation}
    assert not session.scalars(select(AuditEvent).where(
        AuditEvent.action == "contact.notes.read",
        AuditEvent.record_id == str(old.id))).all()
    # The earlier record's own page stays closed too: the same rule, one place.
    assert counselor_client.get(f"/records/{old.id}").status_code == 404


def test_draft_autosaves_each_field_and_notes_are_encrypted(counselor_client, session, db):
    contact = open_record(session, counselor_client)
    resp = counselor_client.post(f"/records/{contact.id}/draft", {
        "caller_type": "family_friend", "substances_present": "1",
        "substances": ["opioids", "alcohol"], "suicide_risk": "low", "age_range": "26_40",
        "state": "ny", "insurance": "medicaid", "outcome": "referred",
        "notes": "Worried about her brother."}, headers={"HX-Request": "true"})
    assert resp.status_code == 200 and b"Saved at" in resp.data
    session.expire_all()
    saved = session.get(Contact, contact.id)
    assert saved.substances == ["opioids", "alcohol"] and saved.state == "NY"
    with db.engine.connect() as conn:
        from sqlalchemy import text

        raw = conn.execute(text("SELECT notes FROM contacts WHERE id = :i"),
                           {"i": contact.id}).scalar()
    assert raw.startswith("hl1:") and "brother" not in raw


def test_a_bad_choice_is_refused_without_saving(counselor_client, session):
    contact = open_record(session, counselor_client)
    resp = counselor_client.post(f"/records/{contact.id}/draft", {"caller_type": "martian"})
    assert resp.status_code == 422


def test_script_in_notes_and_text_fields_is_shown_as_text(counselor_client, supervisor_client,
                                                          session):
    contact = open_record(session, counselor_client)
    counselor_client.post(f"/records/{contact.id}/draft", {"notes": SCRIPT, "zip_code": "10001"})
    c = session.get(Contact, contact.id)
    user = session.get(User, counselor_client.user_id)
    from helpline.models import TreatmentCenter

    center = TreatmentCenter(name=SCRIPT, city=SCRIPT, state="NY", zip_code="10001")
    session.add(center)
    session.flush()
    contacts.attach_referral(session, c, user, "center", center.id)
    session.commit()
    for staff in (counselor_client, supervisor_client):
        page = staff.get(f"/records/{contact.id}").data
        assert SCRIPT.encode() not in page
        assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_imminent_risk_needs_crisis_steps_before_wrap_up(counselor_client, session):
    contact = open_record(session, counselor_client)
    counselor_client.post(f"/records/{contact.id}/draft",
                          {"overdose_risk": "imminent", "outcome": "emergency"})
    page = counselor_client.get(f"/records/{contact.id}").data
    assert b'id="crisis-steps" class="crisis">' in page  # shown, not hidden
    counselor_client.post(f"/records/{contact.id}/wrap-up")
    session.expire_all()
    assert session.get(Contact, contact.id).status == "open"
    counselor_client.post(f"/records/{contact.id}/draft", {
        "crisis_steps_present": "1", "crisis_steps": ["stayed_on_line", "called_911"]})
    counselor_client.post(f"/records/{contact.id}/wrap-up")
    session.expire_all()
    assert session.get(Contact, contact.id).status == "closed"


HX = {"HX-Request": "true"}


def test_a_refused_wrap_up_lists_everything_missing_next_to_wrap_up(counselor_client, session):
    contact = open_record(session, counselor_client)
    counselor_client.post(f"/records/{contact.id}/draft", {"suicide_risk": "imminent"})
    # Without HTMX: back on the record, the list beside the button.
    page = counselor_client.post(f"/records/{contact.id}/wrap-up", follow_redirects=True)
    html = page.get_data(as_text=True)
    box = html[html.index('id="wrap-up-box"'):]
    assert 'id="wrap-up-missing"' in box
    for code in ("outcome", "crisis_steps"):
        assert contacts.WRAP_UP_NEEDS[code] in box
    # With HTMX: a 200 (htmx swaps no 4xx) holding the box, the list and the override.
    fragment = counselor_client.post(f"/records/{contact.id}/wrap-up", headers=HX)
    assert fragment.status_code == 200
    text = fragment.get_data(as_text=True)
    assert "<html" not in text and 'id="wrap-up-box"' in text
    assert contacts.WRAP_UP_NEEDS["outcome"] in text and 'id="wrap-up-override"' in text
    session.expire_all()
    assert session.get(Contact, contact.id).status == "open"


def test_a_documented_record_wraps_up_through_htmx(counselor_client, session):
    contact = open_record(session, counselor_client)
    counselor_client.post(f"/records/{contact.id}/draft", {
        "suicide_risk": "imminent", "outcome": "crisis_transfer",
        "crisis_steps_present": "1", "crisis_steps": ["warm_transfer_988"]})
    resp = counselor_client.post(f"/records/{contact.id}/wrap-up", headers=HX)
    assert resp.status_code == 200 and resp.headers["HX-Redirect"] == "/"
    session.expire_all()
    assert session.get(Contact, contact.id).status == "closed"


def test_closing_anyway_with_a_reason_alerts_the_supervisors(counselor_client,
                                                             supervisor_client, session):
    contact = open_record(session, counselor_client)
    counselor_client.post(f"/records/{contact.id}/draft", {"suicide_risk": "imminent"})
    no_reason = counselor_client.post(f"/records/{contact.id}/wrap-up/override",
                                      {"reason": ""}, headers=HX)
    assert no_reason.status_code == 200 and b'id="override-error"' in no_reason.data
    session.expire_all()
    assert session.get(Contact, contact.id).status == "open"
    resp = counselor_client.post(f"/records/{contact.id}/wrap-up/override",
                                 {"reason": "The line dropped mid-sentence"})
    assert resp.status_code == 302
    session.expire_all()
    assert session.get(Contact, contact.id).status == "closed"
    # The wallboard, where supervisors watch the floor, says so and links to the review.
    board = supervisor_client.get("/supervisor/wallboard").get_data(as_text=True)
    alert = board[board.index('id="wrap-up-override-alert"'):]
    assert "1 record closed with something missing" in alert
    assert 'href="/supervisor/audit#wrap-up-overrides"' in alert
    audit_page = supervisor_client.get("/supervisor/audit").get_data(as_text=True)
    panel = audit_page[audit_page.index('id="wrap-up-overrides"'):]
    assert f"Record #{contact.id}" in panel
    assert contacts.WRAP_UP_NEEDS["crisis_steps"] in panel
    assert "line dropped" not in audit_page
    record = supervisor_client.get(f"/records/{contact.id}").get_data(as_text=True)
    assert "The line dropped mid-sentence" in record


def test_wrap_up_closes_the_record_and_frees_the_counselor(counselor_client, session):
    contact = open_record(session, counselor_client)
    counselor_client.post(f"/records/{contact.id}/draft", {"outcome": "information"})
    resp = counselor_client.post(f"/records/{contact.id}/wrap-up")
    assert resp.status_code == 302
    session.expire_all()
    assert session.get(Contact, contact.id).status == "closed"
    assert session.get(User, counselor_client.user_id).status == AgentStatus.AVAILABLE
    assert counselor_client.post(f"/records/{contact.id}/draft",
                                 {"notes": "late"}).status_code == 422


def test_note_view_leaves_an_audit_trail(supervisor_client, session):
    counselor = make_user(session)
    contact = make_contact(session, counselor, make_call(session), notes="secret")
    session.commit()
    supervisor_client.get(f"/records/{contact.id}")
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "contact.notes.read"))
    assert event.actor_id == supervisor_client.user_id and event.record_id == str(contact.id)
    assert "secret" not in str(event.detail)


def _center(session):  # type: ignore[no-untyped-def]
    from helpline.models import TreatmentCenter

    center = TreatmentCenter(name="Harbor Recovery", street1="1 Main St", city="Albany",
                             state="NY", zip_code="12207", phone="555-0142")
    session.add(center)
    session.commit()
    return center


def test_referral_is_texted_only_with_consent_and_the_text_is_neutral(counselor_client, session):
    contact = open_record(session, counselor_client)
    center = _center(session)
    resp = counselor_client.post(f"/records/{contact.id}/referrals",
                                 {"kind": "center", "target_id": str(center.id)})
    assert resp.status_code == 200 and b"Harbor Recovery" in resp.data
    counselor_client.post(f"/records/{contact.id}/draft", {"notes": "uses fentanyl daily"})
    resp = counselor_client.post(f"/records/{contact.id}/referrals/text")
    assert resp.status_code == 422 and b"not agreed" in resp.data
    counselor_client.post(f"/records/{contact.id}/draft", {"sms_consent_present": "1",
                                                           "sms_consent": "1"})
    resp = counselor_client.post(f"/records/{contact.id}/referrals/text")
    assert resp.status_code == 200, resp.data
    sms = session.scalar(select(OutboxMessage).where(OutboxMessage.purpose == "referral"))
    assert "Harbor Recovery" in sms.body and "555-0142" in sms.body
    assert "fentanyl" not in sms.body.lower()
    session.expire_all()
    assert session.get(Contact, contact.id).referrals[0].sent_by_sms_at is not None


def test_no_text_to_a_caller_who_opted_out(counselor_client, session):
    from helpline import crypto

    contact = open_record(session, counselor_client, "+15555550177")
    session.add(SmsOptOut(caller_hash=crypto.caller_hash("+15555550177")))
    center = _center(session)
    counselor_client.post(f"/records/{contact.id}/referrals", {"kind": "center",
                                                               "target_id": str(center.id)})
    counselor_client.post(f"/records/{contact.id}/draft", {"sms_consent_present": "1",
                                                           "sms_consent": "1"})
    resp = counselor_client.post(f"/records/{contact.id}/referrals/text")
    assert resp.status_code == 422 and b"opted out" in resp.data
    assert session.scalar(select(OutboxMessage.id)) is None


def test_history_lists_own_records_and_filters_by_need(counselor_client, session):
    mine = open_record(session, counselor_client)
    other = make_contact(session, make_user(session), need="treatment")
    session.commit()
    page = counselor_client.get("/history?need=treatment").data
    assert f"Open #{mine.id}<".encode() in page and f"Open #{other.id}<".encode() not in page
    assert f"Open #{mine.id}<".encode() not in counselor_client.get("/history?need=crisis").data


def test_supervisor_exports_csv_without_notes(supervisor_client, session):
    counselor = make_user(session)
    make_contact(session, counselor, make_call(session), notes="never in csv", need="self")
    session.commit()
    resp = supervisor_client.get("/history.csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    body = resp.get_data(as_text=True)
    assert "need" in body.splitlines()[0] and "never in csv" not in body


def test_counselor_cannot_export(counselor_client):
    assert counselor_client.get("/history.csv").status_code == 403


def test_history_pages_with_a_cursor(supervisor_client, session):
    counselor = make_user(session)
    for _ in range(55):
        make_contact(session, counselor)
    session.commit()
    first = contacts.history_page(session, session.get(User, supervisor_client.user_id),
                                  contacts.HistoryFilters())
    assert len(first.rows) == 50 and first.next_cursor
    second = contacts.history_page(session, session.get(User, supervisor_client.user_id),
                                   contacts.HistoryFilters(), first.next_cursor)
    assert len(second.rows) == 5
    assert not {r.id for r in first.rows} & {r.id for r in second.rows}


def test_home_shows_status_and_queues(counselor_client, session):
    make_call(session, status="queued", queue_name="treatment-en", need="treatment")
    session.commit()
    page = counselor_client.get("/").data
    assert b"Take next call" in page and b"Treatment, English" in page
    resp = counselor_client.post("/status", {"status": "available"})
    assert resp.status_code == 302
    session.expire_all()
    assert session.get(User, counselor_client.user_id).status == "available"


def test_queue_events_stream_the_table(counselor_client, session):
    make_call(session, status="queued", queue_name="crisis-en", need="crisis")
    session.commit()
    resp = counselor_client.get("/queues/events?lifetime=0")
    body = resp.get_data(as_text=True)
    assert resp.mimetype == "text/event-stream"
    assert "event: queues" in body and "Crisis, English" in body
