"""Read SAMHSA treatment locator JSON (FindTreatment.gov): its answer envelope
``{"page", "totalPages", "recordCount", "rows": [...]}`` or a bare list of rows.

Each row's ``services`` is a list of ``{"f1": category name, "f2": category code, "f3": labels
separated by "; "}``. Labels map onto our vocabulary by category; SAMHSA has renamed labels over
the years, so a label we do not know is kept as it came (code, label, code list) for export
rather than guessed at.

A row is known by its ``frid``. Rows without one (SAMHSA's own front-end fixtures, hand-made
extracts) are known by an id derived from their name and address (:func:`derived_id`): the
same row imported again matches the same entry.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from helpline.directory import vocabulary
from helpline.directory.records import (
    CenterRecord,
    ImportRefused,
    ParsedFile,
    Rejection,
    RowError,
    check_lengths,
    place,
)

SOURCE = "samhsa"
FORMAT = "SAMHSA locator JSON"
# The code list under which labels we do not map are kept (and exported).
CODE_LIST = "samhsa-locator"

# The facets a category's labels may name; labels of other categories are kept unmapped.
CATEGORY_FACETS: dict[str, tuple[str, ...]] = {
    "TC": ("care",), "SET": ("care",), "FT": ("care",), "DETOX": ("care",),
    "OM": ("medication",), "OT": ("medication",), "PHR": ("medication",),
    "PAY": ("payment",), "PYAS": ("payment",),
    "AGE": ("age",), "SG": ("population", "age"), "EXCL": ("population",),
    "OL": ("language",), "SL": ("language",),
}

# Labels (lower case) whose meaning the vocabulary's names do not give; by category where a
# label means different things in different categories ("Adolescents").
_LABELS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("*", "detoxification"): (("care", "DT"),),
    ("*", "detoxification/detox"): (("care", "DT"),),
    ("*", "outpatient detoxification"): (("care", "DT"), ("care", "OP")),
    ("*", "outpatient detox"): (("care", "DT"), ("care", "OP")),
    ("*", "residential detoxification"): (("care", "DT"), ("care", "RS")),
    ("*", "residential detox"): (("care", "DT"), ("care", "RS")),
    ("*", "hospital inpatient detoxification"): (("care", "DT"), ("care", "HI")),
    ("*", "regular outpatient treatment"): (("care", "OP"),),
    ("*", "outpatient methadone/buprenorphine or naltrexone treatment"): (("care", "OP"),),
    ("*", "intensive outpatient treatment"): (("care", "IOP"),),
    ("*", "partial hospitalization/day treatment"): (("care", "PHP"),),
    ("*", "outpatient day treatment or partial hospitalization"): (("care", "PHP"),),
    ("*", "short-term residential"): (("care", "RS"),),
    ("*", "long-term residential"): (("care", "RL"),),
    ("*", "telemedicine/telehealth"): (("care", "TELE"),),
    ("*", "telemedicine/telehealth therapy"): (("care", "TELE"),),
    ("*", "computerized treatment/telemedicine"): (("care", "TELE"),),
    ("*", "telemedicine (including internet and mobile programs)"): (("care", "TELE"),),
    ("*", "methadone used in treatment"): (("medication", "METH"),),
    ("*", "buprenorphine used in treatment"): (("medication", "BU"),),
    ("*", "naltrexone used in treatment"): (("medication", "NU"),),
    ("*", "relapse prevention with naltrexone"): (("medication", "NU"),),
    ("*", "no payment accepted"): (("payment", "NP"),),
    ("*", "free services, no payment needed"): (("payment", "NP"),),
    ("*", "military insurance (e.g., tricare)"): (("payment", "MI"),),
    ("*", "sliding fee scale (fee is based on income and other factors)"): (("payment", "SS"),),
    ("*", "sliding fee scale, based on income and other factors"): (("payment", "SS"),),
    ("*", "seniors (65 or older)"): (("age", "SNR"),),
    ("*", "seniors or older adults"): (("age", "SNR"),),
    ("*", "children/adolescents"): (("age", "CHLD"),),
    ("*", "youth (under 18)"): (("age", "CHLD"),),
    ("*", "adults (18 and older)"): (("age", "ADLT"),),
    ("AGE", "adolescents"): (("age", "CHLD"),),
    ("*", "young adults"): (("age", "YAD"),),
    ("*", "adult women"): (("population", "WN"),),
    ("*", "pregnant/postpartum women"): (("population", "PW"),),
    ("*", "lesbian, gay, bisexual, transgender, or queer/questioning (lgbtq)"):
        (("population", "GL"),),
    ("*", "lgbt (lesbian, gay, bisexual, transgender)"): (("population", "GL"),),
    ("*", "criminal justice (other than dui/dwi)/forensic clients"): (("population", "CJ"),),
    ("*", "clients referred from the court/judicial system"): (("population", "CJ"),),
    ("*", "veterans only"): (("population", "VET"),),
    ("*", "serves veterans only"): (("population", "VET"),),
    ("*", "services for the deaf and hard of hearing"): (("language", "asl"),),
    ("*", "asl or other assistance for hearing impaired"): (("language", "asl"),),
    ("*", "american sign language"): (("language", "asl"),),
}
# In the medication categories, a label that starts with a medication's name means it
# ("Buprenorphine with naloxone (Suboxone)", "Naltrexone (oral)", "Methadone maintenance").
_MEDICATION_PREFIXES = (("methadone", "METH"), ("buprenorphine", "BU"), ("naltrexone", "NU"))
# "Residential" on its own, beside "Short-term residential", says nothing more.
_GENERIC_RESIDENTIAL = "residential"
# Detox named for what is withdrawn from ("Alcohol Detoxification", "Opioids detoxification",
# "Benzodiazepines Detoxification"): detox, whatever the substance.
_SUBSTANCE_DETOX = re.compile(r"[a-z][a-z /,()-]* detox(?:ification)?")
# The prefix of ids derived for rows without a frid (a frid is 64 hexadecimal digits).
DERIVED_PREFIX = "derived-"


def map_label(category: str, label: str) -> tuple[tuple[str, str], ...]:
    """The offerings a SAMHSA label names in a category (empty: not in our vocabulary)."""
    key = re.sub(r"\s+", " ", label.strip().lower())
    known = _LABELS.get((category, key)) or _LABELS.get(("*", key))
    if known:
        return known
    facets = CATEGORY_FACETS.get(category, ())
    if "care" in facets and _SUBSTANCE_DETOX.fullmatch(key):
        return (("care", "DT"),)
    if "medication" in facets and "/" not in key:
        for prefix, code in _MEDICATION_PREFIXES:
            if key.startswith(prefix):
                return (("medication", code),)
    for facet in facets:
        named = vocabulary.code_for(facet, label)
        if named is not None:
            return ((facet, named),)
    return ()


def offerings_of(services: Any) -> tuple[set[tuple[str, str]], list[dict[str, str]]]:
    """Mapped offerings and the labels kept unmapped, from a row's ``services``."""
    if services is None:
        return set(), []
    if not isinstance(services, list):
        raise RowError("services is not a list")
    offerings: set[tuple[str, str]] = set()
    unmapped: list[dict[str, str]] = []
    generic_residential = False
    for item in services:
        if not isinstance(item, dict):
            raise RowError("an entry of services is not an object")
        category = str(item.get("f2") or "").strip()
        labels = item.get("f3")
        if not labels:
            continue
        for label in str(labels).split(";"):
            label = label.strip()
            if not label:
                continue
            if category == "SET" and label.lower() == _GENERIC_RESIDENTIAL:
                generic_residential = True
                continue
            mapped = map_label(category, label)
            if mapped:
                offerings.update(mapped)
            else:
                unmapped.append({"code": category, "label": label, "code_list": CODE_LIST})
    if generic_residential and not offerings & {("care", "RS"), ("care", "RL")}:
        offerings.add(("care", "RS"))
    unique = {(u["code_list"], u["code"], u["label"]): u for u in unmapped}
    return offerings, [unique[k] for k in sorted(unique)]


