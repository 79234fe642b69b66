"""One settings object, read once from the environment and `.env`, checked at start.

Nothing else in the code base reads ``os.environ``: everything configurable arrives here,
is validated, and is handed around as a frozen :class:`Settings`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import os
import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from helpline import phones


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


DEVELOPMENT = "development"
PRODUCTION = "production"
TEST = "test"

_TWILIO_TOKEN = re.compile(r"^[0-9a-f]{32}$")
_TWILIO_SID = re.compile(r"^AC[0-9a-f]{32}$")
_TWILIO_KEY_SID = re.compile(r"^SK[0-9a-f]{32}$")
_TWILIO_APP_SID = re.compile(r"^AP[0-9a-f]{32}$")
# Words that would tell whoever sees a lock screen or caller ID what the contact was about.
_REVEALING = re.compile(r"addict|substance|drug|alcohol|opioid|detox|rehab|recover",
                        re.IGNORECASE)
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
#: Secrets a container platform may hand over as files: NAME_FILE holds the path.
SECRET_FILE_SETTINGS = ("SECRET_KEY", "HELPLINE_DATA_KEYS", "HELPLINE_HASH_KEY",
                        "TWILIO_AUTH_TOKEN", "TWILIO_API_KEY_SECRET", "DATABASE_URL",
                        "AUDIT_CHECKPOINT_KEY", "METRICS_TOKEN", "FHIR_TASK_TOKEN")


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
    # Proxies in front of the app (load balancer, TLS terminator) whose X-Forwarded-For,
    # -Proto and -Host are believed, counted from the app outwards; 0 believes none.
    trusted_proxy_count: int = 0
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
    # Time limits on the database (helpline.db): a webhook waits on it this long in all, then
    # answers from the spool; connections, statements and the pool have limits of their own.
    ivr_db_wait_seconds: float = 2.5
    db_connect_timeout_seconds: int = 2
    db_statement_timeout_seconds: int = 30
    db_pool_timeout_seconds: int = 5
    # After the database failed a webhook, the next ones go straight to the spool this long.
    db_breaker_seconds: int = 10
    # How long the keys of applied IVR operations are kept (a retry or a replay later than
    # this would apply twice; Twilio retries within minutes, spools are replayed within days).
    idempotency_keep_days: int = 7
    # A call whose end was lost (no status callback) is closed once it has had no event for
    # this long (helpline.calls.lost): a waiting caller, after lost_queued_minutes; any other
    # open call (a long conversation has no events), after lost_call_minutes.
    lost_call_minutes: int = 240
    lost_queued_minutes: int = 10

    session_idle_minutes: int = 15
    # A wallboard in display mode (/supervisor/wallboard?display=1, for a wall screen) stays
    # signed in this long after someone last opened it, whatever session_idle_minutes says.
    wallboard_display_idle_minutes: int = 720
    # Live dashboard streams (SSE) one process holds open at once; each holds a server thread.
    live_streams_max: int = 8
    # Routing (helpline.calls.routing): how long an offer rings before it moves on, and the
    # skill each queue group asks of a counselor (a group not named here asks none).
    ring_timeout_seconds: int = 20
    queue_skills: Mapping[str, str] = field(default_factory=lambda: {"crisis": "crisis"})
    # Each web process runs routing passes itself (a thread); tests run them by hand.
    routing_in_process: bool = True
    # A counselor still in wrap-up this long after their call ended shows on the wallboard
    # (helpline.calls.control.overdue_wrap_ups).
    wrap_up_limit_minutes: int = 10
    require_second_factor_for_all: bool = False
    lockout_threshold: int = 5
    lockout_minutes: int = 15

    scheduler_in_process: bool = True
    retention_days: int = 0  # 0 keeps confidential data until removed by hand
    followup_max_attempts: int = 3
    followup_retry_minutes: int = 60
    # A delivery run's claim on a follow-up lasts this long; then the run is taken for dead
    # and the next run takes the follow-up up (helpline.followups.claims). Longer than a
    # provider call may take (twilio_timeout_seconds), shorter than a claim counts as stuck.
    followup_claim_seconds: int = 300
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
    # Texts cost money per message, and a caller chooses where the IVR's texts go: an
    # attacker's call could make the helpline text premium or satellite numbers (SMS pumping).
    # Caps per call and per number a day, and only numbers of these regions (ISO codes).
    sms_max_per_call: int = 3
    sms_max_per_number_per_day: int = 10
    # The US, Canada and the US territories (Puerto Rico, US Virgin Islands, Guam, American
    # Samoa, Northern Mariana Islands): the part of +1 billed as domestic. The other +1 area
    # codes (Jamaica 876, Dominican Republic 809, Antigua 268, Bahamas 242 ...) are foreign
    # countries billed as international, and the commonest targets of toll fraud.
    sms_allowed_countries: frozenset[str] = frozenset({"US", "CA", "PR", "VI", "GU", "AS", "MP"})

    log_level: str = "INFO"
    log_format: str = "text"  # "text", or "json": one JSON object a line
    # /metrics answers a scraper with this bearer token, or from these networks; else 404.
    metrics_token: str = ""
    metrics_allow: tuple[Network, ...] = ()
    # gunicorn's workers write their counters here and any of them reads all (prometheus_client
    # multiprocess mode); None: each process reports its own.
    metrics_multiprocess_dir: Path | None = None
    # Treatment centers' systems update the FHIR Tasks of the referrals sent to them
    # (PUT /fhir/Task/{id}) with this bearer token; empty: /fhir answers 404.
    fhir_task_token: str = ""
    # The read-only API (/api/): the directory as HSDS is open to anyone ("public") or only to
    # holders of an API token ("token"); the report figures always need a token. Requests a
    # client address may make a minute (a 429 with Retry-After past it); 0 for no limit.
    api_access: str = "public"
    api_requests_per_minute: int = 60

    # Signs the checkpoints of the audit chain's end (helpline.reporting.audit_integrity):
    # a key the database never holds, so that whoever can rewrite the database cannot sign
    # a checkpoint. Empty: derived from hash_key. The file is outside the database too.
    audit_checkpoint_key: bytes = b""
    audit_checkpoint_file: Path = Path("instance/audit-checkpoints.log")

    def __post_init__(self) -> None:
        if self.ivr_db_wait_seconds < self.db_connect_timeout_seconds:
            # A webhook opens a connection only with the time to wait for it (helpline.db).
            raise ConfigError("IVR_DB_WAIT_SECONDS: must be at least DB_CONNECT_TIMEOUT_SECONDS "
                              f"({self.db_connect_timeout_seconds}), got "
                              f"{self.ivr_db_wait_seconds:g}")

    @property
    def is_production(self) -> bool:
        return self.env == PRODUCTION

    @property
    def checkpoint_key(self) -> bytes:
        """AUDIT_CHECKPOINT_KEY, or a key derived from HELPLINE_HASH_KEY for that one use."""
        if self.audit_checkpoint_key:
            return self.audit_checkpoint_key
        return hmac.new(self.hash_key, b"helpline audit checkpoints", hashlib.sha256).digest()

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


def _seconds(name: str, raw: str, minimum: float, maximum: float) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}: expected a number of seconds, got {raw!r}") from None
    if not minimum <= value <= maximum:  # NaN fails too
        raise ConfigError(f"{name}: must be between {minimum:g} and {maximum:g}, got {raw!r}")
    return value


def phone_setting(name: str, raw: str) -> str:
    """A phone-number setting in E.164, or :class:`ConfigError` naming ``name``."""
    try:
        return phones.to_e164(raw, field=name)
    except phones.PhoneNumberError as exc:
        raise ConfigError(f"{name}: {exc.reason} (expected E.164, e.g. +18005550100)") from None


def _regions(name: str, raw: str) -> frozenset[str]:
    codes = frozenset(c.strip().upper() for c in raw.split(",") if c.strip())
    unknown = sorted(c for c in codes if not phones.is_region(c))
    if not codes or unknown:
        raise ConfigError(f"{name}: expected two-letter country codes separated by commas, "
                          f"e.g. US,CA,PR; not known: {', '.join(unknown) or '(none given)'}")
    return codes


def _alias(raw: str) -> str:
    # The name a caller's phone shows or says: short, and not the kind of word that would
    # tell whoever sees it what the call was about.
    if not raw or len(raw) > 40 or _REVEALING.search(raw):
        raise ConfigError("SAFE_CONTACT_ALIAS: at most 40 characters, and neutral (no word of "
                          "substance use or treatment)")
    return raw


def _short_code_or_number(name: str, raw: str, short_codes: str, expected: str) -> str:
    # Emergency and crisis lines are short codes (911, 988, 211...) or an E.164 number.
    if re.fullmatch(short_codes, raw):
        return raw
    try:
        return phone_setting(name, raw)
    except ConfigError:
        raise ConfigError(f"{name}: expected {expected}, got {raw!r}") from None


def _fallback_number(raw: str, helpline_number: str) -> str:
    if not raw:
        return ""
    number = phone_setting("FALLBACK_NUMBER", raw)
    if number == helpline_number:
        # The fallback answers when the app cannot: dialling the helpline would ring the app.
        raise ConfigError("FALLBACK_NUMBER: is HELPLINE_NUMBER itself; give another line")
    return number


def _line_text(name: str, raw: str, longest: int) -> str:
    # Said by the IVR and put in texts: one short line.
    if not raw or len(raw) > longest or any(ord(ch) < 32 for ch in raw):
        raise ConfigError(f"{name}: expected one line of 1 to {longest} characters")
    return raw


def _timezone(name: str, raw: str) -> str:
    # Checked with zoneinfo, as the scheduler's nightly jobs and the quiet hours read it.
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{name}: unknown time zone {raw!r}; expected an IANA name such as "
                          "America/New_York") from None
    return raw


def _public_base_url(raw: str, production: bool) -> str:
    """The address Twilio is given for every webhook: absolute; in production, https and
    reachable from the internet (a relative or local address would reach nobody)."""
    url = raw.rstrip("/")
    if not url:
        if production:
            raise ConfigError("PUBLIC_BASE_URL: required in production: the https address "
                              "Twilio calls, e.g. https://helpline.example.org")
        return ""
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - reading it checks it
    except ValueError:
        raise ConfigError("PUBLIC_BASE_URL: the port is not a number") from None
    if (parts.scheme not in {"http", "https"} or not parts.hostname or parts.query
            or parts.fragment or parts.username or parts.password or re.search(r"\s", url)):
        raise ConfigError("PUBLIC_BASE_URL: expected an absolute address such as "
                          "https://helpline.example.org (no user, query or fragment)")
    if production:
        if parts.scheme != "https":
            raise ConfigError("PUBLIC_BASE_URL: must be https in production")
        if not _public_host(parts.hostname):
            raise ConfigError(f"PUBLIC_BASE_URL: {parts.hostname} cannot be reached from the "
                              "internet; give the address Twilio calls")
    return url


def _public_host(host: str) -> bool:
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." in host
    return address.is_global


def _twiml_app_sid(raw: str) -> str:
    if raw and not _TWILIO_APP_SID.match(raw):
        raise ConfigError("TWILIO_TWIML_APP_SID: expected AP followed by 32 hex characters, "
                          "or empty")
    return raw


def _checkin_template(raw: str) -> str:
    """The check-in text, filled in once with sample values so that a bad template stops
    start-up instead of the follow-ups."""
    name = "SMS_CHECKIN_TEXT"
    try:
        parsed = list(string.Formatter().parse(raw))
    except ValueError:
        raise ConfigError(f"{name}: unbalanced braces; write {{helpline}} and {{number}}, "
                          "and {{ or }} for a brace") from None
    for _literal, field_name, spec, conversion in parsed:
        if field_name is not None and (field_name not in {"helpline", "number"} or spec
                                       or conversion):
            raise ConfigError(f"{name}: unknown placeholder {{{field_name}}}; only "
                              "{helpline} and {number} are filled in")
    text = raw.format(helpline=Settings.safe_contact_alias, number=Settings.helpline_number)
    if len(text) > 320:
        raise ConfigError(f"{name}: at most 320 characters once filled in, got {len(text)}")
    if _REVEALING.search(raw):
        raise ConfigError(f"{name}: must stay neutral (no word of substance use or treatment): "
                          "a lock screen shows it")
    return raw


def _directory(name: str, path: Path) -> Path:
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{name}: {path} is a file, not a folder")
    return path


def _secrets_from_files(values: dict[str, str]) -> None:
    """Put in ``values`` the secrets given as files (``SECRET_KEY_FILE=/run/secrets/...``).
    A refusal names the variable and the path, never what the file holds."""
    for name in SECRET_FILE_SETTINGS:
        file_name = f"{name}_FILE"
        path_text = values.get(file_name, "").strip()
        if not path_text:
            continue
        if values.get(name, "").strip():
            raise ConfigError(f"{name} and {file_name}: both are set; set only one")
        try:
            content = Path(path_text).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{file_name}: cannot read {path_text} "
                              f"({exc.strerror or type(exc).__name__})") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{file_name}: {path_text} is not UTF-8 text") from None
        if not content:
            raise ConfigError(f"{file_name}: {path_text} is empty")
        values[name] = content


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


def _choice(name: str, raw: str, allowed: tuple[str, ...]) -> str:
    if raw not in allowed:
        raise ConfigError(f"{name}: expected {' or '.join(allowed)}, got {raw!r}")
    return raw


_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def _queue_skills(raw: str) -> dict[str, str]:
    """``group=skill`` pairs, comma-separated: ``crisis=crisis,loved_one=family``; ``none``
    for no queue asking any skill."""
    skills: dict[str, str] = {}
    if raw.strip().lower() == "none":
        return skills
    for pair in filter(None, (part.strip() for part in raw.split(","))):
        group, _, skill = (side.strip() for side in pair.partition("="))
        if not _NAME.fullmatch(group) or not _NAME.fullmatch(skill):
            raise ConfigError(f"QUEUE_SKILLS: {pair!r} is not group=skill (lower-case words, "
                              "e.g. crisis=crisis)")
        skills[group] = skill
    return skills


def _metrics_token(raw: str) -> str:
    if raw and (len(raw) < 32 or any(ch.isspace() or ord(ch) < 32 for ch in raw)):
        raise ConfigError("METRICS_TOKEN: must be at least 32 characters of random text, "
                          "without spaces")
    return raw


def _fhir_task_token(raw: str) -> str:
    if raw and (len(raw) < 32 or any(ch.isspace() or ord(ch) < 32 for ch in raw)):
        raise ConfigError("FHIR_TASK_TOKEN: must be at least 32 characters of random text, "
                          "without spaces")
    return raw


def _networks(name: str, raw: str) -> tuple[Network, ...]:
    networks = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigError(f"{name}: expected networks separated by commas, e.g. "
                              f"10.0.0.0/8,127.0.0.1; not a network: {part!r}") from None
    return tuple(networks)


def _multiprocess_dir(raw: str, environ: Mapping[str, str]) -> Path | None:
    if not raw:
        return None
    if not environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip():
        # prometheus_client reads it from the environment when it is imported: set in .env
        # alone, the workers would write nothing there.
        raise ConfigError("PROMETHEUS_MULTIPROC_DIR: set it in the process environment (the "
                          "service's unit file), not in .env")
    path = Path(raw).expanduser()
    if not path.is_dir():
        raise ConfigError(f"PROMETHEUS_MULTIPROC_DIR: {path} is not an existing folder")
    return path


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
    process_environ = os.environ if environ is None else environ
    values.update(process_environ)
    _secrets_from_files(values)

    def get(name: str, default: str = "") -> str:
        # An empty value is the default, as in the shipped .env.example (NAME= left blank).
        return values.get(name, "").strip() or default

    env = get("HELPLINE_ENV", DEVELOPMENT).lower()
    if env not in {DEVELOPMENT, PRODUCTION, TEST}:
        raise ConfigError(f"HELPLINE_ENV: expected development or production, got {env!r}")
    instance_dir = _directory("HELPLINE_INSTANCE_DIR",
                              Path(get("HELPLINE_INSTANCE_DIR", "instance")).expanduser())

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

    if env == PRODUCTION and not account_sid and get("HELPLINE_TELEPHONY").lower() != "outbox":
        raise ConfigError("TWILIO_ACCOUNT_SID: required in production (texts and calls go "
                          "through Twilio); set HELPLINE_TELEPHONY=outbox to keep them in the "
                          "outbox instead")
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

    helpline_number = phone_setting("HELPLINE_NUMBER",
                                    get("HELPLINE_NUMBER", Settings.helpline_number))
    public_base_url = _public_base_url(get("PUBLIC_BASE_URL"), env == PRODUCTION)

    log_level = get("LOG_LEVEL", "INFO").upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"LOG_LEVEL: expected DEBUG, INFO, WARNING or ERROR, got {log_level!r}")
    log_format = get("LOG_FORMAT", "text").lower()
    if log_format not in {"text", "json"}:
        raise ConfigError(f"LOG_FORMAT: expected text or json, got {log_format!r}")

    return Settings(
        env=env,
        instance_dir=instance_dir,
        database_url=database_url,
        secret_key=secret_key,
        data_keys=parse_data_keys(secret("HELPLINE_DATA_KEYS")),
        hash_key=_b64key("HELPLINE_HASH_KEY", secret("HELPLINE_HASH_KEY")),
        helpline_name=_line_text("HELPLINE_NAME", get("HELPLINE_NAME", Settings.helpline_name),
                                 60),
        helpline_number=helpline_number,
        public_base_url=public_base_url,
        trusted_proxy_count=_int("TRUSTED_PROXY_COUNT", get("TRUSTED_PROXY_COUNT", "0"), 0, 5),
        twilio_account_sid=account_sid,
        twilio_auth_token=auth_token,
        twilio_api_key_sid=api_key_sid,
        twilio_api_key_secret=api_key_secret,
        twilio_twiml_app_sid=_twiml_app_sid(get("TWILIO_TWIML_APP_SID")),
        telephony=telephony,
        crisis_number=_short_code_or_number(
            # The IVR's own check (helpline.flows) agrees.
            "CRISIS_NUMBER", get("CRISIS_NUMBER", Settings.crisis_number), r"988|[2-9]11",
            "988, a code such as 211, or E.164 such as +18002738255"),
        emergency_number=_short_code_or_number(
            # 911, or 933 (Twilio's address test).
            "EMERGENCY_NUMBER", get("EMERGENCY_NUMBER", Settings.emergency_number), r"\d{3}",
            "911, another 3-digit code or E.164"),
        emergency_area=_line_text("EMERGENCY_AREA", get("EMERGENCY_AREA"), 120)
        if get("EMERGENCY_AREA") else "",
        handle_crisis_in_house=_bool("HANDLE_CRISIS_IN_HOUSE", get("HANDLE_CRISIS_IN_HOUSE")),
        fallback_number=_fallback_number(get("FALLBACK_NUMBER"), helpline_number),
        max_hold_seconds=_int("MAX_HOLD_SECONDS", get("MAX_HOLD_SECONDS", "600"), 30,
                              7200),
        callbacks_enabled=_bool("CALLBACKS_ENABLED", get("CALLBACKS_ENABLED", "true")),
        ivr_flow_check_seconds=_int("IVR_FLOW_CHECK_SECONDS",
                                    get("IVR_FLOW_CHECK_SECONDS", "2"), 0, 60),
        default_timezone=_timezone("DEFAULT_TIMEZONE",
                                   get("DEFAULT_TIMEZONE", Settings.default_timezone)),
        spool_dir=_directory("HELPLINE_SPOOL_DIR",
                             Path(get("HELPLINE_SPOOL_DIR") or instance_dir / "spool")),
        ivr_db_wait_seconds=_seconds("IVR_DB_WAIT_SECONDS", get("IVR_DB_WAIT_SECONDS", "2.5"),
                                     0.5, 10),
        db_connect_timeout_seconds=_int("DB_CONNECT_TIMEOUT_SECONDS",
                                        get("DB_CONNECT_TIMEOUT_SECONDS", "2"), 2, 60),
        db_statement_timeout_seconds=_int("DB_STATEMENT_TIMEOUT_SECONDS",
                                          get("DB_STATEMENT_TIMEOUT_SECONDS", "30"), 1, 3600),
        db_pool_timeout_seconds=_int("DB_POOL_TIMEOUT_SECONDS",
                                     get("DB_POOL_TIMEOUT_SECONDS", "5"), 1, 300),
        db_breaker_seconds=_int("DB_BREAKER_SECONDS", get("DB_BREAKER_SECONDS", "10"), 1, 600),
        idempotency_keep_days=_int("IDEMPOTENCY_KEEP_DAYS", get("IDEMPOTENCY_KEEP_DAYS", "7"),
                                   1, 365),
        lost_call_minutes=_int("LOST_CALL_MINUTES", get("LOST_CALL_MINUTES", "240"), 1, 10080),
        lost_queued_minutes=_int("LOST_QUEUED_MINUTES", get("LOST_QUEUED_MINUTES", "10"), 1,
                                 1440),
        session_idle_minutes=_int("SESSION_IDLE_MINUTES", get("SESSION_IDLE_MINUTES", "15"), 2,
                                  1440),
        wallboard_display_idle_minutes=_int(
            "WALLBOARD_DISPLAY_IDLE_MINUTES", get("WALLBOARD_DISPLAY_IDLE_MINUTES", "720"), 15,
            1440),
        live_streams_max=_int("LIVE_STREAMS_MAX", get("LIVE_STREAMS_MAX", "8"), 0, 1000),
        ring_timeout_seconds=_int("RING_TIMEOUT_SECONDS", get("RING_TIMEOUT_SECONDS", "20"),
                                  5, 120),
        queue_skills=_queue_skills(get("QUEUE_SKILLS", "crisis=crisis")),
        wrap_up_limit_minutes=_int("WRAP_UP_LIMIT_MINUTES", get("WRAP_UP_LIMIT_MINUTES", "10"),
                                   1, 240),
        routing_in_process=_bool("ROUTING_IN_PROCESS", get("ROUTING_IN_PROCESS", "true")),
        require_second_factor_for_all=_bool(
            "REQUIRE_SECOND_FACTOR_FOR_ALL", get("REQUIRE_SECOND_FACTOR_FOR_ALL")
        ),
        lockout_threshold=_int("LOCKOUT_THRESHOLD", get("LOCKOUT_THRESHOLD", "5"), 1, 100),
        lockout_minutes=_int("LOCKOUT_MINUTES", get("LOCKOUT_MINUTES", "15"), 1, 1440),
        scheduler_in_process=_bool("SCHEDULER_IN_PROCESS", get("SCHEDULER_IN_PROCESS", "true")),
        retention_days=_int("RETENTION_DAYS", get("RETENTION_DAYS", "0"), 0, 36500),
        followup_max_attempts=_int(
            "FOLLOWUP_MAX_ATTEMPTS", get("FOLLOWUP_MAX_ATTEMPTS", "3"), 1, 5
        ),
        followup_retry_minutes=_int(
            "FOLLOWUP_RETRY_MINUTES", get("FOLLOWUP_RETRY_MINUTES", "60"), 1, 10080
        ),
        followup_claim_seconds=_int(
            "FOLLOWUP_CLAIM_SECONDS", get("FOLLOWUP_CLAIM_SECONDS", "300"), 60, 540
        ),
        quiet_hours_start=_int("QUIET_HOURS_START", get("QUIET_HOURS_START", "21"), 0, 23),
        quiet_hours_end=_int("QUIET_HOURS_END", get("QUIET_HOURS_END", "8"), 0, 23),
        sms_checkin_text=_checkin_template(get("SMS_CHECKIN_TEXT") or Settings.sms_checkin_text),
        safe_contact_alias=_alias(get("SAFE_CONTACT_ALIAS") or Settings.safe_contact_alias),
        consent_days=_int("CONSENT_DAYS", get("CONSENT_DAYS", "90"), 1, 3650),
        sms_max_per_call=_int("SMS_MAX_PER_CALL", get("SMS_MAX_PER_CALL", "3"), 1, 50),
        sms_max_per_number_per_day=_int("SMS_MAX_PER_NUMBER_PER_DAY",
                                        get("SMS_MAX_PER_NUMBER_PER_DAY", "10"), 1, 1000),
        sms_allowed_countries=_regions("SMS_ALLOWED_COUNTRIES",
                                       get("SMS_ALLOWED_COUNTRIES", "US,CA,PR,VI,GU,AS,MP")),
        log_level=log_level,
        log_format=log_format,
        metrics_token=_metrics_token(get("METRICS_TOKEN")),
        metrics_allow=_networks("METRICS_ALLOW", get("METRICS_ALLOW")),
        fhir_task_token=_fhir_task_token(get("FHIR_TASK_TOKEN")),
        api_access=_choice("API_ACCESS", get("API_ACCESS", "public").lower(),
                           ("public", "token")),
        api_requests_per_minute=_int("API_REQUESTS_PER_MINUTE",
                                     get("API_REQUESTS_PER_MINUTE", "60"), 0, 100000),
        metrics_multiprocess_dir=_multiprocess_dir(get("PROMETHEUS_MULTIPROC_DIR"),
                                                   process_environ),
        audit_checkpoint_key=(_b64key("AUDIT_CHECKPOINT_KEY", get("AUDIT_CHECKPOINT_KEY"))
                              if get("AUDIT_CHECKPOINT_KEY") else b""),
        audit_checkpoint_file=Path(get("AUDIT_CHECKPOINT_FILE")
                                   or instance_dir / "audit-checkpoints.log").expanduser(),
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
        routing_in_process=False,
        audit_checkpoint_file=tmp_path / "audit-checkpoints.log",
    )
    known = {f.name for f in fields(Settings)}
    unknown = set(overrides) - known
    if unknown:
        raise TypeError(f"unknown settings: {sorted(unknown)}")
    return replace(base, **overrides)
