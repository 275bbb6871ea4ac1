"""Settings come from the environment through strict helpers (loomworks/env.py)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from loomworks.env import database_config, env_bool, env_int, env_list

ROOT = Path(__file__).resolve().parents[2]
SQLITE = Path("/srv/loomworks/var/loomworks.sqlite3")


def test_a_postgres_url_without_host_uses_the_local_socket():
    config = database_config("postgres:///loomworks", sqlite_path=SQLITE)
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert config["NAME"] == "loomworks"
    assert config["HOST"] == ""
    assert config["PORT"] == ""


def test_a_postgres_url_may_name_the_socket_directory():
    config = database_config("postgres://%2Fvar%2Frun%2Fpostgresql/loomworks", sqlite_path=SQLITE)
    assert config["HOST"] == "/var/run/postgresql"
    assert config["NAME"] == "loomworks"


def test_a_postgres_url_with_host_port_and_credentials():
    config = database_config(
        "postgresql://loom:s3cret@db.internal:6543/workshop", sqlite_path=SQLITE
    )
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["PORT"]) == ("db.internal", 6543)
    assert (config["USER"], config["PASSWORD"], config["NAME"]) == ("loom", "s3cret", "workshop")
    assert config["CONN_MAX_AGE"] == 60
    assert config["CONN_HEALTH_CHECKS"] is True


def test_an_unknown_scheme_is_refused_with_a_message_that_says_what_is_allowed():
    with pytest.raises(ImproperlyConfigured) as excinfo:
        database_config("mysql://root@localhost/loomworks", sqlite_path=SQLITE)
    message = str(excinfo.value)
    assert "DATABASE_URL must start with postgres://, postgresql:// or sqlite://" in message
    assert "'mysql'" in message


def test_a_postgres_url_without_a_database_name_is_refused():
    with pytest.raises(ImproperlyConfigured, match="names no database"):
        database_config("postgres://db.internal:5432", sqlite_path=SQLITE)


def test_no_database_url_means_the_sqlite_file_under_var():
    config = database_config("", sqlite_path=SQLITE)
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == str(SQLITE)


def test_a_sqlite_url_names_its_file():
    config = database_config("sqlite:////tmp/smoke.sqlite3", sqlite_path=SQLITE)
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == "/tmp/smoke.sqlite3"


def test_yes_no_words_are_read_and_anything_else_is_refused(monkeypatch):
    monkeypatch.setenv("LW_FLAG", "yes")
    assert env_bool("LW_FLAG") is True
    monkeypatch.setenv("LW_FLAG", "Off")
    assert env_bool("LW_FLAG", True) is False
    monkeypatch.setenv("LW_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="LW_FLAG must be one of"):
        env_bool("LW_FLAG")


def test_numbers_and_lists_are_read_strictly(monkeypatch):
    monkeypatch.setenv("LW_N", "12")
    assert env_int("LW_N", 5) == 12
    monkeypatch.setenv("LW_N", "twelve")
    with pytest.raises(ImproperlyConfigured, match="LW_N must be a whole number"):
        env_int("LW_N", 5)
    monkeypatch.setenv("LW_HOSTS", "example.com, www.example.com,")
    assert env_list("LW_HOSTS") == ["example.com", "www.example.com"]


def _settings_in_a_fresh_process(env, expression):
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY", "DEBUG"}}
    code = f"from loomworks import settings; print({expression})"
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**base, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_with_no_database_url_the_app_uses_var_loomworks_sqlite3():
    result = _settings_in_a_fresh_process({"DEBUG": "1"}, "settings.DATABASES['default']['NAME']")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(ROOT / "var" / "loomworks.sqlite3")


def test_the_app_refuses_to_start_without_a_secret_key_when_debug_is_off():
    result = _settings_in_a_fresh_process({}, "settings.SECRET_KEY")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_env_example_lists_every_setting_that_settings_py_reads():
    read = set(re.findall(r'env_\w+\("([A-Z_]+)"', (ROOT / "loomworks/settings.py").read_text()))
    example = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^#?([A-Z_]+)=", example, flags=re.MULTILINE))
    assert read, "no env_* calls found in settings.py"
    assert read - listed == set(), f"missing from .env.example: {sorted(read - listed)}"


def test_the_deployment_check_passes_with_production_values():
    env = {
        "SECRET_KEY": "k3v9-Qz!x7Lw2@pR8s^Tn5&yM1uB6cE4hJ0dF*gA-oI_=+Z(VbN)",
        "ALLOWED_HOSTS": "example.com",
        "CSRF_TRUSTED_ORIGINS": "https://example.com",
        "DEBUG": "0",
    }
    skip = {"DATABASE_URL", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}  # the last: set by conftest
    base = {k: v for k, v in os.environ.items() if k not in skip}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env={**base, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
