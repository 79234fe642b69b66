"""The telephony port: send an SMS, place a call, move a live call. Two adapters.

* :class:`OutboxTelephony` (the default without Twilio credentials) records what would be sent.
* :class:`TwilioTelephony` sends through Twilio's REST API and records what it sent.

Both write an :class:`~helpline.models.OutboxMessage`, so the dashboard, reports and tests see
one history whatever the adapter. Call these from the scheduler or a dashboard action, never
from inside a voice webhook (Twilio gives a webhook 15 seconds in all): a webhook queues its
text with ``queue_sms``.

Every text first passes :func:`helpline.sms_limits.admit_sms` (allowed countries, per call,
per number a day). A refused text is not sent: ``send_sms`` returns its outbox row with status
``refused`` and the reason in ``error``, for the caller to say in words.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from requests import exceptions as http_errors
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3 import exceptions as urllib3_errors

from helpline import crypto, phones
from helpline.config import Settings
from helpline.db import affected_rows, utcnow
from helpline.models import OutboxMessage
from helpline.sms_limits import admit_sms

log = logging.getLogger(__name__)

#: How many recent texts or calls to one number :meth:`TwilioTelephony.find_sent` reads.
FIND_SENT_LIMIT = 50

#: Twilio's statuses of a call that has not ended.
LIVE_CALL_STATUSES = frozenset({"queued", "ringing", "in-progress"})
#: Outbox status of a text or call the provider may have taken: the request went out and no
#: answer came back (a timeout, a dropped connection, a 5xx). Neither sent nor failed.
UNKNOWN = "unknown"


def _maybe_taken(exc: Exception) -> bool:
    """Whether the provider may have acted on a request that ended in ``exc``: only a request
    that never left (no connection, no TLS) or that the provider answered with a 4xx surely
    did nothing."""
    if isinstance(exc, TwilioRestException):
        return exc.status >= 500
    if isinstance(exc, http_errors.ConnectTimeout):
        return False
    if isinstance(exc, http_errors.ConnectionError):
        cause = exc.args[0] if exc.args else None
        reason = cause.reason if isinstance(cause, urllib3_errors.MaxRetryError) else cause
        return not isinstance(reason, (urllib3_errors.NewConnectionError,
                                       urllib3_errors.SSLError, urllib3_errors.ConnectTimeoutError))
    return isinstance(exc, (http_errors.Timeout, http_errors.ChunkedEncodingError))


def _failed(exc: Exception) -> str:
    return UNKNOWN if _maybe_taken(exc) else "failed"


@dataclass(frozen=True)
class CallLookup:
    """What the provider says of a call: its status, and when it ended if it has."""

    status: str
    ended_at: dt.datetime | None = None
    duration: int | None = None

    @property
    def live(self) -> bool:
        return self.status in LIVE_CALL_STATUSES


class Telephony(Protocol):
    name: str

    def send_sms(
        self, session: Session, to: str, body: str, *, purpose: str,
        status_callback: str | None = None, call_sid: str | None = None,
    ) -> OutboxMessage: ...

    def queue_sms(
        self, session: Session, to: str, body: str, *, purpose: str,
        call_sid: str | None = None,
    ) -> OutboxMessage: ...

    def send_queued(self, message: OutboxMessage) -> None: ...

    def place_call(
        self, session: Session, to: str, url: str, *, purpose: str,
        status_callback: str | None = None, caller_id: str | None = None,
    ) -> OutboxMessage: ...

    def redirect_call(
        self, session: Session, call_sid: str, to: str, url: str, *, purpose: str,
    ) -> OutboxMessage: ...

    def call_status(self, call_sid: str) -> CallLookup | None: ...

    def end_call(self, session: Session, call_sid: str, to: str, *,
                 purpose: str) -> OutboxMessage: ...

    def add_participant(self, session: Session, room: str, to: str, *, purpose: str,
                        muted: bool = False, coaching: bool = False,
                        call_sid_to_coach: str | None = None,
                        end_conference_on_exit: bool = False,
                        wait_url: str | None = None) -> OutboxMessage: ...

    def update_participant(self, session: Session, room: str, call_sid: str, *, purpose: str,
                           hold: bool | None = None, hold_url: str | None = None,
                           muted: bool | None = None, coaching: bool | None = None,
                           call_sid_to_coach: str | None = None) -> OutboxMessage: ...

    def remove_participant(self, session: Session, room: str, call_sid: str, *,
                           purpose: str) -> OutboxMessage: ...

    def find_sent(
        self, session: Session, kind: str, to: str, *, since: dt.datetime, purpose: str,
        body: str | None = None, url: str | None = None,
    ) -> OutboxMessage | None: ...


def _dialled(to: str) -> str | None:
    """``to`` as Twilio is given it (E.164, a service code or a browser phone: the one
    normaliser, :func:`helpline.phones.dial_target`); None when it cannot be dialled."""
    try:
        return phones.dial_target(to)
    except phones.PhoneNumberError:
        return None


def _undiallable(session: Session, to: str, **fields: object) -> OutboxMessage:
    """A call not placed: its number is not one Twilio could dial. Recorded as failed."""
    return _record(session, kind="call", to_number=to, status="failed",
                   error="the number to call is not a phone number", **fields)


def _record(session: Session, **fields: object) -> OutboxMessage:
    to = str(fields["to_number"])
    msg = OutboxMessage(to_hash=crypto.caller_hash(to), **fields)
    session.add(msg)
    session.flush()
    return msg


class OutboxTelephony:
    """Records every SMS and call that would be sent; sends nothing."""

    name = "outbox"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.from_number = settings.helpline_number

    def send_sms(self, session: Session, to: str, body: str, *, purpose: str,
                 status_callback: str | None = None,
                 call_sid: str | None = None) -> OutboxMessage:
        to = _dialled(to) or to  # a number that is none is refused by the limits
        refused = admit_sms(session, self.settings, to, purpose=purpose, provider=self.name,
                            call_sid=call_sid)
        if refused is not None:
            return refused
        return _record(session, kind="sms", to_number=to, from_number=self.from_number,
                       body=body, provider=self.name, purpose=purpose,
                       provider_sid="SM" + secrets.token_hex(16))

    def queue_sms(self, session: Session, to: str, body: str, *, purpose: str,
                  call_sid: str | None = None) -> OutboxMessage:
        """Without a provider there is nothing to wait for: recorded at once."""
        return self.send_sms(session, to, body, purpose=purpose, call_sid=call_sid)

    def send_queued(self, message: OutboxMessage) -> None:
        message.status = "recorded"
        message.provider_sid = "SM" + secrets.token_hex(16)

    def place_call(self, session: Session, to: str, url: str, *, purpose: str,
                   status_callback: str | None = None,
                   caller_id: str | None = None) -> OutboxMessage:
        number = _dialled(to)
        if number is None:
            return _undiallable(session, to, from_number=caller_id or self.from_number,
                                twiml_url=url, provider=self.name, purpose=purpose)
        return _record(session, kind="call", to_number=number,
                       from_number=caller_id or self.from_number, twiml_url=url,
                       provider=self.name, purpose=purpose,
                       provider_sid="CA" + secrets.token_hex(16))

    def redirect_call(self, session: Session, call_sid: str, to: str, url: str, *,
                      purpose: str) -> OutboxMessage:
        """Record that the live call ``call_sid`` (to ``to``) would move to the TwiML at
        ``url`` (a conference, for instance)."""
        return _record(session, kind="redirect", to_number=to, from_number=self.from_number,
                       twiml_url=url, provider=self.name, purpose=purpose,
                       provider_sid=call_sid)

    def call_status(self, call_sid: str) -> CallLookup | None:
        """The outbox carries no calls: there is nobody to ask."""
        return None

    def end_call(self, session: Session, call_sid: str, to: str, *,
                 purpose: str) -> OutboxMessage:
        """Record that the live call ``call_sid`` would be hung up."""
        return _record(session, kind="hangup", to_number=to, from_number=self.from_number,
                       provider=self.name, purpose=purpose, provider_sid=call_sid)

    def add_participant(self, session: Session, room: str, to: str, *, purpose: str,
                        muted: bool = False, coaching: bool = False,
                        call_sid_to_coach: str | None = None,
                        end_conference_on_exit: bool = False,
                        wait_url: str | None = None) -> OutboxMessage:
        """Record that ``to`` would be dialled into the conference ``room``; the row's
        ``provider_sid`` stands for the new participant's call."""
        number = _dialled(to)
        if number is None:
            return _undiallable(session, to, from_number=self.from_number,
                                provider=self.name, purpose=purpose)
        return _record(session, kind="conf", to_number=number, from_number=self.from_number,
                       provider=self.name, purpose=purpose,
                       provider_sid="CA" + secrets.token_hex(16),
                       body=_participant_body("add", room, muted=muted, coaching=coaching,
                                              call_sid_to_coach=call_sid_to_coach,
                                              end_conference_on_exit=end_conference_on_exit))

    def update_participant(self, session: Session, room: str, call_sid: str, *, purpose: str,
                           hold: bool | None = None, hold_url: str | None = None,
                           muted: bool | None = None, coaching: bool | None = None,
                           call_sid_to_coach: str | None = None) -> OutboxMessage:
        """Record that a participant would be held, muted or coached."""
        return _record(session, kind="conf", to_number=call_sid, from_number=self.from_number,
                       provider=self.name, purpose=purpose, provider_sid=call_sid,
                       twiml_url=hold_url,
                       body=_participant_body("update", room, hold=hold, muted=muted,
                                              coaching=coaching,
                                              call_sid_to_coach=call_sid_to_coach))

    def remove_participant(self, session: Session, room: str, call_sid: str, *,
                           purpose: str) -> OutboxMessage:
        """Record that a participant would be taken out of the room (their call ends)."""
        return _record(session, kind="conf", to_number=call_sid, from_number=self.from_number,
                       provider=self.name, purpose=purpose, provider_sid=call_sid,
                       body=_participant_body("remove", room))

    def find_sent(self, session: Session, kind: str, to: str, *, since: dt.datetime,
                  purpose: str, body: str | None = None,
                  url: str | None = None) -> OutboxMessage | None:
        """The outbox's sends are its rows: one that was not written was not sent."""
        return None


