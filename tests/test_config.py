"""Settings precedence, development conveniences and the production refusal."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hub.app import create_app
from hub.config import SETTINGS, SETTINGS_BY_NAME, load_settings, settings_reference
from hub.errors import ConfigurationError
from hub.storage.key_providers import generate_local_master_key


def test_production_refuses_every_development_default_and_names_each(tmp_path):
    with pytest.raises(ConfigurationError) as failure:
        create_app({"HUB_INSTANCE_PATH": str(tmp_path)}, environ={"HUB_ENV": "production"})
    message = str(failure.value)
    for name in ("SECRET_KEY", "KMS_KEY", "DATABASE_URL", "APP_BASE_URL", "REDIS_URL", "HUB_METRICS_TOKEN"):
        assert name in message
    assert not (tmp_path / "secret_key").exists(), "nothing is generated in production"


STRONG_SECRET_KEY = "kX3v9Qp2Lm8Zr5Tn1Wc7Yb4Hd6Fg0Js_Ae-Uo"


def production_environ(**changes: str) -> dict[str, str]:
    """Settings production accepts; each test changes one."""
    environ = {
        "HUB_ENV": "production",
        "SECRET_KEY": STRONG_SECRET_KEY,
        "KMS_KEY": generate_local_master_key(),
        "DATABASE_URL": "postgresql://127.0.0.1:5432/test",
        "APP_BASE_URL": "https://hub.example.com",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "HUB_METRICS_TOKEN": "m" * 40,
    }
    environ.update(changes)
    return {name: value for name, value in environ.items() if value}


def test_production_refuses_sqlite(tmp_path):
    environ = {
        "HUB_ENV": "production",
        "SECRET_KEY": STRONG_SECRET_KEY,
        "KMS_KEY": generate_local_master_key(),
        "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
        "APP_BASE_URL": "https://hub.example.com",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
    }
    with pytest.raises(ConfigurationError) as failure:
        create_app({"HUB_INSTANCE_PATH": str(tmp_path)}, environ=environ)
    assert "SQLite" in str(failure.value)
    assert "SECRET_KEY" not in str(failure.value)


def test_production_starts_on_explicit_settings(tmp_path):
    app = create_app({"HUB_INSTANCE_PATH": str(tmp_path)}, environ=production_environ())
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")


@pytest.mark.parametrize(
    ("changes", "named", "reason"),
    [
        ({"SECRET_KEY": "x"}, "SECRET_KEY", "too weak"),
        ({"SECRET_KEY": "s" * 40}, "SECRET_KEY", "too weak"),
        ({"SECRET_KEY": "abcdefghijklmnopqrstuvwxyz01234"}, "SECRET_KEY", "too weak"),
        ({"APP_BASE_URL": "http://hub.example.com"}, "APP_BASE_URL", "https://"),
        ({"REDIS_URL": ""}, "REDIS_URL", "not set"),
    ],
    ids=["one-character-secret-key", "one-letter-secret-key", "short-secret-key", "http-base-url", "no-redis"],
)
def test_production_refuses_each_unsafe_setting_and_names_it(tmp_path, changes, named, reason):
    with pytest.raises(ConfigurationError) as failure:
        create_app({"HUB_INSTANCE_PATH": str(tmp_path)}, environ=production_environ(**changes))
    message = str(failure.value)
    problems = message.split(": ", 1)[1].split("; ")
    assert len(problems) == 1 and problems[0].startswith(named) and reason in problems[0], message
    for value in changes.values():
        assert not value or value not in message or value.startswith(("http", "redis")), "a secret is never echoed"


def test_development_with_no_settings_generates_keys_in_the_instance_folder(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        app = create_app(None, environ={"HUB_INSTANCE_PATH": str(tmp_path)})
    assert app.config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert (tmp_path / "kms_key").stat().st_mode & 0o077 == 0
    assert not (tmp_path / "encryption_key").exists(), "secrets are sealed with data keys; no key ring is made"
    assert "SECRET_KEY and KMS_KEY are not set" in caplog.text
    again = create_app(None, environ={"HUB_INSTANCE_PATH": str(tmp_path)})
    assert again.config["SECRET_KEY"] == app.config["SECRET_KEY"], "generated once, then reused"
    assert app.config["SECRET_KEY"] not in caplog.text
    notices = [record for record in caplog.records if "development mode" in record.getMessage()]
    assert len(notices) == 1, "one notice per process, however often the app is built"


def test_an_unknown_log_format_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError) as failure:
        create_app(None, environ={"HUB_INSTANCE_PATH": str(tmp_path), "HUB_LOG_FORMAT": "xml"})
    assert "HUB_LOG_FORMAT" in str(failure.value)


def test_environment_overrides_defaults_and_config_overrides_environment(tmp_path):
    environ = {"HUB_INSTANCE_PATH": str(tmp_path), "HUB_MAX_WEBHOOK_BYTES": "2048", "APP_BASE_URL": "https://env.example/"}
    app = create_app({"APP_BASE_URL": "https://config.example"}, environ=environ)
    assert app.config["HUB_MAX_WEBHOOK_BYTES"] == 2048
    assert app.config["APP_BASE_URL"] == "https://config.example"
    assert app.config["FRONTEND_URL"] == "https://config.example"


def test_a_non_numeric_limit_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError):
        create_app(None, environ={"HUB_INSTANCE_PATH": str(tmp_path), "HUB_MAX_WEBHOOK_BYTES": "lots"})


def test_connector_settings_come_from_config_over_environment(tmp_path):
    environ = {"HUB_INSTANCE_PATH": str(tmp_path), "SLACK_SIGNING_SECRET": "env", "OAUTH_SLACK_CLIENT_ID": "cid", "STRIPE_WEBHOOK_SECRET": "other"}
    app = create_app({"SLACK_SIGNING_SECRET": "config"}, environ=environ)
    settings = app.extensions["hub"].plugins.settings_for("slack")
    assert settings == {"SLACK_SIGNING_SECRET": "config", "OAUTH_SLACK_CLIENT_ID": "cid"}


def documentation() -> str:
    root = Path(__file__).resolve().parent.parent
    return "\n".join(path.read_text() for path in [root / "README.md", *sorted((root / "docs").glob("*.md"))])


@pytest.mark.parametrize("setting", [setting.name for setting in SETTINGS])
def test_config_options_are_documented(setting):
    assert f"`{setting}`" in documentation(), f"{setting} is documented nowhere in README.md or docs/"


def test_the_configuration_reference_is_the_settings_table():
    reference = (Path(__file__).resolve().parent.parent / "docs" / "configuration.md").read_text()
    assert settings_reference() in reference, "regenerate the table of docs/configuration.md from hub.config.SETTINGS"


def test_every_setting_is_read_from_the_environment_by_its_parser(tmp_path):
    environ = {"HUB_JOB_MAX_ATTEMPTS": "5", "HUB_JOB_BACKOFF_SECONDS": "0.5", "APP_BASE_URL": "https://hub.example/", "HUB_REDIS_PREFIX": "mine"}
    settings = load_settings({"HUB_INSTANCE_PATH": str(tmp_path)}, environ)
    assert (settings["HUB_JOB_MAX_ATTEMPTS"], settings["HUB_JOB_BACKOFF_SECONDS"]) == (5, 0.5)
    assert settings["APP_BASE_URL"] == settings["FRONTEND_URL"] == "https://hub.example"
    assert settings["HUB_REDIS_PREFIX"] == "mine"
    assert set(SETTINGS_BY_NAME) <= set(settings)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("HUB_JOB_MAX_ATTEMPTS", "many", "HUB_JOB_MAX_ATTEMPTS must be a number"),
        ("HUB_EVENT_RETENTION_DAYS", "0", "HUB_EVENT_RETENTION_DAYS must be at least 1"),
        ("HUB_LOG_FORMAT", "xml", "HUB_LOG_FORMAT must be auto, json or text"),
    ],
)
def test_a_setting_its_parser_refuses_stops_the_start_with_its_name(tmp_path, name, value, message):
    with pytest.raises(ConfigurationError, match=message):
        load_settings({"HUB_INSTANCE_PATH": str(tmp_path)}, {name: value})
