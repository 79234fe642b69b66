"""SMS opt-outs: STOP and START, mirrored from the carrier by the keyed hash of the number.

Everyone who sends a text checks :func:`is_opted_out` first; the IVR's /ivr/sms records the
keywords through :func:`record_keyword`.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from helpline import crypto
from helpline.db import utcnow
from helpline.models import SmsOptOut

# Carrier keywords (CTIA) and the plain words people use; Spanish too.
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT",
              "OPT OUT", "PARAR", "ALTO", "BAJA", "CANCELAR"}
START_WORDS = {"START", "UNSTOP", "YES", "SUBSCRIBE", "COMENZAR", "INICIO"}
HELP_WORDS = {"HELP", "INFO", "AYUDA"}


def keyword_of(body: str | None) -> str | None:
    """The opt-out, opt-in or help keyword a text consists of, or None."""
    text = " ".join((body or "").strip().upper().replace(".", " ").replace("!", " ").split())
    if text in STOP_WORDS:
        return "STOP"
    if text in START_WORDS:
        return "START"
    if text in HELP_WORDS:
        return "HELP"
    return None


def is_opted_out(session: Session, number: str | None) -> bool:
    """True when this number said STOP (and has not said START since). Unknown numbers: no."""
    key = crypto.caller_hash(number)
    if key is None:
        return False
    row = session.get(SmsOptOut, key)
    return bool(row and row.opted_out)


def record_keyword(session: Session, number: str | None, keyword: str,
                   now: dt.datetime | None = None) -> SmsOptOut | None:
    """Record STOP (opted out) or START (opted in again) for a number; other words are ignored."""
    key = crypto.caller_hash(number)
    kind = keyword_of(keyword) or keyword.upper()
    if key is None or kind not in {"STOP", "START"}:
        return None
    row = session.get(SmsOptOut, key)
    if row is None:
        row = SmsOptOut(caller_hash=key)
        session.add(row)
    row.opted_out = kind == "STOP"
    row.keyword = keyword.strip().upper()[:20]
    row.changed_at = now or utcnow()
    session.flush()
    return row
