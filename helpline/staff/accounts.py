"""Staff accounts: creation, password rules and checks."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline import audit
from helpline.db import utcnow
from helpline.models import Role, User

_hasher = PasswordHasher()
_USERNAME = re.compile(r"^[a-z][a-z0-9._-]{2,63}$")
MIN_PASSWORD = 12
_COMMON = {"password1234", "123456789012", "qwertyuiopas", "helpline1234", "changeme1234",
           "letmein12345", "passwordpassword", "iloveyou1234", "welcome12345"}
LANGUAGES = {"en", "es"}


class AccountError(ValueError):
    """An account request that cannot be carried out; the message says why."""


def password_problem(password: str, username: str = "") -> str | None:
    """Why a password is too weak, or None if it will do."""
    if len(password) < MIN_PASSWORD:
        return f"the password must be at least {MIN_PASSWORD} characters"
    lowered = password.lower()
    if lowered in _COMMON or len(set(password)) < 5:
        return "the password is too common or repetitive"
    if username and username.lower() in lowered:
        return "the password must not contain the username"
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(user: User, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def rehash_if_outdated(user: User, password: str) -> bool:
    """Hash ``password`` (which has just matched) again if its hash used older parameters.

    The only moment the password is at hand to raise the cost of a stored hash.
    """
    if not _hasher.check_needs_rehash(user.password_hash):
        return False
    user.password_hash = hash_password(password)
    return True


def create_user(
    session: Session,
    username: str,
    role: str,
    password: str,
    *,
    display_name: str = "",
    languages: str = "en",
    phone: str | None = None,
    skills: str = "",
    created_by: User | str | None = "cli",
) -> User:
    """Create a staff account; raise :class:`AccountError` with a clear reason."""
    username = username.strip().lower()
    if not _USERNAME.match(username):
        raise AccountError(
            "the username must be 3-64 characters: lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter"
        )
    if role not in set(Role):
        raise AccountError(f"unknown role {role!r}: choose counselor, supervisor or admin")
    langs = languages.split()
    if not langs or set(langs) - LANGUAGES:
        raise AccountError("languages must be a space-separated choice of: en es")
    problem = password_problem(password, username)
    if problem:
        raise AccountError(problem)
    skill_list = check_skills(skills)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AccountError(f"the username {username!r} is taken")
    user = User(
        username=username,
        role=role,
        password_hash=hash_password(password),
        display_name=display_name or username,
        languages=" ".join(langs),
        phone=phone,
        skills=" ".join(skill_list),
    )
    session.add(user)
    session.flush()
    audit.record(session, "user.create", actor=created_by, record_type="user", record_id=user.id,
                 detail={"role": role})
    return user


_SKILL = re.compile(r"[a-z][a-z0-9_]{0,39}")


def check_skills(skills: str) -> list[str]:
    """A staff member's skills (space-separated words such as ``crisis``), checked."""
    words = sorted(set(skills.lower().split()))
    bad = [word for word in words if not _SKILL.fullmatch(word)]
    if bad:
        raise AccountError(f"skills are lower-case words such as crisis (not {bad[0]!r})")
    if len(" ".join(words)) > 120:
        raise AccountError("at most 120 characters of skills")
    return words


def set_skills(session: Session, user: User, skills: str, by: User | str) -> bool:
    """Set a staff member's skills (routing offers a queue asking a skill only to holders);
    return whether they changed. Raises :class:`AccountError` with a clear reason."""
    value = " ".join(check_skills(skills))
    if value == user.skills:
        return False
    before = user.skill_list
    user.skills = value
    audit.record(session, "user.skills", actor=by, record_type="user", record_id=user.id,
                 detail={"added": sorted(set(user.skill_list) - set(before)),
                         "removed": sorted(set(before) - set(user.skill_list))})
    return True


def set_password(session: Session, user: User, password: str, *, by: User | str) -> None:
    problem = password_problem(password, user.username)
    if problem:
        raise AccountError(problem)
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    audit.record(session, "user.password", actor=by, record_type="user", record_id=user.id)
