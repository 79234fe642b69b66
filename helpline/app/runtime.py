"""What a request needs from the core: the runtime and a request-scoped session.

The staff perimeters (the dashboard, the browser phone) end a request's transaction in one
place, :func:`end_transaction`: commit when the answer is a success, roll back otherwise. A
view commits itself only through :func:`commit_now`, saying why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app, g
from flask.wrappers import Response
from sqlalchemy.orm import Session

from helpline.config import Settings
from helpline.db import Database
from helpline.telephony import Telephony

if TYPE_CHECKING:
    from helpline.app.router import Router


@dataclass
class Runtime:
    settings: Settings
    db: Database
    telephony: Telephony
    # This process's routing thread (None when ROUTING_IN_PROCESS is off, as in most tests).
    router: Router | None = None

    def nudge_routing(self) -> None:
        """Route soon: a caller entered or left a queue, a counselor's status changed."""
        if self.router is not None:
            self.router.nudge()


def runtime() -> Runtime:
    return current_app.extensions["helpline"]


def settings() -> Settings:
    return runtime().settings


def db_session() -> Session:
    """The request's session; :func:`end_transaction` commits or rolls back its work."""
    if "db_session" not in g:
        g.db_session = runtime().db.sessions()
    return g.db_session


def close_session(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def commit_now() -> None:
    """Commit the request's work so far, before the view goes on.

    For what must be stored whatever the answer turns out to be (a refusal's audit event, a
    failed sign-in counted toward the lockout), or before a step that cannot be undone. Each
    caller says which.
    """
    session = g.get("db_session")
    if session is not None:
        session.commit()


def end_transaction(response: Response) -> Response:
    """after_request of the staff perimeters: the one place a request's transaction ends.

    A success (below 400, redirects included) is committed, anything else rolled back. Flask
    runs this before the response is sent, so nothing is answered before it is stored; a
    commit that fails raises, and the answer becomes a 500 instead of the success. An
    exception in the view rolls back too: Flask answers 500 through here, and
    :func:`close_session` discards whatever is left.
    """
    session = g.get("db_session")
    if session is not None:
        if response.status_code < 400:
            session.commit()
        else:
            session.rollback()
    return response
