"""One settings object, read once from the environment and `.env`, checked at start.

Nothing else in the code base reads ``os.environ``: everything configurable arrives here,
is validated, and is handed around as a frozen :class:`Settings`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


DEVELOPMENT = "development"
PRODUCTION = "production"
TEST = "test"

_TWILIO_TOKEN = re.compile(r"^[0-9a-f]{32}$")
_TWILIO_SID = re.compile(r"^AC[0-9a-f]{32}$")
_TWILIO_KEY_SID = re.compile(r"^SK[0-9a-f]{32}$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


@dataclass(frozen=True)
class Settings:
    env: str = DEVELOPMENT
    instance_dir: Path = Path("instance")
    database_url: str = ""
    secret_key: str = ""
    # version -> 32-byte key; the highest version encrypts, all of them decrypt.
    data_keys: Mapping[int, bytes] = field(default_factory=dict)
    hash_key: bytes = b""

    helpline_name: str = "Helpline"
    helpline_number: str = "+18005550100"
    public_base_url: str = ""
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    # An API key signs the browser phone's access tokens (helpline.softphone).
    twilio_api_key_sid: str = ""
    twilio_api_key_secret: str = ""
    # Optional and unused: the browser phone only receives calls, so it needs no TwiML app.
    twilio_twiml_app_sid: str = ""
    twilio_timeout_seconds: float = 10.0
    telephony: str = "outbox"  # "outbox" or "twilio"

    crisis_number: str = "988"
    # The overdose protocol conferences this number in. Twilio routes 911 by the Twilio
    # number's registered emergency address, not the caller's: emergency_area names that
    # area so counselors can tell when the caller needs their own local number.
    emergency_number: str = "911"
    emergency_area: str = ""
    handle_crisis_in_house: bool = False
    fallback_number: str = ""
    max_hold_seconds: int = 600
    callbacks_enabled: bool = True
    # How often a web process asks which IVR version is live (a one-row query).
    ivr_flow_check_seconds: int = 2
    default_timezone: str = "America/New_York"
    spool_dir: Path = Path("instance/spool")

    session_idle_minutes: int = 15
    # Live dashboard streams (SSE) one process holds open at once; each holds a server thread.
    live_streams_max: int = 8
    require_second_factor_for_all: bool = False
    lockout_threshold: int = 5
    lockout_minutes: int = 15

    scheduler_in_process: bool = True
    retention_days: int = 0  # 0 keeps confidential data until removed by hand
    followup_max_attempts: int = 3
    followup_retry_minutes: int = 60
    quiet_hours_start: int = 21  # no texts or calls from 9 pm ...
    quiet_hours_end: int = 8  # ... until 8 am in the caller's time zone
    sms_checkin_text: str = (
        "Hi, this is {helpline} checking in as you asked. Reply or call {number} any time. "
        "Reply STOP to opt out."
    )
    # The neutral name texts and call backs use unless the caller allowed the helpline's own.
    safe_contact_alias: str = "Wellness Line"
    # How long a consent given on the phone lasts when no other date or event is given.
    consent_days: int = 90

    log_level: str = "INFO"

    @property
    def is_production(self) -> bool:
        return self.env == PRODUCTION

    @property
    def current_key_version(self) -> int:
        return max(self.data_keys)

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{name}: expected true or false, got {raw!r}")


def _int(name: str, raw: str, minimum: int = 0, maximum: int | None = None) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}: expected a whole number, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and {maximum}" if maximum is not None else ""
        raise ConfigError(f"{name}: must be between {minimum}{upper}, got {value}")
    return value


def _emergency_number(raw: str) -> str:
    # Emergency short codes (911, 933 Twilio's address test) or an E.164 number.
    if re.fullmatch(r"\d{3}", raw) or _E164.match(raw):
        return raw
    raise ConfigError(f"EMERGENCY_NUMBER: expected 911, another 3-digit code or E.164, "
                      f"got {raw!r}")


def _alias(raw: str) -> str:
    # The name a caller's phone shows or says: short, and not the kind of word that would
    # tell whoever sees it what the call was about.
    if len(raw) > 40 or re.search(r"addict|substance|drug|alcohol|opioid|detox|rehab|recover",
                                  raw, re.IGNORECASE):
        raise ConfigError("SAFE_CONTACT_ALIAS: at most 40 characters, and neutral (no word of "
                          "substance use or treatment)")
    return raw


def _b64key(name: str, raw: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(raw.strip() + "=" * (-len(raw.strip()) % 4))
    except (binascii.Error, ValueError):
        raise ConfigError(f"{name}: not valid base64") from None
    if len(key) != 32:
        raise ConfigError(f"{name}: a key must be 32 bytes (base64-encoded), got {len(key)}")
    return key


def parse_data_keys(raw: str, name: str = "HELPLINE_DATA_KEYS") -> dict[int, bytes]:
    """Parse ``"2:<base64>,1:<base64>"`` into ``{2: key, 1: key}``."""
    keys: dict[int, bytes] = {}
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        version_text, sep, material = part.partition(":")
        if not sep or not version_text.strip().isdigit():
            raise ConfigError(f"{name}: each key is VERSION:BASE64, e.g. 1:{new_key()}")
        version = int(version_text)
        if version in keys:
            raise ConfigError(f"{name}: key version {version} is given twice")
        keys[version] = _b64key(f"{name} (version {version})", material)
    if not keys:
        raise ConfigError(f"{name}: no key given")
    return keys


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def _check_database_url(url: str) -> str:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            "DATABASE_URL: not a database URL (expected e.g. sqlite:///instance/helpline.db "
            "or postgresql+psycopg://user@host/db)"
        ) from None
    if parsed.get_backend_name() not in {"sqlite", "postgresql"}:
        raise ConfigError(
            f"DATABASE_URL: unsupported database {parsed.get_backend_name()!r}; "
            "use sqlite or postgresql"
        )
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        # Plain postgresql:// would pick psycopg2, which is not installed.
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def _read_env_file(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the settings file ({exc.strerror})") from None
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def _local_secrets(instance_dir: Path) -> dict[str, str]:
    """Development keys, made on first run and kept in the instance folder (mode 0600)."""
    path = instance_dir / "dev-secrets.json"
    if path.exists():
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: unreadable development secrets ({exc})") from None
    generated = {
        "SECRET_KEY": secrets.token_urlsafe(48),
        "HELPLINE_DATA_KEYS": f"1:{new_key()}",
        "HELPLINE_HASH_KEY": new_key(),
        "TWILIO_AUTH_TOKEN": secrets.token_hex(16),
    }
    instance_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(generated, fh, indent=2)
    return generated


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
) -> Settings:
    """Read, check and return the settings; raise :class:`ConfigError` naming the bad one."""
    values: dict[str, str] = {}
    if env_file is not None:
        values.update(_read_env_file(Path(env_file)))
    values.update(os.environ if environ is None else environ)

    def get(name: str, default: str = "") -> str:
        return values.get(name, default).strip()

    env = get("HELPLINE_ENV", DEVELOPMENT).lower()
    if env not in {DEVELOPMENT, PRODUCTION, TEST}:
        raise ConfigError(f"HELPLINE_ENV: expected development or production, got {env!r}")
    instance_dir = Path(get("HELPLINE_INSTANCE_DIR", "instance")).expanduser()

    if env == PRODUCTION:
        for name in ("SECRET_KEY", "HELPLINE_DATA_KEYS", "HELPLINE_HASH_KEY", "DATABASE_URL"):
            if not get(name):
                raise ConfigError(f"{name}: required in production and not set")
        local: dict[str, str] = {}
    else:
        needs_local = any(
            not get(n)
            for n in ("SECRET_KEY", "HELPLINE_DATA_KEYS", "HELPLINE_HASH_KEY", "TWILIO_AUTH_TOKEN")
        )
        local = _local_secrets(instance_dir) if needs_local else {}

    def secret(name: str) -> str:
        return get(name) or local.get(name, "")

    secret_key = secret("SECRET_KEY")
    if len(secret_key) < 32:
        raise ConfigError("SECRET_KEY: must be at least 32 characters of random text")

    database_url = get("DATABASE_URL") or f"sqlite:///{(instance_dir / 'helpline.db').resolve()}"
    database_url = _check_database_url(database_url)

    account_sid = get("TWILIO_ACCOUNT_SID")
    auth_token = secret("TWILIO_AUTH_TOKEN")
    if account_sid and not _TWILIO_SID.match(account_sid):
        raise ConfigError("TWILIO_ACCOUNT_SID: expected AC followed by 32 hex characters")
    if env == PRODUCTION and not auth_token:
        raise ConfigError("TWILIO_AUTH_TOKEN: required in production to check webhook signatures")
    if auth_token and not _TWILIO_TOKEN.match(auth_token):
        raise ConfigError("TWILIO_AUTH_TOKEN: expected 32 hex characters")

    telephony = get("HELPLINE_TELEPHONY", "twilio" if account_sid and get("TWILIO_AUTH_TOKEN")
                    else "outbox").lower()
    if telephony not in {"twilio", "outbox"}:
        raise ConfigError(f"HELPLINE_TELEPHONY: expected twilio or outbox, got {telephony!r}")
    if telephony == "twilio" and not account_sid:
        raise ConfigError("TWILIO_ACCOUNT_SID: required when HELPLINE_TELEPHONY=twilio")

    api_key_sid, api_key_secret = get("TWILIO_API_KEY_SID"), get("TWILIO_API_KEY_SECRET")
    if api_key_sid and not _TWILIO_KEY_SID.match(api_key_sid):
        raise ConfigError("TWILIO_API_KEY_SID: expected SK followed by 32 hex characters")
    if api_key_sid and not api_key_secret:
        raise ConfigError("TWILIO_API_KEY_SECRET: required with TWILIO_API_KEY_SID")
    if api_key_secret and not api_key_sid:
        raise ConfigError("TWILIO_API_KEY_SID: required with TWILIO_API_KEY_SECRET")

    helpline_number = get("HELPLINE_NUMBER", Settings.helpline_number)
    if not _E164.match(helpline_number):
        raise ConfigError("HELPLINE_NUMBER: expected E.164, e.g. +18005550100")
    public_base_url = get("PUBLIC_BASE_URL").rstrip("/")
    if public_base_url and not re.match(r"^https?://[^/\s]+(/\S*)?$", public_base_url):
        raise ConfigError("PUBLIC_BASE_URL: expected e.g. https://helpline.example.org")
    if env == PRODUCTION and public_base_url.startswith("http://"):
        raise ConfigError("PUBLIC_BASE_URL: must be https in production")

    log_level = get("LOG_LEVEL", "INFO").upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"LOG_LEVEL: expected DEBUG, INFO, WARNING or ERROR, got {log_level!r}")

    return Settings(
        env=env,
        instance_dir=instance_dir,
        database_url=database_url,
        secret_key=secret_key,
        data_keys=parse_data_keys(secret("HELPLINE_DATA_KEYS")),
        hash_key=_b64key("HELPLINE_HASH_KEY", secret("HELPLINE_HASH_KEY")),
        helpline_name=get("HELPLINE_NAME", Settings.helpline_name),
        helpline_number=helpline_number,
        public_base_url=public_base_url,
        twilio_account_sid=account_sid,
        twilio_auth_token=auth_token,
        twilio_api_key_sid=api_key_sid,
        twilio_api_key_secret=api_key_secret,
        twilio_twiml_app_sid=get("TWILIO_TWIML_APP_SID"),
        telephony=telephony,
        crisis_number=get("CRISIS_NUMBER", Settings.crisis_number),
        emergency_number=_emergency_number(get("EMERGENCY_NUMBER", Settings.emergency_number)),
        emergency_area=get("EMERGENCY_AREA")[:120],
        handle_crisis_in_house=_bool("HANDLE_CRISIS_IN_HOUSE", get("HANDLE_CRISIS_IN_HOUSE")),
        fallback_number=get("FALLBACK_NUMBER"),
        max_hold_seconds=_int("MAX_HOLD_SECONDS", get("MAX_HOLD_SECONDS", "600"), 30,
                              7200),
        callbacks_enabled=_bool("CALLBACKS_ENABLED", get("CALLBACKS_ENABLED", "true")),
        ivr_flow_check_seconds=_int("IVR_FLOW_CHECK_SECONDS",
                                    get("IVR_FLOW_CHECK_SECONDS", "2"), 0, 60),
        default_timezone=get("DEFAULT_TIMEZONE", Settings.default_timezone),
        spool_dir=Path(get("HELPLINE_SPOOL_DIR") or instance_dir / "spool"),
        session_idle_minutes=_int("SESSION_IDLE_MINUTES", get("SESSION_IDLE_MINUTES", "15"), 2),
        live_streams_max=_int("LIVE_STREAMS_MAX", get("LIVE_STREAMS_MAX", "8"), 0, 1000),
        require_second_factor_for_all=_bool(
            "REQUIRE_SECOND_FACTOR_FOR_ALL", get("REQUIRE_SECOND_FACTOR_FOR_ALL")
        ),
        lockout_threshold=_int("LOCKOUT_THRESHOLD", get("LOCKOUT_THRESHOLD", "5"), 1),
        lockout_minutes=_int("LOCKOUT_MINUTES", get("LOCKOUT_MINUTES", "15"), 1),
        scheduler_in_process=_bool("SCHEDULER_IN_PROCESS", get("SCHEDULER_IN_PROCESS", "true")),
        retention_days=_int("RETENTION_DAYS", get("RETENTION_DAYS", "0")),
        followup_max_attempts=_int(
            "FOLLOWUP_MAX_ATTEMPTS", get("FOLLOWUP_MAX_ATTEMPTS", "3"), 1, 5
        ),
        followup_retry_minutes=_int(
            "FOLLOWUP_RETRY_MINUTES", get("FOLLOWUP_RETRY_MINUTES", "60"), 1
        ),
        quiet_hours_start=_int("QUIET_HOURS_START", get("QUIET_HOURS_START", "21"), 0, 23),
        quiet_hours_end=_int("QUIET_HOURS_END", get("QUIET_HOURS_END", "8"), 0, 23),
        sms_checkin_text=get("SMS_CHECKIN_TEXT") or Settings.sms_checkin_text,
        safe_contact_alias=_alias(get("SAFE_CONTACT_ALIAS") or Settings.safe_contact_alias),
        consent_days=_int("CONSENT_DAYS", get("CONSENT_DAYS", "90"), 1, 3650),
        log_level=log_level,
    )


def settings_for_tests(tmp_path: Path, **overrides: Any) -> Settings:
    """A complete, fixed settings object for a test's own world (no environment read)."""
    base = Settings(
        env=TEST,
        instance_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'helpline.db'}",
        secret_key="test-secret-key-" + "x" * 32,
        data_keys={1: b"\x01" * 32},
        hash_key=b"\x02" * 32,
        twilio_auth_token="0123456789abcdef0123456789abcdef",
        public_base_url="http://helpline.test",
        spool_dir=tmp_path / "spool",
        scheduler_in_process=False,
    )
    known = {f.name for f in fields(Settings)}
    unknown = set(overrides) - known
    if unknown:
        raise TypeError(f"unknown settings: {sorted(unknown)}")
    return replace(base, **overrides)
