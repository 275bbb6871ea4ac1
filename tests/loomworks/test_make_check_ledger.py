"""`make check-ledger` works out of the box and checks the database DATABASE_URL names."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def _clean_env(**extra):
    """The environment of someone who just cloned: no SECRET_KEY, no DEBUG, no DATABASE_URL."""
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DATABASE_URL"}}
    return {**env, **extra}


def _make_check_ledger(*args, env):
    return subprocess.run(
        ["make", "--no-print-directory", "check-ledger", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_checks_the_sqlite_demo_without_a_secret_key(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    for command in (["migrate", "--no-input", "-v", "0"], ["seed_demo", "--password", "x-y-z-1"]):
        subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=_clean_env(DATABASE_URL=url, DEBUG="1"),
            check=True,
            timeout=120,
            capture_output=True,
        )
    result = _make_check_ledger(f"DATABASE_URL={url}", env=_clean_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "The ledger is sound." in result.stdout
    assert "Traceback" not in result.stderr


def test_it_says_in_one_line_when_there_is_no_database_to_check(tmp_path):
    missing = tmp_path / "never-made.sqlite3"
    result = _make_check_ledger(f"DATABASE_URL=sqlite:///{missing}", env=_clean_env())
    assert result.returncode != 0
    assert f"No database at {missing}: run make run once" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert not missing.exists()


def _url_of(db):
    auth = db["USER"] or ""
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = (db["HOST"] or "") + (f":{db['PORT']}" if db["PORT"] else "")
    return f"postgres://{auth + '@' if auth else ''}{host}/{db['NAME']}"


@pytest.mark.django_db
def test_it_honours_a_postgres_database_url_in_the_environment():
    # After a restore: DATABASE_URL=postgres://... make check-ledger checks that database (here
    # the test database, migrated and empty), not the SQLite demo.
    result = _make_check_ledger(env=_clean_env(DATABASE_URL=_url_of(settings.DATABASES["default"])))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Checked 0 postings, 0 movements, 0 lots, 0 balances." in result.stdout
    assert "The ledger is sound." in result.stdout
