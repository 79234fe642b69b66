"""The tables of an Open Referral HSDS 3.0 package as read from a folder, a .zip or a
datapackage.json: each row with its line number, and what the import leaves unread.

The tables and columns are HSDS 3.0's (its descriptor, helpline/data/hsds-3.0-datapackage.json,
names each resource once, singular, and its file, plural). A table or a column that holds
values the directory has no place for is listed by :func:`ignored`, for the import report.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from helpline.directory.records import ImportRefused

# The tables a package must have, and the columns each must carry.
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
    "schedules": ("id",),
    "organization_identifiers": ("organization_id", "identifier"),
    "contacts": ("id",),
}
# The columns the import reads; any other column with a value is listed as ignored.
USED: dict[str, frozenset[str]] = {
    "organizations": frozenset({"id", "name", "alternate_name", "description", "email",
                                "website"}),
    "services": frozenset({"id", "organization_id", "name", "alternate_name", "description",
                           "url", "status"}),
    "locations": frozenset({"id", "location_type", "organization_id", "name",
                            "alternate_name", "description", "latitude", "longitude",
                            "external_identifier", "external_identifier_type"}),
    "service_at_location": frozenset({"id", "service_id", "location_id"}),
    "phones": frozenset({"id", "location_id", "service_id", "organization_id", "contact_id",
                         "service_at_location_id", "number", "extension", "type",
                         "description"}),
    "addresses": frozenset({"id", "location_id", "address_1", "address_2", "city",
                            "state_province", "postal_code", "country", "address_type"}),
    "taxonomies": frozenset({"id", "name", "version"}),
    "taxonomy_terms": frozenset({"id", "code", "name", "parent_id", "taxonomy",
                                 "taxonomy_id"}),
    "attributes": frozenset({"link_id", "taxonomy_term_id", "link_type", "value"}),
    "languages": frozenset({"service_id", "location_id", "phone_id", "name", "code"}),
    "schedules": frozenset({"id", "service_id", "location_id", "service_at_location_id",
                            "valid_from", "valid_to", "dtstart", "timezone", "until", "count",
                            "wkst", "freq", "interval", "byday", "byweekno", "bymonthday",
                            "byyearday", "description", "opens_at", "closes_at",
                            "schedule_link", "attending_type", "notes"}),
    "organization_identifiers": frozenset({"id", "organization_id", "identifier_scheme",
                                           "identifier_type", "identifier"}),
    # Read only to find the service or location a contact's phone belongs to.
    "contacts": frozenset({"id", "organization_id", "service_id", "service_at_location_id",
                           "location_id"}),
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
    headers: dict[str, list[str]] = field(default_factory=dict)
    # Tables of the package the import does not read, with how many rows each holds.
    unread: dict[str, int] = field(default_factory=dict)

    def of(self, name: str) -> list[Row]:
        return self.rows.get(name, [])


@dataclass
class _Package:
    read: Callable[[str], bytes | None]
    names: list[str]  # the .csv files it holds


def _package(path: Path) -> _Package:
    if not path.exists():
        raise ImportRefused("no such file or folder")
    if path.is_dir():
        return _from_datapackage(path / "datapackage.json", path)
    if path.name.lower().endswith(".zip"):
        try:
            archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            raise ImportRefused("not a .zip file") from None
        members = {PurePosixPath(n).name: n for n in archive.namelist() if not n.endswith("/")}

        def from_zip(name: str) -> bytes | None:
            member = members.get(name)
            return archive.read(member) if member else None

        return _Package(from_zip, sorted(n for n in members if n.lower().endswith(".csv")))
    if path.name.lower() == "datapackage.json":
        return _from_datapackage(path, path.parent)
    raise ImportRefused("HSDS comes as a folder, a .zip or a datapackage.json")


def _from_datapackage(package: Path, folder: Path) -> _Package:
    paths: dict[str, Path] = {p.name: p for p in folder.glob("*.csv")}
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

    return _Package(from_folder, sorted(n for n, p in paths.items() if p.is_file()))


def _rows(data: bytes, filename: str, required: tuple[str, ...]) -> tuple[list[str], list[Row]]:
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
    return header, rows


def read_tables(path: Path) -> Tables:
    """Every table of the package the import reads, each row with its line number; refuses a
    package that lacks a required table or column."""
    package = _package(path)
    tables = Tables()
    for name, required in (*REQUIRED.items(), *OPTIONAL.items()):
        data = package.read(f"{name}.csv")
        if data is None:
            if name in REQUIRED:
                raise ImportRefused(f"not an HSDS package: {name}.csv is missing")
            continue
        tables.headers[name], tables.rows[name] = _rows(data, f"{name}.csv", required)
    if tables.of("attributes") and "taxonomy_terms" not in tables.rows:
        raise ImportRefused("attributes.csv names terms but taxonomy_terms.csv is missing")
    for filename in package.names:
        name = filename[:-4]
        if name not in tables.rows:
            data = package.read(filename) or b""
            try:
                tables.unread[name] = len(_rows(data, filename, ())[1])
            except ImportRefused:
                tables.unread[name] = 0
    return tables


def ignored(tables: Tables) -> list[str]:
    """What the import did not read: tables that hold rows, then columns that hold values."""
    lines = [f"{name}.csv ({count} row{'' if count == 1 else 's'})"
             for name, count in sorted(tables.unread.items()) if count]
    for name in (*REQUIRED, *OPTIONAL):
        unused = [column for column in tables.headers.get(name, [])
                  if column not in USED[name]
                  and any(row.get(column) for row in tables.of(name))]
        if unused:
            lines.append(f"{name}.csv columns {', '.join(unused)}")
    return lines
