"""The API's shapes: the OpenAPI document is generated from these (spectree), and every answer
is checked against them before it leaves.

The HSDS objects follow Open Referral's HSDS 3.0 compiled schemas (openreferral/specification,
schema/compiled/*.json) and its API reference's ``Page``: the same field names, types and
formats, the same required fields. Only the fields the directory can fill are declared; an
empty one is left out rather than sent as null (HSDS allows no null).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from helpline.directory.hsds_objects import MAX_PER_PAGE


def _no_default(schema: dict[str, Any]) -> None:
    # Left out when empty: the document should not promise a null default.
    schema.pop("default", None)


def _uuid(description: str) -> Any:
    return Field(json_schema_extra={"format": "uuid"}, description=description)


def _optional(description: str, **extra: Any) -> Any:
    def shape(schema: dict[str, Any]) -> None:
        _no_default(schema)
        schema.update(extra)

    return Field(default=None, description=description, json_schema_extra=shape)


OptStr = str | SkipJsonSchema[None]
OptNum = float | SkipJsonSchema[None]
Status = Literal["active", "inactive", "defunct", "temporarily closed"]


class Hsds(BaseModel):
    # Extra fields of the export's rows (none HSDS lacks, once the export is to the letter)
    # are dropped: the API says only what its document declares.
    model_config = ConfigDict(extra="ignore")


class TaxonomyDetail(Hsds):
    id: str = _uuid("The identifier of this taxonomy.")
    name: str = Field(description="The name of this taxonomy.")
    description: str = Field(description="What this taxonomy is.")
    uri: OptStr = _optional("The URI of this taxonomy.", format="uri")
    version: OptStr = _optional("The version of this taxonomy.")


class TaxonomyTerm(Hsds):
    id: str = _uuid("The identifier of this taxonomy term.")
    code: OptStr = _optional("The term's code in its taxonomy.")
    name: str = Field(description="The name of this term.")
    description: str = Field(description="What this term means.")
    parent_id: OptStr = _optional("The parent term, if any.", format="uuid")
    taxonomy: OptStr = _optional("The name of the taxonomy the term is from.")
    taxonomy_id: OptStr = _optional("The taxonomy the term is from.", format="uuid")
    taxonomy_detail: TaxonomyDetail | SkipJsonSchema[None] = _optional(
        "The taxonomy the term is from.")


class Attribute(Hsds):
    id: str = _uuid("The identifier of this attribute.")
    link_id: str = _uuid("The object the term is linked to.")
    taxonomy_term_id: str = _uuid("The term linked.")
    link_type: OptStr = _optional("What kind of link this is.")
    link_entity: str = Field(description="The table of the object linked.")
    value: OptStr = _optional("A value the link carries.")
    taxonomy_term: TaxonomyTerm | SkipJsonSchema[None] = _optional("The term linked.")


class Language(Hsds):
    id: str = _uuid("The identifier of this language.")
    service_id: OptStr = _optional("The service offered in it.", format="uuid")
    location_id: OptStr = _optional("The location where it is spoken.", format="uuid")
    phone_id: OptStr = _optional("The phone line answered in it.", format="uuid")
    name: OptStr = _optional("The language's name.")
    code: OptStr = _optional("The ISO 639 code of the language.")
    note: OptStr = _optional("A note about the language.")


class Phone(Hsds):
    id: str = _uuid("The identifier of this phone.")
    location_id: OptStr = _optional("The location it belongs to.", format="uuid")
    service_id: OptStr = _optional("The service it belongs to.", format="uuid")
    organization_id: OptStr = _optional("The organization it belongs to.", format="uuid")
    contact_id: OptStr = _optional("The contact it belongs to.", format="uuid")
    service_at_location_id: OptStr = _optional("The service at location it belongs to.",
                                               format="uuid")
    number: str = Field(description="The phone number.")
    extension: OptNum = _optional("The extension.")
    type: OptStr = _optional("text, voice, fax, cell, video, pager or textphone.")
    description: OptStr = _optional("What this number is for.")


class Schedule(Hsds):
    id: str = _uuid("The identifier of this schedule.")
    service_id: OptStr = _optional("The service it belongs to.", format="uuid")
    location_id: OptStr = _optional("The location it belongs to.", format="uuid")
    service_at_location_id: OptStr = _optional("The service at location it belongs to.",
                                               format="uuid")
    valid_from: OptStr = _optional("The first day it holds.", format="date")
    valid_to: OptStr = _optional("The last day it holds.", format="date")
    dtstart: OptStr = _optional("The first event's date.", format="date")
    timezone: OptNum = _optional("The UTC offset of the times.")
    until: OptStr = _optional("The last event's date.", format="date")
    count: OptNum = _optional("How many events there are.")
    wkst: OptStr = _optional("The first day of the week (MO..SU).")
    freq: OptStr = _optional("WEEKLY or MONTHLY.")
    interval: OptNum = _optional("Every how many periods the event repeats.")
    byday: OptStr = _optional("The days (MO,TU...).")
    byweekno: OptStr = _optional("The weeks of the year.")
    bymonthday: OptStr = _optional("The days of the month.")
    byyearday: OptStr = _optional("The days of the year.")
    description: OptStr = _optional("The schedule in words.")
    opens_at: OptStr = _optional("When it opens (HH:MM).")
    closes_at: OptStr = _optional("When it closes (HH:MM).")
    schedule_link: OptStr = _optional("A page with the schedule.", format="uri")
    attending_type: OptStr = _optional("How it is attended.")
    notes: OptStr = _optional("Notes on the schedule.")


class Address(Hsds):
    id: str = _uuid("The identifier of this address.")
    location_id: OptStr = _optional("The location at this address.", format="uuid")
    attention: OptStr = _optional("The person or entity whose attention it is for.")
    address_1: str = Field(description="The first line of the street address.")
    address_2: OptStr = _optional("The second line of the street address.")
    city: str = Field(description="The city.")
    region: OptStr = _optional("The region.")
    state_province: str = Field(description="The state (two letters).")
    postal_code: str = Field(description="The ZIP code.")
    country: str = Field(description="The ISO 3361-1 country code (US).")
    address_type: str = Field(description="physical, postal or virtual.")


class Organization(Hsds):
    id: str = _uuid("The identifier of the organization.")
    name: str = Field(description="The organization's name.")
    alternate_name: OptStr = _optional("Another name it is known by.")
    description: str = Field(description="What the organization does.")
    email: OptStr = _optional("Its email address.", format="email")
    website: OptStr = _optional("Its website.", format="uri")
    uri: OptStr = _optional("A persistent identifier of the organization.", format="uri")


class LocationBasic(Hsds):
    id: str = _uuid("The identifier of the location.")
    location_type: Literal["physical", "postal", "virtual"] = Field(
        description="physical, postal or virtual.")
    url: OptStr = _optional("The location's web address, if virtual.", format="uri")
    organization_id: OptStr = _optional("The organization at the location.", format="uuid")
    name: OptStr = _optional("The location's name.")
    alternate_name: OptStr = _optional("Another name of the location.")
    description: OptStr = _optional("The location.")
    transportation: OptStr = _optional("How to get there.")
    latitude: OptNum = _optional("WGS84 latitude (left out where only the ZIP's centre is "
                                 "known).")
    longitude: OptNum = _optional("WGS84 longitude (left out where only the ZIP's centre is "
                                  "known).")
    external_identifier: OptStr = _optional("The location's identifier in its source.")
    external_identifier_type: OptStr = _optional("The source of that identifier.")


class Location(LocationBasic):
    addresses: list[Address] | SkipJsonSchema[None] = _optional("Its addresses.")
    phones: list[Phone] | SkipJsonSchema[None] = _optional("Its phones.")
    languages: list[Language] | SkipJsonSchema[None] = _optional("Languages spoken.")
    schedules: list[Schedule] | SkipJsonSchema[None] = _optional("Opening hours.")
    attributes: list[Attribute] | SkipJsonSchema[None] = _optional("Its terms.")


class ServiceBasic(Hsds):
    id: str = _uuid("The identifier of the service.")
    organization_id: OptStr = _optional("The organization providing it.", format="uuid")
    name: str = Field(description="The service's name.")
    alternate_name: OptStr = _optional("Another name of the service.")
    description: OptStr = _optional("What the service is.")
    url: OptStr = _optional("The service's website.", format="uri")
    email: OptStr = _optional("The service's email address.", format="email")
    status: Status = Field(description="active, inactive, defunct or temporarily closed.")
    assured_date: OptStr = _optional("When the entry was last checked.", format="date")
    last_modified: OptStr = _optional("When the entry last changed.", format="date-time")


class Service(ServiceBasic):
    """A service's one-to-one fields and its organization (a list's item)."""

    organization: Organization | SkipJsonSchema[None] = _optional("Who provides it.")


class ServiceAtLocationOfService(Hsds):
    id: str = _uuid("The identifier of the service at location.")
    service_id: OptStr = _optional("The service.", format="uuid")
    location_id: OptStr = _optional("The location.", format="uuid")
    description: OptStr = _optional("The service at this location.")
    location: Location | SkipJsonSchema[None] = _optional("Where.")


class ServiceFull(Service):
    """A fully nested service."""

    phones: list[Phone] | SkipJsonSchema[None] = _optional("Its phones.")
    schedules: list[Schedule] | SkipJsonSchema[None] = _optional("Opening hours.")
    languages: list[Language] | SkipJsonSchema[None] = _optional("Languages offered.")
    attributes: list[Attribute] | SkipJsonSchema[None] = _optional(
        "What it offers, as taxonomy terms.")
    service_at_locations: list[ServiceAtLocationOfService] | SkipJsonSchema[None] = _optional(
        "Where it is offered.")


class ServiceAtLocation(Hsds):
    """A service at a location: one-to-one fields, the location and the service."""

    id: str = _uuid("The identifier of the service at location.")
    service_id: OptStr = _optional("The service.", format="uuid")
    location_id: OptStr = _optional("The location.", format="uuid")
    description: OptStr = _optional("The service at this location.")
    location: LocationBasic | SkipJsonSchema[None] = _optional("Where.")
    service: Service | SkipJsonSchema[None] = _optional("What.")


class ServiceAtLocationFull(Hsds):
    """A fully nested service at location."""

    id: str = _uuid("The identifier of the service at location.")
    service_id: OptStr = _optional("The service.", format="uuid")
    location_id: OptStr = _optional("The location.", format="uuid")
    description: OptStr = _optional("The service at this location.")
    location: Location | SkipJsonSchema[None] = _optional("Where.")
    service: ServiceFull | SkipJsonSchema[None] = _optional("What.")
    phones: list[Phone] | SkipJsonSchema[None] = _optional("Its phones.")
    schedules: list[Schedule] | SkipJsonSchema[None] = _optional("Opening hours.")


class OrganizationFull(Organization):
    """An organization with its services."""

    services: list[ServiceFull] | SkipJsonSchema[None] = _optional(
        "Its services (one-to-one fields unless full_service=true).")
    phones: list[Phone] | SkipJsonSchema[None] = _optional("Its phones.")


class Page(BaseModel):
    """The HSDS API reference's Page: the header of every list."""

    total_items: int = Field(description="The total number of entities (e.g. services, "
                                         "organizations) returned.")
    total_pages: int = Field(description="Count of total pages.")
    page_number: int = Field(description="The number of the current page.")
    size: int = Field(description="The number of entities in the current page.")
    first_page: bool = Field(description="Whether this is the first page.")
    last_page: bool = Field(description="Whether this is the last page.")
    empty: bool = Field(description="Whether the result set is empty.")


