"""Staff sign-in: password check with lockout, TOTP second factor, recovery codes, sessions.

Every function takes a Session and plain arguments (and ``now`` for a test's clock); the
dashboard views and the CLI call the same ones. Failures and sign-ins are audited; nothing
secret (a password, a code) is ever written to the audit log or a message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import pyotp
import segno
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from helpline import audit
from helpline.config import Settings
from helpline.db import utcnow
from helpline.models import Role, SignInFailure, StaffSession, User
from helpline.staff import accounts

RECOVERY_CODES = 10
# An office shares one address: lock the address only after several accounts' worth of failures.
ADDRESS_THRESHOLD_FACTOR = 4
# Writing last activity on every request would serialise a busy dashboard on one row.
TOUCH_EVERY = dt.timedelta(seconds=20)
_GENERIC = "The username or password is not right, or the account is locked."


class SignInRefused(Exception):
    """Sign-in refused; the message is safe to show (it never says which part was wrong)."""

    def __init__(self, message: str = _GENERIC, *, locked: bool = False) -> None:
        super().__init__(message)
        self.locked = locked


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str
    qr_svg: str


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or utcnow()


def needs_second_factor(user: User, settings: Settings) -> bool:
    """Supervisors and admins always; everyone when the setting says so."""
    return settings.require_second_factor_for_all or user.role in {Role.SUPERVISOR, Role.ADMIN}


def address_failures(session: Session, address: str, settings: Settings,
                     now: dt.datetime | None = None) -> int:
    since = _now(now) - dt.timedelta(minutes=settings.lockout_minutes)
    return session.scalar(
        select(func.count(SignInFailure.id)).where(
            SignInFailure.address == address, SignInFailure.at >= since,
            SignInFailure.cleared.is_(False),
        )
    ) or 0


def address_locked(session: Session, address: str, settings: Settings,
                   now: dt.datetime | None = None) -> bool:
    limit = settings.lockout_threshold * ADDRESS_THRESHOLD_FACTOR
    return address_failures(session, address, settings, now) >= limit


def account_locked(user: User, now: dt.datetime | None = None) -> bool:
    return user.locked_until is not None and user.locked_until > _now(now)


def record_failure(session: Session, user: User | None, username: str, address: str,
                   settings: Settings, reason: str, now: dt.datetime | None = None) -> None:
    """Count a failed attempt against the account and the address; lock either at its limit."""
    now = _now(now)
    session.add(SignInFailure(address=address, username=username[:64], at=now))
    detail: dict[str, object] = {"reason": reason, "username": username[:64]}
    if user is not None:
        user.failed_logins += 1
        if user.failed_logins >= settings.lockout_threshold and not account_locked(user, now):
            user.locked_until = now + dt.timedelta(minutes=settings.lockout_minutes)
            audit.record(session, "signin.locked", actor=user, record_type="user",
                         record_id=user.id, address=address)
    session.flush()
    audit.record(session, "signin.failure", actor=user or "anonymous", address=address,
                 record_type="user" if user else None, record_id=user.id if user else None,
                 detail=detail)


def check_password(session: Session, username: str, password: str, address: str,
                   settings: Settings, now: dt.datetime | None = None) -> User:
    """The user whose password this is, or :class:`SignInRefused` (failure recorded)."""
    now = _now(now)
    username = username.strip().lower()
    user = session.scalar(select(User).where(User.username == username))
    if address_locked(session, address, settings, now):
        record_failure(session, user, username, address, settings, "address-locked", now)
        raise SignInRefused(locked=True)
    if user is None or not user.active:
        # Hash anyway so that timing does not tell which usernames exist.
        accounts.password_matches(_DUMMY, password)
        record_failure(session, user, username, address, settings, "unknown-or-inactive", now)
        raise SignInRefused()
    if account_locked(user, now):
        record_failure(session, user, username, address, settings, "account-locked", now)
        raise SignInRefused(locked=True)
    if not accounts.password_matches(user, password):
        record_failure(session, user, username, address, settings, "password", now)
        raise SignInRefused()
    user.failed_logins = 0
    user.locked_until = None
    return user


_DUMMY = User(username="-", role="counselor", password_hash=accounts.hash_password(
    secrets.token_urlsafe(16)))


def lift_lockout(session: Session, user: User, by: User, address: str | None = None) -> None:
    """A supervisor or admin unlocks an account, and the address it was locked from if given."""
    user.failed_logins = 0
    user.locked_until = None
    if address:
        session.execute(update(SignInFailure).where(SignInFailure.address == address)
                        .values(cleared=True))
    audit.record(session, "signin.unlock", actor=by, record_type="user", record_id=user.id)


# --- second factor ---------------------------------------------------------------------

def begin_enrolment(session: Session, user: User, issuer: str) -> Enrolment:
    """A new TOTP secret for ``user`` (stored sealed, not yet enabled) and its QR code."""
    secret = pyotp.random_base32()
    user.totp_secret = secret
    user.totp_enabled = False
    session.flush()
    return enrolment_for(user, issuer)


def enrolment_for(user: User, issuer: str) -> Enrolment:
    secret = user.totp_secret or ""
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=issuer)
    return Enrolment(secret=secret, uri=uri, qr_svg=segno.make(uri, error="m").svg_inline(
        scale=4, dark="#1b1b1b", light="#ffffff"))


def _totp_ok(user: User, code: str, now: dt.datetime) -> bool:
    if not user.totp_secret:
        return False
    digits = "".join(ch for ch in code if ch.isdigit())
    return len(digits) == 6 and pyotp.TOTP(user.totp_secret).verify(
        digits, for_time=now, valid_window=1)


def _code_hash(code: str) -> str:
    # Codes are 50 random bits: a plain SHA-256 is enough, and fast to check ten of them.
    return hashlib.sha256(code.replace("-", "").strip().lower().encode()).hexdigest()


def new_recovery_codes(session: Session, user: User) -> list[str]:
    """Ten fresh one-time codes; only their hashes are kept. Shown to the user once."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    user.recovery_code_hashes = [_code_hash(c) for c in codes]
    session.flush()
    return codes


