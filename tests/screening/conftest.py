"""Screening fixtures: the dashboard's signed-in staff."""

from __future__ import annotations

from tests.dashboard.conftest import counselor, staff_factory, supervisor  # noqa: F401
