"""The read-only HSDS API: the HSDS API reference's Page, postcode and proximity, the export's
own ids and values, and nothing confidential."""

from __future__ import annotations

import csv
import io
import json

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from helpline.directory.hsds_export import hsds_files, vocabulary_term_ids
from helpline.models import TreatmentCenter
from tests.api.conftest import DATA
from tests.fixtures.cli import CliInvoker

PAGE_KEYS = {"total_items", "total_pages", "page_number", "size", "first_page", "last_page",
             "empty", "contents"}


def names(body: dict) -> list[str]:
    return [item.get("name") or item["service"]["name"] for item in body["contents"]]


def test_services_are_paged_as_the_reference_says(api: FlaskClient, directory: dict) -> None:
    first = api.get("/api/hsds/services?per_page=3").get_json()
    assert set(first) == PAGE_KEYS
    assert (first["total_items"], first["total_pages"], first["page_number"], first["size"],
            first["first_page"], first["last_page"], first["empty"]) == (4, 2, 1, 3, True,
                                                                         False, False)
    second = api.get("/api/hsds/services?per_page=3&page=2").get_json()
    assert (second["size"], second["first_page"], second["last_page"]) == (1, False, True)
    assert names(first) + names(second) == sorted(
        c.name for key, c in directory.items() if key != "closed")
    beyond = api.get("/api/hsds/services?per_page=3&page=5").get_json()
    assert beyond["contents"] == [] and beyond["empty"] is False and beyond["size"] == 0


def test_an_empty_result_says_so(api: FlaskClient, directory: dict) -> None:
    body = api.get("/api/hsds/services?search=nothing-like-this").get_json()
    assert (body["total_items"], body["total_pages"], body["size"], body["empty"],
            body["first_page"], body["last_page"]) == (0, 0, 0, True, True, True)


def test_a_list_item_has_its_one_to_one_fields_and_organization(api: FlaskClient,
                                                                directory: dict) -> None:
    body = api.get("/api/hsds/services?search=Chelsea").get_json()
    (item,) = body["contents"]
    assert item["name"] == "Demo Chelsea Recovery" and item["status"] == "active"
    assert item["url"] == "https://chelsea.example.org"
    assert item["organization"]["id"] == item["organization_id"]
    assert "phones" not in item  # arrays only in the fully nested service
    full = api.get("/api/hsds/services?search=Chelsea&full=true").get_json()["contents"][0]
    # The export links a center's phones to its location.
    location = full["service_at_locations"][0]["location"]
    assert {p["number"] for p in location["phones"]} == {"555-555-0100", "555-555-0111"}


def test_a_fully_nested_service_is_what_the_export_writes(api: FlaskClient, directory: dict,
                                                         session: Session) -> None:
    files, _count = hsds_files(session)
    exported = {name: list(csv.DictReader(io.StringIO(text)))
                for name, text in files.items() if name.endswith(".csv")}
    service_row = next(r for r in exported["services.csv"]
                       if r["name"] == "Demo Chelsea Recovery")
    body = api.get(f"/api/hsds/services/{service_row['id']}").get_json()
    assert body["id"] == service_row["id"]
    assert body["organization"]["id"] == service_row["organization_id"]
    (sal,) = body["service_at_locations"]
    location = sal["location"]
    location_row = next(r for r in exported["locations.csv"] if r["id"] == location["id"])
    assert location["latitude"] == pytest.approx(float(location_row["latitude"]))
    assert {a["postal_code"] for a in location["addresses"]} == {"10001"}
    assert {a["taxonomy_term"]["code"] for a in body["attributes"]} >= {"DT", "MD"}
    assert [lang["code"] for lang in body["languages"]] == ["es"]


def test_services_filter_by_term_organization_and_modified_after(api: FlaskClient,
                                                                 directory: dict) -> None:
    detox = vocabulary_term_ids()[("care", "DT")]
    body = api.get(f"/api/hsds/services?taxonomy_term_id={detox}").get_json()
    assert names(body) == ["Demo Chelsea Recovery", "Demo Mission Center"]
    org = body["contents"][1]["organization_id"]
    both = api.get(f"/api/hsds/services?taxonomy_term_id={detox}&organization_id={org}")
    assert names(both.get_json()) == ["Demo Mission Center"]
    assert api.get("/api/hsds/services?taxonomy_term_id=unknown").get_json()["empty"]
    later = api.get("/api/hsds/services?modified_after=2999-01-01T00:00:00Z").get_json()
    assert later["empty"]
    assert api.get("/api/hsds/services?modified_after=2000-01-01").get_json()[
        "total_items"] == 4


