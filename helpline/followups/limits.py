"""How many attempts a follow-up may make: FOLLOWUP_MAX_ATTEMPTS (at most 5, as 988 follow-up
guidance suggests 3 to 5), unless a supervisor raises it for one follow-up, with a reason;
recorded on the follow-up and in the audit log."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from helpline import audit
from helpline.db import utcnow
from helpline.followups.scheduling import FollowUpError
from helpline.models import User
from helpline.models.followups import CLOSED_STATES, FollowUp
from helpline.staff.roles import Action, can

#: Without a supervisor, no follow-up makes more attempts than this.
DEFAULT_CAP = 5
#: Even a supervisor stops here: past it, the caller is better served by another way.
HARD_CAP = 10
#: Why a supervisor raised it: fixed words, so that no caller detail reaches the audit log.
RAISE_REASONS = {
    "caller_asked": "The caller asked us to keep trying",
    "high_risk": "High risk: keep trying to reach them",
    "bad_times": "Earlier attempts fell at times the caller could not answer",
    "new_number": "The caller gave a better time or line to reach them",
}


def raise_max_attempts(session: Session, followup: FollowUp, new_max: int, *, by: User,
                       reason: str, now: dt.datetime | None = None) -> FollowUp:
    """Let an open follow-up make more attempts than the default (supervisors only)."""
    if not can(by, Action.MANAGE_FOLLOWUPS):
        raise PermissionError("only supervisors raise the number of attempts")
    if followup.state in CLOSED_STATES:
        raise FollowUpError(f"follow-up {followup.id} is already {followup.state}")
    if reason not in RAISE_REASONS:
        raise FollowUpError("choose why more attempts are needed")
    if not followup.max_attempts < new_max <= HARD_CAP:
        raise FollowUpError(f"the new limit must be above {followup.max_attempts} and at most "
                            f"{HARD_CAP}")
    before = followup.max_attempts
    followup.max_attempts = new_max
    followup.updated_at = now or utcnow()
    session.flush()
    audit.record(session, "followup.max_attempts_raised", actor=by, record_type="followup",
                 record_id=followup.id, detail={"limit_before": before, "limit_after": new_max,
                                                "reason": reason})
    return followup
