"""The composition root: the app factory, the runtime, health probes, the CLI, the scheduler.

``create_app`` (helpline.app.factory) is imported when first asked for: it brings Flask,
Twilio and every perimeter, and a CLI command such as ``helpline directory search`` must not
pay for them on each run. ``flask --app helpline.app`` and ``gunicorn
"helpline.app:create_app()"`` find it all the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from helpline.app.factory import create_app
    from helpline.app.logs import configure_logging

__all__ = ["configure_logging", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from helpline.app.factory import create_app

        return create_app
    if name == "configure_logging":
        from helpline.app.logs import configure_logging

        return configure_logging
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