def _text(row: dict[str, Any], *names: str) -> str:
    for name in names:
        value = row.get(name)
        if value is not None and str(value).strip():
            return str(value).strip()
    return ""


def derived_id(row: dict[str, Any]) -> str:
    """A stable id for a row without a frid: a digest of its name, street, city, state and
    ZIP code, compared without case, spacing or punctuation. The same facility exported again
    gets the same id; one renamed or moved becomes a new entry (the old one stays, as for any
    entry missing from a later file)."""
    parts = [_text(row, name) for name in ("name1", "street1", "city", "state", "zip")]
    canonical = "|".join(" ".join(re.sub(r"[^\w\s]", " ", p.lower()).split()) for p in parts)
    return DERIVED_PREFIX + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:40]


def record_of(row: Any) -> CenterRecord:
    """One locator row as a center record; raises RowError with the reason it cannot be."""
    if not isinstance(row, dict):
        raise RowError("not an object")
    name = _text(row, "name1")
    if not name:
        raise RowError("no name (name1)")
    frid = _text(row, "frid")
    if len(frid) > 128:
        raise RowError("frid is longer than 128 characters")
    where = place(row.get("zip"), row.get("latitude"), row.get("longitude"))
    state = _text(row, "state").upper()
    if state and not re.fullmatch(r"[A-Z]{2}", state):
        raise RowError(f"state {state[:20]!r} is not a two-letter code")
    offerings, unmapped = offerings_of(row.get("services"))
    fields: dict[str, Any] = {
        "name": name, "alternate_name": _text(row, "name2"),
        "street1": _text(row, "street1"), "street2": _text(row, "street2"),
        "city": _text(row, "city"), "state": state or where.zip_state,
        "phone": _text(row, "phone"), "intake_phone": _text(row, "intake1"),
        "website": _text(row, "website"),
        "facility_type": _text(row, "type_facility", "typeFacility"),
        **where.fields(),
    }
    check_lengths(fields)
    extra: dict[str, Any] = {}
    if unmapped:
        extra["unmapped"] = unmapped
    hotline = _text(row, "hotline1")
    if hotline:
        extra["hotline"] = hotline
    return CenterRecord(SOURCE, frid or derived_id(row), fields, offerings, extra,
                        flags=where.flags())


