"""What every `helpline` command shares: settings and database made on first use, and
failures turned into one clear line."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import cached_property, wraps
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy.exc import OperationalError

from helpline.config import ConfigError, Settings, load_settings
from helpline.db import Database, Limits, make_engine

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session


class CliContext:
    """Settings and database, made on first use so that `--help` needs neither."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings

    @cached_property
    def loaded_settings(self) -> Settings:
        """The settings alone, without the keyring that :attr:`settings` installs."""
        return self._settings or load_settings()

    @cached_property
    def settings(self) -> Settings:
        # Imported here: the cipher is needed only by commands that read or write sealed
        # columns, and a command run by scripts (`helpline directory search`) reads none.
        from helpline import crypto

        settings = self.loaded_settings
        crypto.install(crypto.Keyring(settings.data_keys, settings.hash_key))
        return settings

    @cached_property
    def db(self) -> Database:
        return Database.for_settings(self.settings)

    @cached_property
    def engine(self) -> Engine:
        """An engine alone, for Core statements that read no sealed column: no keyring, no
        sessions, and so neither the cipher nor sqlalchemy.orm imported."""
        if "db" in self.__dict__:
            return self.db.engine
        settings = self.loaded_settings
        return make_engine(settings.database_url, Limits.for_settings(settings))

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
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "unreachable"
            raise click.ClickException(f"database: {reason}") from None
        except Exception as exc:
            # Imported on a failure only: up front, it would load the cipher for every command.
            from helpline.crypto import DecryptionError

            if isinstance(exc, DecryptionError):
                raise click.ClickException(f"encryption keys: {exc}") from None
            raise

    return wrapper