def confirm_enrolment(session: Session, user: User, code: str, address: str,
                      now: dt.datetime | None = None) -> list[str] | None:
    """Enable TOTP if ``code`` matches the new secret; return the recovery codes, else None."""
    if not _totp_ok(user, code, _now(now)):
        return None
    user.totp_enabled = True
    codes = new_recovery_codes(session, user)
    audit.record(session, "signin.second_factor_enrolled", actor=user, record_type="user",
                 record_id=user.id, address=address)
    return codes


def verify_second_factor(session: Session, user: User, code: str, address: str,
                         settings: Settings, now: dt.datetime | None = None) -> bool:
    """Check a TOTP code or a recovery code (which is then used up); failures count."""
    now = _now(now)
    if account_locked(user, now):
        record_failure(session, user, user.username, address, settings, "account-locked", now)
        return False
    if user.totp_enabled and _totp_ok(user, code, now):
        user.failed_logins = 0
        return True
    hashed = _code_hash(code)
    remaining = [h for h in user.recovery_code_hashes if not hmac.compare_digest(h, hashed)]
    if user.totp_enabled and len(remaining) < len(user.recovery_code_hashes):
        user.recovery_code_hashes = remaining
        user.failed_logins = 0
        audit.record(session, "signin.recovery_code_used", actor=user, record_type="user",
                     record_id=user.id, address=address, detail={"left": len(remaining)})
        return True
    record_failure(session, user, user.username, address, settings, "second-factor", now)
    return False


def reset_second_factor(session: Session, user: User, by: User) -> None:
    """Admin: the user enrols again at the next sign-in."""
    user.totp_secret = None
    user.totp_enabled = False
    user.recovery_code_hashes = []
    end_all_sessions(session, user, "reset")
    audit.record(session, "user.second_factor_reset", actor=by, record_type="user",
                 record_id=user.id)


# --- passwords -------------------------------------------------------------------------

def change_password(session: Session, user: User, current: str, new: str) -> None:
    """The user changes their own password; raises AccountError with the reason."""
    if not accounts.password_matches(user, current):
        raise accounts.AccountError("the current password is not right")
    accounts.set_password(session, user, new, by=user)


def reset_password(session: Session, user: User, by: User) -> str:
    """Admin: a temporary password (shown once) and every open session of the user ended."""
    temporary = "-".join(secrets.token_urlsafe(6) for _ in range(3))
    accounts.set_password(session, user, temporary, by=by)
    user.failed_logins = 0
    user.locked_until = None
    end_all_sessions(session, user, "reset")
    return temporary


# --- sessions --------------------------------------------------------------------------

def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, user: User, address: str, stage: str,
                  now: dt.datetime | None = None) -> str:
    """Open a server-side session; return the token for the cookie."""
    now = _now(now)
    token = secrets.token_urlsafe(32)
    session.add(StaffSession(token_hash=_token_hash(token), user_id=user.id, stage=stage,
                             address=address, created_at=now, last_seen_at=now))
    session.flush()
    if stage == "full":
        audit.record(session, "signin", actor=user, record_type="user", record_id=user.id,
                     address=address)
    return token


def complete_session(session: Session, staff: StaffSession, user: User, address: str) -> None:
    staff.stage = "full"
    audit.record(session, "signin", actor=user, record_type="user", record_id=user.id,
                 address=address, detail={"second_factor": True})


def active_session(session: Session, token: str | None, settings: Settings,
                   now: dt.datetime | None = None) -> StaffSession | None:
    """The open session for ``token``; an idle one is ended here (and audited)."""
    if not token:
        return None
    now = _now(now)
    staff = session.scalar(select(StaffSession).where(
        StaffSession.token_hash == _token_hash(token), StaffSession.ended_at.is_(None)))
    if staff is None:
        return None
    if now - staff.last_seen_at > dt.timedelta(minutes=settings.session_idle_minutes):
        end_session(session, staff, "idle", now)
        return None
    return staff


def idle_seconds_left(staff: StaffSession, settings: Settings,
                      now: dt.datetime | None = None) -> int:
    left = staff.last_seen_at + dt.timedelta(minutes=settings.session_idle_minutes) - _now(now)
    return max(0, int(left.total_seconds()))


def touch(staff: StaffSession, now: dt.datetime | None = None) -> bool:
    """Note activity; return True if the row changed (only every TOUCH_EVERY)."""
    now = _now(now)
    if now - staff.last_seen_at >= TOUCH_EVERY:
        staff.last_seen_at = now
        return True
    return False


def end_session(session: Session, staff: StaffSession, reason: str,
                now: dt.datetime | None = None) -> None:
    staff.ended_at = _now(now)
    staff.end_reason = reason
    user = session.get(User, staff.user_id)
    audit.record(session, "signout" if reason == "user" else f"signout.{reason}", actor=user,
                 record_type="user", record_id=staff.user_id, address=staff.address)


def end_all_sessions(session: Session, user: User, reason: str) -> None:
    for staff in session.scalars(select(StaffSession).where(
            StaffSession.user_id == user.id, StaffSession.ended_at.is_(None))):
        staff.ended_at = utcnow()
        staff.end_reason = reason
