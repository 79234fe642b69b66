"""Figures from the call records for supervisors and funders.

One report covers a range of local dates (in the helpline's time zone) and optionally one
queue. Every figure is aggregated in the database: the calls are read once, grouped by
(hour of the week, need, language, outcome, queued), and the tables are cut from that small
cube; contacts, referrals and follow-ups each take one more grouped query.

Definitions (where the spec was silent):
- a call *entered a queue* when it has a ``queue_name``; those are the calls offered;
- *answered* means ``outcome == "answered"``; speed of answer is its ``wait_seconds``;
- *abandonment rate* = calls abandoned in the queue / calls offered;
- *service level (T)* = calls answered within T seconds / calls offered;
- *wrap-up* = the contact's ``closed_at`` minus the call's ``ended_at``;
- speed of answer splits into *queue time* and *ring time* (helpline.reporting.offers: a call
  answered with "Take next call" rang nobody, so its ring time is 0).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Integer,
    SQLColumnExpression,
    and_,
    case,
    cast,
    extract,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement, Grouping

from helpline.models import (
    Call,
    CenterService,
    Contact,
    FollowUp,
    FollowUpState,
    Outcome,
    Referral,
    Screening,
)
from helpline.records.screening import INSTRUMENTS
from helpline.reporting.admissions import admission_tables
from helpline.reporting.offers import (
    AnswerSplit,
    answer_split,
    counselor_offers_table,
    offer_states,
    offer_states_table,
    offers_by_counselor,
)
from helpline.reporting.tables import Table

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SERVICE_LEVEL_SECONDS = (30, 60)
# Follow-up outcomes that mean the caller was reached, besides the "reached_*" family.
REACHED_OUTCOMES = frozenset({"reached", "replied"})
RISK_LEVELS = ("none", "low", "moderate", "high", "imminent")
UNKNOWN = "unknown"


class ReportError(ValueError):
    """A report request that cannot be answered; the message says why."""


@dataclass
class Report:
    start: dt.date
    end: dt.date  # inclusive
    timezone: str
    queue: str | None
    calls: int = 0
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    abandonment_rate: float | None = None
    average_speed_of_answer: float | None = None
    service_level: dict[int, float | None] = field(default_factory=dict)
    average_talk_seconds: float | None = None
    average_wrapup_seconds: float | None = None
    answer: AnswerSplit = field(default_factory=AnswerSplit)
    offers: dict[str, int] = field(default_factory=dict)  # offers rung in the range, by state
    tables: dict[str, Table] = field(default_factory=dict)
    # Tables that name staff (offers per counselor): for supervisors, never in the API.
    staff_tables: dict[str, Table] = field(default_factory=dict)

    def summary(self) -> Table:
        """The headline figures as a table (for display and CSV)."""
        rows: list[list[object]] = [
            ["Calls", self.calls],
            ["Calls that entered a queue", self.offered],
            ["Answered", self.answered],
            ["Abandoned in queue", self.abandoned],
            ["Abandonment rate", _pct(self.abandonment_rate)],
            ["Average speed of answer (s)", _round(self.average_speed_of_answer)],
            ["Average queue time (s)", _round(self.answer.average_queue_seconds)],
            ["Average ring time (s)", _round(self.answer.average_ring_seconds)],
            ["Answered from an offer", self.answer.after_offer],
            ["Answered with take next (no ring)", self.answer.take_next],
            ["Average ring time of offers accepted (s)",
             _round(self.answer.average_ring_seconds_offered)],
            ["Offers missed (rang out)", self.offers.get("missed", 0)],
            ["Offers declined", self.offers.get("declined", 0)],
        ]
        rows += [[f"Service level ({s} s)", _pct(v)] for s, v in self.service_level.items()]
        rows += [
            ["Average talk time (s)", _round(self.average_talk_seconds)],
            ["Average wrap-up time (s)", _round(self.average_wrapup_seconds)],
        ]
        return Table("summary", "Summary", ["Figure", "Value"], rows)


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


def _round(value: float | None) -> float | str:
    return "" if value is None else round(value, 1)


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


# -- time zones ---------------------------------------------------------------------------

def utc_bounds(start: dt.date, end: dt.date, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants of local midnight on ``start`` and on the day after ``end``."""
    zone = ZoneInfo(timezone)
    lo = dt.datetime.combine(start, dt.time(), zone).astimezone(dt.UTC)
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    return lo, hi


def _offset(zone: ZoneInfo, at: dt.datetime) -> int:
    off = at.astimezone(zone).utcoffset()
    return int(off.total_seconds()) if off else 0


