"""Which texts may go: the one check every SMS passes before it is sent (SMS pumping).

A text costs money, and a caller decides where the phone menu's texts go: an attacker's calls
could make the helpline text premium or satellite numbers by the thousand, paying the attacker
a share. So a text goes only

* to a number of a region in ``SMS_ALLOWED_COUNTRIES`` (by default the US, Canada and the US
  territories: not the +1 Caribbean nations, which are billed as international),
* while its call has used fewer than ``SMS_MAX_PER_CALL`` texts,
* while its number has had fewer than ``SMS_MAX_PER_NUMBER_PER_DAY`` texts today (UTC).

The telephony port (:mod:`helpline.telephony`) asks :func:`admit_sms` for every text; the
IVR's replies to incoming texts, which Twilio sends from TwiML, ask it too. A refusal is an
outbox row with status ``refused`` (the count the reports and the wallboard can show; the
number kept masked) and a log line naming the number only by a prefix of its keyed hash.

Each limit is a row of :class:`~helpline.models.SmsQuota` taken by one conditional upsert
(``INSERT ... ON CONFLICT DO UPDATE SET used = used + 1 WHERE used < cap``): PostgreSQL
re-checks the condition on the row it locked, and SQLite takes one writer at a time, so two
texts sent at once for the same call cannot both take its last slot.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from helpline import crypto, phones
from helpline.config import Settings
from helpline.db import affected_rows, utcnow
from helpline.models import OutboxMessage, SmsQuota

log = logging.getLogger(__name__)

REFUSED = "refused"


def admit_sms(session: Session, settings: Settings, to: str, *, purpose: str, provider: str,
              call_sid: str | None = None, now: dt.datetime | None = None
              ) -> OutboxMessage | None:
    """None when a text to ``to`` may go (its slots are taken); otherwise the refusal,
    recorded as an outbox row whose ``error`` says why in words a person can be told.

    ``call_sid`` is the call the text belongs to (the per-call limit); None for texts that
    belong to no call (a scheduled check-in, a notice to staff).
    """
    now = now or utcnow()
    try:
        number = phones.to_e164(to, field="the number")
    except phones.PhoneNumberError:
        return _refuse(session, settings, to, "not_a_number",
                       "the number to text is not a phone number", purpose, provider)
    region = phones.region_of(number)
    if region not in settings.sms_allowed_countries:
        return _refuse(session, settings, number, f"country_{region}",
                       "texts to numbers of that country are not allowed", purpose, provider)
    day = now.astimezone(dt.UTC).date()
    call_key = f"call:{call_sid}" if call_sid else None
    if call_key and not _take(session, call_key, day, settings.sms_max_per_call):
        return _refuse(session, settings, number, "per_call",
                       f"this call has had its {settings.sms_max_per_call} texts",
                       purpose, provider)
    number_key = f"number:{crypto.caller_hash(number)}:{day.isoformat()}"
    if not _take(session, number_key, day, settings.sms_max_per_number_per_day):
        if call_key:
            _give_back(session, call_key)
        return _refuse(session, settings, number, "per_number",
                       f"this number has had its {settings.sms_max_per_number_per_day} texts "
                       "for today", purpose, provider)
    return None


def refused_count(session: Session, since: dt.datetime) -> int:
    """Texts refused since ``since`` (for reports and the wallboard)."""
    return session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.kind == "sms", OutboxMessage.status == REFUSED,
        OutboxMessage.created_at >= since)) or 0


def purge_quotas(session: Session, before: dt.date) -> int:
    """Forget the limits of days before ``before``; how many rows went."""
    return affected_rows(session.execute(delete(SmsQuota).where(SmsQuota.day < before)))


def _take(session: Session, key: str, day: dt.date, cap: int) -> bool:
    """Take one slot of the limit ``key`` (at most ``cap``): True when there was one left."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(SmsQuota).values(key=key, used=1, day=day).on_conflict_do_update(
        index_elements=[SmsQuota.key], set_={"used": SmsQuota.used + 1},
        where=SmsQuota.used < cap).returning(SmsQuota.used)
    # RETURNING, not rowcount: psycopg reports -1 for this statement through SQLAlchemy. A row
    # comes back only when one was inserted or the condition let the update through.
    return session.connection().execute(statement).first() is not None


def _give_back(session: Session, key: str) -> None:
    # The call's slot was taken before the number's limit refused the text: nothing was sent.
    session.connection().execute(
        update(SmsQuota).where(SmsQuota.key == key, SmsQuota.used > 0)
        .values(used=SmsQuota.used - 1))


def _refuse(session: Session, settings: Settings, to: str, code: str, reason: str,
            purpose: str, provider: str) -> OutboxMessage:
    to_hash = crypto.caller_hash(to)
    log.warning("text refused (%s, purpose %s) to number hash %s", code, purpose,
                (to_hash or "none")[:12])
    message = OutboxMessage(kind="sms", to_hash=to_hash, to_number=phones.masked(to),
                            from_number=settings.helpline_number, body=None,
                            status=REFUSED, provider=provider, purpose=purpose,
                            error=reason[:255])
    session.add(message)
    session.flush()
    return message
