"""Meeting Guide feeds that supervisors configure, and their refresh by the scheduler.

A feed is a URL with the time zone its meetings default to and the fellowship they belong to.
The scheduler's job refreshes every feed: each is fetched outside any transaction (a slow
server holds no database lock), then imported in a transaction of its own, so one broken feed
neither stops nor undoes the others. The outcome of the last refresh (counts or the error) is
kept on the feed for the supervisors' page. Removing a feed retires its meetings.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from helpline import audit
from helpline.db import Database, affected_rows, utcnow
from helpline.directory import checks
from helpline.directory.meeting_guide import (
    FETCH_SECONDS,
    FeedError,
    FeedOptions,
    ImportReport,
    import_meetings,
    read_feed,
)
from helpline.directory.meetings import FELLOWSHIPS
from helpline.models import MeetingFeed, SupportGroup, User

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefreshResult:
    url: str
    report: ImportReport | None
    error: str = ""


def list_feeds(session: Session) -> list[MeetingFeed]:
    return list(session.scalars(select(MeetingFeed).order_by(MeetingFeed.url)))


def add_feed(session: Session, url: str, default_timezone: str, fellowship: str, *, by: User,
             address: str | None = None) -> MeetingFeed:
    """Configure a feed (refreshed from the next run of the job); checks.EntryInvalid names
    each wrong field."""
    errors: dict[str, str] = {}
    url = url.strip()
    if not url.startswith(("https://", "http://")) or len(url) > 500 or any(
            c.isspace() for c in url):
        errors["url"] = "Give the feed's http:// or https:// address (500 characters at most)."
    elif session.scalar(select(MeetingFeed.id).where(MeetingFeed.url == url)) is not None:
        errors["url"] = "This feed is already configured."
    zone = default_timezone.strip()
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        errors["default_timezone"] = "Give a time zone such as America/New_York."
    if fellowship not in FELLOWSHIPS:
        errors["fellowship"] = "Choose a fellowship from the list."
    if errors:
        raise checks.EntryInvalid(errors)
    feed = MeetingFeed(url=url, default_timezone=zone, fellowship=fellowship,
                       added_by=by.username, last_counts={}, last_error="")
    session.add(feed)
    session.flush()
    audit.record(session, "directory.meeting_feed.add", actor=by, record_type="meeting_feed",
                 record_id=feed.id, address=address, detail={"url": url[:200]})
    return feed


def remove_feed(session: Session, feed: MeetingFeed, *, by: User,
                address: str | None = None) -> int:
    """Stop refreshing a feed and retire its meetings; how many were retired."""
    retired = affected_rows(session.execute(
        update(SupportGroup).where(SupportGroup.source == feed.url,
                                   SupportGroup.active.is_(True)).values(active=False)))
    audit.record(session, "directory.meeting_feed.remove", actor=by,
                 record_type="meeting_feed", record_id=feed.id, address=address,
                 detail={"url": feed.url[:200], "retired": retired})
    session.delete(feed)
    return retired


def refresh_feeds(db: Database, *, now: dt.datetime | None = None,
                  timeout: float = FETCH_SECONDS) -> list[RefreshResult]:
    """Fetch and import every configured feed, each in its own transaction."""
    with db.sessions() as session:
        feeds = [(f.id, FeedOptions(f.url, f.default_timezone, f.fellowship))
                 for f in list_feeds(session)]
    results = []
    for feed_id, options in feeds:
        results.append(_refresh_one(db, feed_id, options, now=now or utcnow(),
                                    timeout=timeout))
    return results


def _refresh_one(db: Database, feed_id: int, options: FeedOptions, *, now: dt.datetime,
                 timeout: float) -> RefreshResult:
    try:
        meetings, _ = read_feed(options.source, timeout=timeout)
    except FeedError as exc:
        log.warning("meeting feed %s not refreshed: %s", options.source, exc)
        with db.session() as session:
            feed = session.get(MeetingFeed, feed_id)
            if feed is not None:
                feed.last_refreshed_at, feed.last_error = now, str(exc)[:1000]
        return RefreshResult(options.source, None, str(exc))
    with db.session() as session:
        feed = session.get(MeetingFeed, feed_id)
        if feed is None:  # removed while it was being fetched
            return RefreshResult(options.source, None, "removed")
        report = import_meetings(session, meetings, options, now=now, actor="scheduler")
        feed.last_refreshed_at, feed.last_counts = now, report.counts()
        feed.last_error = "" if report.imported else "nothing in the feed could be imported"
    if report.created or report.updated or report.retired or report.refused:
        log.info("meeting feed %s: %s", options.source, "; ".join(report.lines()[:2]))
    return RefreshResult(options.source, report)
