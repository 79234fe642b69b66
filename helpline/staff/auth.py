"""Staff sign-in: password check with lockout, TOTP second factor, recovery codes, sessions.

Every function takes a Session and plain arguments (and ``now`` for a test's clock); the
dashboard views and the CLI call the same ones. Failures and sign-ins are audited; nothing
secret (a password, a code) is ever written to the audit log or a message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

import pyotp
import segno
from sqlalchemy import ColumnElement, Text, cast, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from helpline import audit
from helpline.config import Settings
from helpline.db import affected_rows, utcnow
from helpline.models import AgentStatus, SignInFailure, StaffSession, User
from helpline.staff import accounts
from helpline.staff.roles import SECOND_FACTOR_ROLES

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
    return settings.require_second_factor_for_all or user.role in SECOND_FACTOR_ROLES


def _unlocked_at(now: dt.datetime) -> ColumnElement[bool]:
    return or_(User.locked_until.is_(None), User.locked_until <= now)


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
    """Count a failed attempt against the account and the address; lock either at its limit.

    Parallel attempts race here: the count is raised in the database, one statement each, so
    none is lost; of those that reach the limit, the one whose conditional UPDATE finds the
    account unlocked locks it. (The address counts one inserted row per failure.)
    """
    now = _now(now)
    session.add(SignInFailure(address=address, username=username[:64], at=now))
    detail: dict[str, object] = {"reason": reason, "username": username[:64]}
    if user is not None:
        failed, locked_until = session.execute(
            update(User).where(User.id == user.id)
            .values(failed_logins=User.failed_logins + 1)
            .returning(User.failed_logins, User.locked_until)
            .execution_options(synchronize_session=False)).one()
        if failed >= settings.lockout_threshold:
            until = now + dt.timedelta(minutes=settings.lockout_minutes)
            claimed = session.execute(
                update(User).where(User.id == user.id, _unlocked_at(now))
                .values(locked_until=until).execution_options(synchronize_session=False))
            if affected_rows(claimed) == 1:
                locked_until = until
                audit.record(session, "signin.locked", actor=user, record_type="user",
                             record_id=user.id, address=address)
        set_committed_value(user, "failed_logins", failed)
        set_committed_value(user, "locked_until", locked_until)
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
    # Parallel failures may have locked the account or the address while the hash was being
    # checked: the right password counts only if neither is locked now.
    if address_locked(session, address, settings, now):
        record_failure(session, user, username, address, settings, "address-locked", now)
        raise SignInRefused(locked=True)
    if not _claim_success(session, user, now):
        record_failure(session, user, username, address, settings, "account-locked", now)
        raise SignInRefused(locked=True)
    accounts.rehash_if_outdated(user, password)
    return user


def _claim_success(session: Session, user: User, now: dt.datetime) -> bool:
    """Clear the failure count unless the account is locked; False if it is."""
    cleared = session.execute(
        update(User).where(User.id == user.id, _unlocked_at(now))
        .values(failed_logins=0, locked_until=None).execution_options(synchronize_session=False))
    if affected_rows(cleared) != 1:
        return False
    set_committed_value(user, "failed_logins", 0)
    set_committed_value(user, "locked_until", None)
    return True


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


def _totp_step(user: User, code: str, now: dt.datetime) -> int | None:
    """The time step ``code`` belongs to (now's, or one either side for clock drift), or None."""
    if not user.totp_secret:
        return None
    # ASCII digits only: str.isdigit() takes other scripts' digits, which no authenticator
    # shows and compare_digest refuses.
    digits = "".join(ch for ch in code if ch in "0123456789")
    if len(digits) != 6:
        return None
    totp = pyotp.TOTP(user.totp_secret)
    current = totp.timecode(now)
    for step in (current + 1, current, current - 1):
        if hmac.compare_digest(totp.generate_otp(step), digits):
            return step
    return None


def _claim_totp_step(session: Session, user: User, step: int) -> bool:
    """Take ``step`` as used; False if it or a later one was used before (a replayed code).

    Conditional in the database, so that of parallel sign-ins with one code exactly one wins.
    """
    claimed = session.execute(
        update(User).where(User.id == user.id, or_(User.totp_last_step.is_(None),
                                                   User.totp_last_step < step))
        .values(totp_last_step=step).execution_options(synchronize_session=False))
    if affected_rows(claimed) != 1:
        return False
    set_committed_value(user, "totp_last_step", step)
    return True


def _use_recovery_code(session: Session, user: User, code: str) -> bool:
    """Strike ``code`` off the user's list; False if it is not on it.

    A compare-and-set on the list's stored text: of parallel sign-ins with one code, one
    changes the row; the others find it changed, read it again and no longer find the code.
    """
    hashed = _code_hash(code)
    stored = cast(User.recovery_code_hashes, Text)
    for _ in range(RECOVERY_CODES + 1):
        raw = session.scalar(select(stored).where(User.id == user.id))
        hashes: list[str] = json.loads(raw) if raw else []
        remaining = [h for h in hashes if not hmac.compare_digest(h, hashed)]
        if len(remaining) == len(hashes):
            return False
        swapped = session.execute(
            update(User).where(User.id == user.id, stored == raw)
            .values(recovery_code_hashes=remaining)
            .execution_options(synchronize_session=False))
        if affected_rows(swapped) == 1:
            set_committed_value(user, "recovery_code_hashes", remaining)
            return True
    return False


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
    step = _totp_step(user, code, _now(now))
    if step is None or not _claim_totp_step(session, user, step):
        return None
    user.totp_enabled = True
    codes = new_recovery_codes(session, user)
    audit.record(session, "signin.second_factor_enrolled", actor=user, record_type="user",
                 record_id=user.id, address=address)
    return codes


def verify_second_factor(session: Session, user: User, code: str, address: str,
                         settings: Settings, now: dt.datetime | None = None) -> bool:
    """Check a TOTP code (good for one sign-in) or a recovery code (then used up); failures
    count. Each use is claimed by a conditional UPDATE, so parallel uses of one code let one in."""
    now = _now(now)
    if account_locked(user, now):
        record_failure(session, user, user.username, address, settings, "account-locked", now)
        return False
    if not user.totp_enabled:
        record_failure(session, user, user.username, address, settings, "second-factor", now)
        return False
    step = _totp_step(user, code, now)
    if step is not None:
        accepted = _claim_totp_step(session, user, step)
    else:
        accepted = _use_recovery_code(session, user, code)
        if accepted:
            audit.record(session, "signin.recovery_code_used", actor=user, record_type="user",
                         record_id=user.id, address=address,
                         detail={"left": len(user.recovery_code_hashes)})
    if not accepted:
        record_failure(session, user, user.username, address, settings, "second-factor", now)
        return False
    if not _claim_success(session, user, now):
        record_failure(session, user, user.username, address, settings, "account-locked", now)
        return False
    return True


def reset_second_factor(session: Session, user: User, by: User) -> None:
    """Admin: the user enrols again at the next sign-in."""
    user.totp_secret = None
    user.totp_enabled = False
    user.recovery_code_hashes = []
    user.totp_last_step = None
    end_all_sessions(session, user, "reset")
    audit.record(session, "user.second_factor_reset", actor=by, record_type="user",
                 record_id=user.id)


# --- passwords -------------------------------------------------------------------------

def change_password(session: Session, user: User, current: str, new: str,
                    keep: StaffSession | None = None) -> None:
    """The user changes their own password; raises AccountError with the reason.

    Every other session of the user ends: one opened with the old password (perhaps by
    whoever learned it) must not outlive it. ``keep``, the session making the change, stays.
    """
    if not accounts.password_matches(user, current):
        raise accounts.AccountError("the current password is not right")
    accounts.set_password(session, user, new, by=user)
    user.must_change_password = False
    epoch = _next_session_epoch(session, user)
    end_all_sessions(session, user, "password", keep=keep)
    if keep is not None:
        keep.epoch = epoch


def _next_session_epoch(session: Session, user: User) -> int:
    """Raise the user's session epoch; a session opened at an older one no longer counts
    (this closes the gap where a sign-in with the old password is under way meanwhile)."""
    epoch = session.execute(
        update(User).where(User.id == user.id).values(session_epoch=User.session_epoch + 1)
        .returning(User.session_epoch).execution_options(synchronize_session=False)).scalar_one()
    set_committed_value(user, "session_epoch", epoch)
    return int(epoch)


def reset_password(session: Session, user: User, by: User) -> str:
    """Admin: a temporary password (shown once) and every open session of the user ended."""
    temporary = "-".join(secrets.token_urlsafe(6) for _ in range(3))
    accounts.set_password(session, user, temporary, by=by)
    # The admin has seen the temporary password: the user must replace it before anything else.
    user.must_change_password = True
    user.failed_logins = 0
    user.locked_until = None
    _next_session_epoch(session, user)
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
                             epoch=user.session_epoch, address=address, created_at=now,
                             last_seen_at=now))
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
    if user is not None:
        go_offline(user, staff.ended_at)
    audit.record(session, "signout" if reason == "user" else f"signout.{reason}", actor=user,
                 record_type="user", record_id=staff.user_id, address=staff.address)


def go_offline(user: User, now: dt.datetime) -> None:
    """Signed out (by hand or idle): no more offers. Mid-call, once the record closes."""
    if user.status in (AgentStatus.ON_CALL, AgentStatus.WRAP_UP):
        user.status_before_call = AgentStatus.OFFLINE
    elif user.status != AgentStatus.OFFLINE:
        user.status = AgentStatus.OFFLINE
        user.status_since = now
        user.status_reason = None


def session_is_current(staff: StaffSession, user: User) -> bool:
    """False for a session opened before the user's last password change or reset."""
    return staff.epoch == user.session_epoch


def end_all_sessions(session: Session, user: User, reason: str,
                     keep: StaffSession | None = None) -> None:
    """End every open session of ``user`` but ``keep``."""
    query = select(StaffSession).where(StaffSession.user_id == user.id,
                                       StaffSession.ended_at.is_(None))
    if keep is not None:
        query = query.where(StaffSession.id != keep.id)
    for staff in session.scalars(query):
        staff.ended_at = utcnow()
        staff.end_reason = reason
