"""Export the treatment directory as Open Referral HSDS 3.0 tabular data: CSV tables and a
datapackage.json, in a folder or a .zip.

Each center becomes one organization, one service, one physical location and the rows that
hang off them. Ids are UUIDs derived from the entry's source and source id, so the same entry
always gets the same ids, and the location names the entry (external_identifier_type
"helpline-source:<source>") so that importing the export matches every entry and changes
nothing. Offerings are attributes on the service, in our taxonomy (CODE_LIST, a parent term
per facet); languages go to languages.csv; categories an import could not map are attributes
in their own code list. A point that is only a ZIP centre is written without coordinates.
Capacity is not exported: it is what staff confirmed on the phone, not published data.
Support groups and resources are not HSDS services and are not exported here.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline.directory import vocabulary
from helpline.directory.hsds import (
    EXTERNAL_ID_PREFIX,
    FACILITY_TYPE_LIST,
    SOURCE,
    UNMAPPED_LINK_TYPE,
)
from helpline.models import CenterService, TreatmentCenter

# Fixed forever: ids derived from it must not change between exports.
NAMESPACE = uuid.UUID("6f0b7a3e-2f56-5c55-9a43-1d1c5e0d4a21")

TABLES: dict[str, tuple[str, ...]] = {
    "organizations": ("id", "name", "alternate_name", "description", "email", "website"),
    "services": ("id", "organization_id", "name", "alternate_name", "description", "url",
                 "email", "status", "assured_date"),
    "locations": ("id", "location_type", "organization_id", "name", "alternate_name",
                  "description", "latitude", "longitude", "external_identifier",
                  "external_identifier_type"),
    "service_at_location": ("id", "service_id", "location_id"),
    "addresses": ("id", "location_id", "address_1", "address_2", "city", "state_province",
                  "postal_code", "country", "address_type"),
    "phones": ("id", "location_id", "service_id", "organization_id", "number", "type",
               "description"),
    "languages": ("id", "service_id", "location_id", "name", "code"),
    "taxonomies": ("id", "name", "description", "uri", "version"),
    "taxonomy_terms": ("id", "code", "name", "description", "parent_id", "taxonomy",
                       "taxonomy_id"),
    "attributes": ("id", "link_id", "taxonomy_term_id", "link_type", "link_entity", "value",
                   "label"),
}
_COLUMNS = (TreatmentCenter.id, TreatmentCenter.name, TreatmentCenter.alternate_name,
            TreatmentCenter.street1, TreatmentCenter.street2, TreatmentCenter.city,
            TreatmentCenter.state, TreatmentCenter.zip_code, TreatmentCenter.phone,
            TreatmentCenter.intake_phone, TreatmentCenter.website,
            TreatmentCenter.facility_type, TreatmentCenter.description,
            TreatmentCenter.latitude, TreatmentCenter.longitude,
            TreatmentCenter.approximate_location, TreatmentCenter.active,
            TreatmentCenter.source, TreatmentCenter.source_id, TreatmentCenter.source_extra,
            TreatmentCenter.last_verified_at)


@dataclass
class ExportSummary:
    centers: int
    path: Path | None = None


def _id(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "|".join(parts)))


class _Writer:
    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, str]]] = {name: [] for name in TABLES}
        self.taxonomies: set[str] = set()
        self.terms: set[str] = set()

    def add(self, table: str, **values: Any) -> None:
        self.rows[table].append({k: "" if v is None else str(v) for k, v in values.items()})

    def taxonomy(self, name: str, description: str) -> str:
        taxonomy_id = _id("taxonomy", name)
        if taxonomy_id not in self.taxonomies:
            self.taxonomies.add(taxonomy_id)
            self.add("taxonomies", id=taxonomy_id, name=name, description=description)
        return taxonomy_id

    def term(self, code_list: str, code: str, name: str, parent_id: str = "") -> str:
        term_id = _id("term", code_list, code, name)
        if term_id not in self.terms:
            self.terms.add(term_id)
            taxonomy_id = self.taxonomy(code_list, f"Terms of the {code_list} code list.")
            self.add("taxonomy_terms", id=term_id, code=code, name=name, description=name,
                     parent_id=parent_id, taxonomy=code_list, taxonomy_id=taxonomy_id)
        return term_id

    def vocabulary_terms(self) -> dict[tuple[str, str], str]:
        self.taxonomy(vocabulary.CODE_LIST, "What a treatment center offers, after SAMHSA's "
                                            "treatment locator (FindTreatment.gov).")
        ids: dict[tuple[str, str], str] = {}
        for facet in vocabulary.FACETS:
            if facet == "language":
                continue
            parent = self.term(vocabulary.CODE_LIST, facet, vocabulary.FACET_LABELS[facet])
            for offering in vocabulary.offerings(facet):
                ids[(facet, offering.code)] = self.term(vocabulary.CODE_LIST, offering.code,
                                                        offering.label, parent)
        return ids

    def csv_text(self, table: str) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=TABLES[table], lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(self.rows[table])
        return buffer.getvalue()


def _number(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _center(w: _Writer, c: Any, offerings: list[tuple[str, str, str, str]],
            terms: dict[tuple[str, str], str]) -> None:
    key = c.source_id or f"local-{c.id}"
    location_id = key if c.source == SOURCE else _id("location", c.source, key)
    org_id, service_id = _id("organization", c.source, key), _id("service", c.source, key)
    w.add("organizations", id=org_id, name=c.alternate_name or c.name,
          description=c.description, website=c.website)
    w.add("services", id=service_id, organization_id=org_id, name=c.name,
          alternate_name=c.alternate_name, description=c.description, url=c.website,
          status="active" if c.active else "inactive",
          assured_date=c.last_verified_at.date().isoformat() if c.last_verified_at else "")
    approximate = c.approximate_location
    w.add("locations", id=location_id, location_type="physical", organization_id=org_id,
          name=c.name, alternate_name=c.alternate_name, description=c.description,
          latitude="" if approximate else _number(c.latitude),
          longitude="" if approximate else _number(c.longitude),
          external_identifier=key, external_identifier_type=EXTERNAL_ID_PREFIX + c.source)
    w.add("service_at_location", id=_id("service_at_location", service_id, location_id),
          service_id=service_id, location_id=location_id)
    w.add("addresses", id=_id("address", location_id), location_id=location_id,
          address_1=c.street1, address_2=c.street2, city=c.city, state_province=c.state,
          postal_code=c.zip_code, country="US", address_type="physical")
    extra = c.source_extra or {}
    for kind, number in (("main", c.phone), ("intake", c.intake_phone),
                         ("hotline", extra.get("hotline", ""))):
        if number:
            w.add("phones", id=_id("phone", location_id, kind), location_id=location_id,
                  number=number, type="voice", description=kind)
    for facet, code, label, _code_list in offerings:
        if facet == "language":
            w.add("languages", id=_id("language", service_id, code), service_id=service_id,
                  name=label, code=code)
        elif (facet, code) in terms:
            w.add("attributes", id=_id("attribute", service_id, facet, code),
                  link_id=service_id, taxonomy_term_id=terms[(facet, code)], link_type=facet,
                  link_entity="service", label=label)
    for item in extra.get("unmapped", []):
        term_id = w.term(item["code_list"], item["code"], item["label"])
        w.add("attributes", id=_id("attribute", service_id, term_id), link_id=service_id,
              taxonomy_term_id=term_id, link_type=UNMAPPED_LINK_TYPE, link_entity="service",
              label=item["label"])
    if c.facility_type:
        term_id = w.term(FACILITY_TYPE_LIST, c.facility_type, c.facility_type)
        w.add("attributes", id=_id("attribute", location_id, term_id), link_id=location_id,
              taxonomy_term_id=term_id, link_type="facility_type", link_entity="location",
              label=c.facility_type)


def hsds_files(session: Session) -> tuple[dict[str, str], int]:
    """The export's files (name → text) and how many centers they hold."""
    offerings: dict[int, list[tuple[str, str, str, str]]] = defaultdict(list)
    for center_id, facet, code, label, code_list in session.execute(
        select(CenterService.center_id, CenterService.facet, CenterService.code,
               CenterService.label, CenterService.code_list)
        .order_by(CenterService.center_id, CenterService.facet, CenterService.code)
    ):
        offerings[center_id].append((facet, code, label, code_list))
    writer = _Writer()
    terms = writer.vocabulary_terms()
    count = 0
    for c in session.execute(select(*_COLUMNS).order_by(TreatmentCenter.id)):
        _center(writer, c, offerings.get(c.id, []), terms)
        count += 1
    files = {f"{name}.csv": writer.csv_text(name) for name in TABLES}
    files["datapackage.json"] = json.dumps(_datapackage(), indent=2) + "\n"
    return files, count


def _datapackage() -> dict[str, Any]:
    return {
        "name": "helpline-treatment-directory",
        "title": "Treatment directory (Open Referral HSDS 3.0)",
        "profile": "tabular-data-package",
        "resources": [
            {"name": name, "path": f"{name}.csv", "format": "csv", "mediatype": "text/csv",
             "encoding": "utf-8", "profile": "tabular-data-resource",
             "schema": {"fields": [{"name": col, "type": "string"} for col in columns]}}
            for name, columns in TABLES.items()
        ],
    }


def hsds_zip(session: Session) -> tuple[bytes, int]:
    """The export as the bytes of a .zip (for a download) and how many centers it holds."""
    files, count = hsds_files(session)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue(), count


def export_hsds(session: Session, out: Path) -> ExportSummary:
    """Write the export to ``out``: a .zip when the name ends so, otherwise a folder (made if
    needed; files of the same names in it are replaced)."""
    if out.name.lower().endswith(".zip"):
        data, count = hsds_zip(session)
        out.write_bytes(data)
        return ExportSummary(count, out)
    files, count = hsds_files(session)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8", newline="")
    return ExportSummary(count, out)
