"""The Twilio perimeter: webhooks, signatures, TwiML, and the call flow's views.

Every route of :data:`ivr.blueprint.blueprint` is a Twilio webhook and refuses unsigned
requests. The flow (prompts, menu, queues) is data in :mod:`helpline.flows`.
"""

from __future__ import annotations

from flask import Flask

from ivr.blueprint import blueprint
from ivr.views import conference, followup, handoff, info, meetings, menu, queue, webhooks

VIEWS = (conference, followup, handoff, info, meetings, menu, queue, webhooks)


def init_app(app: Flask) -> None:
    """Register the webhooks; :func:`helpline.app.create_app` finds this by entry point."""
    app.register_blueprint(blueprint)
