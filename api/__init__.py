"""The read-only API: the directory as Open Referral HSDS 3.0 (/api/hsds/...), and aggregate
report figures for staff-approved integrations (/api/reports/...). Its OpenAPI document,
/api/openapi.json, is generated from the code (:mod:`api.spec`)."""

from __future__ import annotations

from flask import Flask

from api import hsds, reports
from api.blueprint import blueprint
from helpline.directory.hsds_objects import CenterIndex

VIEWS = (hsds, reports)


def init_app(app: Flask) -> None:
    """Register the API; :func:`helpline.app.create_app` finds this by entry point."""
    app.register_blueprint(blueprint)
    app.extensions["api_center_index"] = CenterIndex()
