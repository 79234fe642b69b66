"""Where the logs go and how they look: text for a person, or one JSON object a line
(LOG_FORMAT=json) for a log shipper; either way each record made while answering a request
carries that request's id, which the answer gives back in ``X-Request-Id``.

Records hold what the code logs and no more: never a query string or a form value.
"""

from __future__ import annotations

import logging
import uuid

from flask import Flask, g, has_request_context
from flask.wrappers import Response
from pythonjsonlogger.json import JsonFormatter

# The handler configure_logging adds, found again by name when a second app is built.
HANDLER_NAME = "helpline"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RequestIdFilter(logging.Filter):
    """Puts the id of the request being answered (or None) on every record as ``request_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id") if has_request_context() else None
        return True


def formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter(
            "{levelname}{name}{message}{request_id}", style="{", timestamp="time",
            rename_fields={"levelname": "level", "name": "logger"})
    return logging.Formatter(TEXT_FORMAT)


def configure_logging(level: str, log_format: str = "text") -> None:
    """Log to stderr at ``level`` in ``log_format``, unless something else (a test runner, a
    server's own logging configuration) already handles the root logger."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if h.get_name() == HANDLER_NAME), None)
    if handler is None and not root.handlers:
        handler = logging.StreamHandler()
        handler.set_name(HANDLER_NAME)
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
    if handler is not None:
        handler.setFormatter(formatter(log_format))
    root.setLevel(level)
    # APScheduler says "Running job ..." at INFO for every run (every 15 s); our jobs log what
    # they did themselves.
    logging.getLogger("apscheduler").setLevel("DEBUG" if level == "DEBUG" else "WARNING")


def _new_request_id() -> None:
    g.request_id = uuid.uuid4().hex


def _give_request_id(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id:
        response.headers["X-Request-Id"] = request_id
    return response


def init_app(app: Flask) -> None:
    """Give every request an id (called before the perimeters add their own hooks)."""
    app.before_request(_new_request_id)
    app.after_request(_give_request_id)
