"""This process's copy of the live IVR settings: refreshed cheaply, kept when the database fails.

Every web process holds the live :class:`~ivr.versions.FlowSet` in memory. At most once every
``IVR_FLOW_CHECK_SECONDS`` (2 s by default) one request asks the database for the newest
publication (a single indexed row); only when it changed is the version read and checked.
Other requests never wait on that: they play the copy in memory.

When the database cannot be reached, the IVR goes on with the version in memory. A process
that starts during an outage reads the copy it wrote to the instance folder the last time the
live version changed, so a restart does not silently bring back the shipped prompts.

Every version is rendered before it is published (:mod:`helpline.flows.rendering`); should a
live one still fail a caller at run time (a rule a release tightened, a value nobody
foresaw), :meth:`LiveFlows.broke` puts the last good version back for that caller and every
next one in this process, and leaves an ``ivr.runtime_fallback`` audit event that the IVR
settings page and the wallboard show to supervisors until a new version is made live.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from helpline import audit
from helpline.db import Database
from helpline.flows.flow import FlowError, RenderError, build_flows
from helpline.flows.rendering import check_renders
from helpline.flows.versions import (
    SHIPPED,
    Defaults,
    FlowSet,
    VersionError,
    check_values,
    get_version,
    live_pointer,
    preview_flow_set,
    values_of,
)

log = logging.getLogger(__name__)
FIRST_LOAD_WAIT_SECONDS = 5.0


class LiveFlows:
    """The live flow set of one process (one per app)."""

    def __init__(self, defaults: Defaults, *, check_seconds: float,
                 cache_file: Path | None = None) -> None:
        self.defaults = defaults
        self.check_seconds = check_seconds
        self.cache_file = cache_file
        # Version 0 is checked here, when the app is built: a bad file stops the start-up.
        self._current = FlowSet(SHIPPED, build_flows(defaults.raw_flows), defaults.line)
        check_renders(self._current.flows)
        self.shipped = self._current
        # What to play if the live version breaks for a caller: the version live before it.
        self._last_good = self._current
        self._reported: set[int] = set()  # versions whose failure this process recorded
        self._broke_lock = threading.Lock()
        self._publication: int | None = None
        self._known = False  # has the database (or the local copy) told us what is live?
        self._next_check = 0.0
        self._lock = threading.Lock()

    @property
    def in_memory(self) -> FlowSet:
        """The flow set in memory, without asking the database (for /ivr/fallback)."""
        return self._current

    @property
    def last_good(self) -> FlowSet:
        """The version to fall back on when the live one breaks: the one live before it
        (at worst the shipped files, which the app does not start without)."""
        return self._last_good

    def broke(self, db: Database, flow_set: FlowSet, problem: RenderError) -> FlowSet | None:
        """``flow_set`` could not answer a caller. Return what to answer with instead: the last
        good version, which plays from now on in this process (None when the last good version
        is what broke). The first failure of a version is audited for supervisors."""
        if flow_set.preview:
            return self._current  # a draft on trial: the tester hears the live version
        with self._broke_lock:
            fallback = self._last_good
            if flow_set is fallback:
                return None
            if flow_set is self._current:
                self._current = fallback
            first = flow_set.version not in self._reported
            self._reported.add(flow_set.version)
        if first:
            log.error("live IVR version %d failed a caller (%s); playing version %d",
                      flow_set.version, problem, fallback.version)
            self._report(db, flow_set.version, fallback.version, problem)
        return fallback

    @staticmethod
    def _report(db: Database, broken: int, playing: int, problem: RenderError) -> None:
        try:
            with db.sessions() as session, session.begin():
                audit.record(session, "ivr.runtime_fallback", actor="ivr",
                             record_type="ivr_flow_version", record_id=broken,
                             detail={"field": problem.field, "problem": problem.problem,
                                     "playing": playing})
        except SQLAlchemyError:
            log.warning("the failure of IVR version %d could not be recorded", broken)

    def invalidate(self) -> None:
        """Check the database on the next request (this process just published)."""
        self._next_check = 0.0

    def current(self, db: Database, now: float | None = None) -> FlowSet:
        """The live flow set, asking the database at most once per ``check_seconds``."""
        now = time.monotonic() if now is None else now
        if now < self._next_check:
            return self._current
        # Until the first answer every request waits for it, so that no caller hears the
        # shipped prompts for a moment after a restart; after that nobody waits.
        if not self._lock.acquire(blocking=not self._known,
                                  timeout=FIRST_LOAD_WAIT_SECONDS if not self._known else -1):
            return self._current
        try:
            if now >= self._next_check:
                self._next_check = now + self.check_seconds
                self._refresh(db)
        finally:
            self._lock.release()
        return self._current

    def _refresh(self, db: Database) -> None:
        try:
            with db.sessions() as session:
                publication, number = live_pointer(session)
                if self._known and publication == self._publication:
                    return
                values = values_of(self.defaults, get_version(session, number)
                                   if number else None)
        except SQLAlchemyError:
            log.warning("database unreachable: the IVR keeps playing version %d",
                        self._current.version)
            if not self._known:
                self._read_copy()
            return
        except VersionError as exc:
            log.error("the live IVR version cannot be read (%s); keeping version %d", exc,
                      self._current.version)
            return
        self._adopt(publication, number, values, save=True)

    def _adopt(self, publication: int | None, number: int, values: dict[str, Any],
               *, save: bool) -> None:
        try:
            flow_set = check_values(self.defaults, values, number)
        except (FlowError, VersionError) as exc:
            # Published under older rules (a release added a check): keep what works.
            log.error("live IVR version %d breaks the flow rules (%s); keeping version %d",
                      number, exc, self._current.version)
            self._publication, self._known = publication, True
            return
        if flow_set.version != self._current.version or not self._known:
            log.info("IVR version %d is live in this process", number)
        with self._broke_lock:
            if flow_set.version != self._current.version:
                self._last_good = self._current
            self._reported.discard(number)  # made live again: a new failure is news again
            self._current, self._publication, self._known = flow_set, publication, True
        if save:
            self._write_copy(publication, number, values)

    def _write_copy(self, publication: int | None, number: int, values: dict[str, Any]) -> None:
        if self.cache_file is None:
            return
        try:
            self.cache_file.parent.mkdir(parents=True, exist_ok=True)
            partial = self.cache_file.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps({"publication": publication, "version": number,
                                           "values": values}), encoding="utf-8")
            os.replace(partial, self.cache_file)
        except OSError as exc:
            log.warning("could not keep a local copy of the live IVR version (%s)", exc)

    def _read_copy(self) -> None:
        if self.cache_file is None or not self.cache_file.exists():
            return
        try:
            copy = json.loads(self.cache_file.read_text(encoding="utf-8"))
            publication, number, values = copy["publication"], int(copy["version"]), \
                dict(copy["values"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("the local copy of the live IVR version is unreadable (%s)", exc)
            return
        log.warning("database unreachable at start: playing the local copy of version %d",
                    number)
        self._adopt(publication, number, values, save=False)
        # The database has not confirmed it: ask again at the next check.
        self._known = False


def flow_set_for(live: LiveFlows, db: Database, flow_version: str | None) -> FlowSet:
    """The flow set of one webhook: draft N when ``flow_version=N`` names a draft (a preview),
    otherwise the live one. A preview never changes what other callers hear."""
    if flow_version and flow_version.isdigit() and len(flow_version) < 10:
        try:
            with db.sessions() as session:
                return preview_flow_set(session, live.defaults, int(flow_version))
        except (SQLAlchemyError, VersionError) as exc:
            log.info("flow_version=%s is not previewed (%s); playing the live version",
                     flow_version, type(exc).__name__)
    return live.current(db)
