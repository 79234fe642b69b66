"""Deterministic, clearly fictional directory data for the demo, the tests and the benchmark.

Every center has "Demo" in its name and a 555-01xx phone number (reserved for fiction), and
stands within a few miles of a real ZIP code's centre; every state gets some. The same seed
always gives the same data; `generate_centers(20_000)` is the benchmark's national-sized set.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import defaultdict

from helpline.directory.geo import ZipPoint, all_zip_points
from helpline.directory.records import CenterRecord

SEED = 4242

# How often a generated center offers each code (roughly the shape of the national locator).
_ODDS: dict[str, dict[str, float]] = {
    "care": {"OP": 0.8, "IOP": 0.4, "DT": 0.25, "RS": 0.2, "RL": 0.15, "HI": 0.08,
             "PHP": 0.15, "TELE": 0.4},
    "medication": {"METH": 0.1, "BU": 0.45, "NU": 0.35},
    "payment": {"MD": 0.7, "MC": 0.45, "PI": 0.65, "SS": 0.4, "NP": 0.1, "SF": 0.85, "MI": 0.2},
    "language": {"en": 1.0, "es": 0.35, "zh": 0.03, "vi": 0.03, "ru": 0.02, "asl": 0.03},
    "age": {"ADLT": 0.95, "YAD": 0.6, "SNR": 0.4, "CHLD": 0.15},
    "population": {"AD": 0.15, "WN": 0.3, "PW": 0.12, "VET": 0.2, "GL": 0.15, "CJ": 0.3},
}
_WORDS_A = ("Harbor", "Cedar", "Summit", "Riverside", "New Dawn", "Lakeside", "Pine Valley",
            "Bridgeway", "Meadow", "Beacon", "Clearwater", "Northstar", "Willow", "Canyon")
_WORDS_B = ("Recovery Center", "Treatment Services", "Wellness Clinic", "Health Partners",
            "Counseling Center", "Recovery House", "Behavioral Health")
_STREETS = ("Main St", "Oak Ave", "Maple Dr", "Park Rd", "Elm St", "Lincoln Way", "Cedar Ln")


def _spread_zips(rng: random.Random, count: int) -> list[ZipPoint]:
    """ZIPs for ``count`` centers: one in every state first, the rest uniformly over ZIPs."""
    points = all_zip_points()
    by_state: dict[str, list[ZipPoint]] = defaultdict(list)
    for p in points:
        by_state[p.state].append(p)
    chosen = [rng.choice(by_state[s]) for s in sorted(by_state)][:count]
    chosen += [rng.choice(points) for _ in range(count - len(chosen))]
    return chosen


def _jitter(rng: random.Random, p: ZipPoint, miles: float = 3.0) -> tuple[float, float]:
    r = miles * math.sqrt(rng.random())
    theta = rng.random() * 2 * math.pi
    lat = p.latitude + (r * math.cos(theta)) / 69.0
    lon = p.longitude + (r * math.sin(theta)) / (69.0 * max(0.2, math.cos(math.radians(lat))))
    return round(lat, 6), round(max(-180.0, min(180.0, lon)), 6)


def generate_centers(count: int, seed: int = SEED) -> list[CenterRecord]:
    """``count`` fictional centers (source "demo", source ids demo-000001...)."""
    rng = random.Random(seed)
    records = []
    for i, p in enumerate(_spread_zips(rng, count), start=1):
        lat, lon = _jitter(rng, p)
        offerings = {(facet, code) for facet, odds in _ODDS.items()
                     for code, chance in odds.items() if rng.random() < chance}
        fields = {
            "name": f"Demo {rng.choice(_WORDS_A)} {rng.choice(_WORDS_B)} {i}",
            "street1": f"{rng.randint(100, 9999)} {rng.choice(_STREETS)}",
            "city": p.city, "state": p.state, "zip_code": p.zip_code,
            "phone": f"(555) 555-01{rng.randint(0, 99):02d}",
            "website": f"https://demo-center-{i}.example.org",
            "facility_type": "SA",
            "description": "Fictional treatment center for the helpline demo.",
            "latitude": lat, "longitude": lon, "approximate_location": False, "active": True,
        }
        records.append(CenterRecord("demo", f"demo-{i:06d}", fields, offerings))
    return records


def generate_groups(count: int = 400, seed: int = SEED) -> list[dict[str, object]]:
    """Fictional NA, AA, SMART Recovery and Refuge Recovery meetings, in person and online,
    in English and Spanish (column dicts for SupportGroup)."""
    rng = random.Random(seed + 1)
    fellowships = (("NA", True), ("AA", True), ("SMART", False), ("Refuge", False))
    groups: list[dict[str, object]] = []
    for i, p in enumerate(_spread_zips(rng, count), start=1):
        fellowship, twelve = fellowships[i % len(fellowships)]
        online = i % 5 == 0
        spanish = i % 4 == 1
        lat, lon = _jitter(rng, p, 2.0)
        groups.append({
            "name": f"Demo {'Grupo' if spanish else 'Group'} {fellowship} {i}",
            "fellowship": fellowship, "twelve_step": twelve,
            "day": rng.randint(0, 6),
            "time": dt.time(rng.choice((7, 12, 18, 19, 20)), rng.choice((0, 30))),
            "timezone": p.timezone or "America/New_York",
            "street": "" if online else f"{rng.randint(100, 999)} Demo Hall Rd",
            "city": "" if online else p.city, "state": "" if online else p.state,
            "zip_code": "" if online else p.zip_code,
            "latitude": None if online else lat, "longitude": None if online else lon,
            "online_url": f"https://meetings.example.org/demo-{i}" if online else "",
            "attendance": "online" if online else "in_person",
            "language": "es" if spanish else "en",
            "source": "demo", "source_id": f"demo-group-{i:05d}",
        })
    return groups


DEMO_RESOURCES: tuple[dict[str, str], ...] = (
    {"title": "Demo Daily Reflections", "kind": "daily_inspiration", "language": "en",
     "description": "A short thought for each day of recovery.",
     "link": "https://resources.example.org/daily"},
    {"title": "Demo Reflexiones Diarias", "kind": "daily_inspiration", "language": "es",
     "description": "Un pensamiento breve para cada día de recuperación.",
     "link": "https://resources.example.org/diario"},
    {"title": "Demo Breathing Meditation (10 minutes)", "kind": "meditation", "language": "en",
     "description": "A guided breathing meditation for cravings.",
     "link": "https://resources.example.org/breathe"},
    {"title": "Demo Meditación para la Ansiedad", "kind": "meditation", "language": "es",
     "description": "Una meditación guiada para momentos difíciles.",
     "link": "https://resources.example.org/meditacion"},
    {"title": "Demo Recovery Workbook", "kind": "book", "language": "en",
     "description": "Exercises for the first ninety days.",
     "how_to_get": "Free copy by mail: ask your counselor."},
    {"title": "Demo Family Guide to Recovery", "kind": "book", "language": "en",
     "description": "For families and friends of someone in recovery.",
     "link": "https://resources.example.org/family"},
    {"title": "Demo Stories of Recovery (podcast)", "kind": "audio", "language": "en",
     "description": "People in long-term recovery tell their stories.",
     "link": "https://resources.example.org/podcast"},
    {"title": "Demo Naloxone: How to Use It", "kind": "video", "language": "en",
     "description": "A three-minute video on reversing an overdose.",
     "link": "https://resources.example.org/naloxone"},
    {"title": "Demo Naloxona: Cómo Usarla", "kind": "video", "language": "es",
     "description": "Video breve sobre cómo revertir una sobredosis.",
     "link": "https://resources.example.org/naloxona"},
    {"title": "Demo Community Food Pantry Finder", "kind": "community", "language": "en",
     "description": "Food, housing and transport help near you.",
     "how_to_get": "Call (555) 555-0142 on weekdays."},
)
