"""Short validated screenings inside the call record: the questions (English and Spanish), the
scoring, and what a score suggests.

Only instruments that are free to use:

- **AUDIT-C** (alcohol): the first three questions of the WHO's AUDIT (public domain; Babor
  et al., WHO 2001), scored 0-4 each, 0-12 in all (Bush et al. 1998). Positive at 4 or more
  for men and 3 or more for women (Bradley et al. 2007; the US VA's scoring). When sex is not
  recorded we use **3**: the more sensitive cut-off, because on a helpline a missed positive
  costs more than one more conversation about drinking. When all the points come from the
  first question, the published guidance says the person is probably drinking within
  limits: the interpretation says so.
- **Single-question drug screen** (Smith et al., Arch Intern Med 2010; NIDA-funded, free):
  "How many times in the past year have you used an illegal drug or used a prescription
  medication for non-medical reasons?" Positive at 1 or more.

A screening is a prompt for a conversation, never a diagnosis; the interpretations say so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline import audit
from helpline.db import utcnow
from helpline.models import Contact, Screening, User
from helpline.records.contacts import can_edit_contact

SEXES = {"female": "Female", "male": "Male"}
MAX_COUNT = 366


class ScreeningError(ValueError):
    """A screening that cannot be saved; the message says why (never quotes an answer)."""


@dataclass(frozen=True)
class Choice:
    points: int
    text: Mapping[str, str]  # language -> words to read


@dataclass(frozen=True)
class Question:
    key: str
    text: Mapping[str, str]
    # None: the answer is a count (a whole number), not a choice.
    choices: tuple[Choice, ...] | None = None


@dataclass(frozen=True)
class Instrument:
    key: str
    name: str
    version: str
    about: str
    questions: tuple[Question, ...]
    uses_sex: bool = False


@dataclass(frozen=True)
class Result:
    score: int
    threshold: int
    positive: bool
    interpretation: str


def _c(points: int, en: str, es: str) -> Choice:
    return Choice(points, {"en": en, "es": es})


AUDIT_C = Instrument(
    key="audit_c",
    name="AUDIT-C (alcohol)",
    version="WHO AUDIT 2001, items 1-3",
    about="Three questions about the past year. Read each question and its answers aloud.",
    uses_sex=True,
    questions=(
        Question("q1", {"en": "How often do you have a drink containing alcohol?",
                        "es": "¿Con qué frecuencia consume alguna bebida alcohólica?"},
                 (_c(0, "Never", "Nunca"),
                  _c(1, "Monthly or less", "Una vez al mes o menos"),
                  _c(2, "2 to 4 times a month", "De 2 a 4 veces al mes"),
                  _c(3, "2 to 3 times a week", "De 2 a 3 veces a la semana"),
                  _c(4, "4 or more times a week", "4 o más veces a la semana"))),
        Question("q2", {"en": "How many standard drinks containing alcohol do you have on a "
                              "typical day when you are drinking?",
                        "es": "¿Cuántas bebidas alcohólicas estándar suele tomar en un día "
                              "normal en que bebe?"},
                 (_c(0, "1 or 2", "1 o 2"), _c(1, "3 or 4", "3 o 4"), _c(2, "5 or 6", "5 o 6"),
                  _c(3, "7 to 9", "De 7 a 9"), _c(4, "10 or more", "10 o más"))),
        Question("q3", {"en": "How often do you have six or more drinks on one occasion?",
                        "es": "¿Con qué frecuencia toma 6 o más bebidas alcohólicas en una "
                              "sola ocasión?"},
                 (_c(0, "Never", "Nunca"),
                  _c(1, "Less than monthly", "Menos de una vez al mes"),
                  _c(2, "Monthly", "Mensualmente"), _c(3, "Weekly", "Semanalmente"),
                  _c(4, "Daily or almost daily", "A diario o casi a diario"))),
    ),
)

SINGLE_DRUG = Instrument(
    key="single_drug",
    name="Single-question drug screen",
    version="Smith et al. 2010",
    about="One question about the past year; the answer is a number of times.",
    questions=(
        Question("times", {
            "en": "How many times in the past year have you used an illegal drug or used a "
                  "prescription medication for non-medical reasons (for example, because of "
                  "the experience or feeling it caused)?",
            "es": "¿Cuántas veces en el último año ha consumido una droga ilegal o un "
                  "medicamento recetado por razones no médicas (por ejemplo, por la "
                  "experiencia o la sensación que le causaba)?"}),
    ),
)

INSTRUMENTS: dict[str, Instrument] = {i.key: i for i in (AUDIT_C, SINGLE_DRUG)}

# What a result suggests, for the counselor (never shown to or texted to the caller).
INTERPRETATIONS = {
    "audit_c.none": "No drinking in the past year reported.",
    "audit_c.negative": "Below the cut-off: lower-risk drinking.",
    "audit_c.positive_frequency_only": (
        "At the cut-off, but all points come from how often: probably drinking within "
        "recommended limits. Ask about the past few months to confirm."),
    "audit_c.positive": (
        "Positive: possible hazardous drinking. Talk about drinking and offer help."),
    "audit_c.positive_high": (
        "Positive, 8 or more: an alcohol use disorder is more likely. Offer an assessment "
        "or a treatment referral."),
    "single_drug.negative": "No drug use in the past year reported.",
    "single_drug.positive": (
        "Positive: drug use in the past year. Ask which drugs and how often, and offer help."),
}


def audit_c_threshold(sex: str | None) -> int:
    """4 for men, 3 for women and when sex is not recorded (the more sensitive cut-off)."""
    return 4 if sex == "male" else 3


def score_audit_c(answers: Mapping[str, int], sex: str | None) -> Result:
    """Score AUDIT-C answers (points 0-4 for q1, q2, q3)."""
    points = [answers["q1"], answers["q2"], answers["q3"]]
    score = sum(points)
    threshold = audit_c_threshold(sex)
    positive = score >= threshold
    if score == 0:
        meaning = "audit_c.none"
    elif not positive:
        meaning = "audit_c.negative"
    elif score >= 8:
        meaning = "audit_c.positive_high"
    elif points[1] == 0 and points[2] == 0:
        meaning = "audit_c.positive_frequency_only"
    else:
        meaning = "audit_c.positive"
    return Result(score, threshold, positive, meaning)


def score_single_drug(answers: Mapping[str, int]) -> Result:
    """Score the single drug question: the number of times; positive at 1 or more."""
    times = answers["times"]
    positive = times >= 1
    return Result(times, 1, positive, "single_drug.positive" if positive
                  else "single_drug.negative")


def score(instrument: str, answers: Mapping[str, int], sex: str | None = None) -> Result:
    """The result of ``answers`` (already checked) on ``instrument``."""
    if instrument == AUDIT_C.key:
        return score_audit_c(answers, sex)
    if instrument == SINGLE_DRUG.key:
        return score_single_drug(answers)
    raise ScreeningError("not one of the screening instruments")


def parse_answers(instrument: Instrument, form: Mapping[str, object]) -> dict[str, int]:
    """Every question's answer as a whole number, checked against the allowed answers."""
    answers: dict[str, int] = {}
    for question in instrument.questions:
        raw = str(form.get(question.key, "") or "").strip()
        if not raw:
            raise ScreeningError(f"{question.key}: every question needs an answer")
        if not raw.isdigit() or len(raw) > 4:
            raise ScreeningError(f"{question.key}: a whole number is needed")
        value = int(raw)
        allowed = ({c.points for c in question.choices} if question.choices is not None
                   else set(range(MAX_COUNT + 1)))
        if value not in allowed:
            raise ScreeningError(f"{question.key}: not one of the answers")
        answers[question.key] = value
    return answers


