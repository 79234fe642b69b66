"""What a treatment center offers, in the vocabulary of SAMHSA's treatment locator.

Each offering is stored as (facet, code, label, code list). Codes follow the filter codes of
SAMHSA's locator front end where one exists (DT, OP, HI, METH, BU, NU, MD, MC, PI, SS, SF, NP,
MI, TELE); SAMHSA has changed its codes over the years, so every stored row also names the code
list it came from (:data:`CODE_LIST`) instead of treating one list as the truth. Languages use
ISO 639-1 codes ("es"), which is what the IVR and counselors speak in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CODE_LIST = "helpline-samhsa-2025"

FACETS = ("care", "medication", "payment", "language", "age", "population")
FACET_LABELS: dict[str, str] = {
    "care": "Type of care", "medication": "Medications for opioid use disorder",
    "payment": "Payment", "language": "Languages", "age": "Age groups",
    "population": "Special populations",
}


@dataclass(frozen=True)
class Offering:
    facet: str
    code: str
    label: str
    aliases: tuple[str, ...] = ()


OFFERINGS: tuple[Offering, ...] = (
    Offering("care", "DT", "Detoxification", ("detox",)),
    Offering("care", "RS", "Residential short-term", ("residential_short", "residential")),
    Offering("care", "RL", "Residential long-term", ("residential_long",)),
    Offering("care", "HI", "Hospital inpatient", ("hospital_inpatient", "inpatient")),
    Offering("care", "OP", "Outpatient", ("outpatient",)),
    Offering("care", "IOP", "Intensive outpatient", ("intensive_outpatient",)),
    Offering("care", "PHP", "Partial hospitalization", ("partial_hospitalization",)),
    Offering("care", "TELE", "Telehealth", ("telehealth", "telemedicine")),
    Offering("medication", "METH", "Methadone", ("methadone",)),
    Offering("medication", "BU", "Buprenorphine", ("buprenorphine",)),
    Offering("medication", "NU", "Naltrexone", ("naltrexone",)),
    Offering("payment", "MD", "Medicaid", ("medicaid",)),
    Offering("payment", "MC", "Medicare", ("medicare",)),
    Offering("payment", "PI", "Private health insurance", ("private", "insurance")),
    Offering("payment", "SS", "Sliding fee scale", ("sliding_scale", "sliding", "sliding_fee")),
    Offering("payment", "NP", "Free of charge", ("free",)),
    Offering("payment", "SF", "Cash or self-payment", ("cash", "self_pay")),
    Offering("payment", "MI", "Military insurance (TRICARE)", ("tricare", "military")),
    Offering("age", "CHLD", "Children and adolescents", ("children", "youth")),
    Offering("age", "YAD", "Young adults", ("young_adults",)),
    Offering("age", "ADLT", "Adults", ("adults",)),
    Offering("age", "SNR", "Seniors", ("seniors", "older_adults")),
    Offering("population", "AD", "Adolescents", ("adolescents", "teens")),
    Offering("population", "WN", "Women", ("women",)),
    Offering("population", "PW", "Pregnant or postpartum women", ("pregnant", "postpartum")),
    Offering("population", "VET", "Veterans", ("veterans",)),
    Offering("population", "GL", "LGBTQ+ clients", ("lgbtq", "lgbtq+", "lgbt")),
    Offering("population", "CJ", "Justice-involved clients", ("justice", "criminal_justice")),
)

LANGUAGES: dict[str, str] = {
    "en": "English", "es": "Spanish", "zh": "Chinese", "vi": "Vietnamese", "ko": "Korean",
    "tl": "Tagalog", "ru": "Russian", "ar": "Arabic", "fr": "French", "ht": "Haitian Creole",
    "pt": "Portuguese", "pl": "Polish", "de": "German", "it": "Italian", "hi": "Hindi",
    "ja": "Japanese", "so": "Somali", "hmn": "Hmong", "nv": "Navajo",
    "asl": "American Sign Language",
}

BY_CODE: dict[tuple[str, str], Offering] = {(o.facet, o.code): o for o in OFFERINGS}
for _code, _label in LANGUAGES.items():
    BY_CODE[("language", _code)] = Offering("language", _code, _label)


class UnknownOffering(ValueError):
    """A filter value that is not in the vocabulary (the message names it)."""


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9+]+", "_", name.strip().lower()).strip("_")


_ALIASES: dict[tuple[str, str], str] = {
    (o.facet, _slug(name)): o.code
    for o in BY_CODE.values() for name in (o.code, o.label, *o.aliases)
}
_ALIASES[("language", "sp")] = "es"  # SAMHSA's filter code for Spanish


def normalise(facet: str, values: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """Turn filter values ("detox", "DT", "Detoxification") into the stored codes of a facet."""
    if not values:
        return ()
    if isinstance(values, str):
        values = (values,)
    codes: list[str] = []
    for value in values:
        code = _ALIASES.get((facet, _slug(value)))
        if code is None:
            raise UnknownOffering(f"unknown {facet} filter: {value!r}")
        if code not in codes:
            codes.append(code)
    return tuple(codes)


def label_for(facet: str, code: str) -> str:
    offering = BY_CODE.get((facet, code))
    return offering.label if offering else code


def offerings(facet: str) -> list[Offering]:
    """Every offering of a facet, in vocabulary order (for forms)."""
    return [o for o in BY_CODE.values() if o.facet == facet]


def code_for(facet: str, name: str) -> str | None:
    """The code a code, label or alias names within a facet, or None."""
    return _ALIASES.get((facet, _slug(name)))


def choices(facet: str) -> list[str]:
    """Friendly names a user may type for a facet (for CLI help and forms)."""
    return [o.aliases[0] if o.aliases else o.code for o in BY_CODE.values() if o.facet == facet]
