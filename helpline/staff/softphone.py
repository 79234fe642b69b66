"""Where a staff member's calls ring, and the browser phone's access token.

Every counselor leg (the next caller, a bridged follow-up call back, an overdose or hand-off
conference) is placed to :func:`ring_destination`: the one rule for phone or browser. With
Twilio and an API key, a staff member's browser phone (Twilio's Voice SDK on the dashboard's
home page) registers as their client identity with a short-lived token from
:func:`issue_voice_token`. The browser phone only receives calls; it places none, so it needs
no TwiML app and the token grants no outgoing calls.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant

from helpline import audit, crypto
from helpline.config import Settings
from helpline.db import utcnow
from helpline.models import OutboxMessage, User
from helpline.telephony import Telephony

log = logging.getLogger(__name__)

#: How long a token lets a browser register. The page asks for a new one shortly before the
#: end, so a browser left behind after its session ended stops ringing within this time.
TOKEN_TTL_SECONDS = 600


class TakeCallsOn(StrEnum):
    PHONE = "phone"
    BROWSER = "browser"


class SoftphoneUnavailable(Exception):
    """No browser phone for this person: Twilio is not configured for it, or their calls ring
    their phone. The message says which."""


def softphone_available(settings: Settings) -> bool:
    """Whether browsers can take calls: Twilio carries them and an API key signs tokens."""
    return (settings.telephony == "twilio" and bool(settings.twilio_account_sid)
            and bool(settings.twilio_api_key_sid) and bool(settings.twilio_api_key_secret))


def rings_browser(user: User, settings: Settings) -> bool:
    """Whether ``user``'s calls ring their browser phone rather than their phone.

    Without a phone number there is nothing else to ring. With one, the browser only when the
    browser phone exists and they chose it.
    """
    if not user.phone:
        return True
    return softphone_available(settings) and user.take_calls_on == TakeCallsOn.BROWSER


def ring_destination(user: User, settings: Settings) -> str:
    """Where to place a call that rings ``user``: ``client:<identity>`` or their number."""
    phone = user.phone
    if not phone or rings_browser(user, settings):
        return f"client:{user.client_identity}"
    return phone


def ring_into_room(session: Session, telephony: Telephony, user: User, settings: Settings,
                   url: str, *, purpose: str, move_live_leg: bool = True) -> OutboxMessage:
    """Bring ``user`` into the conference at ``url``: their live leg (the one take_next_call
    placed) moves there when there is one, otherwise a new call rings them."""
    destination = ring_destination(user, settings)
    leg = _live_leg(session, destination) if move_live_leg else None
    if leg is not None and leg.provider_sid:
        return telephony.redirect_call(session, leg.provider_sid, destination, url,
                                       purpose=purpose)
    return telephony.place_call(session, destination, url, purpose=purpose)


def _live_leg(session: Session, destination: str) -> OutboxMessage | None:
    # The leg take_next_call placed to this counselor: the latest one to the same place.
    return session.scalar(select(OutboxMessage).where(
        OutboxMessage.purpose == "counselor_leg",
        OutboxMessage.to_hash == crypto.caller_hash(destination),
        OutboxMessage.provider_sid.is_not(None)).order_by(OutboxMessage.id.desc()).limit(1))


def set_take_calls_on(session: Session, user: User, choice: str, *, by: User) -> bool:
    """Record where ``user`` takes calls ("phone" or "browser"); True if it changed.

    Raises ValueError, saying why, for any other choice or for "phone" without a number. The
    audit event names the field and the choice, never the number.
    """
    if choice not in set(TakeCallsOn):
        raise ValueError("choose this browser or your phone")
    if choice == TakeCallsOn.PHONE and not user.phone:
        raise ValueError("no phone number is set for you: a supervisor can add one")
    if user.take_calls_on == choice:
        return False
    user.take_calls_on = choice
    audit.record(session, "user.update", actor=by, record_type="user", record_id=user.id,
                 detail={"fields": ["take_calls_on"], "take_calls_on": choice})
    return True


@dataclass(frozen=True)
class VoiceToken:
    jwt: str
    identity: str
    ttl_seconds: int
    expires_at: dt.datetime


def issue_voice_token(session: Session, user: User, settings: Settings, *,
                      address: str | None = None,
                      now: dt.datetime | None = None) -> VoiceToken:
    """A Voice access token that lets ``user``'s browser receive their calls.

    Identity: their client identity; grant: incoming calls only; valid from ``now`` for
    :data:`TOKEN_TTL_SECONDS`. Made offline (no request to Twilio). Audited and logged, never
    with the token. Raises :class:`SoftphoneUnavailable` when their calls do not ring a
    browser. Who may ask (counselors and supervisors) is the dashboard's rule.
    """
    if not softphone_available(settings):
        raise SoftphoneUnavailable("the browser phone needs Twilio and an API key")
    if not rings_browser(user, settings):
        raise SoftphoneUnavailable("your calls ring your phone")
    now = now or utcnow()
    issued = int(now.timestamp())
    token = AccessToken(settings.twilio_account_sid, settings.twilio_api_key_sid,
                        settings.twilio_api_key_secret, identity=user.client_identity,
                        nbf=issued, valid_until=issued + TOKEN_TTL_SECONDS)
    token.add_grant(VoiceGrant(incoming_allow=True))
    audit.record(session, "softphone.token", actor=user, record_type="user",
                 record_id=user.id, address=address,
                 detail={"identity": user.client_identity, "ttl": TOKEN_TTL_SECONDS})
    log.info("voice token for user %s (%s s)", user.id, TOKEN_TTL_SECONDS)
    return VoiceToken(token.to_jwt(), user.client_identity, TOKEN_TTL_SECONDS,
                      dt.datetime.fromtimestamp(issued + TOKEN_TTL_SECONDS, dt.UTC))
