"""The directory as Open Referral HSDS 3.0 objects, for the read-only HSDS API (api/hsds.py).

The objects are nested from the HSDS export's own rows (:func:`hsds_export.center_tables`), so
the API and the export give every entry the same ids and the same values and cannot disagree:
whatever the export writes for a center, the API serves, and nothing else (capacity, who
verified an entry, notes: nothing the export leaves out).

Lists follow the HSDS API reference's ``Page``: ``total_items``, ``total_pages``,
``page_number``, ``size`` (the items on this page), ``first_page``, ``last_page``, ``empty`` and
``contents``. Only active centers are served. Each center is one organization and one physical
location with its services (one, or the several an HSDS import kept), as in the export. Lists
go center by center and show each center's first service; every service is found by its id.

Where the reference is silent:
- ``postcode`` without ``proximity`` lists the services at locations within
  :data:`DEFAULT_PROXIMITY_METERS` of the ZIP code's centre, nearest first; ``proximity``
  (meters) without a ``postcode`` has no centre and is ignored. We hold no service areas, so
  coverage is distance.
- ``search`` is the directory's own text search (name, alternate name, city).
- ``taxonomy_term_id`` takes the id of a term of our offerings vocabulary; any other id
  matches nothing.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from helpline.directory import search as directory_search
from helpline.directory.hsds_export import (
    ID_COLUMNS,
    CenterIds,
    center_ids,
    center_tables,
    shared_services,
    vocabulary_term_ids,
)
from helpline.models import CenterService, TreatmentCenter

#: ``postcode`` alone: within this distance of the ZIP code's centre (25 miles, the directory's
#: own default radius).
DEFAULT_PROXIMITY_METERS = 40_234
METERS_PER_MILE = 1609.344
MAX_PER_PAGE = directory_search.MAX_PER_PAGE
# Columns HSDS types as numbers; the export writes every value as text.
_NUMBERS = frozenset({"latitude", "longitude", "extension", "minimum_age", "maximum_age",
                      "year_incorporated", "timezone", "count", "interval"})

Tables = dict[str, list[dict[str, str]]]
HsdsObject = dict[str, Any]


class UnknownPostcodeError(ValueError):
    """The postcode is not a known US ZIP code."""


@dataclass
class Page:
    """One page of a list, in the HSDS API reference's terms."""

    contents: list[HsdsObject]
    total_items: int
    page_number: int
    per_page: int

    def as_dict(self) -> HsdsObject:
        total_pages = -(-self.total_items // self.per_page)
        return {
            "total_items": self.total_items,
            "total_pages": total_pages,
            "page_number": self.page_number,
            "size": len(self.contents),
            "first_page": self.page_number == 1,
            "last_page": self.page_number >= total_pages,
            "empty": self.total_items == 0,
            "contents": self.contents,
        }


# -- ids -----------------------------------------------------------------------------------

class CenterIndex:
    """Which center an HSDS id (of its organization, a service, its location or a service at
    location) names. Ids are derived (uuid5) or kept from an import and cannot be searched in
    SQL, so the index is kept in memory and brought up to date when the directory changes
    (its row count, highest id or latest update differ): only the centers updated since are
    read again. It keeps the export's shared services too."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stamp: tuple[Any, ...] | None = None
        self._centers: dict[int, tuple[Any, CenterIds]] = {}
        self._ids: dict[tuple[str, str], int] = {}
        self._shared: frozenset[str] = frozenset()

    def _fresh(self, session: Session) -> None:
        stamp = tuple(session.execute(
            select(func.count(), func.max(TreatmentCenter.id),
                   func.max(TreatmentCenter.updated_at))).one())
        with self._lock:
            if stamp == self._stamp:
                return
            rows = session.execute(select(TreatmentCenter.id, TreatmentCenter.updated_at,
                                          TreatmentCenter.active)).all()
            changed = [cid for cid, updated, _active in rows
                       if self._centers.get(cid, (None,))[0] != updated or updated is None]
            centers = {cid: self._centers[cid] for cid, _u, _a in rows
                       if cid in self._centers and cid not in changed}
            updated_at = {cid: updated for cid, updated, _active in rows}
            for start in range(0, len(changed), 500):
                for c in session.execute(select(*ID_COLUMNS).where(
                        TreatmentCenter.id.in_(changed[start:start + 500]))):
                    centers[c.id] = (updated_at[c.id], center_ids(c))
            ids: dict[tuple[str, str], int] = {}
            for cid, _updated, active in rows:
                if active and cid in centers:
                    derived = centers[cid][1]
                    ids[("organization", derived.organization)] = cid
                    ids[("location", derived.location)] = cid
                    ids.update({("service", sid): cid for sid in derived.services})
                    ids.update({("service_at_location", sal): cid
                                for sal in derived.at_location})
            self._centers, self._ids = centers, ids
            self._shared = shared_services(session)
            self._stamp = stamp

    def find(self, session: Session, kind: str, hsds_id: str) -> int | None:
        """The active center whose ``kind`` ("organization", "service", "location",
        "service_at_location") has this id, or None."""
        self._fresh(session)
        return self._ids.get((kind, hsds_id))

    def shared(self, session: Session) -> frozenset[str]:
        """The export's shared services (:func:`hsds_export.shared_services`)."""
        self._fresh(session)
        return self._shared


def _vocabulary_term(term_id: str) -> tuple[str, str] | None:
    """(facet, code) of a term of the offerings vocabulary, by its HSDS id."""
    for key, value in vocabulary_term_ids().items():
        if value == term_id:
            return key
    return None


# -- nesting the export's rows ---------------------------------------------------------------

def _typed(row: dict[str, str]) -> HsdsObject:
    """A row without its empty values, numbers as numbers."""
    out: HsdsObject = {}
    for key, value in row.items():
        if value == "":
            continue
        if key in _NUMBERS:
            try:
                out[key] = int(value) if value.lstrip("-").isdigit() else float(value)
            except ValueError:
                continue
        else:
            out[key] = value
    return out


def _where(tables: Tables, table: str, **match: str) -> list[HsdsObject]:
    return [_typed(r) for r in tables.get(table, [])
            if all(r.get(k, "") == v for k, v in match.items())]


def _attributes(tables: Tables, link_id: str) -> list[HsdsObject]:
    terms = {t["id"]: t for t in tables.get("taxonomy_term", [])}
    taxonomies = {t["id"]: t for t in tables.get("taxonomy", [])}
    out = []
    for attribute in _where(tables, "attribute", link_id=link_id):
        term = terms.get(attribute.get("taxonomy_term_id", ""))
        if term is not None:
            nested = _typed(term)
            taxonomy = taxonomies.get(term.get("taxonomy_id", ""))
            if taxonomy is not None:
                nested["taxonomy_detail"] = _typed(taxonomy)
            attribute["taxonomy_term"] = nested
        out.append(attribute)
    return out


def _row(tables: Tables, table: str, row_id: str | None = None) -> HsdsObject:
    """The row of ``table`` with this id, or its first."""
    rows = tables[table]
    chosen = next((r for r in rows if r.get("id") == row_id), rows[0]) if row_id else rows[0]
    return _typed(chosen)


def organization(tables: Tables) -> HsdsObject:
    """The center's organization, its one-to-one fields."""
    return _row(tables, "organization")


def service(tables: Tables, service_id: str | None = None) -> HsdsObject:
    """A service's one-to-one fields and its organization (a list's item)."""
    return {**_row(tables, "service", service_id), "organization": organization(tables)}


def location(tables: Tables) -> HsdsObject:
    """The center's location with its address, phones, languages, schedules, attributes."""
    loc = _row(tables, "location")
    lid = loc["id"]
    return {**loc,
            "addresses": _where(tables, "address", location_id=lid),
            "phones": _where(tables, "phone", location_id=lid),
            "languages": _where(tables, "language", location_id=lid),
            "schedules": _where(tables, "schedule", location_id=lid),
            "attributes": _attributes(tables, lid)}


def service_full(tables: Tables, service_id: str | None = None) -> HsdsObject:
    """The fully nested service (``/services/{id}``)."""
    svc = service(tables, service_id)
    sid = svc["id"]
    return {**svc,
            "phones": _where(tables, "phone", service_id=sid),
            "schedules": _where(tables, "schedule", service_id=sid),
            "languages": _where(tables, "language", service_id=sid),
            "attributes": _attributes(tables, sid),
            "service_at_locations": [{**_typed(sal), "location": location(tables)}
                                     for sal in tables.get("service_at_location", [])
                                     if sal.get("service_id") == sid]}


def service_at_location(tables: Tables, sal_id: str | None = None) -> HsdsObject:
    """A service at the center's location: one-to-one fields, location and service."""
    sal = _row(tables, "service_at_location", sal_id)
    return {**sal, "location": _row(tables, "location"),
            "service": service(tables, sal.get("service_id"))}


def service_at_location_full(tables: Tables, sal_id: str | None = None) -> HsdsObject:
    """The fully nested service at location (``/service_at_locations/{id}``)."""
    sal = _row(tables, "service_at_location", sal_id)
    return {**sal, "location": location(tables),
            "service": service_full(tables, sal.get("service_id")),
            "phones": _where(tables, "phone", service_at_location_id=sal["id"]),
            "schedules": _where(tables, "schedule", service_at_location_id=sal["id"])}


def organization_full(tables: Tables, *, full_service: bool) -> HsdsObject:
    """The organization with its services (``/organizations/{id}``)."""
    org = organization(tables)
    services = []
    for row in tables.get("service", []):
        svc = service_full(tables, row["id"]) if full_service else _typed(row)
        svc.pop("organization", None)
        services.append(svc)
    return {**org, "services": services,
            "phones": _where(tables, "phone", organization_id=org["id"])}


# -- the queries ------------------------------------------------------------------------------

def _offering_clause(term_id: str) -> ColumnElement[bool]:
    found = _vocabulary_term(term_id)
    if found is None:
        return TreatmentCenter.id.is_(None)  # matches nothing
    facet, code = found
    return exists().where(CenterService.center_id == TreatmentCenter.id,
                          CenterService.facet == facet, CenterService.code == code)


def _listed(session: Session, index: CenterIndex, *, search: str | None,
            taxonomy_term_id: str | None, organization_id: str | None,
            modified_after: dt.datetime | None, page: int,
            per_page: int) -> tuple[list[int], int]:
    clauses: list[ColumnElement[bool]] = [TreatmentCenter.active.is_(True)]
    if search and search.strip():
        clauses.append(directory_search._text_clause(search))
    if taxonomy_term_id:
        clauses.append(_offering_clause(taxonomy_term_id))
    if organization_id is not None:
        found = index.find(session, "organization", organization_id)
        clauses.append(TreatmentCenter.id == found if found is not None
                       else TreatmentCenter.id.is_(None))
    if modified_after is not None:
        if modified_after.tzinfo is None:  # a time without a zone is taken as UTC
            modified_after = modified_after.replace(tzinfo=dt.UTC)
        clauses.append(TreatmentCenter.updated_at >= modified_after)
    total = session.scalar(select(func.count()).select_from(TreatmentCenter)
                           .where(*clauses)) or 0
    ids = list(session.scalars(select(TreatmentCenter.id).where(*clauses)
                               .order_by(TreatmentCenter.name, TreatmentCenter.id)
                               .offset((page - 1) * per_page).limit(per_page)))
    return ids, total


def _page(session: Session, index: CenterIndex, ids: Sequence[int], total: int, page: int,
          per_page: int, build: Callable[[Tables], HsdsObject]) -> Page:
    tables = center_tables(session, list(ids), shared=index.shared(session))
    return Page([build(tables[i]) for i in ids if i in tables], total, page, per_page)


def service_page(session: Session, index: CenterIndex, *, search: str | None = None,
                 taxonomy_term_id: str | None = None, organization_id: str | None = None,
                 modified_after: dt.datetime | None = None, full: bool = False,
                 page: int = 1, per_page: int = 20) -> Page:
    """``/services``: active services by name, each filter narrowing the list (AND)."""
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    ids, total = _listed(session, index, search=search, taxonomy_term_id=taxonomy_term_id,
                         organization_id=organization_id, modified_after=modified_after,
                         page=page, per_page=per_page)
    return _page(session, index, ids, total, page, per_page,
                 service_full if full else service)


def organization_page(session: Session, index: CenterIndex, *, search: str | None = None,
                      page: int = 1, per_page: int = 20) -> Page:
    """``/organizations``: the organizations of active centers, by the center's name."""
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    ids, total = _listed(session, index, search=search, taxonomy_term_id=None,
                         organization_id=None, modified_after=None, page=page,
                         per_page=per_page)
    return _page(session, index, ids, total, page, per_page, organization)


def service_at_location_page(session: Session, index: CenterIndex, *,
                             search: str | None = None,
                             taxonomy_term_id: str | None = None, postcode: str | None = None,
                             proximity_meters: float | None = None, page: int = 1,
                             per_page: int = 20) -> Page:
    """``/service_at_locations``: with a postcode, those within the proximity of its centre,
    nearest first (the directory's radius search); without, by name."""
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    if taxonomy_term_id is not None and _vocabulary_term(taxonomy_term_id) is None:
        return Page([], 0, page, per_page)
    filters: dict[str, Any] = {}
    if taxonomy_term_id is not None:
        facet, code = _vocabulary_term(taxonomy_term_id) or ("", "")
        filters[_FACET_ARGUMENTS[facet]] = [code]
    miles = (proximity_meters if proximity_meters is not None
             else DEFAULT_PROXIMITY_METERS) / METERS_PER_MILE
    try:
        found = directory_search.search_centers(
            session, zip_code=postcode or None, within_miles=miles, text=search, page=page,
            per_page=per_page, **filters)
    except directory_search.UnknownZipError:
        raise UnknownPostcodeError("not a known US ZIP code") from None
    ids = [hit.center.id for hit in found.items]
    return _page(session, index, ids, found.total, page, per_page, service_at_location)


# The offering facets as search_centers names its filters.
_FACET_ARGUMENTS = {"care": "care", "medication": "medications", "payment": "payment",
                    "language": "languages", "age": "ages", "population": "populations"}


def _tables_of(session: Session, index: CenterIndex, kind: str,
               hsds_id: str) -> Tables | None:
    center_id = index.find(session, kind, hsds_id)
    if center_id is None:
        return None
    tables = center_tables(session, [center_id], shared=index.shared(session)).get(center_id)
    # The export's own rows have the last word: an id they do not give is not found.
    if not tables or not any(r.get("id") == hsds_id for r in tables.get(kind, [])):
        return None
    return tables


def find_service(session: Session, index: CenterIndex, service_id: str) -> HsdsObject | None:
    """``/services/{id}``: the fully nested service, or None."""
    tables = _tables_of(session, index, "service", service_id)
    return service_full(tables, service_id) if tables else None


def find_organization(session: Session, index: CenterIndex, organization_id: str, *,
                      full_service: bool = False) -> HsdsObject | None:
    """``/organizations/{id}``: the organization with its services, or None."""
    tables = _tables_of(session, index, "organization", organization_id)
    return organization_full(tables, full_service=full_service) if tables else None


def find_service_at_location(session: Session, index: CenterIndex,
                             sal_id: str) -> HsdsObject | None:
    """``/service_at_locations/{id}``: the fully nested service at location, or None."""
    tables = _tables_of(session, index, "service_at_location", sal_id)
    return service_at_location_full(tables, sal_id) if tables else None