def save_screening(session: Session, contact: Contact, by: User, instrument_key: str,
                   form: Mapping[str, object], *, sex: str | None = None,
                   language: str | None = None, now: dt.datetime | None = None) -> Screening:
    """Score and store one instrument's answers on the record (again: replaces them)."""
    if not can_edit_contact(by, contact):
        raise ScreeningError("this record is closed or not yours to edit")
    instrument = INSTRUMENTS.get(instrument_key)
    if instrument is None:
        raise ScreeningError("not one of the screening instruments")
    sex = sex or None
    if sex is not None and sex not in SEXES:
        raise ScreeningError("sex: female, male or not said")
    if not instrument.uses_sex:
        sex = None
    answers = parse_answers(instrument, form)
    result = score(instrument.key, answers, sex)
    row = session.scalar(select(Screening).where(Screening.contact_id == contact.id,
                                                 Screening.instrument == instrument.key))
    if row is None:
        row = Screening(contact_id=contact.id, instrument=instrument.key)
        session.add(row)
    row.version = instrument.version
    row.language = language if language in ("en", "es") else (contact.language or "en")
    row.answers = answers
    row.score = result.score
    row.threshold = result.threshold
    row.positive = result.positive
    row.interpretation = result.interpretation
    row.sex = sex
    row.by_id = by.id
    row.at = now or utcnow()
    session.flush()
    audit.record(session, "contact.screening", actor=by, record_type="contact",
                 record_id=contact.id, detail={"instrument": instrument.key})
    return row


def screenings_for(session: Session, contact: Contact) -> list[Screening]:
    """The record's screenings, in the order of :data:`INSTRUMENTS`."""
    rows = {s.instrument: s for s in session.scalars(
        select(Screening).where(Screening.contact_id == contact.id))}
    return [rows[k] for k in INSTRUMENTS if k in rows]
