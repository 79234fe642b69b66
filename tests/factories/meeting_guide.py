"""Meeting Guide feeds made to the spec (code4recovery/spec README, "Field Definitions"),
fictional: a deterministic mix of in-person, online and hybrid meetings, several days, and a
time zone on some meetings only, as real feeds have them."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from helpline.directory.geo import zip_point

DATA = Path(__file__).parent.parent / "helpline" / "directory" / "data" / "meeting_guide"
SPEC_TYPES = sorted(json.loads((DATA / "types.json").read_text(encoding="utf-8")))

# (ZIP, city, state, its time zone) of places the fictional meetings are held.
PLACES = (
    ("10001", "New York", "NY", "America/New_York"),
    ("60641", "Chicago", "IL", "America/Chicago"),
    ("90012", "Los Angeles", "CA", "America/Los_Angeles"),
    ("85701", "Tucson", "AZ", "America/Phoenix"),
    ("78701", "Austin", "TX", "America/Chicago"),
    ("33101", "Miami", "FL", "America/New_York"),
)


def load(name: str) -> list[Any]:
    data: list[Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return data


def spec_meeting(n: int, rng: random.Random) -> dict[str, Any]:
    """Meeting ``n``: in person, online (approximate address, as the spec advises) or hybrid;
    one day or several; its own time zone one time in three."""
    zip_code, city, state, zone = PLACES[n % len(PLACES)]
    kind = ("in_person", "online", "hybrid")[n % 3]
    hour, minute = rng.choice((6, 7, 12, 17, 18, 19, 20, 21)), rng.choice((0, 15, 30))
    meeting: dict[str, Any] = {
        "name": f"Demo Meeting {n}",
        "slug": f"demo-meeting-{n}",
        "day": rng.randint(0, 6) if n % 4 else sorted(rng.sample(range(7), rng.randint(2, 5))),
        "time": f"{hour:02d}:{minute:02d}",
        "end_time": f"{(hour + 1) % 24:02d}:{minute:02d}",
        "types": rng.sample(SPEC_TYPES, rng.randint(1, 4)),
        "updated": "2026-11-30 12:00:00",
    }
    if n % 3 == 0:
        meeting["timezone"] = zone
    if kind == "online":
        meeting.update(formatted_address=f"{city}, {state}, USA", approximate="yes",
                       conference_url=f"https://video.example.com/j/{5550000 + n}")
    else:
        meeting.update(location=f"Demo Hall {n}", address=f"{100 + n} Demo Street", city=city,
                       state=state, postal_code=zip_code, country="US", approximate="no")
        point = zip_point(zip_code)
        if n % 5 == 0 and point is not None:  # a few feeds give the point, near the ZIP's
            meeting.update(latitude=round(point.latitude + rng.uniform(-0.02, 0.02), 5),
                           longitude=round(point.longitude + rng.uniform(-0.02, 0.02), 5))
    if kind == "hybrid":
        meeting["conference_url"] = f"https://video.example.com/j/{5550000 + n}"
        if n % 2:
            meeting["conference_phone"] = "+15555550100"
    return meeting


def spec_feed(count: int, *, by_appointment: int = 0, seed: int = 20) -> list[dict[str, Any]]:
    """``count`` meetings, then ``by_appointment`` with no day and time (spec-valid, but not
    weekly meetings the directory can place in a week)."""
    rng = random.Random(seed)
    feed = [spec_meeting(n, rng) for n in range(1, count + 1)]
    feed += [{"name": f"Demo Appointment {n}", "slug": f"demo-appointment-{n}",
              "address": "1 Demo Way", "city": "New York", "state": "NY",
              "postal_code": "10001"} for n in range(1, by_appointment + 1)]
    return feed
