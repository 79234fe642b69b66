"""Factories for directory data: real rows in the test's own database."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from helpline.directory import vocabulary
from helpline.directory.geo import zip_point
from helpline.models import CenterService, Resource, SupportGroup, TreatmentCenter

_seq = itertools.count(1)


def make_center(
    session: Session,
    name: str | None = None,
    zip_code: str = "10001",
    latitude: float | None = None,
    longitude: float | None = None,
    phone: str = "555-555-0100",
    care: Iterable[str] = (),
    medications: Iterable[str] = (),
    payment: Iterable[str] = (),
    languages: Iterable[str] = (),
    ages: Iterable[str] = (),
    populations: Iterable[str] = (),
    **fields: Any,
) -> TreatmentCenter:
    """A center at the given point, or at its ZIP's centre (then marked approximate).

    Offerings may be codes or names: care=("detox",), payment=("MD", "sliding_scale").
    """
    n = next(_seq)
    approximate = False
    if latitude is None or longitude is None:
        point = zip_point(zip_code)
        if point is not None:
            latitude, longitude, approximate = point.latitude, point.longitude, True
    center = TreatmentCenter(
        name=name or f"Demo Recovery Center {n}",
        zip_code=zip_code,
        phone=phone,
        latitude=latitude,
        longitude=longitude,
        approximate_location=fields.pop("approximate_location", approximate),
        city=fields.pop("city", "Testville"),
        state=fields.pop("state", "NY"),
        source=fields.pop("source", "manual"),
        **fields,
    )
    for facet, values in (("care", care), ("medication", medications), ("payment", payment),
                          ("language", languages), ("age", ages), ("population", populations)):
        for code in vocabulary.normalise(facet, tuple(values)):
            center.services.append(CenterService(
                facet=facet, code=code, label=vocabulary.label_for(facet, code),
                code_list=vocabulary.CODE_LIST))
    session.add(center)
    session.flush()
    return center


def make_group(session: Session, name: str | None = None, fellowship: str = "NA",
               zip_code: str | None = "10001", online_url: str = "", **fields: Any) -> SupportGroup:
    """An in-person meeting at a ZIP's centre, or an online one when ``online_url`` is given."""
    n = next(_seq)
    lat = lon = None
    if zip_code and not online_url and "latitude" not in fields:
        point = zip_point(zip_code)
        if point is not None:
            lat, lon = point.latitude, point.longitude
    group = SupportGroup(
        name=name or f"Demo Meeting {n}",
        fellowship=fellowship,
        twelve_step=fields.pop("twelve_step", fellowship in ("NA", "AA")),
        day=fields.pop("day", 1),
        time=fields.pop("time", dt.time(19, 0)),
        timezone=fields.pop("timezone", "America/New_York"),
        zip_code="" if online_url else (zip_code or ""),
        latitude=fields.pop("latitude", lat),
        longitude=fields.pop("longitude", lon),
        online_url=online_url,
        attendance=fields.pop("attendance", "online" if online_url else "in_person"),
        **fields,
    )
    session.add(group)
    session.flush()
    return group


def make_resource(session: Session, title: str | None = None, kind: str = "book",
                  **fields: Any) -> Resource:
    resource = Resource(title=title or f"Demo Resource {next(_seq)}", kind=kind, **fields)
    session.add(resource)
    session.flush()
    return resource