class TwilioTelephony:
    """Sends through Twilio's REST API (with a timeout: the library's default is none)."""

    name = "twilio"

    def __init__(self, settings: Settings, http_client: HttpClient | None = None) -> None:
        self.settings = settings
        self.from_number = settings.helpline_number
        self.client = Client(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            http_client=http_client or TwilioHttpClient(timeout=settings.twilio_timeout_seconds),
        )

    def send_sms(self, session: Session, to: str, body: str, *, purpose: str,
                 status_callback: str | None = None,
                 call_sid: str | None = None) -> OutboxMessage:
        to = _dialled(to) or to  # a number that is none is refused by the limits
        refused = admit_sms(session, self.settings, to, purpose=purpose, provider=self.name,
                            call_sid=call_sid)
        if refused is not None:
            return refused
        fields: dict[str, object] = dict(kind="sms", to_number=to, from_number=self.from_number,
                                         body=body, provider=self.name, purpose=purpose)
        try:
            kwargs = {"status_callback": status_callback} if status_callback else {}
            sent = self.client.messages.create(to=to, from_=self.from_number, body=body, **kwargs)
        except (TwilioRestException, TwilioException, OSError) as exc:
            return _record(session, status=_failed(exc), error=_error_text(exc), **fields)
        return _record(session, status=sent.status or "queued", provider_sid=sent.sid, **fields)

    def queue_sms(self, session: Session, to: str, body: str, *, purpose: str,
                  call_sid: str | None = None) -> OutboxMessage:
        """Record the text as pending, for a scheduler job to send: no REST call, for a
        webhook. The limits are taken now, so the caller hears a refusal at once."""
        to = _dialled(to) or to
        refused = admit_sms(session, self.settings, to, purpose=purpose, provider=self.name,
                            call_sid=call_sid)
        if refused is not None:
            return refused
        return _record(session, kind="sms", to_number=to, from_number=self.from_number,
                       body=body, status="pending", provider=self.name, purpose=purpose)

    def send_queued(self, message: OutboxMessage) -> None:
        """Send a text :meth:`queue_sms` recorded (its limits were taken then)."""
        try:
            sent = self.client.messages.create(to=message.to_number, from_=message.from_number,
                                               body=message.body or "")
        except (TwilioRestException, TwilioException, OSError) as exc:
            message.status, message.error = _failed(exc), _error_text(exc)
            return
        message.status, message.provider_sid = sent.status or "queued", sent.sid

    def place_call(self, session: Session, to: str, url: str, *, purpose: str,
                   status_callback: str | None = None,
                   caller_id: str | None = None) -> OutboxMessage:
        from_number = caller_id or self.from_number
        number = _dialled(to)
        if number is None:
            return _undiallable(session, to, from_number=from_number, twiml_url=url,
                                provider=self.name, purpose=purpose)
        fields: dict[str, object] = dict(kind="call", to_number=number, from_number=from_number,
                                         twiml_url=url, provider=self.name, purpose=purpose)
        try:
            kwargs = {"status_callback": status_callback} if status_callback else {}
            call = self.client.calls.create(to=number, from_=from_number, url=url, **kwargs)
        except (TwilioRestException, TwilioException, OSError) as exc:
            return _record(session, status=_failed(exc), error=_error_text(exc), **fields)
        return _record(session, status=call.status or "queued", provider_sid=call.sid, **fields)

    def redirect_call(self, session: Session, call_sid: str, to: str, url: str, *,
                      purpose: str) -> OutboxMessage:
        """Move a live call to new TwiML (Twilio: update the call's ``Url``)."""
        fields: dict[str, object] = dict(kind="redirect", to_number=to,
                                         from_number=self.from_number, twiml_url=url,
                                         provider=self.name, purpose=purpose,
                                         provider_sid=call_sid)
        try:
            call = self.client.calls(call_sid).update(url=url, method="POST")
        except (TwilioRestException, TwilioException, OSError) as exc:
            return _record(session, status="failed", error=_error_text(exc), **fields)
        return _record(session, status=call.status or "queued", **fields)

    def call_status(self, call_sid: str) -> CallLookup | None:
        """Ask Twilio for the call (``GET /Calls/{sid}``); None when it cannot be asked."""
        try:
            call = self.client.calls(call_sid).fetch()
        except (TwilioRestException, TwilioException, OSError) as exc:
            log.warning("could not ask Twilio for call %s: %s", call_sid, _error_text(exc))
            return None
        if not call.status:
            return None
        duration = int(call.duration) if call.duration and call.duration.isdigit() else None
        return CallLookup(status=str(call.status), ended_at=call.end_time, duration=duration)

    def end_call(self, session: Session, call_sid: str, to: str, *,
                 purpose: str) -> OutboxMessage:
        """Hang up a live call (Twilio: update the call's ``Status`` to ``completed``)."""
        fields: dict[str, object] = dict(kind="hangup", to_number=to,
                                         from_number=self.from_number, provider=self.name,
                                         purpose=purpose, provider_sid=call_sid)
        try:
            call = self.client.calls(call_sid).update(status="completed")
        except (TwilioRestException, TwilioException, OSError) as exc:
            return _record(session, status="failed", error=_error_text(exc), **fields)
        return _record(session, status=call.status or "completed", **fields)

    def _conference(self, room: str) -> str | None:
        """The SID of the live conference named ``room`` (the Participants API is addressed
        by SID); None when it has ended or never started."""
        found = self.client.conferences.list(friendly_name=room, status="in-progress", limit=1)
        return found[0].sid if found else None

    def add_participant(self, session: Session, room: str, to: str, *, purpose: str,
                        muted: bool = False, coaching: bool = False,
                        call_sid_to_coach: str | None = None,
                        end_conference_on_exit: bool = False,
                        wait_url: str | None = None) -> OutboxMessage:
        """Dial ``to`` into the live conference ``room`` (``POST .../Participants``); the
        row's ``provider_sid`` is the new participant's CallSid."""
        number = _dialled(to)
        if number is None:
            return _undiallable(session, to, from_number=self.from_number,
                                provider=self.name, purpose=purpose)
        body = _participant_body("add", room, muted=muted, coaching=coaching,
                                 call_sid_to_coach=call_sid_to_coach,
                                 end_conference_on_exit=end_conference_on_exit)
        fields: dict[str, object] = dict(kind="conf", to_number=number,
                                         from_number=self.from_number, provider=self.name,
                                         purpose=purpose, body=body)
        kwargs: dict[str, object] = {"muted": muted, "beep": "false",
                                     "start_conference_on_enter": True,
                                     "end_conference_on_exit": end_conference_on_exit,
                                     "early_media": True, "label": purpose[:30]}
        if coaching and call_sid_to_coach:
            kwargs.update(coaching=True, call_sid_to_coach=call_sid_to_coach)
        if wait_url:
            kwargs.update(wait_url=wait_url, wait_method="POST")
        try:
            conference = self._conference(room)
            if conference is None:
                return _record(session, status="failed", error="the call has ended", **fields)
            added = self.client.conferences(conference).participants.create(
                from_=self.from_number, to=number, **kwargs)
        except (TwilioRestException, TwilioException, OSError) as exc:
            return _record(session, status=_failed(exc), error=_error_text(exc), **fields)
        return _record(session, status=added.status or "queued", provider_sid=added.call_sid,
                       **fields)

    def update_participant(self, session: Session, room: str, call_sid: str, *, purpose: str,
                           hold: bool | None = None, hold_url: str | None = None,
                           muted: bool | None = None, coaching: bool | None = None,
                           call_sid_to_coach: str | None = None) -> OutboxMessage:
        """Hold or resume (``Hold``, ``HoldUrl``), mute, or coach (``Coaching``,
        ``CallSidToCoach``) a participant: ``POST .../Participants/{CallSid}``."""
        fields: dict[str, object] = dict(
            kind="conf", to_number=call_sid, from_number=self.from_number, provider=self.name,
            purpose=purpose, provider_sid=call_sid, twiml_url=hold_url,
            body=_participant_body("update", room, hold=hold, muted=muted, coaching=coaching,
                                   call_sid_to_coach=call_sid_to_coach))
        kwargs: dict[str, object] = {}
        if hold is not None:
            kwargs["hold"] = hold
            if hold and hold_url:
                kwargs.update(hold_url=hold_url, hold_method="POST")
        if muted is not None:
            kwargs["muted"] = muted
        if coaching is not None:
            kwargs["coaching"] = coaching
            if coaching and call_sid_to_coach:
                kwargs["call_sid_to_coach"] = call_sid_to_coach
        try:
            conference = self._conference(room)
            if conference is None:
                return _record(session, status="failed", error="the call has ended", **fields)
            self.client.conferences(conference).participants(call_sid).update(**kwargs)
        except (TwilioRestException, TwilioException, OSError) as exc:
            return _record(session, status="failed", error=_error_text(exc), **fields)
        return _record(session, status="sent", **fields)

    def remove_participant(self, session: Session, room: str, call_sid: str, *,
                           purpose: str) -> OutboxMessage:
        """Take a participant out of the room: ``DELETE .../Participants/{CallSid}``."""
        fields: dict[str, object] = dict(
            kind="conf", to_number=call_sid, from_number=self.from_number, provider=self.name,
            purpose=purpose, provider_sid=call_sid, body=_participant_body("remove", room))
        try:
            conference = self._conference(room)
            if conference is None:
                return _record(session, status="failed", error="the call has ended", **fields)
            self.client.conferences(conference).participants(call_sid).delete()
        except (TwilioRestException, TwilioException, OSError) as exc:
            return _record(session, status="failed", error=_error_text(exc), **fields)
        return _record(session, status="sent", **fields)

    def find_sent(self, session: Session, kind: str, to: str, *, since: dt.datetime,
                  purpose: str, body: str | None = None,
                  url: str | None = None) -> OutboxMessage | None:
        """A text with ``body`` (kind ``sms``) or a call to ``to`` from the helpline that
        Twilio created at or after ``since`` and the outbox does not hold yet, recorded now;
        None when Twilio has none. Raises when Twilio cannot be asked.

        How a run that took over a dead run's claim learns whether it was already sent.
        """
        # Newest first, filtered by Twilio on the numbers only: its date filter is by day
        # and on the date sent, which a text still queued does not have.
        resources = self.client.messages if kind == "sms" else self.client.calls
        listed = resources.list(to=to, from_=self.from_number, limit=FIND_SENT_LIMIT)
        known = set(session.scalars(select(OutboxMessage.provider_sid).where(
            OutboxMessage.provider_sid.in_([r.sid for r in listed]))))
        for found in reversed(listed):
            created = found.date_created
            if (found.sid in known or created is None or created < since
                    or (kind == "sms" and getattr(found, "body", None) != body)):
                continue
            return _record(session, kind=kind, to_number=to, from_number=self.from_number,
                           body=body, twiml_url=url, provider=self.name, purpose=purpose,
                           status=str(found.status or "queued"), provider_sid=found.sid)
        return None


