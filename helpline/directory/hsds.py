"""Read Open Referral HSDS 3.0 in its tabular form: a folder, a .zip or a datapackage.json with
organizations.csv, services.csv, locations.csv, service_at_location.csv, phones.csv and
addresses.csv, and optionally taxonomies.csv, taxonomy_terms.csv, attributes.csv and
languages.csv.

One treatment center per physical location: what its services offer (attributes, languages)
is merged. HSDS 3.0 has no payment or eligibility fields, so those come as attributes too.
Terms of our own taxonomy (hsds_export writes it) map exactly; other terms map when their
name, code or value names one offering of the vocabulary unambiguously, and are otherwise kept
unmapped (code, label, code list) for export. A location that says it is an entry of ours
(external_identifier_type "helpline-source:<source>") matches that entry on re-import.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from helpline.directory import samhsa, vocabulary
from helpline.directory.records import (
    CenterRecord,
    ImportRefused,
    ParsedFile,
    Rejection,
    RowError,
    check_lengths,
    place,
)

SOURCE = "hsds"
FORMAT = "Open Referral HSDS 3.0"
EXTERNAL_ID_PREFIX = "helpline-source:"
FACILITY_TYPE_LIST = "samhsa-facility-type"
# Attributes written with this link_type hold what an earlier import could not map: they are
# kept as they are, never mapped afresh (so that export and re-import change nothing).
UNMAPPED_LINK_TYPE = "unmapped"

REQUIRED: dict[str, tuple[str, ...]] = {
    "organizations": ("id", "name"),
    "services": ("id", "organization_id", "name"),
    "locations": ("id",),
    "service_at_location": ("service_id", "location_id"),
    "phones": ("number",),
    "addresses": ("location_id", "address_1", "city", "state_province", "postal_code"),
}
OPTIONAL: dict[str, tuple[str, ...]] = {
    "taxonomies": ("id", "name"),
    "taxonomy_terms": ("id", "name"),
    "attributes": ("link_id", "taxonomy_term_id"),
    "languages": (),
}
INACTIVE_STATUSES = frozenset({"inactive", "defunct", "temporarily closed"})
_SKIPPED_PHONE_TYPES = frozenset({"fax", "text", "pager"})
_FACET_HINTS = {
    "care": ("care",), "type_of_care": ("care",), "service_setting": ("care",),
    "setting": ("care",), "medication": ("medication",), "medications": ("medication",),
    "payment": ("payment",), "payment_accepted": ("payment",), "payments": ("payment",),
    "insurance": ("payment",), "language": ("language",), "languages": ("language",),
    "age": ("age",), "age_group": ("age",), "population": ("population",),
    "eligibility": ("age", "population"), "special_populations": ("population",),
}


@dataclass
class Row:
    line: int
    values: dict[str, str]

    def get(self, name: str) -> str:
        return (self.values.get(name) or "").strip()


@dataclass
class Tables:
    rows: dict[str, list[Row]] = field(default_factory=dict)

    def of(self, name: str) -> list[Row]:
        return self.rows.get(name, [])


def _reader_for(path: Path) -> Callable[[str], bytes | None]:
    """A function giving a table's bytes by its file name (None when absent)."""
    if not path.exists():
        raise ImportRefused("no such file or folder")
    if path.is_dir():
        return _resources_from(path / "datapackage.json", path)
    if path.name.lower().endswith(".zip"):
        try:
            archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            raise ImportRefused("not a .zip file") from None
        members = {PurePosixPath(n).name: n for n in archive.namelist() if not n.endswith("/")}

        def from_zip(name: str) -> bytes | None:
            member = members.get(name)
            return archive.read(member) if member else None

        return from_zip
    if path.name.lower() == "datapackage.json":
        return _resources_from(path, path.parent)
    raise ImportRefused("HSDS comes as a folder, a .zip or a datapackage.json")


