"""Factories for test data: real rows in the test's own database."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy.orm import Session

from helpline import crypto
from helpline.db import utcnow
from helpline.models import Call, Contact, User
from helpline.staff.accounts import hash_password

_seq = itertools.count(1)
PASSWORD = "correct-horse-battery-staple"
_PASSWORD_HASH = hash_password(PASSWORD)


def make_user(session: Session, role: str = "counselor", **fields: Any) -> User:
    n = next(_seq)
    user = User(
        username=fields.pop("username", f"{role}{n}"),
        role=role,
        password_hash=_PASSWORD_HASH,
        display_name=fields.pop("display_name", f"{role.title()} {n}"),
        languages=fields.pop("languages", "en es"),
        **fields,
    )
    session.add(user)
    session.flush()
    return user


def make_call(session: Session, number: str | None = "+15555550111", **fields: Any) -> Call:
    n = next(_seq)
    call = Call(
        call_sid=fields.pop("call_sid", f"CA{n:032d}"),
        caller_hash=crypto.caller_hash(number),
        caller_number=number,
        started_at=fields.pop("started_at", utcnow()),
        **fields,
    )
    session.add(call)
    session.flush()
    return call


def make_contact(session: Session, counselor: User, call: Call | None = None,
                 **fields: Any) -> Contact:
    contact = Contact(
        counselor_id=counselor.id,
        call_id=call.id if call else None,
        caller_hash=call.caller_hash if call else None,
        **fields,
    )
    session.add(contact)
    session.flush()
    return contact
