"""Export the treatment directory as Open Referral HSDS 3.0 tabular data: the official
datapackage.json (helpline/data/hsds-3.0-datapackage.json, written unchanged) and every table
it names, in a folder or a .zip.

Each center becomes one physical location with its organization, services, address, phones,
languages, schedules and attributes. Ids are UUIDs: those an HSDS import kept
(``source_extra["hsds"]``) are written back, the rest derive from the entry's source and
source id, so the same entry always gets the same ids; a location that is not an HSDS entry
names the entry it is (external_identifier_type "helpline-source:<source>") so that importing
the export matches every entry and changes nothing. Offerings are attributes in our taxonomy
(CODE_LIST, a parent term per facet) on the center's service, or on its location when other
centers share that service; languages go to languages.csv in ISO 639-1 or, where a language
has no such code, ISO 639-3. Categories an import could not map are attributes: one term per
code of their code list, the label in the attribute's value. Term codes are unique across the
export: a code two code lists share is written "<code list>:<code>" (the import takes that off).

Every field HSDS 3.0 requires is filled: an organization without a description gets one that
says it is generated (hsds.GENERATED_DESCRIPTION). Websites without a scheme get https://, and
a web or e-mail address that is still not valid is left out. A point that is only a ZIP centre
is written without coordinates. Capacity is not exported: it is what staff confirmed on the
phone, not published data. Support groups and resources are not HSDS services.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
import uuid
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline.directory import schedules as schedule_rows
from helpline.directory import vocabulary
from helpline.directory.hsds import (
    EXTERNAL_ID_PREFIX,
    FACILITY_TYPE_LIST,
    GENERATED_DESCRIPTION,
    LANGUAGE_CODE_LIST,
    NOT_KNOWN,
    SOURCE,
    UNMAPPED_LINK_TYPE,
)
from helpline.directory.weblinks import email_address, web_address
from helpline.models import CenterSchedule, CenterService, TreatmentCenter

# Fixed forever: ids derived from it must not change between exports.
NAMESPACE = uuid.UUID("6f0b7a3e-2f56-5c55-9a43-1d1c5e0d4a21")
DESCRIPTOR = Path(__file__).resolve().parent.parent / "data" / "hsds-3.0-datapackage.json"
# ISO 639-3 codes of the vocabulary's languages that ISO 639-1 has no code for.
_ISO_639_3 = {"asl": "ase"}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_EXTENSION = re.compile(r"^(.*?)[\s,;]*(?:x|ext\.?|extension)\s*(\d{1,10})$", re.IGNORECASE)


@functools.cache
def descriptor_text() -> str:
    """Open Referral's HSDS 3.0 datapackage.json, as published (CC BY-SA 4.0)."""
    return DESCRIPTOR.read_text("utf-8")


def _tables() -> dict[str, tuple[str, tuple[str, ...]]]:
    resources = json.loads(descriptor_text())["resources"]
    return {r["name"]: (r["path"], tuple(f["name"] for f in r["schema"]["fields"]))
            for r in resources}


# HSDS resource name ("organization") → (its file, its columns in order).
TABLES: dict[str, tuple[str, tuple[str, ...]]] = _tables()
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


def _kept(value: Any, *parts: str) -> str:
    """A kept id when it is a UUID (HSDS wants them), otherwise one derived from ``parts``."""
    text = value.strip().lower() if isinstance(value, str) else ""
    return text if _UUID.fullmatch(text) else _id(*parts)


def split_extension(number: str) -> tuple[str, str]:
    """("555-555-0100", "12") from "555-555-0100 x12"; the extension is "" when none."""
    match = _EXTENSION.match(number.strip())
    return (match.group(1).strip(), match.group(2)) if match else (number.strip(), "")


