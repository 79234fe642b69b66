"""What the flow tests share: the app's live flows and a supervisor who edits them."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from helpline.flows.live import LiveFlows
from helpline.models import User
from tests.factories import make_user


@pytest.fixture
def live(app: Flask) -> LiveFlows:
    return app.extensions["ivr_live"]


@pytest.fixture
def lead(session: Session) -> User:
    user = make_user(session, "supervisor")
    session.commit()
    return user
