"""Routing raced across four real processes: 50 callers and 20 counselors arrive at random,
each process with its own routing thread, acting out a share of them (callers enter a queue
through the journal as the IVR's webhooks do; counselors become Available, then accept,
decline or let offers ring out at random, talk, close the record and come back after a missed
offer). Afterwards the offers table and the calls must show:

- no caller rang two counselors at once, and no counselor rang for two callers at once (the
  ringing intervals, offered_at to ended_at, of one call or of one counselor never overlap; and
  a watcher sampling the table during the run never saw two);
- no counselor was on two calls at once (from the accept to the record's close);
- every caller is answered, by the one counselor whose offer they accepted, or still waiting
  with nobody assigned;
- offers went in order: whenever a caller was offered to a counselor, no caller ahead of them
  (higher priority, i.e. crisis; or the same priority and in the queue longer) that this
  counselor could take (language, the queue's skill, not passed over by this counselor) was
  waiting in the queue with nothing ringing. This is what routing promises, and all it
  promises: who answers first depends on who accepts first, so the order of answers is not
  FIFO, and a caller who was declined waits for the next counselor while later ones ring.

Times written by different processes are compared with SKEW of slack: a process stamps a
change when it makes it and commits it a moment later (it may wait for SQLite's writer).
"Waiting" starts when the caller's step was committed and a decline counts from its commit,
as the workers saw them.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline.calls import routing
from helpline.config import Settings
from helpline.db import Database, utcnow
from helpline.models import AgentStatus, Call, Contact, Offer, OfferState
from helpline.telephony import telephony_for
from tests.factories import make_call, make_user
from tests.fixtures.routing_processes import (
    PlannedCaller,
    PlannedCounselor,
    WorkPlan,
    start_workers,
)

PROCESSES = 4
CALLERS = 50
COUNSELORS = 20
ARRIVALS_SECONDS = 7.0  # callers arrive over this long, counselors over half of it
ACT_SECONDS = 12.0  # counselors act this long after the start
SKEW = dt.timedelta(seconds=0.5)
PRIORITY = {"crisis": 100, "general": 10}  # as the IVR's flows give them
SEED = 18


@dataclass(frozen=True)
class Counselor:
    id: int
    languages: frozenset[str]
    skills: frozenset[str]


@dataclass(frozen=True)
class Caller:
    id: int
    sid: str
    group: str
    language: str
    priority: int
    visible: dt.datetime  # its step committed: routing could see it from then on
    since: dt.datetime  # enqueued_at, what routing orders by
    answered_at: dt.datetime | None
    counselor_id: int | None
    status: str


@dataclass(frozen=True)
class Ring:
    id: int
    call_id: int
    counselor_id: int
    state: str
    offered_at: dt.datetime
    ended_at: dt.datetime | None


def _counselors(db: Database) -> dict[int, Counselor]:
    """Twenty counselors: six crisis-trained (two of them speaking Spanish too), four more
    speaking Spanish, ten English only."""
    kinds = [("en", "crisis")] * 4 + [("en es", "crisis")] * 2 + [("en es", "")] * 4 \
        + [("en", "")] * 10
    made = {}
    with db.session() as session:
        for languages, skills in kinds:
            user = make_user(session, "counselor", languages=languages, skills=skills,
                             status=AgentStatus.OFFLINE)
            made[user.id] = Counselor(user.id, frozenset(languages.split()),
                                      frozenset(skills.split()))
    assert len(made) == COUNSELORS
    return made


def _callers(rng: random.Random) -> list[PlannedCaller]:
    """Fifty callers: ten in crisis, eight Spanish speakers, the rest English, general."""
    kinds = [("crisis", "en")] * 10 + [("general", "es")] * 8 + [("general", "en")] * 32
    return [PlannedCaller(sid=f"CA{n:032x}", number=f"+1202555{n:04d}", group=group,
                          language=language, priority=PRIORITY[group],
                          arrives=round(rng.uniform(0.0, ARRIVALS_SECONDS), 3))
            for n, (group, language) in enumerate(kinds)]


class Watcher:
    """Samples the ringing offers during the run: two for one caller, or for one counselor,
    would show in one snapshot."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.samples = 0
        self.problems: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self.db.sessions() as session:
                rows = session.execute(select(Offer.call_id, Offer.counselor_id).where(
                    Offer.state == OfferState.RINGING, Offer.call_id.is_not(None))).all()
            self.samples += 1
            for what, ids in (("caller", [r.call_id for r in rows]),
                              ("counselor", [r.counselor_id for r in rows])):
                self.problems += [f"{what} {i} rang {n} times at once"
                                  for i, n in Counter(ids).items() if n > 1]
            self._stop.wait(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _run_workers(database_url: str, tmp_path: Path, counselors: dict[int, Counselor],
                 callers: list[PlannedCaller], rng: random.Random
                 ) -> tuple[dict[str, float], dict[int, float]]:
    """The four processes, each with a random share of the callers and counselors; returns
    when each caller's step was committed, and each decline (time.time())."""
    ids = list(counselors)
    rng.shuffle(ids)
    shuffled = list(callers)
    rng.shuffle(shuffled)
    plans = [WorkPlan(database_url=database_url, instance_dir=str(tmp_path / f"worker{n}"),
                      seconds=ACT_SECONDS,
                      callers=shuffled[n::PROCESSES],
                      counselors=[PlannedCounselor(i, round(rng.uniform(0, ARRIVALS_SECONDS / 2),
                                                            3), rng.randrange(1 << 30))
                                  for i in ids[n::PROCESSES]])
             for n in range(PROCESSES)]
    for plan in plans:
        Path(plan.instance_dir).mkdir()
    workers = start_workers(plans, tmp_path)
    stored: dict[str, float] = {}
    declined: dict[int, float] = {}
    outputs = []
    for worker in workers:
        out, _ = worker.communicate(timeout=ACT_SECONDS + 90)
        outputs.append(out)
        assert worker.returncode == 0, f"a worker failed ({worker.returncode}):\n{out[-6000:]}"
        report = json.loads(next(line for line in reversed(out.splitlines())
                                 if line.startswith("{")))
        stored.update(report["stored"])
        declined.update({int(k): v for k, v in report["declined"].items()})
    assert len(stored) == CALLERS, "\n".join(outputs)
    return stored, declined


Interval = tuple[int, dt.datetime, dt.datetime | None]


def _read(db: Database, stored: dict[str, float], declined: dict[int, float]
          ) -> tuple[dict[int, Caller], list[Ring], list[Interval]]:
    with db.sessions() as session:
        calls = session.execute(select(Call.id, Call.call_sid, Call.queue_name, Call.language,
                                       Call.priority, Call.enqueued_at, Call.started_at,
                                       Call.answered_at, Call.counselor_id, Call.status)).all()
        callers = {c.id: Caller(
            c.id, c.call_sid, routing.split_group(c.queue_name), c.language, c.priority,
            _moment(stored[c.call_sid]),
            c.enqueued_at or c.started_at, c.answered_at, c.counselor_id, c.status)
            for c in calls}
        # A decline is stamped before it waits for the database's writer: it ended for
        # routing when it was committed.
        rings = [Ring(row.id, row.call_id, row.counselor_id, row.state, row.offered_at,
                      _moment(declined[row.id]) if row.id in declined else row.ended_at)
                 for row in session.execute(
            select(Offer.id, Offer.call_id, Offer.counselor_id, Offer.state, Offer.offered_at,
                   Offer.ended_at).where(Offer.call_id.is_not(None)).order_by(Offer.id))]
        talks = [(row.counselor_id, row.created_at, row.closed_at) for row in session.execute(
            select(Contact.counselor_id, Contact.created_at, Contact.closed_at))]
    return callers, rings, talks


def _moment(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC)


def _overlaps(intervals: dict[int, list[tuple[dt.datetime, dt.datetime | None, str]]],
              what: str) -> list[str]:
    problems = []
    for key, spans in intervals.items():
        spans.sort(key=lambda s: s[0])
        for (start, end, label), (later, _, next_label) in itertools.pairwise(spans):
            if end is None or end > later + SKEW:
                problems.append(f"{what} {key}: {label} ({start}..{end}) still going when "
                                f"{next_label} began at {later}")
    return problems


def _ahead(a: Caller, b: Caller) -> bool:
    return a.priority > b.priority or (a.priority == b.priority and a.since < b.since)


def _eligible(caller: Caller, counselor: Counselor) -> bool:
    skill = {"crisis": "crisis"}.get(caller.group)
    return caller.language in counselor.languages and (skill is None
                                                       or skill in counselor.skills)


def _out_of_order(callers: dict[int, Caller], rings: list[Ring],
                  counselors: dict[int, Counselor]) -> list[str]:
    by_call: dict[int, list[Ring]] = defaultdict(list)
    for ring in rings:
        by_call[ring.call_id].append(ring)
    problems = []
    for ring in rings:
        t, offered, counselor = ring.offered_at, callers[ring.call_id], counselors[
            ring.counselor_id]
        for other in callers.values():
            if other.id == offered.id or not _ahead(other, offered) \
                    or not _eligible(other, counselor):
                continue
            waiting = other.visible <= t - SKEW and (other.answered_at is None
                                                     or other.answered_at > t + SKEW)
            if not waiting:
                continue
            theirs = by_call[other.id]
            if any(r.offered_at <= t + SKEW and (r.ended_at is None or r.ended_at >= t - SKEW)
                   for r in theirs):
                continue  # ringing for someone else then
            # Passed over by this counselor (routing.REOFFER_AFTER outlasts the test).
            if any(r.counselor_id == counselor.id and r.ended_at is not None
                   and r.ended_at <= t + SKEW
                   and r.state in (OfferState.DECLINED, OfferState.MISSED) for r in theirs):
                continue
            problems.append(f"call {offered.id} ({offered.group}-{offered.language}, in the "
                            f"queue since {offered.since}) was offered to counselor "
                            f"{counselor.id} at {t} while call {other.id} ({other.group}-"
                            f"{other.language}, since {other.since}) waited with nothing "
                            f"ringing; its offers: {theirs}; the offered's: "
                            f"{by_call[offered.id]}")
    return problems


def test_fifty_callers_and_twenty_counselors_across_four_processes(
        database_url: str, tmp_path: Path) -> None:
    assert dt.timedelta(seconds=ACT_SECONDS + 10) < routing.REOFFER_AFTER
    rng = random.Random(SEED)
    db = Database(database_url)
    try:
        counselors = _counselors(db)
        watcher = Watcher(db)
        try:
            stored, declined = _run_workers(database_url, tmp_path, counselors,
                                            _callers(rng), rng)
        finally:
            watcher.stop()
        callers, rings, talks = _read(db, stored, declined)
    finally:
        db.dispose()

    assert len(callers) == CALLERS
    assert watcher.samples > 50 and watcher.problems == []

    # One ringing offer at a time, per caller and per counselor.
    per_call: dict[int, list[tuple[dt.datetime, dt.datetime | None, str]]] = defaultdict(list)
    per_counselor: dict[int, list[tuple[dt.datetime, dt.datetime | None, str]]] = \
        defaultdict(list)
    for ring in rings:
        assert (ring.ended_at is None) == (ring.state == OfferState.RINGING), ring
        label = f"offer {ring.id} ({ring.state})"
        per_call[ring.call_id].append((ring.offered_at, ring.ended_at, label))
        per_counselor[ring.counselor_id].append((ring.offered_at, ring.ended_at, label))
    assert _overlaps(per_call, "caller") == []
    assert _overlaps(per_counselor, "counselor") == []

    # One call at a time per counselor.
    on_calls: dict[int, list[tuple[dt.datetime, dt.datetime | None, str]]] = defaultdict(list)
    for counselor_id, began, closed in talks:
        on_calls[counselor_id].append((began, closed, "a call"))
    assert _overlaps(on_calls, "counselor") == []

    # Every caller answered by the counselor who accepted, or still waiting.
    accepted = {r.call_id: r.counselor_id for r in rings if r.state == OfferState.ACCEPTED}
    assert len(accepted) == sum(1 for r in rings if r.state == OfferState.ACCEPTED)
    for caller in callers.values():
        if caller.id in accepted:
            assert caller.counselor_id == accepted[caller.id], caller
            assert caller.answered_at is not None and caller.status in ("in-progress",
                                                                        "completed"), caller
        else:
            assert (caller.status, caller.counselor_id) == ("queued", None), caller

    assert _out_of_order(callers, rings, counselors) == []

    # The run went through every path: accepted, declined, rung out, and calls answered.
    states = Counter(r.state for r in rings)
    assert states[OfferState.ACCEPTED] >= 10 and states[OfferState.DECLINED] >= 1 \
        and states[OfferState.MISSED] >= 1, states
    assert len(talks) == len(accepted)


def test_an_accept_that_finds_the_caller_gone_leaves_the_offer_withdrawn(
        session: Session, settings: Settings) -> None:
    """The caller hangs up (or is taken another way) after the offer rang and before a pass
    withdrew it: the accept is refused, and what the dashboard then commits is a withdrawn
    offer, not an accepted one with nobody on the call."""
    counselor = make_user(session, languages="en", status=AgentStatus.AVAILABLE)
    call = make_call(session, queue_name="general-en", status="queued", language="en",
                     enqueued_at=utcnow())
    assert routing.route(session, settings).offered == [(call.id, counselor.id)]
    offer = session.scalar(select(Offer).where(Offer.call_id == call.id))
    assert offer is not None
    call.status = "completed"
    session.flush()
    with pytest.raises(routing.OfferGone, match="hung up"):
        routing.accept_offer(session, offer.id, counselor, telephony_for(settings), settings)
    session.commit()
    session.refresh(offer)
    session.refresh(counselor)
    assert (offer.state, offer.ended_at is not None) == (OfferState.WITHDRAWN, True)
    assert counselor.status == AgentStatus.AVAILABLE
    assert session.get(Call, call.id).counselor_id is None  # type: ignore[union-attr]


def test_the_checks_catch_an_offer_out_of_order_and_two_rings_at_once() -> None:
    """The race test's checks are not vacuous: a younger caller offered while an older one
    waited with nothing ringing is found, and so is a counselor rung twice at once."""
    t0 = dt.datetime(2026, 12, 6, 3, 0, tzinfo=dt.UTC)

    def at(seconds: float) -> dt.datetime:
        return t0 + dt.timedelta(seconds=seconds)

    anyone = {7: Counselor(7, frozenset({"en"}), frozenset())}
    older = Caller(1, "CA1", "general", "en", 10, at(0), at(0), None, None, "queued")
    younger = Caller(2, "CA2", "general", "en", 10, at(1), at(1), None, None, "queued")
    callers = {1: older, 2: younger}
    offered = Ring(1, 2, 7, OfferState.RINGING, at(5), None)
    assert len(_out_of_order(callers, [offered], anyone)) == 1
    # Older but ringing for someone else then, or passed over by this counselor: in order.
    elsewhere = Ring(2, 1, 8, OfferState.RINGING, at(4), None)
    assert _out_of_order(callers, [offered, elsewhere], {**anyone, 8: anyone[7]}) == []
    passed = Ring(3, 1, 7, OfferState.DECLINED, at(2), at(3))
    assert _out_of_order(callers, [passed, offered], anyone) == []
    # A crisis caller is ahead whatever the wait; a Spanish one is not for an English speaker.
    crisis = Caller(3, "CA3", "crisis", "en", 100, at(2), at(2), None, None, "queued")
    assert len(_out_of_order({**callers, 3: crisis}, [offered, elsewhere],
                             {7: Counselor(7, frozenset({"en"}), frozenset({"crisis"})),
                              8: anyone[7]})) == 1
    spanish = Caller(4, "CA4", "general", "es", 10, at(0), at(0), None, None, "queued")
    assert _out_of_order({2: younger, 4: spanish}, [offered], anyone) == []

    twice = {7: [(at(0), at(6), "offer 1"), (at(5), None, "offer 2")]}
    assert len(_overlaps(twice, "counselor")) == 1
    one_after_another = {7: [(at(0), at(5), "offer 1"), (at(5), None, "offer 2")]}
    assert _overlaps(one_after_another, "counselor") == []
