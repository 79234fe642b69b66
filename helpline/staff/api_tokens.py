"""Tokens of staff-approved integrations: made by an admin (the dashboard or `helpline api-token
create`), shown once, kept only as a hash, revocable. A token reads the API's report figures
(aggregates, never a record) and, with API_ACCESS=token, the directory.

A token is 32 random bytes (256 bits): a fast hash (SHA-256) is enough to keep it, and lets a
request find its row by an indexed lookup; a slow password hash would protect nothing more.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline import audit
from helpline.db import utcnow
from helpline.models import ApiToken, User

PREFIX = "hlapi_"
# Writing last_used_at on every request would make each read a write: once a minute is enough
# for an admin to see that a token is in use.
LAST_USED_EVERY = dt.timedelta(minutes=1)


class ApiTokenError(ValueError):
    """A token cannot be made or revoked; the message says why."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, name: str, *, by: User | str) -> tuple[ApiToken, str]:
    """A new token named ``name`` (unique, 1-80 characters): its row and the token itself,
    which is shown once and never stored."""
    name = name.strip()
    if not name or len(name) > 80 or any(ord(ch) < 32 for ch in name):
        raise ApiTokenError("a token's name is 1 to 80 characters on one line")
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise ApiTokenError(f"there is already a token named {name!r}")
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, token_hash=_hash(token), prefix=token[:12],
                   created_by_id=by.id if isinstance(by, User) else None)
    session.add(row)
    session.flush()
    audit.record(session, "api_token.create", actor=by, record_type="api_token",
                 record_id=row.id, detail={"name": name})
    return row, token


def revoke_token(session: Session, token_id: int, *, by: User | str,
                 now: dt.datetime | None = None) -> ApiToken:
    """Revoke the token ``token_id`` at once; revoking a revoked token changes nothing."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise ApiTokenError(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now or utcnow()
        audit.record(session, "api_token.revoke", actor=by, record_type="api_token",
                     record_id=row.id, detail={"name": row.name})
    return row


def find_token_id(session: Session, name_or_id: str) -> int | None:
    """The id of the token named ``name_or_id``, or of that id."""
    found = session.scalar(select(ApiToken.id).where(ApiToken.name == name_or_id))
    if found is None and name_or_id.isdigit():
        found = session.scalar(select(ApiToken.id).where(ApiToken.id == int(name_or_id)))
    return found


def list_tokens(session: Session) -> list[ApiToken]:
    """Every token, live ones first, newest first."""
    return list(session.scalars(select(ApiToken).order_by(
        ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(), ApiToken.id.desc())))


def authenticate(session: Session, token: str, *, now: dt.datetime | None = None
                 ) -> ApiToken | None:
    """The live token row ``token`` is, or None (unknown, malformed or revoked)."""
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    digest = _hash(token)
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    # The lookup was by the hash; compare again in constant time all the same.
    if row is None or not hmac.compare_digest(row.token_hash, digest) or not row.active:
        return None
    now = now or utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
        row.last_used_at = now
    return row
