"""Demo data for `helpline init --demo`: fictional staff, directory and past calls."""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from helpline import crypto
from helpline.config import Settings
from helpline.db import utcnow
from helpline.models import Call, CallEvent, Contact, Need, Outcome, User
from helpline.staff.accounts import create_user

# Fictional accounts for trying the system on localhost; printed by `helpline init --demo`.
DEMO_USERS = [
    ("counselor", "counselor", "Casey Counselor", "en es", "quiet-harbor-2481"),
    ("counselor2", "counselor", "Robin Rivera", "en", "amber-meadow-7315"),
    ("supervisor", "supervisor", "Sam Supervisor", "en es", "steady-lantern-5072"),
    ("admin", "admin", "Ada Admin", "en", "granite-willow-9364"),
]
# Crisis-trained (routing offers the crisis queue only to them, QUEUE_SKILLS).
DEMO_SKILLS = {"counselor": "crisis", "supervisor": "crisis"}


def load_demo(session: Session, settings: Settings) -> list[str]:
    """Load the demo set once; running it again changes nothing. Returns lines to print."""
    lines: list[str] = []
    if session.scalar(select(func.count(User.id))) == 0:
        for username, role, name, langs, password in DEMO_USERS:
            create_user(session, username, role, password, display_name=name,
                        languages=langs, phone="+1555555" + f"{len(username):04d}",
                        skills=DEMO_SKILLS.get(username, ""), created_by="demo")
        _demo_calls(session)
    from helpline.directory.demo import load_demo_directory

    lines.extend(load_demo_directory(session))
    lines.append("Demo sign-ins (fictional, for localhost only):")
    for username, role, _name, _langs, password in DEMO_USERS:
        lines.append(f"  {role:<10} {username:<11} password: {password}")
    return lines


def _demo_calls(session: Session, count: int = 40) -> None:
    rng = random.Random(2026)
    counselors = session.scalars(select(User).where(User.role == "counselor")).all()
    now = utcnow().replace(microsecond=0)
    needs = [n.value for n in Need]
    for i in range(count):
        started = now - dt.timedelta(hours=rng.randint(1, 24 * 14), minutes=rng.randint(0, 59))
        number = f"+1555555{rng.randint(100, 199):04d}"
        need = rng.choice(needs)
        lang = "es" if rng.random() < 0.25 else "en"
        answered = rng.random() < 0.8
        wait = rng.randint(5, 240)
        talk = rng.randint(120, 1500) if answered else None
        counselor = rng.choice(counselors) if answered else None
        call = Call(
            call_sid=f"CAdemo{i:026d}",
            caller_hash=crypto.caller_hash(number),
            caller_number=number,
            language=lang,
            need=need,
            queue_name=f"{need}-{lang}",
            status="completed",
            outcome=Outcome.ANSWERED if answered else Outcome.ABANDONED_QUEUE,
            started_at=started,
            enqueued_at=started + dt.timedelta(seconds=40),
            answered_at=started + dt.timedelta(seconds=40 + wait) if answered else None,
            ended_at=started + dt.timedelta(seconds=40 + wait + (talk or 0)),
            wait_seconds=wait,
            talk_seconds=talk,
            counselor_id=counselor.id if counselor else None,
        )
        call.events.append(CallEvent(at=started, kind="incoming", detail={}))
        session.add(call)
        if counselor is not None:
            session.flush()
            session.add(Contact(
                call_id=call.id, counselor_id=counselor.id, caller_hash=call.caller_hash,
                caller_type=rng.choice(["self", "family", "friend"]),
                substances=rng.sample(["opioids", "alcohol", "stimulants", "cannabis"], 1),
                outcome="information", status="closed", created_at=started,
                closed_at=call.ended_at,
                notes="Demo note: caller asked about outpatient options.",
            ))