def offset_segments(lo: dt.datetime, hi: dt.datetime,
                    timezone: str) -> list[tuple[dt.datetime, int]]:
    """[(segment start, UTC offset in seconds)] covering [lo, hi): one entry per DST period."""
    zone = ZoneInfo(timezone)
    segments = [(lo, _offset(zone, lo))]
    step = dt.timedelta(hours=6)
    t = lo
    while t < hi:
        nxt = min(t + step, hi)
        if _offset(zone, nxt) != segments[-1][1]:
            a, b = t, nxt  # the change lies in (a, b]: bisect to the second
            while b - a > dt.timedelta(seconds=1):
                mid = a + (b - a) / 2
                if _offset(zone, mid) == segments[-1][1]:
                    a = mid
                else:
                    b = mid
            b = b.replace(microsecond=0)
            segments.append((b, _offset(zone, b)))
        t = nxt
    return segments


def hour_of_week(session: Session, column: SQLColumnExpression[dt.datetime], lo: dt.datetime,
                 hi: dt.datetime, timezone: str) -> ColumnElement[int]:
    """0..167 (Monday 00h = 0) of ``column`` in local time, computed in the database."""
    if session.get_bind().dialect.name == "postgresql":
        local = func.timezone(timezone, func.timezone("UTC", column))
        return cast((extract("isodow", local) - 1) * 24 + extract("hour", local), Integer)
    # SQLite has no time zones: add the fixed UTC offset of the DST segment the row falls in.
    segments = offset_segments(lo, hi, timezone)
    offset: ColumnElement[int]
    if len(segments) == 1:
        offset = _literal_int(segments[0][1])
    else:
        offset = case(*((column < start, _literal_int(off)) for (start, _), (_, off)
                        in zip(segments[1:], segments, strict=False)),
                      else_=_literal_int(segments[-1][1]))
    # Integer division and modulo on integers; Grouping keeps the parentheses.
    local_hours = Grouping(func.unixepoch(column) + offset).op("/")(3600)
    # 1970-01-01 was a Thursday: shift by 72 hours so that Monday 00h is 0.
    return Grouping(local_hours + 72).op("%")(168)


def _literal_int(value: int) -> ColumnElement[int]:
    return literal(value, Integer)


# -- the report ---------------------------------------------------------------------------

def build_report(session: Session, start: dt.date, end: dt.date, *, timezone: str,
                 queue: str | None = None) -> Report:
    """Every report figure for local dates ``start``..``end`` (inclusive), optionally one queue."""
    if end < start:
        raise ReportError("the end date is before the start date")
    if (end - start).days > 366:
        raise ReportError("a report covers at most a year")
    try:
        ZoneInfo(timezone)
    except (KeyError, ValueError):
        raise ReportError(f"unknown time zone {timezone!r}") from None
    lo, hi = utc_bounds(start, end, timezone)
    report = Report(start=start, end=end, timezone=timezone, queue=queue or None)
    _call_figures(session, report, lo, hi)
    _contact_figures(session, report, lo, hi)
    _referral_figures(session, report, lo, hi)
    _followup_figures(session, report, lo, hi)
    _screening_figures(session, report, lo, hi)
    report.tables.update(admission_tables(session, lo, hi, report.queue))
    _offer_figures(session, report, lo, hi)
    return report


def _offer_figures(session: Session, report: Report, lo: dt.datetime, hi: dt.datetime) -> None:
    report.answer = answer_split(session, _call_filter(lo, hi, report.queue))
    report.offers = offer_states(session, lo, hi, report.queue)
    report.tables["offers"] = offer_states_table(report.offers)
    report.staff_tables["counselor_offers"] = counselor_offers_table(
        offers_by_counselor(session, lo, hi, report.queue))


def _call_filter(lo: dt.datetime, hi: dt.datetime, queue: str | None) -> list[ColumnElement[bool]]:
    where = [Call.started_at >= lo, Call.started_at < hi]
    if queue:
        where.append(Call.queue_name == queue)
    return where


