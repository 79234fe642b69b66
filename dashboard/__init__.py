"""The staff perimeter: sign-in, home with live queues, the call record, referrals, follow-ups,
the directory, consents and the supervisor console. Every view is closed unless
:mod:`dashboard.access` lists it."""

from __future__ import annotations

from flask import Flask

from dashboard import (
    api_tokens,
    call_control,
    consents,
    directory,
    followups,
    handoff,
    history,
    home,
    my_followups,
    offers,
    overdose,
    record,
    referrals,
    safe_contact,
    screening,
    signin,
    softphone,
    staff,
    supervisor,
)
from dashboard.blueprint import blueprint

AREAS = (api_tokens, call_control, consents, directory, followups, handoff, history, home,
         my_followups, offers, overdose, record, referrals, safe_contact, screening, signin,
         softphone, staff, supervisor)


def init_app(app: Flask) -> None:
    """Register the dashboard; :func:`helpline.app.create_app` finds this by entry point."""
    app.register_blueprint(blueprint)
