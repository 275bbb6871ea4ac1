"""Strict helpers that read settings from the environment.

A value that is present but malformed stops start-up with a message that names the
variable, instead of silently falling back to a default.
"""

import os
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from psycopg import IsolationLevel

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(
        f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}"
    )


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number; got {raw!r}") from None


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [part.strip() for part in raw.split(",") if part.strip()]


def env_site_url(name: str) -> str:
    """The address people reach the site at, scheme and host (https://loom.example.com), with
    no trailing slash; empty when unset. No path: the site's own links carry theirs."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return ""
    parts = urlsplit(raw)
    bad = parts.path not in ("", "/") or parts.query or parts.fragment
    if parts.scheme not in ("http", "https") or not parts.netloc or bad:
        raise ImproperlyConfigured(
            f"{name} must be the site's address with http:// or https://, like "
            f"https://loom.example.com (no path); got {raw!r}"
        )
    return raw.rstrip("/")


def database_config(url: str, *, sqlite_path) -> dict:
    """Django DATABASES["default"] from a DATABASE_URL; SQLite under var/ when unset."""
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(sqlite_path),
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
        }
    if not url.startswith(("postgres://", "postgresql://", "sqlite://")):
        raise ImproperlyConfigured(
            "DATABASE_URL must start with postgres://, postgresql:// or sqlite://; "
            f"got {url.split(':', 1)[0]!r}"
        )
    config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    if config["ENGINE"] == "django.db.backends.postgresql":
        if not config.get("NAME"):
            raise ImproperlyConfigured("DATABASE_URL names no database (postgres:///loomworks)")
        # The posting engine's locking is written for READ COMMITTED: said here, not assumed
        # from the server's default (a server set to REPEATABLE READ would fail postings).
        options = config.setdefault("OPTIONS", {})
        options["isolation_level"] = IsolationLevel.READ_COMMITTED
        # No JIT compilation: the pages' queries are short, but at a million movements their
        # estimated cost passes the server's jit_above_cost, and compiling them took a second
        # for 75 ms of work (the materials list, bench/trace.py). Kept with any other options.
        options["options"] = " ".join(filter(None, [options.get("options", ""), "-c jit=off"]))
    return config
