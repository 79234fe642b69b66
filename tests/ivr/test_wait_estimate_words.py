"""The hold message never says "about 1 minutes": a short wait is told by the place in line."""

from __future__ import annotations


def test_a_wait_of_about_a_minute_is_not_counted_in_minutes(phone, available_counselor):  # type: ignore[no-untyped-def]
    caller = phone()
    queued = caller.press(caller.english_menu(), "1")
    waiting = caller.wait(queued, average=50)
    assert "You are number 1 in line." in waiting.says
    assert "minutes" not in waiting.says


def test_a_longer_wait_is_counted_in_minutes(phone, available_counselor):  # type: ignore[no-untyped-def]
    caller = phone()
    queued = caller.press(caller.english_menu(), "1")
    assert "about 2 minutes" in caller.wait(queued, average=100).says
