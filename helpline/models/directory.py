"""Directory entries: treatment centers (and what they offer), support groups, resources.

What a center offers lives in ``center_services``, one row per (center, facet, code), rather than
in a JSON column or flag columns: a filter becomes an indexed EXISTS probe on the primary key
(center_id, facet, code) that works the same on SQLite and PostgreSQL, the vocabulary can grow
(SAMHSA changes its codes) without a migration, and each row keeps its label and code list.
Radius searches seek the (lat_cell, longitude, latitude, active) index: see
helpline/directory/search.py.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    Computed,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpline.db import Base, utcnow


class TreatmentCenter(Base):
    __tablename__ = "treatment_centers"
    __table_args__ = (
        UniqueConstraint("source", "source_id", name="uq_treatment_centers_source_id"),
        Index("ix_treatment_centers_box", "lat_cell", "longitude", "latitude", "active"),
        Index("ix_treatment_centers_last_verified_at", "last_verified_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    # SAMHSA's name2: the program or parent organisation, shown under the name.
    alternate_name: Mapped[str] = mapped_column(String(255), default="")
    street1: Mapped[str] = mapped_column(String(255), default="")
    street2: Mapped[str] = mapped_column(String(255), default="")
    city: Mapped[str] = mapped_column(String(120), default="", index=True)
    state: Mapped[str] = mapped_column(String(2), default="")
    zip_code: Mapped[str] = mapped_column(String(10), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    intake_phone: Mapped[str] = mapped_column(String(32), default="")
    website: Mapped[str] = mapped_column(String(255), default="")
    facility_type: Mapped[str] = mapped_column(String(64), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    # True when the point is the ZIP code's centre, not the address: distances are approximate.
    approximate_location: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    # Where the entry came from ("samhsa", "hsds", "demo", "manual") and its id there (SAMHSA
    # frid, HSDS location id): re-imports match on these.
    source: Mapped[str] = mapped_column(String(16), default="manual")
    source_id: Mapped[str | None] = mapped_column(String(128), default=None)
    # Service categories of the source we do not map to filters, kept for export.
    source_extra: Mapped[dict] = mapped_column(JSON, default=dict)
    last_verified_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    verified_by: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Capacity as last confirmed with the center (None: not known): staff learn it on calls,
    # no import carries it. See helpline/directory/capacity.py.
    accepting_patients: Mapped[bool | None] = mapped_column(default=None)
    waitlist: Mapped[bool | None] = mapped_column(default=None)
    waitlist_days: Mapped[int | None] = mapped_column(default=None)
    same_day_moud: Mapped[bool | None] = mapped_column(default=None)
    capacity_confirmed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    capacity_confirmed_by: Mapped[str] = mapped_column(String(120), default="",
                                                       server_default="")
    # A quarter-degree band of latitude, computed by the database, so that the radius search
    # seeks a few short longitude ranges instead of scanning a whole band of the country.
    # SQLite truncates and PostgreSQL rounds the cast: search.py allows a band either side.
    lat_cell: Mapped[int | None] = mapped_column(Computed("CAST(latitude * 4 + 400 AS INTEGER)"))

    services: Mapped[list[CenterService]] = relationship(
        back_populates="center", cascade="all, delete-orphan", lazy="selectin",
        order_by="(CenterService.facet, CenterService.code)",
    )

    def codes(self, facet: str) -> list[str]:
        return [s.code for s in self.services if s.facet == facet]

    def labels(self, facet: str) -> list[str]:
        return [s.label for s in self.services if s.facet == facet]

    @property
    def address(self) -> str:
        street = ", ".join(p for p in (self.street1, self.street2) if p)
        place = " ".join(p for p in (f"{self.city}," if self.city else "", self.state,
                                     self.zip_code) if p)
        return ", ".join(p for p in (street, place.strip(",")) if p)


class CenterService(Base):
    """One thing a center offers: a type of care, medication, payment, language, age, population."""

    __tablename__ = "center_services"
    __table_args__ = (Index("ix_center_services_facet_code_center", "facet", "code", "center_id"),)

    center_id: Mapped[int] = mapped_column(
        ForeignKey("treatment_centers.id", ondelete="CASCADE"), primary_key=True
    )
    facet: Mapped[str] = mapped_column(String(16), primary_key=True)
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    label: Mapped[str] = mapped_column(String(120))
    code_list: Mapped[str] = mapped_column(String(32))

    center: Mapped[TreatmentCenter] = relationship(back_populates="services")


class SupportGroup(Base):
    """A recurring meeting (Meeting Guide shape): weekday 0 = Sunday, local time and zone."""

    __tablename__ = "support_groups"
    __table_args__ = (
        UniqueConstraint("source", "source_id", name="uq_support_groups_source_id"),
        Index("ix_support_groups_lat_lon", "latitude", "longitude"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    # "NA", "AA", "SMART", "Refuge", "other"
    fellowship: Mapped[str] = mapped_column(String(16), index=True)
    twelve_step: Mapped[bool] = mapped_column(default=True)
    day: Mapped[int] = mapped_column()
    time: Mapped[dt.time] = mapped_column(Time)
    timezone: Mapped[str] = mapped_column(String(64), default="America/New_York")
    duration_minutes: Mapped[int] = mapped_column(default=60)
    street: Mapped[str] = mapped_column(String(255), default="")
    city: Mapped[str] = mapped_column(String(120), default="")
    state: Mapped[str] = mapped_column(String(2), default="")
    zip_code: Mapped[str] = mapped_column(String(10), default="")
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    approximate_location: Mapped[bool] = mapped_column(default=False)
    # Set for online meetings; an in-person meeting has an address and a point instead.
    online_url: Mapped[str] = mapped_column(String(500), default="")
    language: Mapped[str] = mapped_column(String(8), default="en")
    notes: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(default=True)
    source: Mapped[str] = mapped_column(String(16), default="manual")
    source_id: Mapped[str | None] = mapped_column(String(128), default=None)
    last_verified_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def online(self) -> bool:
        return bool(self.online_url)


class Resource(Base):
    """A book, recording, meditation, daily inspiration or community resource."""

    __tablename__ = "resources"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    # "book", "audio", "video", "meditation", "daily_inspiration", "community"
    kind: Mapped[str] = mapped_column(String(24), index=True)
    language: Mapped[str] = mapped_column(String(8), default="en")
    description: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(500), default="")
    how_to_get: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(default=True)
    source: Mapped[str] = mapped_column(String(16), default="manual")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