def _participant_body(operation: str, room: str, **fields: object) -> str:
    """What a participant operation asked for, as the outbox row's body (no numbers)."""
    return json.dumps({"op": operation, "room": room,
                       **{k: v for k, v in fields.items() if v is not None}}, sort_keys=True)


def _error_text(exc: Exception) -> str:
    # Twilio's messages can quote the number; keep only the code and the kind of failure.
    if isinstance(exc, TwilioRestException):
        return f"twilio error {exc.code or exc.status}"
    return type(exc).__name__


def telephony_for(settings: Settings, http_client: HttpClient | None = None) -> Telephony:
    if settings.telephony == "twilio":
        return TwilioTelephony(settings, http_client)
    return OutboxTelephony(settings)


#: A text queued by a webhook and not sent within this long is not sent at all: the caller
#: asked for it during a call, and a list of centers arriving a day later helps nobody.
PENDING_TEXT_TTL = dt.timedelta(hours=24)


def send_pending_texts(sessions: Callable[[], Session], telephony: Telephony, *,
                       now: dt.datetime | None = None, batch: int = 50) -> int:
    """Send the texts the IVR queued (``pending``); the scheduler runs this every few seconds.

    Each text is claimed by one conditional UPDATE (``pending`` -> ``sending``) committed before
    the provider is called: two schedulers never both send it, and a crash in between leaves it
    in ``sending`` rather than texting the caller twice. Returns how many went to the provider.
    """
    now = now or utcnow()
    with sessions() as session:
        ids = session.scalars(select(OutboxMessage.id).where(
            OutboxMessage.kind == "sms", OutboxMessage.status == "pending",
        ).order_by(OutboxMessage.id).limit(batch)).all()
    sent = 0
    for message_id in ids:
        with sessions() as session:
            claimed = affected_rows(session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id, OutboxMessage.status == "pending")
                .values(status="sending")))
            session.commit()
            if not claimed:
                continue
            message = session.get_one(OutboxMessage, message_id)
            created = message.created_at if message.created_at.tzinfo else \
                message.created_at.replace(tzinfo=dt.UTC)
            if now - created > PENDING_TEXT_TTL:
                message.status, message.error = "failed", "not sent within a day of the request"
            else:
                telephony.send_queued(message)
                sent += 1
            session.commit()
            if message.status in ("failed", UNKNOWN):
                log.warning("queued text %d %s: %s", message.id,
                            "not sent" if message.status == "failed" else "may not have gone",
                            message.error)
    return sent
