"""The app factory: the web app (IVR webhooks and staff dashboard) from one settings object."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from helpline import crypto
from helpline.app import fhir_api, health, logs, metrics
from helpline.app.converters import RecordIdConverter
from helpline.app.logs import configure_logging
from helpline.app.runtime import Runtime, close_session
from helpline.config import Settings, load_settings
from helpline.db import Database
from helpline.telephony import telephony_for

if TYPE_CHECKING:
    from twilio.http import HttpClient


def create_app(settings: Settings | None = None, *, http_client: HttpClient | None = None) -> Flask:
    """Build the web app (IVR webhooks and staff dashboard) from one settings object.

    ``flask --app helpline.app`` and ``gunicorn "helpline.app:create_app()"`` call this with no
    argument, so the settings come from the environment and ``.env``; tests pass their own.
    """
    settings = settings or load_settings()
    configure_logging(settings.log_level, settings.log_format)
    crypto.install(crypto.Keyring(settings.data_keys, settings.hash_key))

    app = Flask("helpline", instance_path=str(settings.instance_dir.resolve()))
    # Before any blueprint adds its rules: every <int:...> in a path is an id in range.
    app.url_map.converters["int"] = RecordIdConverter
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        SESSION_COOKIE_NAME="helpline_session",
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        TESTING=settings.env == "test",
    )
    runtime = Runtime(
        settings=settings,
        db=Database.for_settings(settings),
        telephony=telephony_for(settings, http_client),
    )
    app.extensions["helpline"] = runtime
    if settings.routing_in_process:
        from helpline.app.router import Router

        runtime.router = Router(runtime.db, settings).start()
    if settings.trusted_proxy_count:
        # Behind a balancer every peer is the balancer: the client's address (sign-in lockout,
        # audit), scheme (secure cookies, HSTS) and host come from the headers it adds.
        count = settings.trusted_proxy_count
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=count, x_proto=count, x_host=count)
    app.teardown_appcontext(close_session)

    logs.init_app(app)
    app.register_blueprint(health.bp)
    metrics.init_app(app)
    fhir_api.init_app(app)
    # The perimeters (ivr, dashboard, simulator) sit above the core and plug themselves in by
    # entry point: the core never imports them. Their order is the entry points' names.
    perimeters = sorted(entry_points(group="helpline.web"), key=lambda entry: entry.name)
    if not perimeters:
        raise RuntimeError("no web perimeters are installed: run `pip install -e .` (make install)")
    for entry in perimeters:
        entry.load()(app)
    return app

