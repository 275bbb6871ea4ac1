"""Make sure the PostgreSQL in DATABASE_URL answers, and create its database if missing.

Run by `make test` before pytest: one readable line instead of a traceback when no server runs.
"""

import os
import sys

import dj_database_url
import psycopg
from psycopg import sql


def maintenance_connection(url: str) -> psycopg.Connection:
    """An autocommit connection to the server's `postgres` database, for CREATE/DROP DATABASE."""
    cfg = dj_database_url.parse(url)
    params = {
        "dbname": "postgres",
        "user": cfg.get("USER") or None,
        "password": cfg.get("PASSWORD") or None,
        "host": cfg.get("HOST") or None,
        "port": cfg.get("PORT") or None,
        "connect_timeout": 5,
    }
    return psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True)


def main() -> int:
    url = os.environ.get("DATABASE_URL", "postgres:///loomworks")
    cfg = dj_database_url.parse(url)
    try:
        with maintenance_connection(url) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [cfg["NAME"]]
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(cfg["NAME"])))
                print(f"Created database {cfg['NAME']}.")
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(
            f"No PostgreSQL answers at {url} ({first}). Start one with "
            "`docker compose up -d db` (then "
            "DATABASE_URL=postgres://loomworks:loomworks@127.0.0.1:5432/loomworks) "
            "or your distribution's service (sudo pg_ctlcluster 15 main start)."
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
