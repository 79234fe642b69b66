"""A caller without a phone: the TwiML interpreter behind `helpline simulate-call` and /phone."""

from __future__ import annotations

from flask import Flask

from simulator.phone import phone_blueprint


def init_app(app: Flask) -> None:
    """Register the browser phone (/phone); :func:`helpline.app.create_app` finds this by entry
    point."""
    app.register_blueprint(phone_blueprint)
