"""The read-only HSDS API over a national directory (42,000 centers, SQLite): a page of 50
services, a deep page, the services at locations near a ZIP code, a page of 200
organizations, a service by id, and the id index brought up to date after one center changed
(what every change to the directory costs the next request by id).

`python -m bench api`. Smaller: HELPLINE_BENCH_API_CENTERS=10000.
"""

from __future__ import annotations

import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

CENTERS = int(os.environ.get("HELPLINE_BENCH_API_CENTERS", "42000"))
REPEATS = 20


def _timed(get, url: str, repeats: int = REPEATS) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        answer = get(url)
        samples.append(time.perf_counter() - start)
        assert answer.status_code == 200, (url, answer.status_code)
    ms = sorted(s * 1000 for s in samples)
    return statistics.median(ms), ms[max(0, int(len(ms) * 0.95) - 1)]


def main() -> None:
    from helpline import migrate
    from helpline.app import create_app
    from helpline.config import settings_for_tests
    from helpline.directory.generate import generate_centers
    from helpline.directory.records import bulk_insert_centers
    from helpline.models import TreatmentCenter

    logging.disable(logging.INFO)
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(settings_for_tests(Path(tmp), api_requests_per_minute=0))
        db = app.extensions["helpline"].db
        migrate.upgrade(db)
        with db.sessions() as session:
            bulk_insert_centers(session, generate_centers(CENTERS, seed=1))
            session.commit()
        get = app.test_client().get
        start = time.perf_counter()
        first = get("/api/hsds/services?per_page=1").get_json()
        print(f"{CENTERS} centers; first request (builds the id index): "
              f"{(time.perf_counter() - start) * 1000:.0f} ms")
        service_id = first["contents"][0]["id"]
        deep = max(1, first["total_items"] // 50 - 1)
        for label, url in (
                ("page of 50 services", "/api/hsds/services?per_page=50"),
                ("deep page of 50 services", f"/api/hsds/services?per_page=50&page={deep}"),
                ("50 services at locations near 10001",
                 "/api/hsds/service_at_locations?postcode=10001&per_page=50"),
                ("200 organizations", "/api/hsds/organizations?per_page=200"),
                ("a fully nested service by id", f"/api/hsds/services/{service_id}")):
            median, p95 = _timed(get, url)
            print(f"{label}: median {median:.1f} ms, p95 {p95:.1f} ms")
        samples = []
        for n in range(5):
            with db.sessions() as session:
                center = session.get(TreatmentCenter, n + 1)
                assert center is not None
                center.accepting_patients = n % 2 == 0
                session.commit()
            start = time.perf_counter()
            get(f"/api/hsds/services/{service_id}")
            samples.append(time.perf_counter() - start)
        print(f"by id after one center changed: median "
              f"{statistics.median(samples) * 1000:.0f} ms")
        db.dispose()


if __name__ == "__main__":
    main()
