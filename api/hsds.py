"""``/api/hsds/...``: the treatment directory as Open Referral HSDS 3.0, read-only, after the
HSDS API reference's paths, parameters and Page. The objects are built by
:mod:`helpline.directory.hsds_objects` from the HSDS export's own rows."""

from __future__ import annotations

from typing import Any

from flask import current_app, url_for
from pydantic import BaseModel
from spectree import Response as Doc

from api import schemas
from api.blueprint import blueprint, problem
from api.spec import DIRECTORY_SECURITY, spec
from helpline.app.runtime import db_session
from helpline.directory import hsds_objects
from helpline.directory.hsds_objects import CenterIndex

TAGS = ("HSDS",)
HSDS_VERSION = "3.0"
# HSDS 3.0's own documentation: we use no profile of it.
PROFILE = "https://docs.openreferral.org/en/v3.0/hsds/schema_reference.html"
_COMMON = {"HTTP_401": schemas.Problem, "HTTP_429": schemas.Problem}
ID_DESCRIPTION = {"id": "The HSDS id (a UUID)."}


def _index() -> CenterIndex:
    index: CenterIndex = current_app.extensions["api_center_index"]
    return index


def _shape(model: type[BaseModel], obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with only the fields ``model`` declares, empty ones left out."""
    shaped: dict[str, Any] = model.model_validate(obj).model_dump(mode="json", exclude_none=True)
    return shaped


def _not_found(what: str) -> Any:
    return problem(404, "not_found", f"No active {what} has that id.")


@blueprint.get("/api/hsds/")
@spec.validate(resp=Doc(HTTP_200=schemas.Meta, **_COMMON), tags=TAGS,
               security=DIRECTORY_SECURITY, operation_id="getAPIMetaInformation")
def meta() -> Any:
    """Retrieve information about this API and its relationship with HSDS."""
    return {"version": HSDS_VERSION, "profile": PROFILE,
            "openapi_url": url_for("api.openapi_document", _external=True)}


@blueprint.get("/api/hsds/services")
@spec.validate(query=schemas.ServiceQuery, resp=Doc(HTTP_200=schemas.ServicePage, **_COMMON),
               tags=TAGS, security=DIRECTORY_SECURITY,
               operation_id="getPaginatedListOfServices")
def services(query: schemas.ServiceQuery) -> Any:
    """Paginated listing of services (one-to-one fields, or fully nested with full=true)."""
    page = hsds_objects.service_page(
        db_session(), _index(), search=query.search, taxonomy_term_id=query.taxonomy_term_id,
        organization_id=query.organization_id, modified_after=query.modified_after,
        full=query.full, page=query.page, per_page=query.per_page)
    shape = schemas.ServiceFull if query.full else schemas.Service
    result = page.as_dict()
    result["contents"] = [_shape(shape, item) for item in result["contents"]]
    return result


@blueprint.get("/api/hsds/services/<id>")
@spec.validate(resp=Doc(HTTP_200=schemas.ServiceFull, HTTP_404=schemas.Problem, **_COMMON),
               tags=TAGS, security=DIRECTORY_SECURITY,
               operation_id="getFullyNestedServiceById",
               path_parameter_descriptions=ID_DESCRIPTION)
def service(id: str) -> Any:
    """Retrieve a fully nested service with all related data by id."""
    found = hsds_objects.find_service(db_session(), _index(), id)
    return _shape(schemas.ServiceFull, found) if found else _not_found("service")


@blueprint.get("/api/hsds/organizations")
@spec.validate(query=schemas.OrganizationQuery,
               resp=Doc(HTTP_200=schemas.OrganizationPage, **_COMMON), tags=TAGS,
               security=DIRECTORY_SECURITY, operation_id="getPaginatedListOfOrganizations")
def organizations(query: schemas.OrganizationQuery) -> Any:
    """Paginated list of basic organization information."""
    page = hsds_objects.organization_page(db_session(), _index(), search=query.search,
                                          page=query.page, per_page=query.per_page)
    result = page.as_dict()
    result["contents"] = [_shape(schemas.Organization, item) for item in result["contents"]]
    return result


@blueprint.get("/api/hsds/organizations/<id>")
@spec.validate(query=schemas.OrganizationByIdQuery,
               resp=Doc(HTTP_200=schemas.OrganizationFull, HTTP_404=schemas.Problem,
                        **_COMMON),
               tags=TAGS, security=DIRECTORY_SECURITY, operation_id="getOrganizationById",
               path_parameter_descriptions=ID_DESCRIPTION)
def organization(id: str, query: schemas.OrganizationByIdQuery) -> Any:
    """Fully nested organization with its services (full_service=true: fully nested)."""
    found = hsds_objects.find_organization(db_session(), _index(), id,
                                           full_service=query.full_service)
    if not found:
        return _not_found("organization")
    shape = schemas.ServiceFull if query.full_service else schemas.ServiceBasic
    found["services"] = [_shape(shape, s) for s in found["services"]]
    return _shape(schemas.OrganizationFull, found)


@blueprint.get("/api/hsds/service_at_locations")
@spec.validate(query=schemas.ServiceAtLocationQuery,
               resp=Doc(HTTP_200=schemas.ServiceAtLocationPage, HTTP_404=schemas.Problem,
                        **_COMMON),
               tags=TAGS, security=DIRECTORY_SECURITY,
               operation_id="getPaginatedListOfServiceAtLocation")
def service_at_locations(query: schemas.ServiceAtLocationQuery) -> Any:
    """Paginated listing of services at locations; with postcode, those near it, nearest
    first (proximity in meters, 40,234 m when not given)."""
    try:
        page = hsds_objects.service_at_location_page(
            db_session(), _index(), search=query.search, taxonomy_term_id=query.taxonomy_term_id,
            postcode=query.postcode,
            proximity_meters=query.proximity if query.postcode else None, page=query.page,
            per_page=query.per_page)
    except hsds_objects.UnknownPostcodeError:
        return problem(404, "unknown_postcode", "The postcode is not a known US ZIP code.")
    result = page.as_dict()
    result["contents"] = [_shape(schemas.ServiceAtLocation, item)
                          for item in result["contents"]]
    return result


@blueprint.get("/api/hsds/service_at_locations/<id>")
@spec.validate(resp=Doc(HTTP_200=schemas.ServiceAtLocationFull, HTTP_404=schemas.Problem,
                        **_COMMON),
               tags=TAGS, security=DIRECTORY_SECURITY,
               operation_id="getServiceAtLocationWithNestedDataById",
               path_parameter_descriptions=ID_DESCRIPTION)
def service_at_location(id: str) -> Any:
    """Retrieve a fully nested service at location by id."""
    found = hsds_objects.find_service_at_location(db_session(), _index(), id)
    if not found:
        return _not_found("service at location")
    return _shape(schemas.ServiceAtLocationFull, found)
