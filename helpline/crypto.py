"""Field encryption and keyed caller hashes: the one door for confidential values.

Values are sealed with AES-256-GCM under a versioned key from the environment
(``HELPLINE_DATA_KEYS``). The stored form is ``hl1:<version>:<base64(nonce|ciphertext)>``;
the column's *purpose* is bound in as associated data, so a value copied from one column to
another does not decrypt. Repeat callers are matched by an HMAC of the normalised number
(``HELPLINE_HASH_KEY``), never by the number itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

from helpline import phones

PREFIX = "hl1"


class DecryptionError(Exception):
    """A stored value cannot be opened with the configured keys."""


class Keyring:
    def __init__(self, data_keys: Mapping[int, bytes], hash_key: bytes) -> None:
        if not data_keys:
            raise ValueError("at least one data key is needed")
        for version, key in data_keys.items():
            if len(key) != 32:
                raise ValueError(f"data key version {version} must be 32 bytes, got {len(key)}")
        if len(hash_key) != 32:
            raise ValueError(f"the hash key must be 32 bytes, got {len(hash_key)}")
        self._keys = {v: AESGCM(k) for v, k in data_keys.items()}
        self.current_version = max(data_keys)
        self.versions = frozenset(data_keys)
        self._hash_key = hash_key

    def encrypt(self, plaintext: str, purpose: str) -> str:
        nonce = os.urandom(12)
        sealed = self._keys[self.current_version].encrypt(
            nonce, plaintext.encode("utf-8"), purpose.encode()
        )
        token = base64.urlsafe_b64encode(nonce + sealed).decode()
        return f"{PREFIX}:{self.current_version}:{token}"

    def decrypt(self, stored: str, purpose: str) -> str:
        version = key_version(stored)
        aead = self._keys.get(version)
        if aead is None:
            raise DecryptionError(
                f"a value is sealed with key version {version}, which HELPLINE_DATA_KEYS "
                "does not hold"
            )
        raw = base64.urlsafe_b64decode(stored.split(":", 2)[2])
        try:
            return aead.decrypt(raw[:12], raw[12:], purpose.encode()).decode("utf-8")
        except InvalidTag:
            raise DecryptionError(
                f"a value sealed with key version {version} does not open with the configured "
                "key of that version (wrong key?)"
            ) from None

    def caller_hash(self, number: str | None) -> str | None:
        """The keyed hash that recognises a repeat caller, or None for anonymous numbers."""
        normalised = normalise_number(number)
        if normalised is None:
            return None
        return hmac.new(self._hash_key, normalised.encode(), hashlib.sha256).hexdigest()


def key_version(stored: str) -> int:
    parts = stored.split(":", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1].isdigit():
        raise DecryptionError("a stored value is not in the sealed format")
    return int(parts[1])


def normalise_number(number: str | None) -> str | None:
    """E.164 form of a caller ID (:func:`helpline.phones.caller_id`); None if withheld."""
    return phones.caller_id(number)


_active: Keyring | None = None


def install(keyring: Keyring) -> None:
    """Make ``keyring`` the one the encrypted column type uses (set by the app factory)."""
    global _active
    _active = keyring


def active() -> Keyring:
    if _active is None:
        raise DecryptionError("no encryption keys are configured (create_app was not called)")
    return _active


def caller_hash(number: str | None) -> str | None:
    return active().caller_hash(number)


class EncryptedText(TypeDecorator[str]):
    """A text column stored sealed; ``purpose`` names the column and is bound in."""

    impl = Text
    cache_ok = True

    def __init__(self, purpose: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.purpose = purpose

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        if value is None:
            return None
        return active().encrypt(value, self.purpose)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        if value is None:
            return None
        return active().decrypt(value, self.purpose)
