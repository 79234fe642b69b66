"""The FHIR referral from the outside: staff download it from the handoff page or the CLI, and
the center's system updates its Task at /fhir/Task/{id} with the integration's token."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from helpline.config import settings_for_tests
from helpline.consent import door
from helpline.db import utcnow
from helpline.models import Disclosure, Referral, TreatmentCenter, User
from tests.fixtures.consent import OnCall, on_call
from tests.fixtures.referrals import refer

TOKEN = "fhir-" + "t" * 40


@pytest.fixture
def settings(tmp_path, database_url):  # type: ignore[no-untyped-def]
    return settings_for_tests(tmp_path, database_url=database_url, fhir_task_token=TOKEN)


def agree_to_share(session, rec: OnCall, center_id: int, by: User) -> None:
    # On the wall clock: the pages and the CLI ask the consent door about now.
    center = session.get(TreatmentCenter, center_id)
    door.record_consent(
        session, caller_hash=rec.contact.caller_hash, scope="provider",
        purpose="treatment_intake", wording="Yes, you may tell them.", by=by,
        script_version="provider-1", contact=rec.contact,
        recipient=door.Recipient.provider(center.id, center.name),
        expires_at=utcnow() + dt.timedelta(days=30), expiry_event="referral_closed")
    session.commit()


def _scene(session, counselor_client, consent=True):  # type: ignore[no-untyped-def]
    me = session.get(User, counselor_client.user_id)
    rec = on_call(session, me)
    referral = refer(session, rec)
    if consent:
        agree_to_share(session, rec, referral.target_id, me)
    return rec, referral


def _task(referral: Referral, status: str) -> dict:
    return {"resourceType": "Task", "id": f"referral-{referral.id}", "status": status,
            "intent": "order",
            "focus": {"reference": f"ServiceRequest/referral-{referral.id}"},
            "owner": {"reference": f"Organization/center-{referral.target_id}"}}


def _put(client, referral: Referral, status: str, token: str | None = TOKEN):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.put(f"/fhir/Task/referral-{referral.id}", data=json.dumps(_task(
        referral, status)), headers=headers, content_type="application/fhir+json")


def test_staff_download_the_referral_and_the_centers_update_changes_its_outcome(
        session, counselor_client, client):
    rec, referral = _scene(session, counselor_client)
    page = counselor_client.get(f"/records/{rec.contact.id}/referrals/{referral.id}/handoff")
    assert 'id="export-fhir"' in page.get_data(as_text=True)
    download = counselor_client.post(f"/records/{rec.contact.id}/referrals/{referral.id}/fhir")
    assert download.status_code == 200 and download.mimetype == "application/fhir+json"
    assert "attachment" in download.headers["Content-Disposition"]
    Bundle.model_validate(download.get_json())
    assert session.scalar(select(Disclosure.channel)) == "fhir"

    # No staff session and no CSRF token: the bearer token is the whole rule.
    answer = _put(client, referral, "accepted")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.mimetype == "application/fhir+json"
    assert answer.get_json()["status"] == "accepted"
    session.expire_all()
    assert session.get(Referral, referral.id).outcome == "appointment"
    assert client.get(f"/fhir/Task/referral-{referral.id}", headers={
        "Authorization": f"Bearer {TOKEN}"}).get_json()["status"] == "accepted"


def test_without_consent_the_download_is_refused_with_the_reason(session, counselor_client):
    rec, referral = _scene(session, counselor_client, consent=False)
    refused = counselor_client.post(f"/records/{rec.contact.id}/referrals/{referral.id}/fhir",
                                    follow_redirects=True)
    assert "Referral not sent: the caller has not agreed to sharing" in refused.get_data(
        as_text=True)
    assert session.scalar(select(Disclosure.id)) is None


def test_the_task_endpoint_needs_the_token_and_a_sent_referral(session, counselor_client,
                                                               client):
    rec, referral = _scene(session, counselor_client)
    assert _put(client, referral, "accepted").status_code == 404  # never sent
    counselor_client.post(f"/records/{rec.contact.id}/referrals/{referral.id}/fhir")
    for token in (None, "wrong-" + "x" * 40):
        refused = _put(client, referral, "completed", token)
        assert refused.status_code == 401
        assert refused.get_json()["resourceType"] == "OperationOutcome"
    session.expire_all()
    assert session.get(Referral, referral.id).outcome is None


def test_the_task_endpoint_is_closed_without_the_setting(tmp_path, database_url):  # type: ignore[no-untyped-def]
    from helpline.app import create_app

    app = create_app(settings_for_tests(tmp_path, database_url=database_url))
    try:
        answer = app.test_client().put("/fhir/Task/referral-1", json={},
                                       headers={"Authorization": "Bearer "})
        assert answer.status_code == 404
    finally:
        app.extensions["helpline"].db.dispose()


def test_the_cli_exports_or_refuses_with_the_reason(session, counselor_client, run_cli,
                                                    tmp_path):
    _rec, referral = _scene(session, counselor_client, consent=False)
    refused = run_cli("referral", "fhir", str(referral.id), "--by", counselor_client.username)
    assert refused.exit_code == 1 and "has not agreed to sharing" in refused.output
    agree_to_share(session, _rec, referral.target_id, session.get(User,
                                                                  counselor_client.user_id))
    out = tmp_path / "referral.json"
    done = run_cli("referral", "fhir", str(referral.id), "--by", counselor_client.username,
                   "-o", str(out))
    assert done.exit_code == 0, done.output
    Bundle.model_validate(json.loads(out.read_text()))