def _call_figures(session: Session, report: Report, lo: dt.datetime, hi: dt.datetime) -> None:
    answered = Call.outcome == Outcome.ANSWERED
    rows = select(
        hour_of_week(session, Call.started_at, lo, hi, report.timezone).label("how"),
        Call.need.label("need"),
        Call.language.label("language"),
        Call.outcome.label("outcome"),
        case((Call.queue_name.is_not(None), 1), else_=0).label("queued"),
        case((answered, Call.wait_seconds)).label("asa"),
        case((and_(answered, Call.wait_seconds <= 30), 1), else_=0).label("sl30"),
        case((and_(answered, Call.wait_seconds <= 60), 1), else_=0).label("sl60"),
        case((answered, Call.talk_seconds)).label("talk"),
    ).where(*_call_filter(lo, hi, report.queue)).subquery()
    cube = select(
        rows.c.how, rows.c.need, rows.c.language, rows.c.outcome, rows.c.queued,
        func.count(), func.count(rows.c.asa), func.sum(rows.c.asa), func.sum(rows.c.sl30),
        func.sum(rows.c.sl60), func.count(rows.c.talk), func.sum(rows.c.talk),
    ).group_by(rows.c.how, rows.c.need, rows.c.language, rows.c.outcome, rows.c.queued)

    by_how: Counter[int] = Counter()
    by_need: Counter[str] = Counter()
    by_lang: Counter[str] = Counter()
    by_outcome: Counter[str] = Counter()
    asa_n = asa_sum = sl30 = sl60 = talk_n = talk_sum = 0
    for how, need, lang, outcome, queued, n, an, asum, s30, s60, tn, tsum in session.execute(cube):
        report.calls += n
        by_how[int(how)] += n
        by_need[need or UNKNOWN] += n
        by_lang[lang or UNKNOWN] += n
        by_outcome[outcome or UNKNOWN] += n
        if queued:
            report.offered += n
            if outcome == Outcome.ABANDONED_QUEUE:
                report.abandoned += n
        if outcome == Outcome.ANSWERED:
            report.answered += n
        asa_n += an
        asa_sum += asum or 0
        sl30 += s30 or 0
        sl60 += s60 or 0
        talk_n += tn
        talk_sum += tsum or 0

    report.abandonment_rate = _ratio(report.abandoned, report.offered)
    report.average_speed_of_answer = _ratio(asa_sum, asa_n)
    report.service_level = {30: _ratio(sl30, report.offered), 60: _ratio(sl60, report.offered)}
    report.average_talk_seconds = _ratio(talk_sum, talk_n)

    hours = [sum(by_how[d * 24 + h] for d in range(7)) for h in range(24)]
    days = [sum(by_how[d * 24 + h] for h in range(24)) for d in range(7)]
    report.tables["hour"] = Table("hour", "Calls by hour of day", ["Hour", "Calls"],
                                  [[f"{h:02d}:00", hours[h]] for h in range(24)])
    report.tables["weekday"] = Table("weekday", "Calls by day of week", ["Day", "Calls"],
                                     [[WEEKDAYS[d], days[d]] for d in range(7)])
    report.tables["need"] = _counter_table("need", "Calls by need", "Need", by_need)
    report.tables["language"] = _counter_table("language", "Calls by language", "Language",
                                               by_lang)
    report.tables["outcome"] = _counter_table("outcome", "Calls by outcome", "Outcome",
                                              by_outcome)


def _counter_table(key: str, title: str, label: str, counts: Counter[str],
                   value: str = "Calls") -> Table:
    rows: list[list[object]] = [[k, v] for k, v in sorted(counts.items(),
                                                           key=lambda kv: (-kv[1], kv[0]))]
    return Table(key, title, [label, value], rows)


def _contacts_in(lo: dt.datetime, hi: dt.datetime, queue: str | None) -> list[ColumnElement[bool]]:
    where = [Contact.created_at >= lo, Contact.created_at < hi]
    if queue:
        where.append(Contact.call_id.in_(select(Call.id).where(Call.queue_name == queue)))
    return where


def _contact_figures(session: Session, report: Report, lo: dt.datetime, hi: dt.datetime) -> None:
    where = _contacts_in(lo, hi, report.queue)
    suicide: Counter[str] = Counter()
    overdose: Counter[str] = Counter()
    wrapped = wrapup_total = 0
    rows = (select(Contact.suicide_risk, Contact.overdose_risk, func.count(),
                   func.count(Contact.wrapup_seconds), func.sum(Contact.wrapup_seconds))
            .where(*where).group_by(Contact.suicide_risk, Contact.overdose_risk))
    for s, o, n, n_wrapped, total in session.execute(rows):
        suicide[s or UNKNOWN] += n
        overdose[o or UNKNOWN] += n
        wrapped += n_wrapped
        wrapup_total += total or 0
    levels = [lv for lv in RISK_LEVELS if suicide[lv] or overdose[lv]]
    levels += sorted((set(suicide) | set(overdose)) - set(levels) - {UNKNOWN})
    if suicide[UNKNOWN] or overdose[UNKNOWN]:
        levels.append(UNKNOWN)
    report.tables["risk"] = Table(
        "risk", "Contacts by risk level", ["Risk level", "Suicide risk", "Overdose risk"],
        [[lv, suicide[lv], overdose[lv]] for lv in levels],
    )
    report.average_wrapup_seconds = _ratio(float(wrapup_total), wrapped)


