"""Search is exactly right: compared with a brute-force great-circle scan of generated data."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline.directory import vocabulary
from helpline.directory.generate import generate_centers
from helpline.directory.geo import bounding_box, haversine_miles, zip_point
from helpline.directory.records import CenterRecord, bulk_insert_centers
from helpline.directory.search import (
    ATTENDANCE,
    TIMES_OF_DAY,
    GroupHit,
    MeetingFilters,
    UnknownZipError,
    nearest_centers,
    search_centers,
    search_groups,
)
from helpline.models import SupportGroup
from tests.factories.directory import make_center, make_group


def brute_force(records: list[CenterRecord], ids: list[int], lat: float, lon: float,
                miles: float, **filters: tuple[str, ...]) -> list[tuple[float, int]]:
    facets = {"care": "care", "medications": "medication", "payment": "payment",
              "languages": "language", "ages": "age", "populations": "population"}
    out = []
    for cid, r in zip(ids, records, strict=True):
        ok = all(any((facets[k], code) in r.offerings
                     for code in vocabulary.normalise(facets[k], v))
                 for k, v in filters.items() if v)
        if not ok:
            continue
        d = haversine_miles(lat, lon, r.fields["latitude"], r.fields["longitude"])
        if d <= miles:
            out.append((d, cid))
    return sorted(out)


@pytest.fixture
def national(session: Session) -> tuple[list[CenterRecord], list[int]]:
    records = generate_centers(3000, seed=7)
    ids = bulk_insert_centers(session, records)
    session.flush()
    return records, ids


def test_zip_search_finds_every_matching_center_within_the_radius_and_none_outside(
        session: Session, national: tuple[list[CenterRecord], list[int]]) -> None:
    records, ids = national
    rng = random.Random(11)
    zips = ["10001", "60601", "94103", "59718", "99501", "96813", "00901", "33101"]
    filter_sets = [{}, {"care": ("detox",)}, {"care": ("detox",), "payment": ("medicaid",)},
                   {"medications": ("buprenorphine", "methadone"), "languages": ("es",)},
                   {"populations": ("veterans",), "ages": ("adults",)}]
    checked = 0
    for zip_code in zips:
        point = zip_point(zip_code)
        assert point is not None
        for filters in filter_sets:
            miles = rng.choice([10.0, 25.0, 60.0, 150.0])
            expected = brute_force(records, ids, point.latitude, point.longitude, miles,
                                   **filters)
            page = search_centers(session, zip_code=zip_code, within_miles=miles,
                                  per_page=200, **filters)
            assert page.total == len(expected)
            got = [(h.distance_miles, h.center.id) for h in page.items]
            assert [cid for _, cid in got] == [cid for _, cid in expected[:200]]
            for (d_got, _), (d_exp, _) in zip(got, expected, strict=False):
                assert d_got == pytest.approx(d_exp, abs=0.05)
            checked += page.total
    assert checked > 100  # the data really exercised the search


def test_distance_matches_great_circle_to_a_tenth_of_a_mile(session: Session) -> None:
    make_center(session, name="Demo Philly", zip_code="19107", latitude=39.9524,
                longitude=-75.1636)
    page = search_centers(session, latitude=40.7484, longitude=-73.9857, within_miles=100)
    assert round(page.items[0].distance_miles, 1) == round(
        haversine_miles(40.7484, -73.9857, 39.9524, -75.1636), 1)
    # An independent check of the formula: one degree of longitude on the equator, and
    # LAX to JFK (2,475 statute miles on the ellipsoid; a sphere is within 0.5%).
    assert haversine_miles(0, 0, 0, 1) == pytest.approx(69.09, abs=0.01)
    assert haversine_miles(33.9425, -118.4081, 40.6398, -73.7789) == pytest.approx(2475, rel=0.005)


def test_center_just_inside_the_radius_is_found_and_just_outside_is_not(
        session: Session) -> None:
    lat, lon = 40.0, -100.0
    inside_lat = lat + 24.999 / 69.093   # due north, just inside 25 miles
    outside_lat = lat - 25.001 / 69.093  # due south, just outside
    inside = make_center(session, name="Demo Inside", latitude=inside_lat, longitude=lon)
    make_center(session, name="Demo Outside", latitude=outside_lat, longitude=lon)
    page = search_centers(session, latitude=lat, longitude=lon, within_miles=25)
    assert [h.center.id for h in page.items] == [inside.id]


def test_search_across_the_antimeridian_finds_centers_on_both_sides(session: Session) -> None:
    east = make_center(session, name="Demo East", latitude=52.0, longitude=179.9)
    west = make_center(session, name="Demo West", latitude=52.0, longitude=-179.9)
    page = search_centers(session, latitude=52.0, longitude=179.95, within_miles=20)
    assert {h.center.id for h in page.items} == {east.id, west.id}


def test_pages_cover_the_results_once_in_distance_order(
        session: Session, national: tuple[list[CenterRecord], list[int]]) -> None:
    records, ids = national
    point = zip_point("10001")
    assert point is not None
    expected = brute_force(records, ids, point.latitude, point.longitude, 150.0)
    assert len(expected) > 25
    seen = []
    for page_no in range(1, 100):
        page = search_centers(session, zip_code="10001", within_miles=150, page=page_no,
                              per_page=7)
        if not page.items:
            break
        seen.extend(h.center.id for h in page.items)
    assert seen == [cid for _, cid in expected]
    assert page.pages == -(-len(expected) // 7)


def test_filters_within_a_facet_are_alternatives_and_facets_combine(session: Session) -> None:
    a = make_center(session, name="Demo A", care=("detox",), payment=("medicaid",))
    b = make_center(session, name="Demo B", care=("outpatient",), payment=("medicaid",))
    make_center(session, name="Demo C", care=("detox",), payment=("private",))
    page = search_centers(session, zip_code="10001", care=("detox", "outpatient"),
                          payment=("MD",))
    assert {h.center.id for h in page.items} == {a.id, b.id}


def test_text_search_matches_name_or_city_without_a_place(session: Session) -> None:
    make_center(session, name="Demo Harbor House", city="Portland")
    make_center(session, name="Demo Cedar Clinic", city="Harborville")
    make_center(session, name="Demo Other", city="Elsewhere")
    page = search_centers(session, text="harbor")
    assert [h.center.name for h in page.items] == ["Demo Cedar Clinic", "Demo Harbor House"]
    assert all(h.distance_miles is None for h in page.items)
    assert search_centers(session, text="100%").total == 0


def test_inactive_centers_are_not_offered(session: Session) -> None:
    make_center(session, name="Demo Closed", active=False)
    assert search_centers(session, zip_code="10001").total == 0


def test_unknown_zip_and_unknown_filter_are_refused_clearly(session: Session) -> None:
    with pytest.raises(UnknownZipError):
        search_centers(session, zip_code="00000")
    with pytest.raises(vocabulary.UnknownOffering, match="care"):
        search_centers(session, zip_code="10001", care=("astrology",))
    assert nearest_centers(session, "99999") == []


def test_nearest_centers_widens_the_circle_for_a_rural_caller(session: Session) -> None:
    far = make_center(session, name="Demo Far", zip_code="59718", care=("detox",))  # Bozeman
    make_center(session, name="Demo Farther", zip_code="10001", care=("detox",))
    hits = nearest_centers(session, "59801", limit=1, care=("detox",))  # Missoula, ~200 mi
    assert [h.center.id for h in hits] == [far.id]
    assert hits[0].distance_miles is not None and hits[0].distance_miles > 100


def test_nearest_centers_are_the_three_closest(session: Session) -> None:
    point = zip_point("60601")
    assert point is not None
    made = [make_center(session, name=f"Demo {i}", latitude=point.latitude + i * 0.01,
                        longitude=point.longitude) for i in range(6)]
    hits = nearest_centers(session, "60601")
    assert [h.center.id for h in hits] == [c.id for c in made[:3]]


def test_bounding_box_holds_the_whole_circle() -> None:
    rng = random.Random(3)
    for _ in range(2000):
        lat, lon = rng.uniform(-80, 80), rng.uniform(-180, 180)
        miles = rng.choice([1.0, 25.0, 100.0, 500.0])
        box = bounding_box(lat, lon, miles)
        # A random point on the circle's edge is always inside the box.
        import math
        bearing = rng.uniform(0, 2 * math.pi)
        ang = miles / 3958.8
        p1 = math.radians(lat)
        p2 = math.asin(math.sin(p1) * math.cos(ang)
                       + math.cos(p1) * math.sin(ang) * math.cos(bearing))
        l2 = math.radians(lon) + math.atan2(math.sin(bearing) * math.sin(ang) * math.cos(p1),
                                            math.cos(ang) - math.sin(p1) * math.sin(p2))
        elat = math.degrees(p2)
        elon = (math.degrees(l2) + 540) % 360 - 180
        assert box.min_lat <= elat <= box.max_lat
        assert not box.lon_ranges or any(lo <= elon <= hi for lo, hi in box.lon_ranges)


def test_searches_anywhere_on_earth_match_brute_force_even_on_band_edges(
        session: Session) -> None:
    # The search seeks quarter-degree bands of latitude that the database computes (SQLite
    # truncates, PostgreSQL rounds): points on and beside band edges, both hemispheres.
    rng = random.Random(5)
    points = [(round(rng.uniform(-89, 89) * 4) / 4 + rng.choice((0.0, 1e-9, -1e-9, 0.124)),
               rng.uniform(-180, 180)) for _ in range(600)]
    points += [(lat + dlat, lon) for lat, lon in points[:100] for dlat in (0.2, -0.2)]
    records = [CenterRecord("demo", f"edge-{i}", {
        "name": f"Demo Edge {i}", "latitude": lat, "longitude": lon,
        "approximate_location": False, "active": True}, set()) for i, (lat, lon) in
        enumerate(points)]
    ids = bulk_insert_centers(session, records)
    session.flush()
    for lat, lon in points[:60]:
        for miles in (5.0, 30.0, 200.0):
            expected = brute_force(records, ids, lat, lon, miles)
            page = search_centers(session, latitude=lat, longitude=lon, within_miles=miles,
                                  per_page=200)
            assert [h.center.id for h in page.items] == [cid for _, cid in expected[:200]]
            assert page.total == len(expected)


def test_capacity_filters_match_brute_force_on_generated_data(
        session: Session, national: tuple[list[CenterRecord], list[int]]) -> None:
    from sqlalchemy import update

    from helpline.models import TreatmentCenter

    records, ids = national
    accepting = {cid for i, cid in enumerate(ids) if i % 3 != 0}
    session.execute(update(TreatmentCenter), [
        {"id": cid, "accepting_patients": cid in accepting} for cid in ids])
    point = zip_point("60601")
    assert point is not None
    expected = [(d, cid) for d, cid in brute_force(records, ids, point.latitude,
                                                   point.longitude, 150.0, care=("detox",))
                if cid in accepting]
    page = search_centers(session, zip_code="60601", within_miles=150, care=("detox",),
                          capacity=("accepting",), per_page=200)
    assert [h.center.id for h in page.items] == [cid for _, cid in expected]
    assert len(expected) > 5


def _names(hits: list[GroupHit]) -> set[str]:
    return {h.group.name for h in hits}


def test_meetings_are_found_by_day_time_of_day_way_of_attending_fellowship_and_language(
        session: Session) -> None:
    make_group(session, "Tuesday Evening NA", day=2, time=dt.time(19, 0))
    make_group(session, "Tuesday Morning NA", day=2, time=dt.time(7, 30))
    make_group(session, "Tuesday Evening AA", fellowship="AA", day=2, time=dt.time(19, 30))
    make_group(session, "Tuesday Spanish NA", day=2, time=dt.time(20, 0), language="es")
    make_group(session, "Tuesday Hybrid NA", day=2, time=dt.time(18, 0), attendance="hybrid",
               location="St. Mark's hall")
    make_group(session, "Tuesday Online NA", online_url="https://zoom.example/j/1", day=2,
               time=dt.time(19, 0))
    make_group(session, "Wednesday Evening NA", day=3, time=dt.time(19, 0))
    session.flush()

    evening = search_groups(session, zip_code="10001", day=2, time_of_day="evening",
                            fellowship="NA", language="en")
    assert _names(evening) == {"Tuesday Evening NA", "Tuesday Hybrid NA", "Tuesday Online NA"}
    assert _names(search_groups(session, zip_code="10001", day=2, attendance="hybrid")) == {
        "Tuesday Hybrid NA"}
    assert _names(search_groups(session, zip_code="10001", day=2, time_of_day="evening",
                                attendance=("online",))) == {"Tuesday Online NA"}
    in_person = search_groups(session, zip_code="10001", day=2, attendance=("in_person",),
                              time_of_day=("morning", "evening"), language="en")
    assert _names(in_person) == {"Tuesday Evening NA", "Tuesday Morning NA",
                                 "Tuesday Evening AA"}
    assert _names(search_groups(session, zip_code="10001", language="es")) == {
        "Tuesday Spanish NA"}


def test_night_meetings_run_past_midnight(session: Session) -> None:
    make_group(session, "Late Night", day=5, time=dt.time(23, 0))
    make_group(session, "Small Hours", day=6, time=dt.time(1, 0))
    make_group(session, "Sunrise", day=6, time=dt.time(5, 0))
    session.flush()
    assert _names(search_groups(session, time_of_day="night")) == {"Late Night", "Small Hours"}
    assert _names(search_groups(session, time_of_day="morning")) == {"Sunrise"}


def test_meeting_filters_agree_for_loaded_meetings_and_in_sql(session: Session) -> None:
    rng = random.Random(5)
    for n in range(120):
        attendance = rng.choice(("in_person", "online", "hybrid"))
        make_group(session, f"Meeting {n}", fellowship=rng.choice(("NA", "AA", "SMART")),
                   day=rng.randrange(7), time=dt.time(rng.randrange(24), rng.choice((0, 30))),
                   language=rng.choice(("en", "es")), attendance=attendance,
                   online_url="" if attendance == "in_person" else "https://meet.example/x")
    session.flush()
    groups = session.scalars(select(SupportGroup)).all()
    for _ in range(40):
        filters = MeetingFilters(
            fellowships=tuple(rng.sample(("NA", "aa", "SMART"), rng.randrange(3))),
            language=rng.choice((None, "en", "es")),
            attendance=tuple(rng.sample(tuple(ATTENDANCE), rng.randrange(3))),
            day=rng.choice((None, *range(7))),
            times_of_day=tuple(rng.sample(tuple(TIMES_OF_DAY), rng.randrange(3))))
        in_sql = set(session.scalars(select(SupportGroup.id).where(*filters.clauses())))
        assert in_sql == {g.id for g in groups if filters.matches(g)}, filters


def test_unknown_meeting_filters_are_refused_by_name(session: Session) -> None:
    with pytest.raises(ValueError, match="time of day: 'dusk'"):
        search_groups(session, time_of_day="dusk")
    with pytest.raises(ValueError, match="attending: 'carrier pigeon'"):
        search_groups(session, attendance="carrier pigeon")
    with pytest.raises(ValueError, match="day"):
        MeetingFilters(day=7)