class _Writer:
    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, str]]] = {name: [] for name in TABLES}
        self.written: set[tuple[str, str]] = set()
        self.term_labels: dict[str, set[str]] = defaultdict(set)

    def add(self, table: str, **values: Any) -> bool:
        """Add a row unless one with its id is already written; False when it was."""
        key = (table, str(values["id"]))
        if key in self.written:
            return False
        self.written.add(key)
        self.rows[table].append({k: "" if v is None else str(v) for k, v in values.items()})
        return True

    def taxonomy(self, name: str, description: str) -> str:
        taxonomy_id = _id("taxonomy", name)
        self.add("taxonomy", id=taxonomy_id, name=name, description=description)
        return taxonomy_id

    def term(self, code_list: str, code: str, name: str, parent_id: str = "",
             description: str = "") -> str:
        term_id = _id("term", code_list, code, name)
        if ("taxonomy_term", term_id) not in self.written:
            taxonomy_id = self.taxonomy(code_list, f"Terms of the {code_list} code list.")
            self.add("taxonomy_term", id=term_id, code=code, name=name,
                     description=description or name, parent_id=parent_id,
                     taxonomy=code_list, taxonomy_id=taxonomy_id)
        return term_id

    def category(self, code_list: str, code: str, label: str) -> str:
        """The term of a code of another code list (its labels go in attributes' values)."""
        key = (code_list, code) if code else (code_list, "", label)
        term_id = _id("category", *key)
        if ("taxonomy_term", term_id) not in self.written:
            taxonomy_id = self.taxonomy(code_list, f"Terms of the {code_list} code list, as "
                                                   "the source published them.")
            what = f"Code {code}" if code else "A term without a code"
            self.add("taxonomy_term", id=term_id, code=code, name=code or label,
                     description=f"{what} of the {code_list} code list.",
                     taxonomy=code_list, taxonomy_id=taxonomy_id)
        self.term_labels[term_id].add(label)
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

    def finish(self) -> None:
        """Name each category term by its one label (by its code when it has several), and
        qualify the codes that two code lists share, so that every term code is unique."""
        for row in self.rows["taxonomy_term"]:
            labels = self.term_labels.get(row["id"])
            if labels and len(labels) == 1:
                row["name"] = next(iter(labels))
        ours = {r["code"] for r in self.rows["taxonomy_term"]
                if r["taxonomy"] == vocabulary.CODE_LIST}
        counts = Counter(r["code"] for r in self.rows["taxonomy_term"] if r["code"])
        for row in self.rows["taxonomy_term"]:
            code = row["code"]
            if code and row["taxonomy"] != vocabulary.CODE_LIST \
                    and (counts[code] > 1 or code in ours):
                row["code"] = f"{row['taxonomy']}:{code}"

    def csv_text(self, table: str) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=TABLES[table][1], lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(self.rows[table])
        return buffer.getvalue()


def _number(value: float | None) -> str:
    return "" if value is None else repr(float(value))


@dataclass(frozen=True)
class _Ids:
    key: str
    organization: str
    location: str
    services: tuple[str, ...]
    at_location: tuple[str, ...]


def _ids(c: Any) -> _Ids:
    key = c.source_id or f"local-{c.id}"
    hsds = (c.source_extra or {}).get("hsds", {})
    location = key if c.source == SOURCE and _UUID.fullmatch(key) \
        else _id("location", c.source, key)
    services = hsds.get("services") or [{}]
    service_ids = tuple(_kept(s.get("id"), "service", c.source, key, str(i))
                        if i else _kept(s.get("id"), "service", c.source, key)
                        for i, s in enumerate(services))
    at_location = tuple(_kept(s.get("at_location"), "service_at_location", sid, location)
                        for s, sid in zip(services, service_ids, strict=True))
    return _Ids(key, _kept(hsds.get("organization", {}).get("id"), "organization", c.source,
                           key), location, service_ids, at_location)


def _organization(w: _Writer, c: Any, ids: _Ids, hsds: dict[str, Any]) -> None:
    org = hsds.get("organization", {})
    name = org.get("name") or c.alternate_name or c.name
    description = org.get("description") or (
        f"{GENERATED_DESCRIPTION} {name} offers treatment at {c.name}, {c.city}, {c.state}.")
    website = org.get("website", "") if hsds else web_address(c.website)
    if w.add("organization", id=ids.organization, name=name,
             alternate_name=org.get("alternate_name", ""), description=description,
             email=email_address(org.get("email")), website=web_address(website)):
        for i, identifier in enumerate(org.get("identifiers", [])):
            if identifier.get("identifier_type") and identifier.get("identifier"):
                w.add("organization_identifier",
                      id=_kept(identifier.get("id"), "identifier", ids.organization, str(i)),
                      organization_id=ids.organization,
                      identifier_scheme=identifier.get("identifier_scheme", ""),
                      identifier_type=identifier["identifier_type"],
                      identifier=identifier["identifier"])


def _phones(w: _Writer, c: Any, ids: _Ids, hsds: dict[str, Any]) -> None:
    kept = hsds.get("phones", {})
    extra = c.source_extra or {}
    for kind, number in (("main", c.phone), ("intake", c.intake_phone),
                         ("hotline", extra.get("hotline", ""))):
        if not number:
            continue
        phone_id = _kept(kept.get(kind), "phone", ids.location, kind)
        if ("phone", phone_id) in w.written:  # a phone of a service two centers share
            phone_id = _id("phone", ids.location, kind)
        digits, extension = split_extension(number)
        w.add("phone", id=phone_id, location_id=ids.location, number=digits,
              extension=extension, type="voice", description=kind)