def _referrals_in(lo: dt.datetime, hi: dt.datetime,
                  queue: str | None) -> list[ColumnElement[bool]]:
    where = [Referral.created_at >= lo, Referral.created_at < hi]
    if queue:
        in_queue = select(Call.id).where(Call.queue_name == queue)
        where.append(Referral.contact_id.in_(select(Contact.id)
                                             .where(Contact.call_id.in_(in_queue))))
    return where


def _referral_figures(session: Session, report: Report, lo: dt.datetime, hi: dt.datetime) -> None:
    where = _referrals_in(lo, hi, report.queue)
    query = select(Referral.kind, func.count()).where(*where).group_by(Referral.kind)
    kinds: Counter[str] = Counter({k or UNKNOWN: n for k, n in session.execute(query)})
    report.tables["referrals"] = _counter_table("referrals", "Referrals by kind", "Kind", kinds,
                                                "Referrals")
    # Center referrals counted under each type of care the center offers (facet "care").
    care_query = (select(CenterService.label, func.count())
                  .select_from(Referral)
                  .join(CenterService, and_(CenterService.center_id == Referral.target_id,
                                            CenterService.facet == "care"))
                  .where(Referral.kind == "center", *where)
                  .group_by(CenterService.label))
    care: Counter[str] = Counter({label: n for label, n in session.execute(care_query)})
    report.tables["care"] = _counter_table("care", "Referrals to centers by type of care",
                                           "Type of care", care, "Referrals")


def _followup_figures(session: Session, report: Report, lo: dt.datetime, hi: dt.datetime) -> None:
    where: list[ColumnElement[bool]] = [FollowUp.created_at >= lo, FollowUp.created_at < hi]
    if report.queue:
        in_queue = select(Call.id).where(Call.queue_name == report.queue)
        where.append(or_(FollowUp.call_id.in_(in_queue),
                         FollowUp.contact_id.in_(select(Contact.id)
                                                 .where(Contact.call_id.in_(in_queue)))))
    query = (select(FollowUp.state, FollowUp.outcome, FollowUp.due_at.is_not(None), func.count())
             .where(*where).group_by(FollowUp.state, FollowUp.outcome,
                                     FollowUp.due_at.is_not(None)))
    stages: Counter[str] = Counter()
    for state, outcome, has_due, n in session.execute(query):
        stages["Requested"] += n
        if has_due and state not in (FollowUpState.REQUESTED, FollowUpState.CANCELLED):
            stages["Scheduled"] += n
        if state == FollowUpState.DONE:
            stages["Completed"] += n
        if _reached(outcome):
            stages["Reached"] += n
        if state in (FollowUpState.CANCELLED, "stopped"):
            stages["Cancelled or stopped"] += n
    order = ("Requested", "Scheduled", "Completed", "Reached", "Cancelled or stopped")
    report.tables["followups"] = Table("followups", "Follow-ups", ["Stage", "Follow-ups"],
                                       [[k, stages[k]] for k in order])


def _screening_figures(session: Session, report: Report, lo: dt.datetime,
                       hi: dt.datetime) -> None:
    """Screenings given in the range per instrument, how many were positive, and the rate."""
    where: list[ColumnElement[bool]] = [Screening.at >= lo, Screening.at < hi]
    if report.queue:
        in_queue = select(Call.id).where(Call.queue_name == report.queue)
        where.append(Screening.contact_id.in_(select(Contact.id)
                                              .where(Contact.call_id.in_(in_queue))))
    counts = {instrument: (int(n), int(positive or 0)) for instrument, n, positive in
              session.execute(select(Screening.instrument, func.count(),
                                     func.sum(case((Screening.positive, 1), else_=0)))
                              .where(*where).group_by(Screening.instrument))}
    rows: list[list[object]] = []
    for key in [*INSTRUMENTS, *sorted(set(counts) - set(INSTRUMENTS))]:
        n, positive = counts.get(key, (0, 0))
        name = INSTRUMENTS[key].name if key in INSTRUMENTS else key
        rows.append([name, n, positive, _pct(_ratio(positive, n))])
    report.tables["screening"] = Table("screening", "Screenings", [
        "Instrument", "Screenings", "Positive", "Positive rate"], rows)


def _reached(outcome: str | None) -> bool:
    """Whether a follow-up outcome means the caller was reached (reached_in_treatment...)."""
    return bool(outcome and (outcome.startswith("reached") or outcome in REACHED_OUTCOMES))


def table_csv(report: Report, key: str) -> str:
    """The CSV text of one table of ``report`` (``summary`` for the headline figures)."""
    if key == "summary":
        return report.summary().to_csv()
    try:
        return {**report.tables, **report.staff_tables}[key].to_csv()
    except KeyError:
        raise ReportError(f"no table named {key!r}") from None
