"""The demo directory loaded by `helpline init --demo`."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from helpline.db import utcnow
from helpline.directory.generate import DEMO_RESOURCES, generate_centers, generate_groups
from helpline.directory.records import bulk_insert_centers
from helpline.models.directory import Resource, SupportGroup, TreatmentCenter

DEMO_CENTERS = 3000


def _demo_upkeep(session: Session, ids: list[int], now: dt.datetime) -> None:
    """Capacity confirmed for a third of the centers and verification dates for a quarter,
    of varied ages, so that the capacity filter and the six-month list show something."""
    capacity = [{"id": cid, "accepting_patients": i % 5 != 0, "waitlist": i % 4 == 0,
                 "waitlist_days": 14 if i % 4 == 0 else None, "same_day_moud": i % 2 == 0,
                 "capacity_confirmed_at": now - dt.timedelta(days=i % 45, hours=2),
                 "capacity_confirmed_by": "demo"}
                for i, cid in enumerate(ids) if i % 3 == 0]
    verified = [{"id": cid, "last_verified_at": now - dt.timedelta(days=(i * 7) % 400),
                 "verified_by": "demo"} for i, cid in enumerate(ids) if i % 4 == 1]
    for rows in (capacity, verified):
        if rows:
            session.execute(update(TreatmentCenter), rows)


def load_demo_directory(session: Session, centers: int = DEMO_CENTERS,
                        now: dt.datetime | None = None) -> list[str]:
    """Load the fictional demo directory once (running it again adds nothing); lines to print."""
    have = session.scalar(select(func.count()).select_from(TreatmentCenter)
                          .where(TreatmentCenter.source == "demo")) or 0
    if have:
        return [f"Demo directory already loaded ({have} fictional centers)."]
    ids = bulk_insert_centers(session, generate_centers(centers))
    _demo_upkeep(session, ids, now or utcnow())
    groups = generate_groups()
    session.execute(insert(SupportGroup), groups)
    session.execute(insert(Resource), [{**r, "source": "demo"} for r in DEMO_RESOURCES])
    session.flush()
    return [f"Demo directory: {centers} fictional treatment centers in every state, "
            f"{len(groups)} support groups, {len(DEMO_RESOURCES)} resources "
            "(try: helpline directory search --zip 10001 --care detox)."]
