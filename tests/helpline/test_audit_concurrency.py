"""Appends to the audit chain are serialised: parallel record views leave it whole.

Real parallel requests against a served app (each on its own thread, connection and
transaction), on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

import html
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from helpline import audit
from helpline.models import AuditEvent
from tests.factories import PASSWORD, make_contact, make_user

VIEWS = 40
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def signed_in(base: str, username: str) -> requests.Session:
    browser = requests.Session()
    page = browser.get(f"{base}/sign-in", timeout=60)
    token = html.unescape(_CSRF.search(page.text).group(1))  # type: ignore[union-attr]
    answer = browser.post(f"{base}/sign-in", allow_redirects=False, timeout=60,
                          data={"username": username, "password": PASSWORD,
                                "csrf_token": token})
    assert answer.status_code == 302
    return browser


def test_forty_parallel_record_views_leave_the_chain_whole(served: str, session: Session) -> None:
    counselor = make_user(session, "counselor")
    contact = make_contact(session, counselor)
    session.commit()
    cookies = signed_in(served, counselor.username).cookies
    barrier = threading.Barrier(VIEWS)

    def view(_n: int) -> int:
        browser = requests.Session()
        browser.cookies.update(cookies)
        barrier.wait()
        return browser.get(f"{served}/records/{contact.id}", allow_redirects=False,
                           timeout=120).status_code

    with ThreadPoolExecutor(VIEWS) as pool:
        statuses = list(pool.map(view, range(VIEWS)))
    assert statuses == [200] * VIEWS
    session.expire_all()
    views = session.scalar(select(func.count()).select_from(AuditEvent)
                           .where(AuditEvent.action == "contact.view"))
    assert views == VIEWS
    assert audit.verify_chain(session) is None
