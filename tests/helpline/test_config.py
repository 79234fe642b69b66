from pathlib import Path

import pytest

from helpline.config import ConfigError, load_settings, new_key

GOOD = {
    "HELPLINE_ENV": "production",
    "SECRET_KEY": "s" * 40,
    "HELPLINE_DATA_KEYS": f"2:{new_key()},1:{new_key()}",
    "HELPLINE_HASH_KEY": new_key(),
    "DATABASE_URL": "postgresql://postgres@127.0.0.1/test",
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
    ],
)
def test_a_malformed_setting_is_named(tmp_path: Path, name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        load(tmp_path, **{**GOOD, name: value})
    assert name in str(err.value)


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
