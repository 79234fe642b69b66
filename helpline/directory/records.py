"""A center as imports and the demo generator produce it, before it is a row; bulk insert."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from helpline.directory import vocabulary
from helpline.models.directory import CenterService, TreatmentCenter

# Columns of TreatmentCenter that an import may set (and compare on re-import).
CENTER_FIELDS = ("name", "alternate_name", "street1", "street2", "city", "state", "zip_code",
                 "phone", "intake_phone", "website", "facility_type", "description",
                 "latitude", "longitude", "approximate_location", "active")


@dataclass
class CenterRecord:
    source: str
    source_id: str
    fields: dict[str, Any]
    # (facet, code) pairs in the vocabulary; labels and code list are filled in on insert.
    offerings: set[tuple[str, str]] = field(default_factory=set)
    extra: dict[str, Any] = field(default_factory=dict)


def service_rows(center_id: int, offerings: set[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"center_id": center_id, "facet": facet, "code": code,
             "label": vocabulary.label_for(facet, code), "code_list": vocabulary.CODE_LIST}
            for facet, code in sorted(offerings)]


def bulk_insert_centers(session: Session, records: list[CenterRecord],
                        chunk: int = 2000) -> list[int]:
    """Insert new centers and their offerings in a few statements; returns their ids in order."""
    ids: list[int] = []
    for start in range(0, len(records), chunk):
        part = records[start:start + chunk]
        rows = [{**r.fields, "source": r.source, "source_id": r.source_id,
                 "source_extra": r.extra} for r in part]
        new_ids = list(session.scalars(
            insert(TreatmentCenter).returning(TreatmentCenter.id, sort_by_parameter_order=True),
            rows,
        ))
        services = [row for cid, r in zip(new_ids, part, strict=True)
                    for row in service_rows(cid, r.offerings)]
        if services:
            session.execute(insert(CenterService), services)
        ids.extend(new_ids)
    return ids
