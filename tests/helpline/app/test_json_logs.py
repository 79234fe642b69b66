"""LOG_FORMAT=json: one JSON object a line, each carrying the id of the request it was logged
in, the id the answer gives back in X-Request-Id."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask

from helpline.app import create_app
from helpline.app.logs import HANDLER_NAME
from helpline.config import Settings


@contextmanager
def logging_to(stream: io.StringIO, settings: Settings) -> Iterator[Flask]:
    """An app built as in a server process, whose root logger has no handler yet (the test
    runner's own are taken off meanwhile), logging to ``stream``."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    for handler in saved:
        root.removeHandler(handler)
    app = None
    try:
        app = create_app(settings)
        ours = next(h for h in root.handlers if h.get_name() == HANDLER_NAME)
        assert isinstance(ours, logging.StreamHandler)
        ours.setStream(stream)
        yield app
    finally:
        if app is not None:
            app.extensions["helpline"].db.dispose()
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
        root.setLevel(level)


def test_a_json_log_line_carries_the_request_id_of_the_answer(
        settings: Settings) -> None:
    stream = io.StringIO()
    with logging_to(stream, settings.with_overrides(log_format="json")) as app:
        # A forged webhook: the IVR logs the refusal while answering it.
        response = app.test_client().post(
            "/ivr/voice?From=%2B15555550188", data={"From": "+15555550188"},
            headers={"X-Twilio-Signature": "forged"})
    assert response.status_code == 403
    request_id = response.headers["X-Request-Id"]
    assert len(request_id) == 32 and int(request_id, 16) >= 0

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    refusal = next(line for line in lines if "bad signature" in line["message"])
    assert refusal["request_id"] == request_id
    assert refusal["level"] == "WARNING"
    assert refusal["logger"] == "ivr.security"
    assert refusal["time"].startswith("20")
    # Neither the query string nor the form's values reach the log.
    assert "5555550188" not in stream.getvalue()


def test_each_request_has_its_own_id(client) -> None:  # type: ignore[no-untyped-def]
    first = client.get("/healthz").headers["X-Request-Id"]
    second = client.get("/healthz").headers["X-Request-Id"]
    assert first != second


def test_text_logs_stay_text(settings: Settings) -> None:
    stream = io.StringIO()
    with logging_to(stream, settings):
        logging.getLogger("helpline.test").warning("plain words")
    ours = [line for line in stream.getvalue().splitlines() if "helpline.test" in line]
    assert len(ours) == 1 and ours[0].endswith(" WARNING helpline.test: plain words")
