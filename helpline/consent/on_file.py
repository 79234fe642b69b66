"""What a caller's consents already allow, as a record shows it.

A repeat caller's new record must not claim that words were read on this call when they were
not: where a live consent already covers a use, the record says whose it is and since when,
and nobody asks again; where none does, it says why (withdrawn, expired, covers calls but not
texts...) so the counselor knows what to ask. The decision itself is the door's
(:func:`helpline.consent.door.require_consent`); this module only reads it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from helpline.consent.door import ConsentError, Recipient, consents_for, require_consent
from helpline.models import Consent


@dataclass(frozen=True)
class OnFile:
    """The live consent a use may rest on, or why there is none."""

    consent: Consent | None
    #: Why nothing on file covers the use (None when ``consent`` does), safe to show staff.
    reason: str | None
    #: The caller gave a consent of this scope before (live or not): asking again, not first.
    asked_before: bool

    def given_on(self, contact_id: int | None) -> bool:
        """The covering consent was recorded on this very record (read on this call)."""
        return self.consent is not None and contact_id is not None and (
            self.consent.contact_id == contact_id)


def on_file(session: Session, caller: str | None, scope: str, recipient: Recipient,
            purpose: str, now: dt.datetime | None = None) -> OnFile:
    """Whether the caller's consents on file cover ``scope`` to ``recipient`` for ``purpose``
    now, with the covering consent or the door's reason for refusing."""
    try:
        consent = require_consent(session, caller, scope, recipient, purpose, now)
    except ConsentError as exc:
        asked = any(c.scope == scope for c in consents_for(session, caller))
        return OnFile(None, str(exc), asked)
    return OnFile(consent, None, True)
