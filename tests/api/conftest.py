"""A small directory for the API's tests: fictional centers (555 numbers), complete enough to
be valid HSDS, near and far from ZIP 10001."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from helpline.config import Settings, settings_for_tests
from helpline.models import TreatmentCenter
from tests.factories.directory import make_center

# The directory's own import fixtures (SAMHSA rows, an HSDS network), read as they are.
DATA = Path(__file__).parents[1] / "helpline" / "directory" / "data"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    # The API's own tests of the limit set one; elsewhere it would stop the many requests.
    return settings_for_tests(tmp_path, database_url=database_url, api_requests_per_minute=0)


def _center(session: Session, name: str, zip_code: str, latitude: float, longitude: float,
            **fields: object) -> TreatmentCenter:
    return make_center(session, name=name, zip_code=zip_code, latitude=latitude,
                       longitude=longitude, street1=f"{len(name)} Demo Street",
                       description=f"{name}: fictional, for tests.", **fields)


@pytest.fixture
def directory(session: Session) -> dict[str, TreatmentCenter]:
    return make_directory(session)


def make_directory(session: Session) -> dict[str, TreatmentCenter]:
    """Four active centers (two in Manhattan, one in Brooklyn, one in San Francisco) and a
    closed one."""
    centers = {
        "chelsea": _center(session, "Demo Chelsea Recovery", "10001", 40.7506, -73.9972,
                           city="New York", care=("detox",), payment=("MD",),
                           languages=("es",), website="https://chelsea.example.org",
                           accepting_patients=True, waitlist=True, waitlist_days=9,
                           verified_by="supervisor-alice", intake_phone="555-555-0111"),
        "midtown": _center(session, "Demo Midtown Clinic", "10018", 40.7549, -73.9925,
                           city="New York", care=("outpatient",), payment=("free",)),
        "brooklyn": _center(session, "Demo Brooklyn House", "11201", 40.6943, -73.9918,
                            city="Brooklyn", care=("residential",)),
        "mission": _center(session, "Demo Mission Center", "94103", 37.7726, -122.4099,
                           city="San Francisco", state="CA", care=("detox",)),
        "closed": _center(session, "Demo Closed Place", "10001", 40.7500, -73.9970,
                          city="New York", active=False),
    }
    session.commit()
    return centers


@pytest.fixture
def api(client: FlaskClient) -> FlaskClient:
    return client
