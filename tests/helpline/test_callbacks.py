"""The one builder of the addresses Twilio is given to call back."""

from __future__ import annotations

from helpline.callbacks import webhook_url
from helpline.config import Settings


def test_a_webhook_address_is_the_public_base_the_ivr_route_and_a_plain_query() -> None:
    settings = Settings(public_base_url="https://helpline.example.org")
    assert (webhook_url(settings, "conference/join", room="od-7", role="caller", lang="es")
            == "https://helpline.example.org/ivr/conference/join?room=od-7&role=caller&lang=es")
    assert (webhook_url(settings, "followups/3/answer")
            == "https://helpline.example.org/ivr/followups/3/answer")
    assert webhook_url(settings, "menu", tries=None) == "https://helpline.example.org/ivr/menu"


def test_without_a_public_base_the_requests_own_address_or_the_local_server() -> None:
    settings = Settings(public_base_url="")
    assert (webhook_url(settings, "voice", origin="http://10.0.0.5:8000/")
            == "http://10.0.0.5:8000/ivr/voice")
    assert webhook_url(settings, "voice") == "http://127.0.0.1:5000/ivr/voice"
