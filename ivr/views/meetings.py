"""Tonight's support group meetings near a ZIP code: heard in the caller's language, texted on
request (through the same consent and limits as the locator's texts).

Reached from the support-group option (key 3 after the groups information). The meetings are
those of the directory, Meeting Guide feeds included: the next few starting after now in each
meeting's own time zone, nearest first, then online ones (helpline/directory/upcoming.py).
Times are told in the time zone of the caller's ZIP code.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError
from twilio.twiml.voice_response import VoiceResponse

from helpline.app.runtime import runtime
from helpline.db import utcnow
from helpline.directory.geo import zip_point
from helpline.directory.upcoming import Upcoming, UpcomingMeeting, upcoming_meetings
from helpline.flows.flow import Flow
from ivr.blueprint import blueprint
from ivr.steps import menu, step
from ivr.twiml import arg_int, current_flow, digits, gather, say, twiml, url
from ivr.views.info import spoken_miles, text_caller, zip_of_call
from ivr.views.queue import enqueue_response

MAX_NAME = 80  # a long name read aloud hides the time and place


def ask_response(flow: Flow, tries: int = 0,
                 response: VoiceResponse | None = None) -> VoiceResponse:
    response = response or VoiceResponse()
    step("meetings", updates={"need": "groups", "step": "meetings"})
    g = gather(flow, url("meetings/zip", lang=flow.language, tries=tries), num_digits=5,
               timeout=10)
    say(g, flow, flow.prompts["meetings_zip_ask"])
    response.append(g)
    response.redirect(url("meetings/again", lang=flow.language, tries=tries + 1),
                      method="POST")
    return response


@blueprint.post("/meetings/ask")
def meetings_ask():  # type: ignore[no-untyped-def]
    return twiml(ask_response(current_flow()))


@blueprint.post("/meetings/again")
def meetings_again():  # type: ignore[no-untyped-def]
    flow, tries = current_flow(), arg_int("tries")
    if tries > 2:
        return twiml(menu(VoiceResponse(), flow))
    response = VoiceResponse()
    say(response, flow, flow.prompts["no_input"])
    return twiml(ask_response(flow, tries, response))


@blueprint.post("/meetings/zip")
def meetings_zip():  # type: ignore[no-untyped-def]
    flow, entered, tries = current_flow(), digits(), arg_int("tries")
    response = VoiceResponse()
    if len(entered) != 5 or zip_point(entered) is None:
        step("zip_unknown")
        say(response, flow, flow.prompts["zip_unknown"])
        if tries < 1:
            return twiml(ask_response(flow, tries + 1, response))
        return twiml(menu(response, flow))
    step("meetings_zip", updates={"zip_code": entered})
    return twiml(_read(flow, entered, response))


def _clock(when: dt.datetime, language: str) -> str:
    if language == "en":
        return f"{when.hour % 12 or 12}:{when.minute:02d} {'AM' if when.hour < 12 else 'PM'}"
    return f"{when.hour}:{when.minute:02d}"


def _when(flow: Flow, meeting: UpcomingMeeting, zone: dt.tzinfo, now: dt.datetime) -> str:
    local = meeting.starts_at.astimezone(zone)
    prompt = "meeting_today" if local.date() == now.astimezone(zone).date() \
        else "meeting_tomorrow"
    return flow.say(prompt, time=_clock(local, flow.language))


def _place(meeting: UpcomingMeeting) -> str:
    g = meeting.group
    return g.location or g.street or g.city or g.zip_code


def _found(flow: Flow, zip_code: str, now: dt.datetime) -> tuple[Upcoming, dt.tzinfo]:
    # The meetings' columns are all loaded by the query: they stay readable once it closes.
    with runtime().db.sessions() as session:
        found = upcoming_meetings(session, zip_code, now, language=flow.language)
    return found, ZoneInfo(found.zone)


def spoken_meetings(flow: Flow, found: Upcoming, zone: dt.tzinfo, now: dt.datetime) -> list[str]:
    """What the caller hears: each meeting near, numbered, then the online ones."""
    lines = [flow.say("meeting", n=n, name=m.group.name[:MAX_NAME], when=_when(flow, m, zone, now),
                      distance=spoken_miles(m.distance_miles), place=_place(m)[:MAX_NAME])
             for n, m in enumerate(found.in_person, start=1)]
    lines += [flow.say("meeting_online", name=m.group.name[:MAX_NAME],
                       when=_when(flow, m, zone, now)) for m in found.online]
    return lines


def texted_meetings(flow: Flow, found: Upcoming, zone: dt.tzinfo, now: dt.datetime) -> str:
    """The text: name, when, and the address or how to join, for each meeting."""
    items = []
    for m in found.all:
        g = m.group
        where = [", ".join(p for p in (g.street, g.city) if p)] if m.distance_miles is not None \
            else []
        if g.online:
            where.append(g.online_url or (f"tel {g.conference_phone}" if g.conference_phone
                                          else ""))
        items.append(", ".join(p for p in (g.name[:MAX_NAME], _when(flow, m, zone, now), *where)
                               if p))
    return flow.sms["meetings"].format(meetings="; ".join(items))


def _read(flow: Flow, zip_code: str, response: VoiceResponse) -> VoiceResponse:
    now = utcnow()
    try:
        found, zone = _found(flow, zip_code, now)
    except SQLAlchemyError:
        say(response, flow, flow.prompts["meetings_unavailable"])
        return _choices(flow, response)
    if not found.all:
        say(response, flow, flow.prompts["meetings_none_found"])
    for line in spoken_meetings(flow, found, zone, now):
        say(response, flow, line)
    return _choices(flow, response)


def _choices(flow: Flow, response: VoiceResponse) -> VoiceResponse:
    g = gather(flow, url("meetings/choice", lang=flow.language))
    say(g, flow, flow.prompts["meetings_choices"])
    response.append(g)
    response.redirect(url("menu", lang=flow.language), method="POST")
    return response


@blueprint.post("/meetings/choice")
def meetings_choice():  # type: ignore[no-untyped-def]
    flow, key = current_flow(), digits()
    response = VoiceResponse()
    if key == "3":
        return twiml(enqueue_response(flow, "general", "groups"))
    if key == "0":
        return twiml(menu(response, flow))
    if key in {"1", "2"}:
        try:
            zip_code = zip_of_call()
        except SQLAlchemyError:
            zip_code = None
        if zip_code is None:
            return twiml(ask_response(flow))
        if key == "1":
            return twiml(_read(flow, zip_code, response))
        now = utcnow()
        try:
            found, zone = _found(flow, zip_code, now)
        except SQLAlchemyError:
            say(response, flow, flow.prompts["meetings_unavailable"])
            return twiml(_choices(flow, response))
        if not found.all:
            say(response, flow, flow.prompts["meetings_none_found"])
            return twiml(_choices(flow, response))
        body = texted_meetings(flow, found, zone, now)
        say(response, flow, flow.prompts[text_caller(body, "ivr_meetings")])
        return twiml(_choices(flow, response))
    say(response, flow, flow.say("not_an_option", key=" ".join(key[:3])) if key
        else flow.prompts["not_understood"])
    return twiml(_choices(flow, response))