def test_organizations_list_and_by_id(api: FlaskClient, directory: dict) -> None:
    body = api.get("/api/hsds/organizations?per_page=2").get_json()
    assert body["total_items"] == 4 and body["size"] == 2
    org = body["contents"][0]
    assert set(org) <= {"id", "name", "alternate_name", "description", "email", "website",
                        "uri"}
    one = api.get(f"/api/hsds/organizations/{org['id']}").get_json()
    assert one["id"] == org["id"] and len(one["services"]) == 1
    assert "service_at_locations" not in one["services"][0]
    full = api.get(f"/api/hsds/organizations/{org['id']}?full_service=true").get_json()
    assert full["services"][0]["service_at_locations"]


def test_service_at_locations_near_a_postcode_nearest_first(api: FlaskClient,
                                                            directory: dict) -> None:
    body = api.get("/api/hsds/service_at_locations?postcode=10001").get_json()
    assert names(body) == ["Demo Chelsea Recovery", "Demo Midtown Clinic",
                           "Demo Brooklyn House"]
    item = body["contents"][0]
    assert item["location"]["id"] == item["location_id"]
    assert item["service"]["id"] == item["service_id"]


def test_proximity_is_meters_from_the_postcodes_centre(api: FlaskClient,
                                                       directory: dict) -> None:
    # Midtown is about 0.8 km from ZIP 10001's centre, Brooklyn about 6.5 km.
    near = api.get("/api/hsds/service_at_locations?postcode=10001&proximity=2000").get_json()
    assert names(near) == ["Demo Chelsea Recovery", "Demo Midtown Clinic"]
    wide = api.get("/api/hsds/service_at_locations?postcode=10001&proximity=5000000")
    assert wide.status_code == 422  # more than 1,000 km: refused by the document's maximum
    far = api.get("/api/hsds/service_at_locations?postcode=10001&proximity=1000000")
    assert far.get_json()["total_items"] == 3  # San Francisco is 4,100 km away
    paged = api.get("/api/hsds/service_at_locations?postcode=10001&per_page=2&page=2")
    assert names(paged.get_json()) == ["Demo Brooklyn House"]


def test_postcode_and_proximity_mistakes_are_told(api: FlaskClient, directory: dict) -> None:
    unknown = api.get("/api/hsds/service_at_locations?postcode=00000")
    assert unknown.status_code == 404 and unknown.get_json()["error"] == "unknown_postcode"
    assert api.get("/api/hsds/service_at_locations?postcode=abc").status_code == 422
    # Without a postcode there is no centre to measure from: every service at location.
    alone = api.get("/api/hsds/service_at_locations?proximity=1000")
    assert alone.get_json()["total_items"] == 4


