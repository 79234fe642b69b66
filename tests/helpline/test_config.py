import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from helpline.config import ConfigError, load_settings, new_key
from helpline.db import Database
from helpline.models.followups import SchedulerLease
from tests.fixtures.cli import CliInvoker

GOOD = {
    "HELPLINE_ENV": "production",
    "SECRET_KEY": "s" * 40,
    "HELPLINE_DATA_KEYS": f"2:{new_key()},1:{new_key()}",
    "HELPLINE_HASH_KEY": new_key(),
    "DATABASE_URL": "postgresql://postgres@127.0.0.1/test",
    "TWILIO_ACCOUNT_SID": "AC" + "0123456789abcdef" * 2,
    "TWILIO_AUTH_TOKEN": "0123456789abcdef0123456789abcdef",
    "PUBLIC_BASE_URL": "https://helpline.example.org",
}


def load(tmp_path: Path, **env: str):  # type: ignore[no-untyped-def]
    values = {"HELPLINE_INSTANCE_DIR": str(tmp_path / "instance"), **env}
    return load_settings(values, env_file=None)


def test_production_settings_are_read_and_checked(tmp_path: Path) -> None:
    settings = load(tmp_path, **GOOD)
    assert settings.is_production
    assert settings.current_key_version == 2
    assert settings.database_url.startswith("postgresql+psycopg://")


@pytest.mark.parametrize("missing", ["SECRET_KEY", "HELPLINE_DATA_KEYS", "HELPLINE_HASH_KEY",
                                     "TWILIO_AUTH_TOKEN", "DATABASE_URL"])
