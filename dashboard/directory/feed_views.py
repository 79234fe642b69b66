"""Meeting Guide feeds: supervisors list, add and remove the feeds the scheduler refreshes."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from dashboard.access import client_address, current_user, permission_required, refuse
from dashboard.blueprint import blueprint
from dashboard.forms import text_field
from helpline.app.runtime import db_session
from helpline.directory import checks, meeting_feeds, meetings
from helpline.models import MeetingFeed
from helpline.staff.roles import Action


def _page(errors: dict[str, str] | None = None, data: dict[str, str] | None = None) -> str:
    return render_template("directory/feeds.html", feeds=meeting_feeds.list_feeds(db_session()),
                           fellowships=meetings.FELLOWSHIPS, errors=errors or {},
                           data=data or {"url": "", "default_timezone": "",
                                         "fellowship": "AA"})


@blueprint.get("/directory/feeds")
@permission_required(Action.EDIT_DIRECTORY)
def directory_feeds() -> str:
    return _page()


@blueprint.post("/directory/feeds")
@permission_required(Action.EDIT_DIRECTORY)
def directory_feed_add() -> Response | tuple[str, int]:
    user = current_user()
    assert user is not None
    data = {name: text_field(name, max_length=600) for name in
            ("url", "default_timezone", "fellowship")}
    db = db_session()
    try:
        meeting_feeds.add_feed(db, data["url"], data["default_timezone"], data["fellowship"],
                               by=user, address=client_address())
    except checks.EntryInvalid as exc:
        db.rollback()
        return _page(exc.errors, data), 422
    flash("Feed added: its meetings come in with the next refresh (every 6 hours, or "
          "`helpline meetings refresh`).", "info")
    return redirect(url_for("dashboard.directory_feeds"))


@blueprint.post("/directory/feeds/<int:feed_id>/remove")
@permission_required(Action.EDIT_DIRECTORY)
def directory_feed_remove(feed_id: int) -> Response:
    user = current_user()
    assert user is not None
    db = db_session()
    feed = db.get(MeetingFeed, feed_id)
    if feed is None:
        refuse("directory.meeting_feed.refused", "meeting_feed", feed_id)
    retired = meeting_feeds.remove_feed(db, feed, by=user, address=client_address())
    flash(f"Feed removed; {retired} of its meetings retired.", "info")
    return redirect(url_for("dashboard.directory_feeds"))
