"""Twilio webhooks and the call flow."""

from flask import Blueprint

blueprint = Blueprint("ivr", __name__, url_prefix="/ivr")
