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

    # Opening hours, as the source published them (HSDS schedules); loaded only when asked for.
    schedules: Mapped[list[CenterSchedule]] = relationship(
        back_populates="center", cascade="all, delete-orphan", lazy="select",
        order_by="CenterSchedule.position",
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


class CenterSchedule(Base):
    """When a center is open: one HSDS 3.0 schedule (an iCalendar-like recurrence and hours).

    Every field of the source's row is kept so that an export writes it back unchanged;
    helpline/directory/schedules.py turns them into the words staff read. ``link_type`` and
    ``link_id`` say what the source attached the schedule to (its service, location or
    service-at-location) and ``source_id`` is the schedule's own id there.
    """

    __tablename__ = "center_schedules"
    __table_args__ = (Index("ix_center_schedules_center", "center_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    center_id: Mapped[int] = mapped_column(
        ForeignKey("treatment_centers.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    source_id: Mapped[str] = mapped_column(String(128), default="")
    link_type: Mapped[str] = mapped_column(String(24), default="location")
    link_id: Mapped[str] = mapped_column(String(128), default="")
    freq: Mapped[str] = mapped_column(String(8), default="")
    interval: Mapped[int | None] = mapped_column(default=None)
    byday: Mapped[str] = mapped_column(String(64), default="")
    bymonthday: Mapped[str] = mapped_column(String(128), default="")
    byweekno: Mapped[str] = mapped_column(String(128), default="")
    byyearday: Mapped[str] = mapped_column(String(255), default="")
    wkst: Mapped[str] = mapped_column(String(2), default="")
    count: Mapped[int | None] = mapped_column(default=None)
    dtstart: Mapped[dt.date | None] = mapped_column(default=None)
    until: Mapped[dt.date | None] = mapped_column(default=None)
    valid_from: Mapped[dt.date | None] = mapped_column(default=None)
    valid_to: Mapped[dt.date | None] = mapped_column(default=None)
    opens_at: Mapped[dt.time | None] = mapped_column(Time, default=None)
    closes_at: Mapped[dt.time | None] = mapped_column(Time, default=None)
    # HSDS 3.0 gives the time zone as an offset from UTC in hours (a number, not a name).
    timezone: Mapped[float | None] = mapped_column(Float, default=None)
    description: Mapped[str] = mapped_column(Text, default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    attending_type: Mapped[str] = mapped_column(String(255), default="")
    schedule_link: Mapped[str] = mapped_column(String(500), default="")

    center: Mapped[TreatmentCenter] = relationship(back_populates="schedules")


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
    # Set for online and hybrid meetings (Meeting Guide's conference_url); an in-person
    # meeting has an address and a point instead, a hybrid one both.
    online_url: Mapped[str] = mapped_column(String(500), default="")
    language: Mapped[str] = mapped_column(String(8), default="en")
    notes: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(default=True)
    # "manual", "demo", or for a Meeting Guide import the feed's own URL (file:// for a file).
    source: Mapped[str] = mapped_column(String(500), default="manual")
    # A feed's meeting is one row per weekday it meets: "<slug>@<day>" (see meeting_guide.py).
    source_id: Mapped[str | None] = mapped_column(String(128), default=None)
    last_verified_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # "in_person", "online" or "hybrid" (both a place and a conference link or phone).
    attendance: Mapped[str] = mapped_column(String(16), default="in_person",
                                            server_default="in_person")
    # The Meeting Guide fields kept as given: the feed's slug, its type codes (O, C, S, ...),
    # the building, the meeting's page, and the dial-in with the notes on joining.
    slug: Mapped[str] = mapped_column(String(128), default="", server_default="")
    types: Mapped[list[str]] = mapped_column(JSON, default=list)
    location: Mapped[str] = mapped_column(String(255), default="", server_default="")
    listing_url: Mapped[str] = mapped_column(String(500), default="", server_default="")
    conference_phone: Mapped[str] = mapped_column(String(64), default="", server_default="")
    conference_url_notes: Mapped[str] = mapped_column(Text, default="", server_default="")
    conference_phone_notes: Mapped[str] = mapped_column(Text, default="", server_default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def online(self) -> bool:
        """Can be joined from a distance (online or hybrid)."""
        return self.attendance in ("online", "hybrid") or bool(self.online_url)

    @property
    def in_person(self) -> bool:
        return self.attendance in ("in_person", "hybrid")


class MeetingFeed(Base):
    """A Meeting Guide feed that supervisors configured: refreshed by the scheduler."""

    __tablename__ = "meeting_feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(500), unique=True)
    # For meetings that name no time zone of their own (Meeting Guide's is optional).
    default_timezone: Mapped[str] = mapped_column(String(64))
    fellowship: Mapped[str] = mapped_column(String(16), default="AA")
    added_by: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_refreshed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # The last refresh's counts (imported, created, updated, unchanged, retired, refused).
    last_counts: Mapped[dict] = mapped_column(JSON, default=dict)
    last_error: Mapped[str] = mapped_column(Text, default="")


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
