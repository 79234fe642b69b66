"""The OpenAPI document, generated from the views and their models (spectree): served at
/api/openapi.json, and every request's query and every answer are checked against it."""

from __future__ import annotations

from typing import Any

from spectree import SecurityScheme, SpecTree
from spectree.models import SecureType, SecuritySchemeData

BEARER = "bearer"


def _quiet(*_args: Any) -> None:
    # A query that does not fit is the client's mistake, answered 422: not an error to log.
    return None


spec = SpecTree(
    "flask",
    title="Helpline directory API (Open Referral HSDS 3.0)",
    version="1.0.0",
    description=(
        "The treatment directory as Open Referral HSDS 3.0, read-only, after the HSDS API "
        "reference (paths, parameters and the Page envelope), and aggregate report figures "
        "for staff-approved integrations. Requests are limited per client address (429 with "
        "Retry-After). The directory is public or needs a bearer token, as the helpline "
        "chose (API_ACCESS); the figures always need one."),
    # spectree leaves out of the document every path under its own ``path``, and serves the
    # document there: the API serves it itself (api.blueprint), at /api/openapi.json.
    path="openapi-unused",
    # Only the API's own views: the dashboard and the webhooks are not part of it.
    mode="strict",
    # No documentation pages: they would load their scripts from a CDN.
    page_templates={},
    security_schemes=[SecurityScheme(name=BEARER, data=SecuritySchemeData(
        type=SecureType.HTTP, scheme="bearer",
        description="An API token made by an admin (`helpline api-token create`)."))],
    validation_error_status=422,
    before=_quiet,
    # Plain names (ServicePage, Organization...): each model's name is unique in the API.
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
)

# The directory: open, or a bearer token (API_ACCESS); the report figures: a token.
DIRECTORY_SECURITY: list[dict[str, list[str]]] = [{}, {BEARER: []}]
TOKEN_SECURITY: dict[str, list[str]] = {BEARER: []}