def test_every_id_of_a_center_finds_it_and_others_do_not(api: FlaskClient,
                                                         directory: dict) -> None:
    item = api.get("/api/hsds/service_at_locations?postcode=94103").get_json()["contents"][0]
    assert api.get(f"/api/hsds/services/{item['service_id']}").status_code == 200
    assert api.get(f"/api/hsds/service_at_locations/{item['id']}").get_json()[
        "service"]["id"] == item["service_id"]
    org_id = item["service"]["organization_id"]
    assert api.get(f"/api/hsds/organizations/{org_id}").status_code == 200
    # Ids of one kind do not open another kind.
    assert api.get(f"/api/hsds/services/{org_id}").status_code == 404
    missing = api.get("/api/hsds/services/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_found"


def test_a_closed_center_is_not_served(api: FlaskClient, directory: dict,
                                       session: Session) -> None:
    files, _count = hsds_files(session)
    closed = next(r for r in csv.DictReader(io.StringIO(files["services.csv"]))
                  if r["name"] == "Demo Closed Place")
    assert api.get(f"/api/hsds/services/{closed['id']}").status_code == 404


def test_a_change_to_the_directory_is_seen_at_once(api: FlaskClient, directory: dict,
                                                   session: Session) -> None:
    item = api.get("/api/hsds/services?search=Mission").get_json()["contents"][0]
    assert api.get(f"/api/hsds/services/{item['id']}").status_code == 200
    center = session.get(TreatmentCenter, directory["mission"].id)
    assert center is not None
    center.active = False
    session.commit()
    assert api.get(f"/api/hsds/services/{item['id']}").status_code == 404


def test_no_confidential_or_staff_field_is_served(api: FlaskClient, directory: dict) -> None:
    sal = api.get("/api/hsds/service_at_locations?postcode=10001").get_json()["contents"][0]
    texts = [
        api.get("/api/hsds/services?full=true").get_data(as_text=True),
        api.get(f"/api/hsds/services/{sal['service_id']}").get_data(as_text=True),
        api.get(f"/api/hsds/service_at_locations/{sal['id']}").get_data(as_text=True),
        api.get("/api/hsds/organizations").get_data(as_text=True),
    ]
    for text in texts:
        json.loads(text)
        for word in ("accepting", "waitlist", "capacity", "verified_by", "supervisor-alice",
                     "same_day"):
            assert word not in text


def test_the_meta_endpoint_points_at_the_openapi_document(api: FlaskClient) -> None:
    body = api.get("/api/hsds/").get_json()
    assert body["version"] == "3.0"
    assert body["openapi_url"].endswith("/api/openapi.json")
    assert api.get("/api/openapi.json").status_code == 200


def test_unknown_paths_and_methods_under_api_answer_json(api: FlaskClient) -> None:
    missing = api.get("/api/hsds/nothing")
    assert missing.status_code == 404 and missing.is_json
    posted = api.post("/api/hsds/services")
    assert posted.status_code == 405 and posted.is_json and "GET" in posted.headers["Allow"]


@pytest.fixture
def imported(run_cli: CliInvoker) -> None:
    """SAMHSA rows (no descriptions, bare websites) and an HSDS network (kept ids, a service
    at two locations, schedules, phone extensions), imported as the CLI does."""
    for source in ("samhsa_envelope.json", "hsds_network"):
        result = run_cli("directory", "import", str(DATA / source))
        assert result.exit_code == 0, result.output


def test_every_object_the_export_writes_is_served_by_its_id(api: FlaskClient, imported: None,
                                                           session: Session) -> None:
    files, count = hsds_files(session)
    assert count > 3
    rows = {name: list(csv.DictReader(io.StringIO(text)))
            for name, text in files.items() if name.endswith(".csv")}
    active = {r["id"] for r in rows["services.csv"] if r["status"] == "active"}
    for row in rows["services.csv"]:
        if row["id"] not in active:
            continue
        body = api.get(f"/api/hsds/services/{row['id']}").get_json()
        assert (body["id"], body["name"], body["organization_id"]) == (
            row["id"], row["name"], row["organization_id"])
    for row in rows["service_at_location.csv"]:
        if row["service_id"] in active:
            body = api.get(f"/api/hsds/service_at_locations/{row['id']}").get_json()
            assert (body["service"]["id"], body["location"]["id"]) == (row["service_id"],
                                                                       row["location_id"])
    for row in rows["organizations.csv"]:
        answer = api.get(f"/api/hsds/organizations/{row['id']}")
        if answer.status_code == 200:
            assert answer.get_json()["description"] == row["description"]
    # Each list holds one item per active center, and every item is valid HSDS.
    total = api.get("/api/hsds/services?full=true&per_page=200").get_json()
    assert total["total_items"] == total["size"] > 3


def test_schedules_and_extensions_come_through(api: FlaskClient, imported: None) -> None:
    text = api.get("/api/hsds/services?full=true&per_page=200").get_data(as_text=True)
    body = json.loads(text)
    phones = [p for s in body["contents"] for sal in s["service_at_locations"]
              for p in sal["location"]["phones"]]
    schedules = [x for s in body["contents"] for x in s["schedules"]] + [
        x for s in body["contents"] for sal in s["service_at_locations"]
        for x in sal["location"]["schedules"]]
    assert any("extension" in p for p in phones)
    assert schedules and all(isinstance(x.get("interval", 1), int | float) for x in schedules)
