"""Web addresses and e-mail addresses as other systems accept them (RFC 3986 absolute URIs).

Sources write websites without a scheme ("www.example.org", "example.org/intake"): such an
address gets ``https://`` in front when the result is a valid web address, and an address that
cannot be made one is left out rather than published invalid.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_HOST = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\.?",
                   re.IGNORECASE)
# What RFC 3986 allows in a URI, percent signs included (checked apart).
_URI_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@" + _HOST.pattern.replace("\\.?", ""),
                    re.IGNORECASE)


def web_address(raw: str | None) -> str:
    """``raw`` as an http(s) URL, ``https://`` added where the scheme is missing; "" when it
    cannot be made a valid one."""
    text = (raw or "").strip()
    if not text:
        return ""
    if "://" not in text:
        text = "https://" + text.lstrip("/")
    if not _URI_CHARACTERS.fullmatch(text) or _PERCENT.search(text):
        return ""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return ""
    host = parts.hostname or ""
    if parts.scheme.lower() not in ("http", "https") or not _HOST.fullmatch(host) \
            or parts.username is not None or (port is not None and not 0 < port < 65536):
        return ""
    return text


def email_address(raw: str | None) -> str:
    """``raw`` when it is an e-mail address, otherwise ""."""
    text = (raw or "").strip()
    return text if _EMAIL.fullmatch(text) and len(text) <= 254 else ""