class ServicePage(Page):
    contents: list[ServiceFull]


class OrganizationPage(Page):
    contents: list[Organization]


class ServiceAtLocationPage(Page):
    contents: list[ServiceAtLocation]


class Meta(BaseModel):
    """``/``: this API and its relation to HSDS."""

    version: str = Field(description="HSDS version of this API.")
    profile: str = Field(description="URL of the information on the HSDS profile of this API.",
                         json_schema_extra={"format": "uri"})
    openapi_url: str = Field(description="URL of the openapi JSON file which defines this API.",
                             json_schema_extra={"format": "uri"})


class Problem(BaseModel):
    """Why a request was not answered."""

    error: str = Field(description="A short code: not_found, unauthorized, rate_limited...")
    message: str = Field(description="What happened, in words.")


# -- queries ---------------------------------------------------------------------------------

PageNumber = Annotated[int, Field(ge=1, le=1_000_000, description="Page number of paginated "
                                                                  "result.")]
PerPage = Annotated[int, Field(ge=1, le=MAX_PER_PAGE, description="Number of results "
                                                                  "requested in a single page.")]
Search = Annotated[str | SkipJsonSchema[None], Field(
    max_length=200, description="Full text search: the name, alternate name or city.",
    json_schema_extra=_no_default)]
Format = Annotated[Literal["json"], Field(description="Return results in the specified "
                                                      "format; only json.")]


