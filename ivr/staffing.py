"""Which languages have a counselor signed in, as the IVR asks before it queues a caller.

Every caller who reaches a queue needs the answer, and counselors sign in and out over minutes:
each process asks the database at most once every ``check_seconds`` (a caller may be queued,
or told nobody is signed in, on an answer up to a second old).
"""

from __future__ import annotations

import time

from sqlalchemy.exc import SQLAlchemyError

from helpline.calls.queues import signed_in_languages
from helpline.db import Database

CHECK_SECONDS = 1.0


class Staffing:
    def __init__(self, check_seconds: float = CHECK_SECONDS) -> None:
        self.check_seconds = check_seconds
        # (when to ask again, the languages): replaced whole, so threads read a consistent pair.
        self._known: tuple[float, frozenset[str]] = (0.0, frozenset())

    def has(self, db: Database, language: str, now: float | None = None) -> bool:
        """Is anyone for this language signed in? When the database cannot tell, assume so."""
        now = time.monotonic() if now is None else now
        next_check, languages = self._known
        if now >= next_check:
            try:
                with db.engine.connect() as conn:
                    languages = frozenset(signed_in_languages(conn))
            except SQLAlchemyError:
                return True
            self._known = (now + self.check_seconds, languages)
        return language in languages