def _schedules(w: _Writer, ids: _Ids, schedules: list[CenterSchedule]) -> None:
    for position, s in enumerate(schedules):
        links = {"location": (ids.location,), "service": ids.services,
                 "service_at_location": ids.at_location}.get(s.link_type, (ids.location,))
        link_id = s.link_id if s.link_id in links else links[0]
        column = {"service": "service_id", "service_at_location": "service_at_location_id"
                  }.get(s.link_type, "location_id")
        w.add("schedule", id=_kept(s.source_id, "schedule", ids.location, str(position)),
              **{column: link_id}, **schedule_rows.row_from_values(s))


def _offerings(w: _Writer, c: Any, ids: _Ids, offerings: list[tuple[str, str, str, str]],
               terms: dict[tuple[str, str], str], shared: frozenset[str]) -> None:
    if ids.services[0] in shared:
        entity, link_id, link_column = "location", ids.location, "location_id"
    else:
        entity, link_id, link_column = "service", ids.services[0], "service_id"
    for facet, code, label, _code_list in offerings:
        if facet == "language":
            w.add("language", id=_id("language", link_id, code), **{link_column: link_id},
                  name=label, code=_ISO_639_3.get(code, code))
        elif (facet, code) in terms:
            w.add("attribute", id=_id("attribute", link_id, facet, code), link_id=link_id,
                  taxonomy_term_id=terms[(facet, code)], link_type=facet, link_entity=entity)
    extra = c.source_extra or {}
    # In the order an import keeps them, so that a re-export writes the same file.
    for item in sorted(extra.get("unmapped", []),
                       key=lambda u: (u["code_list"], u["code"], u["label"])):
        if item["code_list"] == LANGUAGE_CODE_LIST:
            w.add("language", id=_id("language", link_id, item["code"], item["label"]),
                  **{link_column: link_id}, name=item["label"], code=item["code"])
            continue
        term_id = w.category(item["code_list"], item["code"], item["label"])
        w.add("attribute", id=_id("attribute", link_id, term_id, item["label"]),
              link_id=link_id, taxonomy_term_id=term_id, link_type=UNMAPPED_LINK_TYPE,
              link_entity=entity, value=item["label"])
    if c.facility_type:
        term_id = w.category(FACILITY_TYPE_LIST, c.facility_type, c.facility_type)
        w.add("attribute", id=_id("attribute", ids.location, term_id), link_id=ids.location,
              taxonomy_term_id=term_id, link_type="facility_type", link_entity="location")


def _center(w: _Writer, c: Any, offerings: list[tuple[str, str, str, str]],
            terms: dict[tuple[str, str], str], schedules: list[CenterSchedule] | None = None,
            shared: frozenset[str] = frozenset()) -> None:
    ids = _ids(c)
    hsds = (c.source_extra or {}).get("hsds", {})
    _organization(w, c, ids, hsds)
    services = hsds.get("services") or [{}]
    for service, service_id, link_id in zip(services, ids.services, ids.at_location,
                                            strict=True):
        w.add("service", id=service_id, organization_id=ids.organization,
              name=service.get("name") or c.name,
              alternate_name=service.get("alternate_name", "") if hsds else c.alternate_name,
              description=c.description, url=web_address(c.website),
              status="active" if c.active else "inactive",
              assured_date=c.last_verified_at.date().isoformat() if c.last_verified_at else "")
        w.add("service_at_location", id=link_id, service_id=service_id,
              location_id=ids.location)
    approximate = c.approximate_location
    identifier = hsds.get("location", {}) if hsds and ids.location == ids.key else {
        "external_identifier": ids.key,
        "external_identifier_type": EXTERNAL_ID_PREFIX + c.source}
    w.add("location", id=ids.location, location_type="physical",
          organization_id=ids.organization, name=c.name, alternate_name=c.alternate_name,
          description=c.description,
          latitude="" if approximate else _number(c.latitude),
          longitude="" if approximate else _number(c.longitude),
          external_identifier=identifier.get("external_identifier", ""),
          external_identifier_type=identifier.get("external_identifier_type", ""))
    w.add("address", id=_kept(hsds.get("address_id"), "address", ids.location),
          location_id=ids.location, address_1=c.street1 or NOT_KNOWN["address_1"],
          address_2=c.street2, city=c.city or NOT_KNOWN["city"],
          state_province=c.state or NOT_KNOWN["state_province"], postal_code=c.zip_code,
          country="US",
          address_type="physical")
    _phones(w, c, ids, hsds)
    _schedules(w, ids, schedules or [])
    _offerings(w, c, ids, offerings, terms, shared)