class Query(BaseModel):
    model_config = ConfigDict(extra="ignore")

    search: Search = None
    page: PageNumber = 1
    per_page: PerPage = 20
    format: Format = "json"


class ServiceQuery(Query):
    taxonomy_term_id: Annotated[str | SkipJsonSchema[None], Field(
        max_length=64, description="Services with this taxonomy term (our offerings "
                                   "vocabulary).", json_schema_extra=_no_default)] = None
    organization_id: Annotated[str | SkipJsonSchema[None], Field(
        max_length=64, description="Services this organization provides.",
        json_schema_extra=_no_default)] = None
    modified_after: Annotated[dt.datetime | SkipJsonSchema[None], Field(
        description="Services modified on or after this time (ISO 8601; UTC if no zone is "
                    "given).", json_schema_extra=_no_default)] = None
    full: Annotated[bool, Field(description="Return fully nested services.")] = False


class OrganizationQuery(Query):
    pass


class OrganizationByIdQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    full_service: Annotated[bool, Field(description="Fully nested services in the "
                                                    "organization's services array.")] = False


ZipCode = Annotated[str, Field(pattern=r"^[0-9]{5}(-?[0-9]{4})?$")]
Meters = Annotated[float, Field(gt=0, le=1_000_000)]


class ServiceAtLocationQuery(Query):
    taxonomy_term_id: Annotated[str | SkipJsonSchema[None], Field(
        max_length=64, description="Services with this taxonomy term (our offerings "
                                   "vocabulary).", json_schema_extra=_no_default)] = None
    # Constraints go on the inner type: on the union with None pydantic would drop them.
    postcode: Annotated[ZipCode | SkipJsonSchema[None], Field(
        description="A US ZIP code: only services at locations within the proximity of its "
                    "centre, nearest first (within 40,234 m, 25 miles, without proximity). "
                    "A ZIP code that does not exist: 404.",
        json_schema_extra=_no_default)] = None
    proximity: Annotated[Meters | SkipJsonSchema[None], Field(
        description="Meters from the centroid of the postcode (ignored without one).",
        json_schema_extra=_no_default)] = None


# -- report figures ---------------------------------------------------------------------------

class ReportQuery(BaseModel):
    """A calendar month or year (every request the document allows can be answered)."""

    model_config = ConfigDict(extra="ignore")

    year: Annotated[int, Field(ge=2000, le=2100, description="The year (local dates).")]
    month: Annotated[Annotated[int, Field(ge=1, le=12)] | SkipJsonSchema[None], Field(
        description="The month (1-12); without it, the whole year.",
        json_schema_extra=_no_default)] = None
    queue: Annotated[str | SkipJsonSchema[None], Field(
        max_length=64, description="Only calls of this queue.",
        json_schema_extra=_no_default)] = None


class ReportTable(BaseModel):
    key: str = Field(description="The table's name (summary, hour, weekday, need...).")
    title: str
    columns: list[str]
    rows: list[list[str | int | float]] = Field(description="The first column is the label.")


class ReportFigures(BaseModel):
    """Aggregate figures of a date range: never a record, a number or a name of a caller."""

    start: dt.date
    end: dt.date
    timezone: str
    queue: str | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_no_default)
    tables: list[ReportTable]
