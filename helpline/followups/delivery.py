"""Delivering due follow-ups exactly once, and escalating what is late (the scheduler's work).

Exactly once: a follow-up leaves its due state only by a conditional UPDATE (state due and
``due_at <= now``) whose RETURNING names the rows this run changed, and only that run calls the
provider. The claim is committed before the provider is called and lasts
``followup_claim_seconds``: a run that dies holding it is replaced by the next run, which
re-takes the claim and sends again only what the dead run provably did not send
(:mod:`helpline.followups.claims`: the outbox row, or the intent the provider is asked about).

Texts and reminders are claimed in batches: one SELECT (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so racing schedulers take different rows instead of queueing behind each other),
one UPDATE per decision, one commit; then each is sent and committed with its outbox row,
attempt, disclosure and audit event. Bridged callbacks are claimed one at a time: each needs a
counselor (the caller's leg is dialled, and its disclosure logged, by ivr/followup_views.py).
Callbacks booked from the queue, while routing runs, get theirs from the routing engine
instead: it offers them in the place the caller held, and the counselor who accepts claims and
delivers the callback through :func:`claim_for_counselor` and :func:`send_claimed` (the same
claim, intent and outbox steps as a run's).

Consent is checked when the follow-up is due, not only when it was requested: a consent
withdrawn or expired since stops it (state stopped, outcome consent_withdrawn or
consent_expired, an audit event), at the claim and again through the consent door just before
the provider is called. The caller's safe-contact preferences decide too: a channel they ruled
out stops it; outside their safe hours (as in quiet hours) it waits for the next safe moment;
texts name the helpline as the caller allowed (:mod:`helpline.safe_contact`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, exists, select, update
from sqlalchemy.orm import Session, aliased, selectinload, sessionmaker

from helpline import audit, crypto
from helpline.callbacks import webhook_url
from helpline.config import Settings
from helpline.consent.disclosures import disclosure_row, followup_channel
from helpline.consent.optouts import is_opted_out
from helpline.db import Database, affected_rows, utcnow
from helpline.followups import claims, safe_contact
from helpline.followups.lifecycle import SCHEDULER_ACTOR, apply_attempt_result, consent_refusal
from helpline.followups.lists import overdue_clause
from helpline.followups.on_record import QUEUE_CALLBACK
from helpline.followups.scheduling import allowed_now, next_safe_time
from helpline.models import (
    Consent,
    Offer,
    OfferState,
    OutboxMessage,
    SafeContactPreferences,
    SmsOptOut,
    User,
)
from helpline.models.followups import (
    DUE_STATES,
    AttemptResult,
    FollowUp,
    FollowUpAttempt,
    FollowUpKind,
    FollowUpNotice,
    FollowUpOutcome,
    FollowUpState,
)
from helpline.models.users import AgentStatus, Role
from helpline.staff.roles import Action, roles_for
from helpline.staff.softphone import ring_destination
from helpline.telephony import UNKNOWN, Telephony

log = logging.getLogger(__name__)

#: How many texts and reminders one claim takes. A crash between claim and send leaves at most
#: this many in ``sending`` until the claim expires and a later run takes them up.
CLAIM_BATCH = 100
#: How far Twilio's clock may be behind ours, when asking it what a dead run sent.
PROVIDER_CLOCK_SKEW = dt.timedelta(minutes=2)
#: How many outbox sends share a commit (see :func:`_commit_every`).
SEND_CHUNK = 20


def checkin_text(settings: Settings, name: str | None = None) -> str:
    """The SMS check-in body: configurable, neutral, never a note or a word of substance use.
    ``name`` is what the caller allowed the helpline to be called (the neutral alias unless
    they allowed the helpline's own name)."""
    return settings.sms_checkin_text.format(helpline=name or settings.safe_contact_alias,
                                            number=settings.helpline_number)


def reminder_text(settings: Settings, followup_id: int) -> str:
    """The reminder texted to a counselor's own phone: a number to look up, nothing more."""
    return (f"{settings.helpline_name}: follow-up #{followup_id} is due. "
            "Details are on the dashboard.")


def next_available_counselor(session: Session, language: str) -> User | None:
    """An available counselor who speaks ``language`` and is not already ringing for a
    callback or for an offer of the routing engine; the one available longest first."""
    busy = select(FollowUp.bridged_to_id).where(
        FollowUp.state.in_((FollowUpState.SENDING, FollowUpState.AWAITING_RESULT)),
        FollowUp.bridged_to_id.is_not(None))
    offered = exists().where(Offer.counselor_id == User.id, Offer.state == OfferState.RINGING)
    candidates = session.scalars(
        select(User).where(User.active.is_(True), User.status == AgentStatus.AVAILABLE,
                           User.role.in_(roles_for(Action.WORK_FOLLOWUPS)),
                           User.id.not_in(busy), ~offered)
        .order_by(User.status_since, User.id))
    for user in candidates:
        if language in user.language_list:
            return user
    return None


class OutcomeUnknown(Exception):
    """The provider may or may not have taken a text or call: its claim is left to expire."""


@dataclass
class DeliveryReport:
    delivered: list[int] = field(default_factory=list)
    lost_race: int = 0  # claimed by another run first
    deferred: int = 0  # quiet hours in the caller's zone
    waiting_for_counselor: int = 0
    stopped: int = 0  # STOP, consent withdrawn or expired, channel ruled out
    failed: int = 0
    retaken: int = 0  # expired claims of a dead run taken up again
    unresolved: int = 0  # a dead run may have reached the provider: left for a supervisor


SessionSource = Database | sessionmaker | Callable[[], Session]


@contextmanager
def _sessions_on_one_connection(source: SessionSource) -> Iterator[Callable[[], Session]]:
    """Sessions for one delivery run. Given a Database, they share one connection (each
    commit still its own transaction): one checkout for the run, not one per step. Without a
    pool, a SQLite connection opened and closed per follow-up cost more than the delivery."""
    if not isinstance(source, Database):
        yield source
        return
    with source.engine.connect() as connection:
        yield lambda: Session(bind=connection, expire_on_commit=False)


def _caller_facing(kind: str) -> bool:
    return kind in (FollowUpKind.SMS_CHECKIN, FollowUpKind.BRIDGED_CALLBACK)


def _still_due(now: dt.datetime, ids: Collection[int]) -> Any:
    return and_(FollowUp.id.in_(ids), FollowUp.state.in_(DUE_STATES), FollowUp.due_at <= now)


def deliver_due_followups(sessions: SessionSource, telephony: Telephony, settings: Settings,
                          now: dt.datetime | None = None, limit: int | None = None,
                          batch_size: int = CLAIM_BATCH) -> DeliveryReport:
    """Deliver every follow-up due at ``now``, each exactly once however many runs race.

    Texts and reminders go in claimed batches, then bridged callbacks one by one in the order
    callers held. ``limit`` caps how many texts and reminders this run looks at.
    """
    with _sessions_on_one_connection(sessions) as factory:
        return _deliver_due(factory, telephony, settings, now or utcnow(), limit, batch_size)


def _deliver_due(factory: Callable[[], Session], telephony: Telephony, settings: Settings,
                 now: dt.datetime, limit: int | None, batch_size: int) -> DeliveryReport:
    report = DeliveryReport()
    _take_up_expired_claims(factory, telephony, settings, now, report)
    looked_at = 0
    while limit is None or looked_at < limit:
        size = batch_size if limit is None else min(batch_size, limit - looked_at)
        found, claimed = _claim_batch(factory, settings, now, size, report)
        if not found:
            break
        looked_at += found
        _send_batch(factory, claimed, telephony, settings, now, report)
    with factory() as session:
        callbacks = list(session.scalars(
            select(FollowUp.id)
            .where(FollowUp.kind == FollowUpKind.BRIDGED_CALLBACK,
                   FollowUp.state.in_(DUE_STATES), FollowUp.due_at <= now)
            .order_by(FollowUp.queued_since, FollowUp.due_at, FollowUp.id)))
    for followup_id in callbacks:
        if _claim_callback(factory, followup_id, settings, now, report):
            _send_batch(factory, [followup_id], telephony, settings, now, report)
    return report


def _stop(session: Session, ids: Collection[int], outcome: FollowUpOutcome, now: dt.datetime,
          report: DeliveryReport) -> None:
    """Close due follow-ups that must not be delivered (consent withdrawn or expired, STOP,
    a channel the caller ruled out)."""
    stopped = list(session.scalars(
        update(FollowUp).where(_still_due(now, ids))
        .values(state=FollowUpState.STOPPED, outcome=outcome, closed_at=now, updated_at=now)
        .returning(FollowUp.id).execution_options(synchronize_session=False)))
    if outcome == FollowUpOutcome.OPTED_OUT:
        session.add_all([FollowUpAttempt(followup_id=followup_id, at=now,
                                         result=AttemptResult.OPTED_OUT, via="delivery")
                         for followup_id in stopped])
    audit.record_many(session, [audit.Entry("followup.stopped", "followup", followup_id,
                                            detail={"outcome": outcome.value})
                                for followup_id in stopped], actor=SCHEDULER_ACTOR)
    report.stopped += len(stopped)


def _claim_batch(factory: Callable[[], Session], settings: Settings, now: dt.datetime,
                 size: int, report: DeliveryReport) -> tuple[int, list[int]]:
    """Take up to ``size`` due texts and reminders: stop those whose consent was withdrawn or
    expired, whose caller opted out or ruled the channel out; move those in the caller's quiet
    hours or outside their safe hours; claim the rest. Returns how many were looked at and the
    ids this run won, in delivery order."""
    prefs = SafeContactPreferences
    with factory() as session:
        rows = session.execute(
            select(FollowUp.id, FollowUp.kind, FollowUp.channel, FollowUp.timezone,
                   Consent.withdrawn_at, Consent.expires_at, SmsOptOut.opted_out,
                   prefs.allow_calls, prefs.allow_texts, prefs.safe_hours_start,
                   prefs.safe_hours_end)
            .join(Consent, Consent.id == FollowUp.consent_id)
            .outerjoin(SmsOptOut, SmsOptOut.caller_hash == FollowUp.caller_hash)
            .outerjoin(prefs, prefs.caller_hash == FollowUp.caller_hash)
            .where(FollowUp.kind != FollowUpKind.BRIDGED_CALLBACK,
                   FollowUp.state.in_(DUE_STATES), FollowUp.due_at <= now)
            .order_by(FollowUp.queued_since, FollowUp.due_at, FollowUp.id)
            .limit(size)
            .with_for_update(of=FollowUp, skip_locked=True)).all()
        stop: dict[FollowUpOutcome, list[int]] = defaultdict(list)
        deliver: list[int] = []
        wait: dict[tuple[str, tuple[int, int] | None], list[int]] = defaultdict(list)
        for (followup_id, kind, channel, zone, withdrawn_at, expires_at, stopped_texts,
             calls_ok, texts_ok, safe_start, safe_end) in rows:
            hours = (safe_start, safe_end) if safe_start is not None and safe_end is not None \
                else None
            if withdrawn_at is not None:
                stop[FollowUpOutcome.CONSENT_WITHDRAWN].append(followup_id)
            elif expires_at is not None and expires_at <= now:
                stop[FollowUpOutcome.CONSENT_EXPIRED].append(followup_id)
            elif kind == FollowUpKind.SMS_CHECKIN and stopped_texts:
                stop[FollowUpOutcome.OPTED_OUT].append(followup_id)
            elif (channel == "call" and calls_ok is False) or (
                    channel == "sms" and texts_ok is False):
                stop[FollowUpOutcome.UNSAFE_CHANNEL].append(followup_id)
            elif _caller_facing(kind) and not allowed_now(now, zone, settings, hours):
                wait[(zone, hours)].append(followup_id)
            else:
                deliver.append(followup_id)
        for outcome, ids in stop.items():
            _stop(session, ids, outcome, now, report)
        for (zone, hours), ids in wait.items():
            report.deferred += affected_rows(session.execute(
                update(FollowUp).where(_still_due(now, ids))
                .values(due_at=next_safe_time(now, zone, settings, hours), updated_at=now)
                .execution_options(synchronize_session=False)))
        won: set[int] = set()
        if deliver:
            won = set(session.scalars(
                update(FollowUp).where(_still_due(now, deliver))
                .values(state=FollowUpState.SENDING, claimed_at=now, updated_at=now,
                        attempts=FollowUp.attempts + 1)
                .returning(FollowUp.id).execution_options(synchronize_session=False)))
            report.lost_race += len(deliver) - len(won)
        session.commit()
    return len(rows), [i for i in deliver if i in won]


def _claim_callback(factory: Callable[[], Session], followup_id: int, settings: Settings,
                    now: dt.datetime, report: DeliveryReport) -> bool:
    """Claim one bridged callback with the counselor it will ring. True if this run won.

    A callback booked from the queue, while routing runs, is stopped or deferred here as any
    other, but its counselor is the one who accepts its offer (:func:`claim_for_counselor`)."""
    with factory() as session:
        followup = session.get(FollowUp, followup_id)
        if followup is None or followup.state not in DUE_STATES:
            report.lost_race += 1
            return False
        held = held_back(session, followup, settings, now)
        if held is not None:
            settle_held_back(session, followup_id, held, now, report)
            session.commit()
            return False
        if offered_by_routing(followup, settings):
            report.waiting_for_counselor += 1
            return False
        assigned = followup.assigned_to_id
        for _ in range(3):
            counselor = (session.get(User, assigned) if assigned
                         else next_available_counselor(session, followup.language))
            if counselor is None:
                break
            where = [_still_due(now, [followup_id])]
            if not assigned:
                # Claims for one counselor go one at a time (a row lock on PostgreSQL; SQLite
                # has a single writer), so that two runs never ring the same person at once.
                session.execute(select(User.id).where(User.id == counselor.id)
                                .with_for_update())
                where.append(~_ringing(counselor.id))
            claimed = affected_rows(session.execute(
                update(FollowUp).where(*where)
                .values(state=FollowUpState.SENDING, claimed_at=now, updated_at=now,
                        attempts=FollowUp.attempts + 1, bridged_to_id=counselor.id)
                .execution_options(synchronize_session=False)))
            if claimed == 1:
                session.commit()
                return True
            session.rollback()
            if session.scalar(select(FollowUp.state).where(
                    FollowUp.id == followup_id)) not in DUE_STATES:
                report.lost_race += 1
                return False
        report.waiting_for_counselor += 1
        return False


def routing_offers_queue_callbacks(settings: Settings) -> bool:
    """Whether callbacks booked from the queue are offered to counselors by the routing engine
    (helpline.calls.routing), in the place the caller held: wherever routing runs
    (ROUTING_IN_PROCESS, alike for every process of a deployment). The scheduler then never
    picks their counselor itself; it still stops, defers, retries and escalates them."""
    return settings.routing_in_process


def offered_by_routing(followup: FollowUp, settings: Settings) -> bool:
    """A callback booked from the queue that nobody assigned to a counselor, while routing
    runs: its counselor is whoever accepts its offer. (One a supervisor assigned rings its
    assignee, as any other.)"""
    return (followup.source == QUEUE_CALLBACK and followup.assigned_to_id is None
            and routing_offers_queue_callbacks(settings))


@dataclass(frozen=True)
class HeldBack:
    """Why a due callback may not ring now: stopped with ``outcome``, or due again ``until``."""

    outcome: FollowUpOutcome | None = None
    until: dt.datetime | None = None


def held_back(session: Session, followup: FollowUp, settings: Settings,
              now: dt.datetime) -> HeldBack | None:
    """Why a due bridged callback may not ring a counselor now (reads only): consent withdrawn
    or expired, or the channel ruled out (stop it), or quiet hours or the caller's unsafe
    hours (wait for the next safe moment). None when it may."""
    prefs = safe_contact.preferences_for(session, followup.caller_hash)
    outcome = _must_stop(session, followup, prefs, now)
    if outcome is not None:
        return HeldBack(outcome=outcome)
    if not allowed_now(now, followup.timezone, settings, prefs.safe_hours):
        return HeldBack(until=next_safe_time(now, followup.timezone, settings,
                                             prefs.safe_hours))
    return None


def settle_held_back(session: Session, followup_id: int, held: HeldBack, now: dt.datetime,
                     report: DeliveryReport) -> None:
    """Stop the follow-up, or move it to its next safe moment (if still due); the caller
    commits."""
    if held.outcome is not None:
        _stop(session, [followup_id], held.outcome, now, report)
        return
    report.deferred += affected_rows(session.execute(
        update(FollowUp).where(_still_due(now, [followup_id]))
        .values(due_at=held.until, updated_at=now)
        .execution_options(synchronize_session=False)))


def claim_for_counselor(session: Session, followup_id: int, counselor_id: int,
                        settings: Settings, now: dt.datetime,
                        report: DeliveryReport) -> bool:
    """Claim a due bridged callback for the counselor who accepted its offer, as a delivery
    run's claim (``claimed_at`` = ``now``): one conditional UPDATE, so that a racing accept or
    scheduler run cannot claim it too. Stopped or deferred instead when it may not ring now.
    True if claimed; the caller commits before :func:`send_claimed` calls the provider."""
    followup = session.get(FollowUp, followup_id, populate_existing=True)
    if followup is None or followup.state not in DUE_STATES or (
            followup.due_at is not None and followup.due_at > now):
        report.lost_race += 1
        return False
    held = held_back(session, followup, settings, now)
    if held is not None:
        settle_held_back(session, followup_id, held, now, report)
        return False
    # One claim for a counselor at a time, as the scheduler's (a row lock on PostgreSQL).
    session.execute(select(User.id).where(User.id == counselor_id).with_for_update())
    claimed = affected_rows(session.execute(
        update(FollowUp).where(_still_due(now, [followup_id]), ~_ringing(counselor_id))
        .values(state=FollowUpState.SENDING, claimed_at=now, updated_at=now,
                attempts=FollowUp.attempts + 1, bridged_to_id=counselor_id)
        .execution_options(synchronize_session=False)))
    if claimed != 1:
        report.lost_race += 1
    return claimed == 1


def send_claimed(sessions: SessionSource, ids: list[int], telephony: Telephony,
                 settings: Settings, claimed_at: dt.datetime) -> DeliveryReport:
    """Call the provider for follow-ups claimed (and committed) at ``claimed_at``, as a
    delivery run does: the intent before the call, the outbox row and attempt with the new
    state, a claim lost meanwhile left to the run that took it over."""
    report = DeliveryReport()
    with _sessions_on_one_connection(sessions) as factory:
        _send_batch(factory, ids, telephony, settings, claimed_at, report)
    return report


def _must_stop(session: Session, followup: FollowUp, prefs: safe_contact.SafeContact,
               now: dt.datetime) -> FollowUpOutcome | None:
    """Why a claimed or due follow-up must not go out (asked of the consent door and the
    caller's preferences), as the outcome to close it with; None when it may."""
    if consent_refusal(session, followup, now) is not None:
        return (FollowUpOutcome.CONSENT_WITHDRAWN if followup.consent.withdrawn_at is not None
                else FollowUpOutcome.CONSENT_EXPIRED)
    if safe_contact.channel_refusal(prefs, followup.channel):
        return FollowUpOutcome.UNSAFE_CHANNEL
    return None


def _ringing(counselor_id: int) -> Any:
    """A bridged callback is ringing, or bridged to, this counselor right now."""
    other = aliased(FollowUp)
    return exists().where(other.bridged_to_id == counselor_id,
                          other.state.in_((FollowUpState.SENDING,
                                           FollowUpState.AWAITING_RESULT)))


def _commit_every(telephony: Telephony) -> int:
    # The outbox records a send as a row: several may share a commit. A real provider is a
    # network call per send: commit each at once, so that a lost process loses no provider id
    # and no database lock is held across the network.
    return SEND_CHUNK if telephony.name == "outbox" else 1


def _send_batch(factory: Callable[[], Session], ids: list[int], telephony: Telephony,
                settings: Settings, now: dt.datetime, report: DeliveryReport) -> None:
    """Call the provider for follow-ups this run claimed, committing each chunk of sends with
    its outbox rows, attempts and audit events."""
    if not ids:
        return
    with factory() as session:
        batch = {f.id: f for f in session.scalars(
            select(FollowUp).where(FollowUp.id.in_(ids))
            .options(selectinload(FollowUp.consent)))}
        # Checked again after the claim: a STOP or a withdrawal may have come in meanwhile.
        hashes = {f.id: crypto.caller_hash(f.phone) for f in batch.values()
                  if f.kind == FollowUpKind.SMS_CHECKIN}
        stopped_hashes = set(session.scalars(select(SmsOptOut.caller_hash).where(
            SmsOptOut.caller_hash.in_([h for h in hashes.values() if h]),
            SmsOptOut.opted_out.is_(True))))
        prefs = {row.caller_hash: safe_contact.view(row) for row in session.scalars(
            select(SafeContactPreferences).where(SafeContactPreferences.caller_hash.in_(
                {f.caller_hash for f in batch.values() if f.caller_hash})))}
        step = _commit_every(telephony)
        for start in range(0, len(ids), step):
            chunk = [batch[i] for i in ids[start:start + step]]
            try:
                entries = _send_chunk(session, chunk, hashes, stopped_hashes, prefs, telephony,
                                      settings, now, report)
            except Exception as exc:
                # Whether the provider was reached is unknown: the claim is left. Once it
                # expires, a later run asks the provider about the intent recorded before
                # the call (or leaves it for a supervisor) rather than perhaps texting twice.
                session.rollback()
                log.error("follow-ups %s: delivery failed (%s); the claim is left to expire",
                          [f.id for f in chunk], type(exc).__name__)
                entries = [audit.Entry("followup.deliver_error", "followup", f.id,
                                       detail={"error": type(exc).__name__}) for f in chunk]
                report.failed += len(chunk)
            audit.record_many(session, entries, actor=SCHEDULER_ACTOR)
            session.commit()


def _send_chunk(session: Session, chunk: list[FollowUp], hashes: dict[int, str | None],
                stopped_hashes: set[str], prefs: dict[str, safe_contact.SafeContact],
                telephony: Telephony, settings: Settings, now: dt.datetime,
                report: DeliveryReport) -> list[audit.Entry]:
    """Every provider call of the chunk first, then their records (one flush for all)."""
    held = claims.hold(session, [f.id for f in chunk], now)
    # A claim this run outlived was taken over by another run, which delivers it.
    report.lost_race += len(chunk) - len(held)
    to_send: list[tuple[FollowUp, safe_contact.SafeContact]] = []
    stopped: list[tuple[FollowUp, FollowUpOutcome]] = []
    for followup in chunk:
        if followup.id not in held:
            continue
        theirs = prefs.get(followup.caller_hash or "", safe_contact.DEFAULTS)
        outcome = _must_stop(session, followup, theirs, now)
        if outcome is not None:
            stopped.append((followup, outcome))
        elif hashes.get(followup.id) in stopped_hashes:
            stopped.append((followup, FollowUpOutcome.OPTED_OUT))
        else:
            to_send.append((followup, theirs))
    intents: dict[int, FollowUpAttempt] = {}
    if to_send and telephony.name != "outbox":
        # Committed before the provider is called: a run that takes this claim over after a
        # crash then knows to ask the provider before sending again. (The outbox needs none:
        # its send is the row committed below.)
        intents = {f.id: FollowUpAttempt(followup_id=f.id, at=now, via="delivery",
                                         result=claims.INTENT) for f, _ in to_send}
        session.add_all(intents.values())
        session.commit()
    sent = [(followup, *_call_provider(session, followup, telephony, settings, theirs))
            for followup, theirs in to_send]
    if intents and claims.hold(session, list(intents), now) != set(intents):
        # The provider outlasted the claim and another run took it over: that run asks the
        # provider and records what went out.
        session.rollback()
        log.error("follow-ups %s: claim lost while the provider was called", list(intents))
        return [audit.Entry("followup.claim_lost", "followup", i) for i in intents]
    entries = []
    for followup, outcome in stopped:
        followup.state = FollowUpState.STOPPED
        followup.outcome = outcome
        followup.closed_at = followup.updated_at = now
        if outcome == FollowUpOutcome.OPTED_OUT:
            session.add(FollowUpAttempt(followup_id=followup.id, at=now,
                                        result=AttemptResult.OPTED_OUT, via="delivery"))
        entries.append(audit.Entry("followup.stopped", "followup", followup.id,
                                   detail={"outcome": outcome.value}))
    report.stopped += len(stopped)
    for followup, result, msg in sent:
        entries.append(_record_sent(session, followup, result, msg, intents.get(followup.id),
                                    settings, now, report))
    return entries


def _record_sent(session: Session, followup: FollowUp, result: AttemptResult | None,
                 msg: OutboxMessage | None, attempt: FollowUpAttempt | None,
                 settings: Settings, now: dt.datetime, report: DeliveryReport) -> audit.Entry:
    """Record what the provider was asked for one follow-up: the attempt (its intent filled
    in, if one was recorded), the follow-up's next state, a counselor's notice, the
    disclosure. Returns the audit entry."""
    if attempt is None:
        attempt = FollowUpAttempt(followup_id=followup.id, at=now, via="delivery")
        session.add(attempt)
    attempt.result = result or "pending"
    attempt.outbox_id = msg.id if msg else None
    attempt.provider_sid = msg.provider_sid if msg else None
    if followup.kind == FollowUpKind.REMINDER:
        session.add(FollowUpNotice(followup_id=followup.id, kind="reminder",
                                   user_id=followup.assigned_to_id,
                                   role=None if followup.assigned_to_id
                                   else Role.COUNSELOR.value,
                                   created_at=now))
    if result is None:
        followup.state = FollowUpState.AWAITING_RESULT
        followup.updated_at = now
    else:
        apply_attempt_result(followup, result, settings, now)
    if result == AttemptResult.FAILED:
        report.failed += 1
    else:
        report.delivered.append(followup.id)
        if followup.kind != FollowUpKind.BRIDGED_CALLBACK:
            # The caller is texted, or a counselor is told to call them: a disclosure resting
            # on the follow-up's consent (the callback's is logged when the caller's leg is
            # dialled).
            session.add(disclosure_row(
                followup.consent, channel=followup_channel(followup),
                information=["followup_contact"], by_label=SCHEDULER_ACTOR,
                contact_id=followup.contact_id, followup_id=followup.id,
                outbox_id=msg.id if msg and followup.kind == FollowUpKind.SMS_CHECKIN
                else None, now=now))
    return audit.Entry("followup.deliver", "followup", followup.id,
                       detail={"kind": followup.kind, "attempt": followup.attempts,
                               "result": result or "pending", "state": followup.state})


@dataclass(frozen=True)
class _Send:
    """What the provider is asked to do for one follow-up."""

    kind: str  # "sms" or "call"
    to: str
    purpose: str
    body: str | None = None
    url: str | None = None
    status_callback: str | None = None


def _what_to_send(session: Session, followup: FollowUp, settings: Settings,
                  prefs: safe_contact.SafeContact) -> _Send | None:
    """The text to the caller, the call to the counselor, or the text reminding the counselor
    (None: a reminder for someone with no phone to text; the dashboard notice is enough)."""
    purpose = f"followup_{followup.kind}"
    if followup.kind == FollowUpKind.SMS_CHECKIN:
        return _Send("sms", followup.phone or "", purpose,
                     body=checkin_text(settings, safe_contact.name_to_use(prefs, settings)))
    if followup.kind == FollowUpKind.BRIDGED_CALLBACK:
        counselor = session.get(User, followup.bridged_to_id)
        assert counselor is not None
        # The caller's number is looked up by id in the webhook: never in a URL.
        return _Send("call", ring_destination(counselor, settings), purpose,
                     url=webhook_url(settings, f"followups/{followup.id}/answer"),
                     status_callback=webhook_url(settings, f"followups/{followup.id}/status"))
    counselor = session.get(User, followup.assigned_to_id) if followup.assigned_to_id else None
    if counselor is not None and counselor.phone and not is_opted_out(session, counselor.phone):
        return _Send("sms", counselor.phone, purpose, body=reminder_text(settings, followup.id))
    return None


def _result(kind: str, msg: OutboxMessage | None) -> AttemptResult | None:
    """The attempt's result when already known (sent, failed); None while a person or a call
    leg is to report."""
    if msg is None or kind == FollowUpKind.REMINDER:
        return None
    if kind == FollowUpKind.SMS_CHECKIN:
        # Refused by the limits on texts (or the number's country): nothing went out.
        return AttemptResult.FAILED if msg.status in ("failed", "refused") \
            else AttemptResult.SENT
    return AttemptResult.FAILED if msg.status == "failed" else None


def _call_provider(session: Session, followup: FollowUp, telephony: Telephony,
                   settings: Settings, prefs: safe_contact.SafeContact
                   ) -> tuple[AttemptResult | None, OutboxMessage | None]:
    """Text the caller, ring the counselor, or remind the counselor. Returns the attempt's
    result when already known and what the provider was asked to send."""
    send = _what_to_send(session, followup, settings, prefs)
    if send is None:
        return None, None
    if send.kind == "sms":
        msg = telephony.send_sms(session, send.to, send.body or "", purpose=send.purpose)
    else:
        msg = telephony.place_call(session, send.to, send.url or "", purpose=send.purpose,
                                   status_callback=send.status_callback,
                                   caller_id=settings.helpline_number)
    if msg.status == UNKNOWN:
        # Not failed: the provider may have it. Retrying would perhaps text twice; the claim
        # is left instead, and the run that takes it up asks the provider (find_sent).
        raise OutcomeUnknown(f"follow-up {followup.id}: {msg.error or 'no answer'}")
    return _result(followup.kind, msg), msg


# --- claims a dead run left -----------------------------------------------------------------


def _take_up_expired_claims(factory: Callable[[], Session], telephony: Telephony,
                            settings: Settings, now: dt.datetime, report: DeliveryReport
                            ) -> None:
    """Re-take the expired claims of runs that died and settle each: a follow-up whose
    provider was never called goes back to the due ones (claimed again by this run); one
    whose provider may have been called is asked about, or left for a supervisor when the
    provider cannot be asked."""
    # The outbox records no intents (its send is its row): an intent another provider left
    # cannot be checked from here.
    can_ask = telephony.name != "outbox"
    with factory() as session:
        flagged = [] if can_ask else claims.flag_unresolved(session, settings, now)
        retaken = claims.retake_expired(session, settings, now)
        intents = claims.intents_for(session, retaken)
        claims.release(session, [i for i in retaken if i not in intents], now)
        audit.record_many(session, [
            *(audit.Entry("followup.claim_unresolved", "followup", i,
                          detail={"reason": "provider cannot be asked"}) for i in flagged),
            *(audit.Entry("followup.claim_retaken", "followup", i,
                          detail={"provider_called": i in intents}) for i in retaken),
        ], actor=SCHEDULER_ACTOR)
        session.commit()
    report.retaken += len(retaken)
    report.unresolved += len(flagged)
    if retaken or flagged:
        log.warning("follow-ups: %d expired claims taken up again, %d left for a supervisor",
                    len(retaken), len(flagged))
    for followup_id in intents:
        _settle_intent(factory, followup_id, telephony, settings, now, report)


def _settle_intent(factory: Callable[[], Session], followup_id: int, telephony: Telephony,
                   settings: Settings, now: dt.datetime, report: DeliveryReport) -> None:
    """Ask the provider whether a dead run's text or call went out: record it if it did, give
    the follow-up back to the due ones if it did not."""
    with factory() as session:
        followup = session.get_one(FollowUp, followup_id)
        intent = claims.intents_for(session, [followup_id])[followup_id]
        intent_id = intent.id
        send = _what_to_send(session, followup, settings,
                             safe_contact.preferences_for(session, followup.caller_hash))
        try:
            msg = None if send is None else telephony.find_sent(
                session, send.kind, send.to, since=intent.at - PROVIDER_CLOCK_SKEW,
                purpose=send.purpose, body=send.body, url=send.url)
        except Exception as exc:
            session.rollback()
            session.execute(update(FollowUpAttempt)
                            .where(FollowUpAttempt.id == intent_id,
                                   FollowUpAttempt.result == claims.INTENT)
                            .values(result=claims.UNRESOLVED))
            audit.record(session, "followup.claim_unresolved", actor=SCHEDULER_ACTOR,
                         record_type="followup", record_id=followup_id,
                         detail={"reason": type(exc).__name__})
            session.commit()
            report.unresolved += 1
            log.error("follow-up %d: could not ask the provider (%s); left for a supervisor",
                      followup_id, type(exc).__name__)
            return
        if not claims.hold(session, [followup_id], now):
            session.rollback()
            return
        entries = [audit.Entry("followup.claim_settled", "followup", followup_id,
                               detail={"provider_had_it": msg is not None})]
        if msg is None:
            session.delete(intent)
            claims.release(session, [followup_id], now)
        else:
            entries.append(_record_sent(session, followup, _result(followup.kind, msg), msg,
                                        intent, settings, now, report))
        audit.record_many(session, entries, actor=SCHEDULER_ACTOR)
        session.commit()


# --- escalation -----------------------------------------------------------------------------


def escalate_overdue(session: Session, telephony: Telephony, settings: Settings,
                     now: dt.datetime | None = None) -> int:
    """Tell supervisors, once per follow-up, about late or stuck follow-ups.

    A dashboard notice and an audit event each; one neutral SMS to each supervisor with a
    phone when anything new is overdue. Returns how many were newly escalated.
    """
    now = now or utcnow()
    ids = list(session.scalars(select(FollowUp.id).where(overdue_clause(now),
                                                         FollowUp.escalated_at.is_(None))))
    escalated = 0
    for followup_id in ids:
        changed = affected_rows(session.execute(
            update(FollowUp).where(FollowUp.id == followup_id, FollowUp.escalated_at.is_(None))
            .values(escalated_at=now)
        ))
        if changed != 1:
            continue
        escalated += 1
        session.add(FollowUpNotice(followup_id=followup_id, kind="overdue",
                                   role=Role.SUPERVISOR.value, created_at=now))
        audit.record(session, "followup.escalate", actor=SCHEDULER_ACTOR,
                     record_type="followup", record_id=followup_id)
    if escalated:
        supervisors = session.scalars(select(User).where(
            User.role == Role.SUPERVISOR, User.active.is_(True), User.phone.is_not(None)))
        body = (f"{settings.helpline_name}: {escalated} follow-up(s) are overdue. "
                "Details are on the dashboard.")
        for supervisor in supervisors:
            if supervisor.phone and not is_opted_out(session, supervisor.phone):
                telephony.send_sms(session, supervisor.phone, body,
                                   purpose="followup_escalation")
    session.flush()
    return escalated