def test_production_refuses_to_start_without_a_secret(tmp_path: Path, missing: str) -> None:
    env = {k: v for k, v in GOOD.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        load(tmp_path, **env)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("HELPLINE_DATA_KEYS", "1:" + "QUJD", "32 bytes"),
        ("HELPLINE_DATA_KEYS", "not-a-key", "VERSION:BASE64"),
        ("HELPLINE_HASH_KEY", "!!!", "HELPLINE_HASH_KEY"),
        ("TWILIO_AUTH_TOKEN", "short", "32 hex"),
        ("DATABASE_URL", "not a url", "DATABASE_URL"),
        ("DATABASE_URL", "mysql://root@localhost/x", "unsupported database"),
        ("SECRET_KEY", "short", "SECRET_KEY"),
        ("PUBLIC_BASE_URL", "http://helpline.example.org", "https"),
        ("MAX_HOLD_SECONDS", "soon", "MAX_HOLD_SECONDS"),
        ("CALLBACKS_ENABLED", "perhaps", "CALLBACKS_ENABLED"),
        ("TRUSTED_PROXY_COUNT", "yes", "whole number"),
        ("TRUSTED_PROXY_COUNT", "-1", "between 0 and 5"),
        ("TRUSTED_PROXY_COUNT", "9", "between 0 and 5"),
        ("RING_TIMEOUT_SECONDS", "2", "between 5 and 120"),
        ("QUEUE_SKILLS", "crisis", "group=skill"),
        ("QUEUE_SKILLS", "Crisis=trained staff", "group=skill"),
    ],
)
def test_a_malformed_setting_is_named(tmp_path: Path, name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        load(tmp_path, **{**GOOD, name: value})
    assert name in str(err.value)


def test_queue_skills_are_read_as_group_skill_pairs(tmp_path: Path) -> None:
    assert load(tmp_path, **GOOD).queue_skills == {"crisis": "crisis"}
    settings = load(tmp_path, **{**GOOD, "QUEUE_SKILLS": " crisis=crisis , loved_one=family,"})
    assert settings.queue_skills == {"crisis": "crisis", "loved_one": "family"}
    assert load(tmp_path, **{**GOOD, "QUEUE_SKILLS": "none"}).queue_skills == {}


def test_forwarded_headers_are_believed_only_when_proxies_are_counted(tmp_path: Path) -> None:
    assert load(tmp_path, **GOOD).trusted_proxy_count == 0
    assert load(tmp_path, **{**GOOD, "TRUSTED_PROXY_COUNT": "2"}).trusted_proxy_count == 2


def test_metrics_settings_are_read(tmp_path: Path) -> None:
    assert load(tmp_path, **GOOD).metrics_token == ""
    settings = load(tmp_path, **{**GOOD, "METRICS_TOKEN": "m" * 32,
                                 "METRICS_ALLOW": "10.0.0.0/8, 127.0.0.1,::1",
                                 "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "LOG_FORMAT": "JSON"})
    assert settings.metrics_token == "m" * 32
    assert [str(n) for n in settings.metrics_allow] == ["10.0.0.0/8", "127.0.0.1/32", "::1/128"]
    assert settings.metrics_multiprocess_dir == tmp_path
    assert settings.log_format == "json"


def test_the_multiprocess_folder_must_be_in_the_process_environment(tmp_path: Path) -> None:
    # prometheus_client reads it from the environment: named in .env alone, nothing is shared.
    env_file = tmp_path / ".env"
    env_file.write_text(f"PROMETHEUS_MULTIPROC_DIR={tmp_path}\n")
    with pytest.raises(ConfigError, match="PROMETHEUS_MULTIPROC_DIR: set it in the process"):
        load_settings({"HELPLINE_INSTANCE_DIR": str(tmp_path / "instance")}, env_file=env_file)


def test_development_generates_and_keeps_local_keys(tmp_path: Path) -> None:
    first = load(tmp_path)
    second = load(tmp_path)
    assert first.data_keys == second.data_keys
    assert first.secret_key == second.secret_key
    secrets_file = tmp_path / "instance" / "dev-secrets.json"
    assert secrets_file.stat().st_mode & 0o077 == 0
    assert first.telephony == "outbox"
    assert first.database_url.startswith("sqlite:///")


def test_dotenv_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("HELPLINE_NAME=Hope Line\nCRISIS_NUMBER=18005550199\n")
    settings = load_settings(
        {"HELPLINE_INSTANCE_DIR": str(tmp_path), "CRISIS_NUMBER": "988"}, env_file=env_file
    )
    assert settings.helpline_name == "Hope Line"
    assert settings.crisis_number == "988"


def test_an_unreadable_dotenv_is_a_clear_error(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.mkdir()  # a folder where a file should be: reading it fails
    with pytest.raises(ConfigError, match="cannot read the settings file"):
        load_settings({"HELPLINE_INSTANCE_DIR": str(tmp_path)}, env_file=env_file)


# --- every setting checked at start-up --------------------------------------------------------

BAD_VALUES = [
    ("HELPLINE_ENV", "staging", "expected development or production"),
    ("DEFAULT_TIMEZONE", "America/New_Yrok", "unknown time zone"),
    ("DEFAULT_TIMEZONE", "EST5EDT/../x", "unknown time zone"),
    ("FALLBACK_NUMBER", "555-0100", "area code"),
    ("FALLBACK_NUMBER", "+1800", "too short"),
    ("FALLBACK_NUMBER", "call me", "not a phone number"),
    ("FALLBACK_NUMBER", "+18005550100", "HELPLINE_NUMBER itself"),
    ("HELPLINE_NUMBER", "12", "E.164"),
    ("CRISIS_NUMBER", "98", "expected 988"),
    ("EMERGENCY_NUMBER", "91", "3-digit code"),
    ("PUBLIC_BASE_URL", "helpline.example.org", "absolute address"),
    ("PUBLIC_BASE_URL", "/ivr", "absolute address"),
    ("PUBLIC_BASE_URL", "https://helpline.example.org/?x=1", "no user, query"),
    ("PUBLIC_BASE_URL", "https://helpline.example.org:port", "port"),
    ("PUBLIC_BASE_URL", "https://localhost:8443", "cannot be reached"),
    ("PUBLIC_BASE_URL", "https://127.0.0.1", "cannot be reached"),
    ("PUBLIC_BASE_URL", "https://10.0.0.5", "cannot be reached"),
    ("TWILIO_ACCOUNT_SID", "AC123", "AC followed by 32 hex"),
    ("TWILIO_TWIML_APP_SID", "AP123", "AP followed by 32 hex"),
    ("TWILIO_API_KEY_SID", "SK123", "SK followed by 32 hex"),
    ("HELPLINE_TELEPHONY", "sms", "twilio or outbox"),
    ("HELPLINE_NAME", "Hope\nLine", "one line"),
    ("HELPLINE_NAME", "H" * 61, "one line"),
    ("EMERGENCY_AREA", "A" * 121, "one line"),
    ("SAFE_CONTACT_ALIAS", "Recovery Line", "neutral"),
    ("SMS_CHECKIN_TEXT", "Hi from {helpline}, call {phone}", "unknown placeholder {phone}"),
    ("SMS_CHECKIN_TEXT", "Call {number", "unbalanced braces"),
    ("SMS_CHECKIN_TEXT", "Hi {helpline.__class__}", "unknown placeholder"),
    ("SMS_CHECKIN_TEXT", "Hi {}", "unknown placeholder"),
    ("SMS_CHECKIN_TEXT", "Hi {helpline!r}", "unknown placeholder"),
    ("SMS_CHECKIN_TEXT", "Your detox check-in from {helpline}", "neutral"),
    ("SMS_CHECKIN_TEXT", "x" * 321, "at most 320"),
    ("MAX_HOLD_SECONDS", "5", "between 30 and 7200"),
    ("IVR_DB_WAIT_SECONDS", "soon", "number of seconds"),
    ("IVR_DB_WAIT_SECONDS", "nan", "between 0.5 and 10"),
    ("IVR_DB_WAIT_SECONDS", "60", "between 0.5 and 10"),
    ("IVR_DB_WAIT_SECONDS", "1", "at least DB_CONNECT_TIMEOUT_SECONDS"),
    ("DB_CONNECT_TIMEOUT_SECONDS", "1", "between 2 and 60"),
    ("DB_STATEMENT_TIMEOUT_SECONDS", "0", "between 1 and 3600"),
    ("DB_POOL_TIMEOUT_SECONDS", "1.5", "whole number"),
    ("DB_BREAKER_SECONDS", "0", "between 1 and 600"),
    ("IDEMPOTENCY_KEEP_DAYS", "0", "between 1 and 365"),
    ("IVR_FLOW_CHECK_SECONDS", "61", "between 0 and 60"),
    ("LOST_CALL_MINUTES", "0", "between 1 and 10080"),
    ("LOST_CALL_MINUTES", "4h", "whole number"),
    ("LOST_QUEUED_MINUTES", "-5", "between 1 and 1440"),
    ("LOST_QUEUED_MINUTES", "ten", "whole number"),
    ("LIVE_STREAMS_MAX", "-1", "between 0 and 1000"),
    ("SESSION_IDLE_MINUTES", "99999", "between 2 and 1440"),
    ("LOCKOUT_THRESHOLD", "0", "between 1 and 100"),
    ("LOCKOUT_MINUTES", "100000", "between 1 and 1440"),
    ("RETENTION_DAYS", "-1", "between 0 and 36500"),
    ("FOLLOWUP_MAX_ATTEMPTS", "9", "between 1 and 5"),
    ("FOLLOWUP_RETRY_MINUTES", "0", "between 1 and 10080"),
    ("QUIET_HOURS_START", "24", "between 0 and 23"),
    ("QUIET_HOURS_END", "8am", "whole number"),
    ("CONSENT_DAYS", "0", "between 1 and 3650"),
    ("HANDLE_CRISIS_IN_HOUSE", "maybe", "true or false"),
    ("REQUIRE_SECOND_FACTOR_FOR_ALL", "2", "true or false"),
    ("SCHEDULER_IN_PROCESS", "nah", "true or false"),
    ("LOG_LEVEL", "LOUD", "expected DEBUG"),
    ("LOG_FORMAT", "xml", "expected text or json"),
    ("METRICS_TOKEN", "short", "at least 32 characters"),
    ("METRICS_TOKEN", "a token with spaces in it, long enough", "without spaces"),
    ("METRICS_ALLOW", "10.0.0.0/8,the office", "not a network: 'the office'"),
    ("METRICS_ALLOW", "10.0.0.0/33", "not a network"),
    ("PROMETHEUS_MULTIPROC_DIR", "/nonexistent/prometheus", "not an existing folder"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD_VALUES)
def test_a_bad_value_stops_start_up_with_one_line_naming_it(
        tmp_path: Path, name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, **{**GOOD, name: value})
    text = str(err.value)
    assert text.startswith(f"{name}: ") and message in text
    assert "\n" not in text


def test_a_folder_setting_that_names_a_file_is_refused(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.write_text("")
    with pytest.raises(ConfigError, match=r"^HELPLINE_SPOOL_DIR: .* is a file"):
        load(tmp_path, **{**GOOD, "HELPLINE_SPOOL_DIR": str(spool)})


@pytest.mark.parametrize("missing", ["PUBLIC_BASE_URL", "TWILIO_ACCOUNT_SID"])
def test_production_needs_twilio_and_its_public_address(tmp_path: Path, missing: str) -> None:
    env = {k: v for k, v in GOOD.items() if k != missing}
    with pytest.raises(ConfigError, match=rf"^{missing}: required in production"):
        load(tmp_path, **env)


def test_production_may_keep_texts_in_the_outbox_when_it_says_so(tmp_path: Path) -> None:
    env = {k: v for k, v in GOOD.items() if k != "TWILIO_ACCOUNT_SID"}
    assert load(tmp_path, **env, HELPLINE_TELEPHONY="outbox").telephony == "outbox"
    assert load(tmp_path, **GOOD).telephony == "twilio"


def test_numbers_are_kept_in_e164(tmp_path: Path) -> None:
    settings = load(tmp_path, **GOOD, FALLBACK_NUMBER="(800) 555-0199",
                    CRISIS_NUMBER="1 800 273 8255", HELPLINE_NUMBER="+1 800 555 0100")
    assert settings.fallback_number == "+18005550199"
    assert settings.crisis_number == "+18002738255"
    assert settings.helpline_number == "+18005550100"
    assert load(tmp_path, **GOOD).fallback_number == ""


def test_the_shipped_env_example_starts(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / ".env.example"
    settings = load_settings({"HELPLINE_INSTANCE_DIR": str(tmp_path)}, env_file=example)
    assert settings.telephony == "outbox"
    assert settings.default_timezone == "America/New_York"


# --- secrets from files ---------------------------------------------------------------------

SECRET_FILES = {
    "SECRET_KEY": ("t" * 40, "secret_key", "t" * 40),
    "HELPLINE_HASH_KEY": ("A" * 43, "hash_key", b"\x00" * 32),
    "HELPLINE_DATA_KEYS": ("3:" + "A" * 43, "data_keys", {3: b"\x00" * 32}),
    "TWILIO_AUTH_TOKEN": ("f" * 32, "twilio_auth_token", "f" * 32),
    "DATABASE_URL": ("sqlite:////tmp/x.db", "database_url", "sqlite:////tmp/x.db"),
    "TWILIO_API_KEY_SECRET": ("api-secret", "twilio_api_key_secret", "api-secret"),
}


@pytest.mark.parametrize("name", sorted(SECRET_FILES))
def test_a_secret_is_read_from_its_file(tmp_path: Path, name: str) -> None:
    content, attribute, expected = SECRET_FILES[name]
    path = tmp_path / "secret"
    path.write_text(content + "\n")  # as `echo` and most secret stores write it
    env = {k: v for k, v in GOOD.items() if k != name}
    env[f"{name}_FILE"] = str(path)
    if name == "TWILIO_API_KEY_SECRET":
        env["TWILIO_API_KEY_SID"] = "SK" + "0" * 32
    assert getattr(load(tmp_path, **env), attribute) == expected


@pytest.mark.parametrize("name", sorted(SECRET_FILES))
def test_a_secret_given_twice_is_refused_naming_both(tmp_path: Path, name: str) -> None:
    path = tmp_path / "secret"
    path.write_text(SECRET_FILES[name][0])
    with pytest.raises(ConfigError, match=rf"^{name} and {name}_FILE: both are set"):
        load(tmp_path, **{**GOOD, name: SECRET_FILES[name][0], f"{name}_FILE": str(path)})


@pytest.mark.parametrize("where", ["missing", "folder", "empty"])
def test_an_unreadable_secret_file_is_named_not_shown(tmp_path: Path, where: str) -> None:
    path = tmp_path / "token"
    if where == "folder":
        path.mkdir()
    elif where == "empty":
        path.write_text("\n")
    env = {k: v for k, v in GOOD.items() if k != "TWILIO_AUTH_TOKEN"}
    with pytest.raises(ConfigError, match=r"^TWILIO_AUTH_TOKEN_FILE: "):
        load(tmp_path, **env, TWILIO_AUTH_TOKEN_FILE=str(path))


def test_a_malformed_secret_file_never_shows_what_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("hunter2-is-not-a-token")
    env = {k: v for k, v in GOOD.items() if k != "TWILIO_AUTH_TOKEN"}
    with pytest.raises(ConfigError, match=r"^TWILIO_AUTH_TOKEN: ") as err:
        load(tmp_path, **env, TWILIO_AUTH_TOKEN_FILE=str(path))
    assert "hunter2" not in str(err.value)


def test_the_audit_checkpoint_key_is_its_own_or_derived_from_the_hash_key(
        tmp_path: Path) -> None:
    derived = load(tmp_path, **GOOD)
    assert len(derived.checkpoint_key) == 32
    assert derived.checkpoint_key != derived.hash_key
    assert derived.audit_checkpoint_file == tmp_path / "instance" / "audit-checkpoints.log"
    own = load(tmp_path, **GOOD, AUDIT_CHECKPOINT_KEY="A" * 43,
               AUDIT_CHECKPOINT_FILE=str(tmp_path / "cp.log"))
    assert own.checkpoint_key == b"\x00" * 32
    assert own.audit_checkpoint_file == tmp_path / "cp.log"
    with pytest.raises(ConfigError, match=r"^AUDIT_CHECKPOINT_KEY: "):
        load(tmp_path, **GOOD, AUDIT_CHECKPOINT_KEY="short")


# --- the commands and the app factory refuse a bad setting in one line ------------------------


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The process environment `helpline` reads, with none of the runner's own settings."""
    example = Path(__file__).resolve().parents[2] / ".env.example"
    names = {line.split("=", 1)[0] for line in example.read_text().splitlines()
             if line and not line.startswith("#") and "=" in line}
    for key in list(os.environ):
        if key.startswith(("HELPLINE_", "TWILIO_")) or key.removesuffix("_FILE") in names:
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no .env of the working tree
    monkeypatch.setenv("HELPLINE_INSTANCE_DIR", str(tmp_path / "instance"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'helpline.db'}")
    return tmp_path


@pytest.mark.parametrize("command", ["serve", "scheduler"])
@pytest.mark.parametrize(("name", "value", "message"), BAD_VALUES)
def test_serve_and_scheduler_stop_with_one_line_naming_the_setting(
        environment: Path, monkeypatch: pytest.MonkeyPatch, command: str, name: str, value: str,
        message: str) -> None:
    for key, good in GOOD.items():
        monkeypatch.setenv(key, good)
    monkeypatch.setenv(name, value)
    result = CliInvoker(None)(command)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: configuration: {name}: " + result.output.split(f"{name}: ", 1)[1].strip()]
    assert message in result.output


def test_create_app_refuses_a_bad_setting_in_one_line(environment: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from helpline.app import create_app

    monkeypatch.setenv("DEFAULT_TIMEZONE", "Europe/Londn")
    with pytest.raises(ConfigError) as err:
        create_app()
    assert str(err.value).splitlines() == [
        "DEFAULT_TIMEZONE: unknown time zone 'Europe/Londn'; expected an IANA name such as "
        "America/New_York"]


def test_the_scheduler_never_starts_with_a_bad_time_zone(
        environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from helpline.app import scheduler

    assert CliInvoker(None)("init").exit_code == 0
    started: list[str] = []
    monkeypatch.setattr(scheduler.HelplineScheduler, "run_forever",
                        lambda self: started.append(self.holder))
    monkeypatch.setattr("waitress.serve", lambda *a, **k: started.append("serve"))
    monkeypatch.setenv("DEFAULT_TIMEZONE", "America/New_Yrok")
    for command in ("scheduler", "serve"):
        result = CliInvoker(None)(command)
        assert result.exit_code == 1
        assert "DEFAULT_TIMEZONE: unknown time zone" in result.output
    assert started == []
    db = Database(f"sqlite:///{environment / 'helpline.db'}")
    try:
        with db.sessions() as session:
            assert session.scalar(select(func.count()).select_from(SchedulerLease)) == 0
    finally:
        db.dispose()
