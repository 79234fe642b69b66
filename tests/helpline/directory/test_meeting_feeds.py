"""`helpline meetings import FILE|URL` and the feeds supervisors configure, refreshed by the
scheduler: fetched from a local HTTP server (never the network), within a time limit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline.app import jobs
from helpline.app.scheduler import job_specs
from helpline.db import Database
from helpline.directory import checks, meeting_feeds
from helpline.directory.meeting_guide import FeedError, read_feed
from helpline.models import AuditEvent, MeetingFeed, SupportGroup, User
from tests.factories import make_user
from tests.factories.meeting_guide import DATA, load, spec_feed
from tests.fakes.feed_server import FeedServer
from tests.fixtures.cli import CliInvoker


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


@pytest.fixture
def supervisor(session: Session) -> User:
    user = make_user(session, "supervisor")
    session.commit()
    return user


def active_slugs(session: Session, source: str) -> set[str]:
    session.expire_all()
    return {g.slug for g in session.scalars(select(SupportGroup).where(
        SupportGroup.source == source, SupportGroup.active.is_(True)))}


def test_a_file_is_imported_with_its_counts_and_refusals(run_cli: CliInvoker,
                                                         session: Session) -> None:
    path = DATA / "feed_mixed.json"
    result = run_cli("meetings", "import", str(path), "--fellowship", "AA")
    assert result.exit_code == 0, result.output
    assert "13 meetings in the feed, 9 imported (1 temporarily closed, kept inactive), " \
           "4 refused" in result.output
    assert "refused, no day and time (by appointment): 1" in result.output
    assert "chelsea-noon-step" in active_slugs(session, path.resolve().as_uri())
    again = run_cli("meetings", "import", str(path))
    assert "0 new, 0 changed, 14 unchanged, 0 retired" in again.output


def test_nothing_imported_exits_non_zero(run_cli: CliInvoker, tmp_path: Path) -> None:
    feed = tmp_path / "appointments.json"
    feed.write_text(json.dumps(spec_feed(0, by_appointment=2)))
    result = run_cli("meetings", "import", str(feed))
    assert result.exit_code == 1
    assert "refused, no day and time (by appointment): 2" in result.output
    assert "no meeting imported" in result.output
    not_a_feed = tmp_path / "object.json"
    not_a_feed.write_text('{"meetings": []}')
    refused = run_cli("meetings", "import", str(not_a_feed))
    assert refused.exit_code == 1 and "a JSON array of meetings" in refused.output


def test_a_url_is_fetched_and_is_the_meetings_source(run_cli: CliInvoker, session: Session,
                                                     server: FeedServer) -> None:
    server.feeds["/meetings.json"] = load("feed_mixed.json")
    url = server.url("/meetings.json")
    result = run_cli("meetings", "import", url, "--timezone", "America/New_York")
    assert result.exit_code == 0, result.output
    assert "hybrid-hope" in active_slugs(session, url)


def test_a_saved_copy_is_imported_under_the_feeds_url(run_cli: CliInvoker,
                                                      session: Session) -> None:
    url = "https://district-demo.example.org/meetings.json"
    result = run_cli("meetings", "import", str(DATA / "spec_example.json"), "--source", url)
    assert result.exit_code == 0
    assert active_slugs(session, url) == {"sunday-serenity-14"}


def test_a_server_that_does_not_answer_is_given_up_on(server: FeedServer) -> None:
    with pytest.raises(FeedError, match=r"cannot be fetched: timed out|not fetched within"):
        read_feed(server.url("/stall"), timeout=0.5)


def test_a_server_error_is_named(run_cli: CliInvoker, server: FeedServer) -> None:
    result = run_cli("meetings", "import", server.url("/missing.json"))
    assert result.exit_code == 1 and "the server answered 404" in result.output
    with pytest.raises(FeedError, match="larger than"):
        server.feeds["/big.json"] = spec_feed(50)
        read_feed(server.url("/big.json"), max_bytes=1024)


def test_a_supervisor_adds_a_feed_checked_and_audited(session: Session,
                                                      supervisor: User) -> None:
    with pytest.raises(checks.EntryInvalid) as refused:
        meeting_feeds.add_feed(session, "ftp://example.org/x", "Mars/Olympus", "XX",
                               by=supervisor)
    assert set(refused.value.errors) == {"url", "default_timezone", "fellowship"}
    feed = meeting_feeds.add_feed(session, "https://district-demo.example.org/feed",
                                  "America/Chicago", "AA", by=supervisor)
    session.commit()
    with pytest.raises(checks.EntryInvalid, match="url"):
        meeting_feeds.add_feed(session, feed.url, "America/Chicago", "AA", by=supervisor)
    assert session.scalar(select(AuditEvent.action).where(
        AuditEvent.record_type == "meeting_feed")) == "directory.meeting_feed.add"


def test_the_scheduler_refreshes_every_feed_each_on_its_own(
        app, db: Database, session: Session, supervisor: User, server: FeedServer) -> None:
    spec = next(s for s in job_specs("UTC") if s.id == "meetings.refresh")
    assert isinstance(spec.trigger, IntervalTrigger)
    assert spec.trigger.interval.total_seconds() == 6 * 3600
    good, broken = server.url("/good.json"), server.url("/broken.json")
    server.feeds["/good.json"] = spec_feed(40)
    server.feeds["/broken.json"] = []
    server.status["/broken.json"] = 500
    for url in (good, broken):
        meeting_feeds.add_feed(session, url, "America/Chicago", "NA", by=supervisor)
    session.commit()
    rt = app.extensions["helpline"]
    jobs.install(jobs.JobContext(db=rt.db, settings=rt.settings, telephony=rt.telephony))

    assert spec.func() == 1  # one feed failed, the other was imported
    assert len(active_slugs(session, good)) == 40
    session.expire_all()
    feeds = {f.url: f for f in session.scalars(select(MeetingFeed))}
    assert feeds[good].last_counts["imported"] == 40 and feeds[good].last_error == ""
    assert "500" in feeds[broken].last_error and feeds[broken].last_refreshed_at is not None
    fellowships = {g.fellowship for g in session.scalars(
        select(SupportGroup).where(SupportGroup.source == good))}
    assert fellowships == {"NA"}

    server.feeds["/good.json"] = spec_feed(40)[1:]  # one meeting left the feed
    spec.func()
    assert len(active_slugs(session, good)) == 39


def test_removing_a_feed_retires_its_meetings(session: Session, supervisor: User,
                                              db: Database, server: FeedServer) -> None:
    url = server.url("/feed.json")
    server.feeds["/feed.json"] = spec_feed(5)
    feed = meeting_feeds.add_feed(session, url, "America/Chicago", "AA", by=supervisor)
    session.commit()
    meeting_feeds.refresh_feeds(db)
    assert len(active_slugs(session, url)) == 5
    retired = meeting_feeds.remove_feed(session, session.get(MeetingFeed, feed.id),
                                        by=supervisor)
    session.commit()
    assert retired >= 5 and active_slugs(session, url) == set()
    assert meeting_feeds.list_feeds(session) == []


def test_the_feeds_are_refreshed_from_the_command_line(run_cli: CliInvoker, session: Session,
                                                       supervisor: User,
                                                       server: FeedServer) -> None:
    assert "No meeting feeds are configured." in run_cli("meetings", "refresh").output
    server.feeds["/feed.json"] = spec_feed(8)
    meeting_feeds.add_feed(session, server.url("/feed.json"), "America/Chicago", "AA",
                           by=supervisor)
    session.commit()
    result = run_cli("meetings", "refresh")
    assert result.exit_code == 0, result.output
    assert "8 meetings in the feed, 8 imported, 0 refused" in result.output
    server.status["/feed.json"] = 503
    failed = run_cli("meetings", "refresh")
    assert failed.exit_code == 1 and "not refreshed: the server answered 503" in failed.output