def _resources_from(package: Path, folder: Path) -> Callable[[str], bytes | None]:
    paths: dict[str, Path] = {}
    if package.exists():
        try:
            meta = json.loads(package.read_text("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ImportRefused("datapackage.json is not JSON") from None
        for resource in meta.get("resources", []) if isinstance(meta, dict) else []:
            if isinstance(resource, dict) and isinstance(resource.get("path"), str):
                target = (folder / resource["path"]).resolve()
                if folder.resolve() in target.parents:
                    paths[PurePosixPath(resource["path"]).name] = target

    def from_folder(name: str) -> bytes | None:
        target = paths.get(name, folder / name)
        return target.read_bytes() if target.is_file() else None

    return from_folder


def _rows(data: bytes, filename: str, required: tuple[str, ...]) -> list[Row]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused(f"{filename} is not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ImportRefused(f"{filename} is empty (no header line)") from None
    except csv.Error as exc:
        raise ImportRefused(f"{filename} is not CSV: {exc}") from None
    missing = [c for c in required if c not in header]
    if missing:
        raise ImportRefused(f"{filename} has no {', '.join(missing)} column")
    rows: list[Row] = []
    start = reader.line_num + 1
    try:
        for values in reader:
            if any(v.strip() for v in values):
                rows.append(Row(start, dict(zip(header, values, strict=False))))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ImportRefused(f"{filename} line {start} is not CSV: {exc}") from None
    return rows


def read_tables(path: Path) -> Tables:
    """Every table of the package, each row with its line number; refuses a package that lacks
    a required table or column."""
    read = _reader_for(path)
    tables = Tables()
    for name, required in (*REQUIRED.items(), *OPTIONAL.items()):
        data = read(f"{name}.csv")
        if data is None:
            if name in REQUIRED:
                raise ImportRefused(f"not an HSDS package: {name}.csv is missing")
            continue
        tables.rows[name] = _rows(data, f"{name}.csv", required)
    if tables.of("attributes") and "taxonomy_terms" not in tables.rows:
        raise ImportRefused("attributes.csv names terms but taxonomy_terms.csv is missing")
    return tables


class _Terms:
    """Maps attributes (taxonomy term + value) onto the vocabulary."""

    def __init__(self, tables: Tables) -> None:
        self.taxonomies = {r.get("id"): r for r in tables.of("taxonomies")}
        self.terms = {r.get("id"): r for r in tables.of("taxonomy_terms")}

    def code_list(self, term: Row) -> str:
        taxonomy = self.taxonomies.get(term.get("taxonomy_id"))
        if taxonomy is not None:
            version = taxonomy.get("version")
            return f"{taxonomy.get('name')} {version}".strip() if version else taxonomy.get("name")
        return term.get("taxonomy") or "unknown"

    def hint(self, term: Row, link_type: str) -> tuple[str, ...]:
        parent = self.terms.get(term.get("parent_id"))
        for text in (parent.get("code") if parent else "", parent.get("name") if parent else "",
                     link_type):
            facets = _FACET_HINTS.get(_slug(text))
            if facets:
                return facets
        return ()

    def apply(self, attribute: Row, into: _Offerings) -> None:
        term = self.terms.get(attribute.get("taxonomy_term_id"))
        if term is None:
            raise RowError(f"attributes.csv line {attribute.line}: no taxonomy term "
                           f"{attribute.get('taxonomy_term_id')[:40]!r}")
        code_list = self.code_list(term)
        code, name, value = term.get("code"), term.get("name"), attribute.get("value")
        link_type = attribute.get("link_type")
        if link_type != UNMAPPED_LINK_TYPE:
            if code_list == FACILITY_TYPE_LIST:
                into.facility_type = code or name
                return
            mapped = self._map(term, code_list, code, name, value, link_type)
            if mapped:
                into.offerings.update(mapped)
                return
        into.unmapped.append({"code": code, "label": value or name, "code_list": code_list})

    def _map(self, term: Row, code_list: str, code: str, name: str, value: str,
             link_type: str) -> tuple[tuple[str, str], ...]:
        if code_list == vocabulary.CODE_LIST:
            parent = self.terms.get(term.get("parent_id"))
            facet = parent.get("code") if parent else ""
            return ((facet, code),) if (facet, code) in vocabulary.BY_CODE else ()
        if code_list == samhsa.CODE_LIST:
            return samhsa.map_label(code, value or name)
        facets = self.hint(term, link_type) or vocabulary.FACETS
        for text in (value, name, code):
            if not text:
                continue
            found = {(f, c) for f in facets if (c := vocabulary.code_for(f, text)) is not None}
            if len(found) == 1:
                return tuple(found)
        return ()


@dataclass
class _Offerings:
    offerings: set[tuple[str, str]] = field(default_factory=set)
    unmapped: list[dict[str, str]] = field(default_factory=list)
    facility_type: str = ""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_")


def _language(row: Row, into: _Offerings) -> None:
    for text in (row.get("code"), row.get("name")):
        code = vocabulary.code_for("language", text) if text else None
        if code is not None:
            into.offerings.add(("language", code))
            return
    into.unmapped.append({"code": row.get("code"), "label": row.get("name"),
                          "code_list": "ISO 639"})


def _by(rows: list[Row], key: str) -> dict[str, list[Row]]:
    grouped: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if row.get(key):
            grouped[row.get(key)].append(row)
    return grouped


def _phones(candidates: list[Row]) -> tuple[str, str, str]:
    """(main, intake, hotline) from the phones of a location, its services, its organization."""
    main = intake = hotline = ""
    for phone in candidates:
        if phone.get("type").lower() in _SKIPPED_PHONE_TYPES or not phone.get("number"):
            continue
        description = phone.get("description").lower()
        if "intake" in description:
            intake = intake or phone.get("number")
        elif "hotline" in description or "crisis" in description:
            hotline = hotline or phone.get("number")
        else:
            main = main or phone.get("number")
    return main, intake, hotline


class _Reader:
    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        self.organizations = {r.get("id"): r for r in tables.of("organizations")}
        self.services = {r.get("id"): r for r in tables.of("services")}
        self.at_location = _by(tables.of("service_at_location"), "location_id")
        self.addresses = _by(tables.of("addresses"), "location_id")
        self.phones = {key: _by(tables.of("phones"), key)
                       for key in ("location_id", "service_id", "organization_id")}
        self.attributes = _by(tables.of("attributes"), "link_id")
        self.languages = {key: _by(tables.of("languages"), key)
                          for key in ("location_id", "service_id")}
        self.terms = _Terms(tables)

    def dangling(self) -> Iterator[Rejection]:
        for row in self.tables.of("service_at_location"):
            if row.get("service_id") not in self.services:
                yield Rejection(f"service_at_location.csv line {row.line}",
                                f"no service with id {row.get('service_id')[:40]!r}")

    def record(self, location: Row) -> CenterRecord:
        location_id = location.get("id")
        if not location_id:
            raise RowError("no id")
        if location.get("location_type").lower() == "virtual":
            raise RowError("a virtual location has no address to search by distance")
        services = [self.services[s.get("service_id")]
                    for s in self.at_location.get(location_id, [])
                    if s.get("service_id") in self.services]
        if not services:
            raise RowError("no service is offered at this location (service_at_location.csv)")
        organization = (self.organizations.get(location.get("organization_id"))
                        or self.organizations.get(services[0].get("organization_id")))
        org_name = organization.get("name") if organization else ""
        addresses = self.addresses.get(location_id, [])
        if not addresses:
            raise RowError("no address (addresses.csv)")
        address = next((a for a in addresses if a.get("address_type").lower() == "physical"),
                       addresses[0])
        country = address.get("country").upper()
        if country and country not in ("US", "USA"):
            raise RowError(f"not a US address (country {country[:10]!r})")
        where = place(address.get("postal_code"), location.get("latitude"),
                      location.get("longitude"))
        state = address.get("state_province").upper()
        name = location.get("name") or org_name or services[0].get("name")
        by_service = self.phones["service_id"]
        candidates = [*self.phones["location_id"].get(location_id, []),
                      *(p for s in services for p in by_service.get(s.get("id"), [])),
                      *self.phones["organization_id"].get(
                          organization.get("id") if organization else "", [])]
        main, intake, hotline = _phones(candidates)
        found = _Offerings()
        for link_id in (location_id, *(s.get("id") for s in services)):
            for attribute in self.attributes.get(link_id, []):
                self.terms.apply(attribute, found)
            for key in ("location_id", "service_id"):
                for language in self.languages[key].get(link_id, []):
                    _language(language, found)
        fields: dict[str, Any] = {
            "name": name,
            "alternate_name": location.get("alternate_name")
            or (org_name if org_name != name else ""),
            "street1": address.get("address_1"), "street2": address.get("address_2"),
            "city": address.get("city"),
            "state": state if re.fullmatch(r"[A-Z]{2}", state) else where.zip_state,
            "phone": main, "intake_phone": intake,
            "website": next((s.get("url") for s in services if s.get("url")), "")
            or (organization.get("website") if organization else ""),
            "facility_type": found.facility_type,
            "description": location.get("description")
            or next((s.get("description") for s in services if s.get("description")), ""),
            "active": any(s.get("status").lower() not in INACTIVE_STATUSES for s in services),
            **where.fields(),
        }
        check_lengths(fields)
        source, source_id = SOURCE, location_id
        if location.get("external_identifier_type").startswith(EXTERNAL_ID_PREFIX):
            source = location.get("external_identifier_type")[len(EXTERNAL_ID_PREFIX):]
            source_id = location.get("external_identifier")
            if not source or len(source) > 16 or not source_id:
                raise RowError("external identifier of an entry of ours is incomplete")
        if len(source_id) > 128:
            raise RowError("id is longer than 128 characters")
        extra: dict[str, Any] = {}
        unique = {(u["code_list"], u["code"], u["label"]): u for u in found.unmapped}
        if unique:
            extra["unmapped"] = [unique[k] for k in sorted(unique)]
        if hotline:
            extra["hotline"] = hotline
        return CenterRecord(source, source_id, fields, found.offerings, extra)


def parse(path: Path) -> ParsedFile:
    """Every location of the package as a center record, and the rows that cannot be."""
    tables = read_tables(path)
    reader = _Reader(tables)
    parsed = ParsedFile(FORMAT, rejections=list(reader.dangling()))
    seen: dict[tuple[str, str], str] = {}
    for location in tables.of("locations"):
        where = f"locations.csv line {location.line}"
        try:
            record = reader.record(location)
        except RowError as exc:
            parsed.rejections.append(Rejection(where, str(exc)))
            continue
        key = (record.source, record.source_id)
        if key in seen:
            parsed.rejections.append(Rejection(where, f"the same entry as {seen[key]}"))
            continue
        seen[key] = where
        parsed.records.append((where, record))
    return parsed
