"""A second, explicit step before an action that cannot be taken back or that every caller
hears: the first POST answers a page that says what will happen, and only a POST carrying
``confirm=1`` (that page's button) does it.

Rendered by the server, so it works without script and under the CSP; a stray click, a
double-submit or a replayed form without the field does nothing but show the question.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import render_template, request

FIELD = "confirm"


def confirmed() -> bool:
    """True when the form says the person saw the question and said yes."""
    return request.form.get(FIELD) == "1"


def ask(*, title: str, consequences: list[str], button: str, cancel_url: str,
        hidden: Mapping[str, str] | None = None, danger: bool = True,
        link: tuple[str, str] | None = None) -> str:
    """The page asking to confirm the POST just received (posted again to the same URL)."""
    return render_template("dashboard/confirm.html", title=title, consequences=consequences,
                           button=button, action=request.path, cancel_url=cancel_url,
                           hidden=dict(hidden or {}), danger=danger, link=link)
