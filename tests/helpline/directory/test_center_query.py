"""The search's Core statements: the same answer on a bare connection as through the models."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from helpline.db import Database
from helpline.directory.center_query import CenterRow, search_center_rows
from helpline.directory.center_tables import CENTERS, SERVICES
from helpline.directory.search import search_centers
from helpline.models import CenterService, TreatmentCenter
from tests.factories.directory import make_center


@pytest.mark.parametrize(("core", "model"), [(CENTERS, TreatmentCenter),
                                             (SERVICES, CenterService)])
def test_the_core_columns_are_columns_of_the_models_with_their_types(core: Any,
                                                                     model: Any) -> None:
    table = model.__table__
    assert core.name == table.name
    for column in core.c:
        assert column.name in table.c, column.name
        assert type(column.type) is type(table.c[column.name].type), column.name


def test_a_row_reads_as_the_model_does(session: Session, db: Database) -> None:
    centers = [
        make_center(session, name="Demo Full Address", street1="1 Main St", street2="Suite 2",
                    city="Tucson", state="AZ", zip_code="85701", care=("detox",),
                    payment=("medicaid", "sliding_scale")),
        make_center(session, name="Demo No Street", city="Tucson", state="AZ",
                    zip_code="85701"),
        make_center(session, name="Demo Zip Only", zip_code="85701"),
    ]
    session.commit()
    with db.engine.connect() as conn:
        rows = {hit.center.id: hit.center for hit in search_center_rows(
            conn, zip_code="85701", within_miles=5, with_offerings=True).items}
    for center in centers:
        row: CenterRow = rows[center.id]
        assert row.address == center.address
        for facet in ("care", "payment", "language"):
            assert row.codes(facet) == center.codes(facet)
        assert row.capacity_confirmed_at == center.capacity_confirmed_at


@pytest.mark.parametrize("filters", [
    {"zip_code": "10001", "within_miles": 60},
    {"zip_code": "10001", "within_miles": 60, "care": ["detox", "outpatient"]},
    {"zip_code": "10001", "within_miles": 60, "payment": ["medicaid"], "page": 2,
     "per_page": 2},
    {"zip_code": "10001", "within_miles": 60, "capacity": ["accepting"]},
    {"text": "demo", "per_page": 3},
    {"text": "demo", "per_page": 2, "page": 2, "care": ["detox"]},
])
def test_the_core_search_and_the_model_search_agree(session: Session, db: Database,
                                                    filters: dict[str, Any]) -> None:
    for i in range(6):
        make_center(session, name=f"Demo {i % 3} Center {i}", latitude=40.70 + i * 0.05,
                    longitude=-73.99, care=("detox",) if i % 2 else ("outpatient",),
                    payment=("medicaid",) if i < 4 else ("private",),
                    accepting_patients=True if i % 3 == 0 else None)
    session.commit()
    by_models = search_centers(session, **filters)
    with db.engine.connect() as conn:
        by_rows = search_center_rows(conn, **filters)
    assert [(h.center.id, h.distance_miles) for h in by_rows.items] == [
        (h.center.id, h.distance_miles) for h in by_models.items]
    assert (by_rows.total, by_rows.page, by_rows.pages) == (
        by_models.total, by_models.page, by_models.pages)
    assert by_rows.items, "the case finds centers"