def parse(data: bytes) -> ParsedFile:
    """Every row of a locator file; refuses (ImportRefused) a file that is not one."""
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ImportRefused("not JSON: the file is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ImportRefused(f"not JSON: {exc.msg} at line {exc.lineno}") from None
    if isinstance(document, dict) and isinstance(document.get("rows"), list):
        rows = document["rows"]
    elif isinstance(document, list):
        rows = document
    else:
        raise ImportRefused('JSON, but not SAMHSA locator records: expected {"rows": [...]} '
                            "or a list of rows")
    if rows and not any(isinstance(r, dict) and ("frid" in r or "name1" in r) for r in rows):
        raise ImportRefused("JSON, but not SAMHSA locator records: no row has frid or name1")
    parsed = ParsedFile(FORMAT)
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        where = f"record {number}"
        try:
            record = record_of(row)
        except RowError as exc:
            parsed.rejections.append(Rejection(where, str(exc)))
            continue
        if record.source_id in seen:
            same = ("the same name and address" if record.source_id.startswith(DERIVED_PREFIX)
                    else "the same frid")
            parsed.rejections.append(Rejection(
                where, f"{same} as record {seen[record.source_id]}"))
            continue
        seen[record.source_id] = number
        parsed.records.append((where, record))
    return parsed
