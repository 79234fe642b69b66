"""The columns of ``treatment_centers`` and ``center_services`` that the directory search reads,
as SQLAlchemy Core tables, without the ORM.

The search (center_query.py) is one set of Core statements over these, run by the referral
panel's ORM session and by `helpline directory search` on a bare connection alike: that command
is run by scripts, and importing sqlalchemy.orm and declaring every model took most of its time.
The models (helpline/models/directory.py) stay the one definition of the tables; these name a
subset of their columns with the same types, and tests/helpline/directory/test_center_query.py
checks that they agree.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Float, Integer, String, column, table

from helpline.db import UTCDateTime

CENTERS = table(
    "treatment_centers",
    column("id", Integer),
    column("name", String),
    column("alternate_name", String),
    column("street1", String),
    column("street2", String),
    column("city", String),
    column("state", String),
    column("zip_code", String),
    column("phone", String),
    column("intake_phone", String),
    column("website", String),
    column("latitude", Float),
    column("longitude", Float),
    column("approximate_location", Boolean),
    column("active", Boolean),
    column("last_verified_at", UTCDateTime()),
    column("accepting_patients", Boolean),
    column("waitlist", Boolean),
    column("waitlist_days", Integer),
    column("same_day_moud", Boolean),
    column("capacity_confirmed_at", UTCDateTime()),
    column("lat_cell", Integer),
)

SERVICES = table(
    "center_services",
    column("center_id", Integer),
    column("facet", String),
    column("code", String),
)
