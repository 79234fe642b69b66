"""Who holds a follow-up being delivered: a run's claim, its expiry, and the attempt recorded
before the provider is called.

A delivery run claims a follow-up (state ``sending``, ``claimed_at`` = the run's time) and
commits before calling the provider. The claim lasts ``followup_claim_seconds``; after that
the run is taken for dead, and the next run re-takes the claim (one conditional UPDATE, so
that two racing runs never both take one). ``claimed_at`` is also the run's token: before it
sends, and again before it records what it sent, a run holds the row with a conditional UPDATE
on its own ``claimed_at``, so a run that outlived its claim sends nothing more.

Whether a dead run reached the provider is knowable. With the outbox, the send is the outbox
row committed with the follow-up's new state: a follow-up still ``sending`` was not sent.
With a real provider, an attempt with result :data:`INTENT` is committed before the provider
is called; the run that re-takes the claim asks the provider about it. An intent nobody can
ask about becomes :data:`UNRESOLVED` and is left for a supervisor (shown as stuck).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import ColumnElement, case, exists, select, update
from sqlalchemy.orm import Session

from helpline.config import Settings
from helpline.models.followups import FollowUp, FollowUpAttempt, FollowUpState

#: The attempt's result while the provider is being called (committed before the call).
INTENT = "sending"
#: A dead run's intent the provider could not be asked about: it may or may not have gone.
UNRESOLVED = "unknown"


def _expired(settings: Settings, now: dt.datetime) -> list[ColumnElement[bool]]:
    cutoff = now - dt.timedelta(seconds=settings.followup_claim_seconds)
    return [FollowUp.state == FollowUpState.SENDING, FollowUp.claimed_at < cutoff]


def flag_unresolved(session: Session, settings: Settings, now: dt.datetime) -> list[int]:
    """Mark the intents of expired claims as unresolved (for a run that cannot ask the
    provider); returns the follow-ups newly flagged, each once however many runs race."""
    expired = select(FollowUp.id).where(*_expired(settings, now))
    return list(session.scalars(
        update(FollowUpAttempt)
        .where(FollowUpAttempt.result == INTENT, FollowUpAttempt.followup_id.in_(expired))
        .values(result=UNRESOLVED)
        .returning(FollowUpAttempt.followup_id).execution_options(synchronize_session=False)))


def retake_expired(session: Session, settings: Settings, now: dt.datetime) -> list[int]:
    """Re-take every expired claim not left for a supervisor, as this run's (``claimed_at``
    = ``now``). One conditional UPDATE: a claim another run re-took first no longer matches
    (on PostgreSQL the second UPDATE waits for the first and re-checks the row)."""
    unresolved = exists().where(FollowUpAttempt.followup_id == FollowUp.id,
                                FollowUpAttempt.result == UNRESOLVED)
    return list(session.scalars(
        update(FollowUp).where(*_expired(settings, now), ~unresolved)
        .values(claimed_at=now, updated_at=now)
        .returning(FollowUp.id).execution_options(synchronize_session=False)))


def intents_for(session: Session, ids: Collection[int]) -> dict[int, FollowUpAttempt]:
    """The intent recorded for each of these follow-ups, if any."""
    if not ids:
        return {}
    return {a.followup_id: a for a in session.scalars(
        select(FollowUpAttempt).where(FollowUpAttempt.followup_id.in_(ids),
                                      FollowUpAttempt.result == INTENT))}


def hold(session: Session, ids: Collection[int], now: dt.datetime) -> set[int]:
    """Which of these follow-ups this run (claimed at ``now``) still holds. The UPDATE locks
    them until the caller's transaction ends, so no other run re-takes them meanwhile."""
    if not ids:
        return set()
    return set(session.scalars(
        update(FollowUp)
        .where(FollowUp.id.in_(ids), FollowUp.state == FollowUpState.SENDING,
               FollowUp.claimed_at == now)
        .values(updated_at=now)
        .returning(FollowUp.id).execution_options(synchronize_session=False)))


def release(session: Session, ids: Collection[int], now: dt.datetime) -> list[int]:
    """Give claims this run holds, whose provider was never reached, back to the due
    follow-ups: the usual claim then checks consent, opt-outs, safe hours and counselors
    again. The claim's attempt did not happen, so it is not counted."""
    if not ids:
        return []
    return list(session.scalars(
        update(FollowUp)
        .where(FollowUp.id.in_(ids), FollowUp.state == FollowUpState.SENDING,
               FollowUp.claimed_at == now)
        .values(state=case((FollowUp.attempts > 1, FollowUpState.RETRY.value),
                           else_=FollowUpState.SCHEDULED.value),
                attempts=FollowUp.attempts - 1, claimed_at=None, bridged_to_id=None,
                updated_at=now)
        .returning(FollowUp.id).execution_options(synchronize_session=False)))
