"""The demo directory loaded by `helpline init --demo`."""

from __future__ import annotations

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from helpline.directory.generate import DEMO_RESOURCES, generate_centers, generate_groups
from helpline.directory.records import bulk_insert_centers
from helpline.models.directory import Resource, SupportGroup, TreatmentCenter

DEMO_CENTERS = 3000


def load_demo_directory(session: Session, centers: int = DEMO_CENTERS) -> list[str]:
    """Load the fictional demo directory once (running it again adds nothing); lines to print."""
    have = session.scalar(select(func.count()).select_from(TreatmentCenter)
                          .where(TreatmentCenter.source == "demo")) or 0
    if have:
        return [f"Demo directory already loaded ({have} fictional centers)."]
    bulk_insert_centers(session, generate_centers(centers))
    groups = generate_groups()
    session.execute(insert(SupportGroup), groups)
    session.execute(insert(Resource), [{**r, "source": "demo"} for r in DEMO_RESOURCES])
    session.flush()
    return [f"Demo directory: {centers} fictional treatment centers in every state, "
            f"{len(groups)} support groups, {len(DEMO_RESOURCES)} resources "
            "(try: helpline directory search --zip 10001 --care detox)."]