def _shared_services(session: Session) -> frozenset[str]:
    """Ids of services more than one center names (kept from an HSDS import)."""
    counts: Counter[str] = Counter()
    for extra in session.scalars(select(TreatmentCenter.source_extra)):
        for service in (extra or {}).get("hsds", {}).get("services", [])[:1]:
            counts[str(service.get("id", "")).lower()] += 1
    return frozenset(sid for sid, n in counts.items() if n > 1 and sid)


def hsds_files(session: Session) -> tuple[dict[str, str], int]:
    """The export's files (name → text) and how many centers they hold."""
    offerings: dict[int, list[tuple[str, str, str, str]]] = defaultdict(list)
    for center_id, facet, code, label, code_list in session.execute(
        select(CenterService.center_id, CenterService.facet, CenterService.code,
               CenterService.label, CenterService.code_list)
        .order_by(CenterService.center_id, CenterService.facet, CenterService.code)
    ):
        offerings[center_id].append((facet, code, label, code_list))
    schedules: dict[int, list[CenterSchedule]] = defaultdict(list)
    for schedule in session.scalars(select(CenterSchedule).order_by(
            CenterSchedule.center_id, CenterSchedule.position)):
        schedules[schedule.center_id].append(schedule)
    shared = _shared_services(session)
    writer = _Writer()
    terms = writer.vocabulary_terms()
    count = 0
    for c in session.execute(select(*_COLUMNS).order_by(TreatmentCenter.id)):
        _center(writer, c, offerings.get(c.id, []), terms, schedules.get(c.id, []), shared)
        count += 1
    writer.finish()
    files = {path: writer.csv_text(name) for name, (path, _columns) in TABLES.items()}
    files["datapackage.json"] = descriptor_text()
    return files, count


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


# -- the same rows, center by center, for the HSDS API (api/hsds.py) -----------------------

@dataclass(frozen=True)
class CenterIds:
    """The HSDS ids the export gives one center's objects."""

    organization: str
    location: str
    services: tuple[str, ...]
    at_location: tuple[str, ...]


#: What :func:`center_ids` reads of a center.
ID_COLUMNS = (TreatmentCenter.id, TreatmentCenter.source, TreatmentCenter.source_id,
              TreatmentCenter.source_extra)


def center_ids(c: Any) -> CenterIds:
    """The ids :func:`hsds_files` gives a center's organization, location, services and
    services at location (``c`` has the :data:`ID_COLUMNS`): the API finds a center by any."""
    ids = _ids(c)
    return CenterIds(ids.organization, ids.location, ids.services, ids.at_location)


def shared_services(session: Session) -> frozenset[str]:
    """Ids of services more than one center names (the export links their offerings to the
    location instead); the API keeps this between changes of the directory."""
    return _shared_services(session)


def center_tables(session: Session, ids: list[int], *,
                  shared: frozenset[str] | None = None
                  ) -> dict[int, dict[str, list[dict[str, str]]]]:
    """The export's rows for these centers only: center id → HSDS resource name
    ("service", "location", "phone"...) → rows, each row as the export writes it (strings,
    "" for empty). The vocabulary's taxonomy and terms come with every center. The HSDS API
    nests these rows into its objects, so that the API and the export cannot disagree (but
    for what :meth:`_Writer.finish` decides across the whole export: a category term's name
    and whether its code is qualified by its code list)."""
    if not ids:
        return {}
    offerings: dict[int, list[tuple[str, str, str, str]]] = defaultdict(list)
    for center_id, facet, code, label, code_list in session.execute(
        select(CenterService.center_id, CenterService.facet, CenterService.code,
               CenterService.label, CenterService.code_list)
        .where(CenterService.center_id.in_(ids))
        .order_by(CenterService.center_id, CenterService.facet, CenterService.code)
    ):
        offerings[center_id].append((facet, code, label, code_list))
    schedules: dict[int, list[CenterSchedule]] = defaultdict(list)
    for schedule in session.scalars(select(CenterSchedule)
                                    .where(CenterSchedule.center_id.in_(ids))
                                    .order_by(CenterSchedule.center_id,
                                              CenterSchedule.position)):
        schedules[schedule.center_id].append(schedule)
    if shared is None:
        shared = _shared_services(session)
    tables: dict[int, dict[str, list[dict[str, str]]]] = {}
    for c in session.execute(select(*_COLUMNS).where(TreatmentCenter.id.in_(ids))):
        writer = _Writer()
        terms = writer.vocabulary_terms()
        _center(writer, c, offerings.get(c.id, []), terms, schedules.get(c.id, []), shared)
        writer.finish()
        tables[c.id] = writer.rows
    return tables


def vocabulary_term_ids() -> dict[tuple[str, str], str]:
    """(facet, code) → the id the export gives that term of the offerings vocabulary."""
    return _Writer().vocabulary_terms()
