"""What every `helpline` command shares: settings and database made on first use, and
failures turned into one clear line."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import cached_property, wraps
from typing import Any

import click
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from helpline import crypto
from helpline.config import ConfigError, Settings, load_settings
from helpline.db import Database


class CliContext:
    """Settings and database, made on first use so that `--help` needs neither."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings

    @cached_property
    def settings(self) -> Settings:
        settings = self._settings or load_settings()
        crypto.install(crypto.Keyring(settings.data_keys, settings.hash_key))
        return settings

    @cached_property
    def db(self) -> Database:
        return Database.for_settings(self.settings)

    def session(self) -> AbstractContextManager[Session]:
        return self.db.session()


pass_ctx = click.make_pass_decorator(CliContext, ensure=True)


def friendly_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn configuration and database failures into one clear line and exit status 2."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            raise click.ClickException(f"configuration: {exc}") from None
        except crypto.DecryptionError as exc:
            raise click.ClickException(f"encryption keys: {exc}") from None
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "unreachable"
            raise click.ClickException(f"database: {reason}") from None

    return wrapper
