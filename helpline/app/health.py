"""Load-balancer probes.

- ``/healthz``: the process answers. Never waits on anything.
- ``/readyz/ivr``: the IVR can answer and store what callers tell it, in the database or in
  the local spool. A machine whose database is down stays in rotation for ``/ivr/``: its
  webhooks answer from the spool. Waits on nothing but the spool directory's metadata.
- ``/readyz``: the staff pages can work: the database answers, within a second. A machine
  failing it should leave rotation for everything but ``/ivr/``.

Each answers within a second whatever the database does.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from helpline.app.runtime import runtime
from helpline.db import Database, within

bp = Blueprint("health", __name__)

# The spool should have room for a good while of calls (an entry is under 2 kB).
SPOOL_MIN_FREE_BYTES = 64 * 1024 * 1024


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify(status="ok")


# A probe answers within this long: the database is asked on a thread of its own (within the
# webhooks' time limit), and a database slower than this is not ready.
PROBE_SECONDS = 0.5
_probes: dict[int, Future[bool]] = {}
_probes_lock = threading.Lock()


def _ask(db: Database, seconds: float) -> bool:
    try:
        with within(seconds), db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True


def _database_answers() -> bool:
    """Does the database answer? Never waits longer than :data:`PROBE_SECONDS`: one question
    at a time is asked of each database, and probes that come meanwhile wait for its answer."""
    rt = runtime()
    if rt.db.breaker.is_open():
        return False
    with _probes_lock:
        probe = _probes.get(id(rt.db))
        if probe is None or probe.done():
            probe = Future()
            _probes[id(rt.db)] = probe
            asked = probe

            def ask() -> None:
                asked.set_result(_ask(rt.db, rt.settings.ivr_db_wait_seconds))

            threading.Thread(target=ask, name="readiness-probe", daemon=True).start()
    try:
        return probe.result(timeout=PROBE_SECONDS)
    except FutureTimeout:
        return False


def _spool_writable() -> bool:
    directory = runtime().settings.spool_dir
    try:
        directory.mkdir(parents=True, exist_ok=True)
        stats = os.statvfs(directory)
    except OSError:
        return False
    return os.access(directory, os.W_OK) and stats.f_bavail * stats.f_frsize >= \
        SPOOL_MIN_FREE_BYTES


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    if not _database_answers():
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok", database="ok")


@bp.get("/readyz/ivr")
def readyz_ivr() -> ResponseReturnValue:
    rt = runtime()
    spool = "ok" if _spool_writable() else "unwritable"
    # A database known to be down is not asked again; one that is not, only if the spool
    # cannot take the calls.
    if rt.db.breaker.is_open():
        database = "unreachable"
    elif spool == "ok":
        database = "not asked"
    else:
        database = "ok" if _database_answers() else "unreachable"
    ready = spool == "ok" or database == "ok"
    body = jsonify(status="ok" if ready else "unavailable", spool=spool, database=database)
    return (body, 200) if ready else (body, 503)
