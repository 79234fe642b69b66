"""The helpline: an open-source contact center for substance-use and crisis helplines."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flask import Flask

from helpline.config import Settings, load_settings

if TYPE_CHECKING:
    from twilio.http import HttpClient

__version__ = "0.1.0"


def create_app(settings: Settings | None = None, *, http_client: HttpClient | None = None) -> Flask:
    """Build the web app (IVR webhooks and staff dashboard) from one settings object.

    ``flask --app helpline`` and ``gunicorn "helpline:create_app()"`` call this with no
    argument, so the settings come from the environment and ``.env``; tests pass their own.
    """
    from helpline import crypto, health, web
    from helpline.db import Database
    from helpline.telephony import telephony_for

    settings = settings or load_settings()
    configure_logging(settings.log_level)
    crypto.install(crypto.Keyring(settings.data_keys, settings.hash_key))

    app = Flask("helpline", instance_path=str(settings.instance_dir.resolve()))
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        SESSION_COOKIE_NAME="helpline_session",
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        TESTING=settings.env == "test",
    )
    runtime = web.Runtime(
        settings=settings,
        db=Database(settings.database_url),
        telephony=telephony_for(settings, http_client),
    )
    app.extensions["helpline"] = runtime
    app.teardown_appcontext(web.close_session)

    from dashboard import blueprint as dashboard_bp
    from ivr import blueprint as ivr_bp
    from ivr import register_phone

    app.register_blueprint(health.bp)
    app.register_blueprint(ivr_bp)
    app.register_blueprint(dashboard_bp)
    register_phone(app)
    return app


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root.setLevel(level)
    # APScheduler says "Running job ..." at INFO for every run (every 15 s); our jobs log what
    # they did themselves.
    logging.getLogger("apscheduler").setLevel("DEBUG" if level == "DEBUG" else "WARNING")
