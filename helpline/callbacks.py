"""The addresses Twilio is given to call back: the one builder of the IVR's webhook URLs.

Twilio calls back what we hand it (a status callback, a ``<Gather>`` action, the TwiML of a
leg placed through the REST API) at an absolute address, and signs the request with that very
address, so every one of them must be built the same way: ``settings.public_base_url``, the
IVR's mount point, the route, then a plain ASCII query of ids (never a number or a name: they
would end up in Twilio's and the web server's logs).

Without a public base URL (a development machine, the outbox), a webhook answering a request
uses the address that request came to (``origin``); a service running outside any request
(the scheduler, a dashboard action placing a call) uses :data:`LOCAL_ORIGIN`, where
``helpline serve`` listens by default.
"""

from __future__ import annotations

from urllib.parse import urlencode

from helpline.config import Settings

#: Where the IVR's webhooks are mounted.
WEBHOOK_PREFIX = "/ivr"
#: ``helpline serve``'s default address, for calls placed with no public base URL configured.
LOCAL_ORIGIN = "http://127.0.0.1:5000"

QueryValue = str | int | None


def webhook_base(settings: Settings, origin: str = LOCAL_ORIGIN) -> str:
    """The helpline's address as Twilio reaches it (what comes before ``/ivr/``)."""
    return settings.public_base_url or origin.rstrip("/")


def webhook_url(settings: Settings, path: str, /, *, origin: str = LOCAL_ORIGIN,
                **query: QueryValue) -> str:
    """The absolute address of the IVR route ``path`` (e.g. ``"followups/7/answer"``), with
    ``query`` as its query string (None values left out; no ``?`` when nothing is left)."""
    encoded = urlencode({name: value for name, value in query.items() if value is not None})
    address = f"{webhook_base(settings, origin)}{WEBHOOK_PREFIX}/{path.lstrip('/')}"
    return f"{address}?{encoded}" if encoded else address
