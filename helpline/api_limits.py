"""The API's rate limit: requests per client address and minute (API_REQUESTS_PER_MINUTE).

A minute's count is one row of :class:`~helpline.models.ApiRequestCount`, taken by one
conditional upsert (``INSERT ... ON CONFLICT DO UPDATE SET used = used + 1 WHERE used <
cap``), as the text limits are (:mod:`helpline.sms_limits`): PostgreSQL re-checks the
condition on the row it locked and SQLite takes one writer at a time, so parallel requests
cannot all take the last slot. The address is the one ProxyFix gives (TRUSTED_PROXY_COUNT).
"""

from __future__ import annotations

import datetime as dt
import math

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from helpline.config import Settings
from helpline.db import utcnow
from helpline.models import ApiRequestCount

# Counts of minutes older than this are deleted by the first request of each new minute.
KEEP = dt.timedelta(minutes=10)


def take_request(session: Session, settings: Settings, address: str,
                 now: dt.datetime | None = None) -> int | None:
    """None when ``address`` may make one more request this minute (it is counted);
    otherwise the seconds until the next minute begins (for Retry-After)."""
    cap = settings.api_requests_per_minute
    if cap <= 0:
        return None
    now = now or utcnow()
    minute = now.astimezone(dt.UTC).replace(second=0, microsecond=0)
    key = f"{address[:64]}|{minute.strftime('%Y-%m-%dT%H:%M')}"
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(ApiRequestCount).values(key=key, used=1, minute=minute) \
        .on_conflict_do_update(index_elements=[ApiRequestCount.key],
                               set_={"used": ApiRequestCount.used + 1},
                               where=ApiRequestCount.used < cap) \
        .returning(ApiRequestCount.used)
    # RETURNING, not rowcount (psycopg reports -1 for it): a row comes back only when one was
    # inserted or the condition let the update through.
    taken = session.connection().execute(statement).first()
    if taken is None:
        return max(1, math.ceil(60 - (now - minute).total_seconds()))
    if taken[0] == 1:
        session.connection().execute(
            delete(ApiRequestCount).where(ApiRequestCount.minute < minute - KEEP))
    return None
