"""Make sure the PostgreSQL in DATABASE_URL answers and lets us in; create its database if needed.

`make test` and `make bench` run it first: they need a role that may create databases
(pytest-django makes test_<name>, the benchmark <name>_bench). `make check-ledger` runs it with
--existing: the database must be there already, as after a restore, and nothing is created.

Whatever is wrong comes out as ONE line that says what, with the command that fixes it, and exit
status 1, instead of a traceback. libpq reports a failed connection without its SQLSTATE
(psycopg's `sqlstate` is None), so those failures are told apart by the server's words (English
unless the server's lc_messages says otherwise); errors that carry a SQLSTATE (28000, 28P01,
3D000, 42501) are told apart by it.
"""

import argparse
import getpass
import os
import re
import sys

import dj_database_url
import psycopg
from psycopg import sql

DEFAULT_URL = "postgres:///loomworks"

# What a person reads, in one line each. Tests assert on these.
NOT_POSTGRES = "{url} is not a PostgreSQL address: this needs postgres://user:pass@host:5432/name."
NO_SERVER = (
    "No PostgreSQL answers at {url} ({detail}). Start one with `docker compose up -d db` "
    "(then DATABASE_URL=postgres://loomworks:loomworks@127.0.0.1:5432/loomworks) "
    "or your distribution's service (`sudo service postgresql start`)."
)
NO_ROLE = (
    "PostgreSQL at {url} has no role {role}: create it with "
    "`sudo -u postgres createuser --createdb{pwprompt} {role}`."
)
BAD_PASSWORD = (
    "PostgreSQL at {url} refused the password of role {role}: put the right one in DATABASE_URL, "
    "or set a new one with `sudo -u postgres psql -c '\\password {role}'`."
)
NOT_LET_IN = (
    "PostgreSQL at {url} does not let role {role} in ({detail}): connect over TCP with a password "
    "(postgres://{role}:PASSWORD@127.0.0.1:5432/{name}), or allow it in pg_hba.conf."
)
NO_CREATEDB = (
    "PostgreSQL role {role} may not create databases, and the tests and the benchmark make "
    "their own: `sudo -u postgres psql -c 'ALTER ROLE {role_sql} CREATEDB'`."
)
NO_DATABASE = (
    "PostgreSQL at {url} has no database {name}: restore your backup into it first "
    "(`createdb {name} && pg_restore -d {name} BACKUP.dump`, README: Backups), "
    "or correct the name in DATABASE_URL."
)
REFUSED = "PostgreSQL at {url} refused: {detail}."
CREATED = "Created database {name}."


def maintenance_connection(url: str) -> psycopg.Connection:
    """An autocommit connection to the server's `postgres` database, for CREATE/DROP DATABASE."""
    return _connect(url, dbname="postgres")


def _connect(url: str, *, dbname: str) -> psycopg.Connection:
    cfg = dj_database_url.parse(url)
    params = {
        "dbname": dbname,
        "user": cfg.get("USER") or None,
        "password": cfg.get("PASSWORD") or None,
        "host": cfg.get("HOST") or None,
        "port": cfg.get("PORT") or None,
        "connect_timeout": 5,
    }
    return psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True)


def check(url: str, *, create: bool = True) -> str | None:
    """None when the server answers and lets us in (having created the database when `create`
    and it was missing); otherwise the one line that says what is wrong."""
    if not url.startswith(("postgres://", "postgresql://")):
        return NOT_POSTGRES.format(url=shown(url))
    cfg = dj_database_url.parse(url)
    name = cfg["NAME"]
    try:
        if not create:
            with _connect(url, dbname=name):
                return None
        with maintenance_connection(url) as conn:
            may_create = conn.execute(
                "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
            if not (may_create and may_create[0]):
                role = conn.execute("SELECT current_user").fetchone()[0]
                return NO_CREATEDB.format(role=role, role_sql=_role_sql(role))
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                print(CREATED.format(name=name))
    except psycopg.Error as exc:
        return explain(exc, url=url)
    return None


def explain(exc: psycopg.Error, *, url: str) -> str:
    """The one line for a psycopg error met while connecting or creating the database."""
    cfg = dj_database_url.parse(url)
    text = str(exc)
    state = getattr(exc, "sqlstate", None)
    role = _named(text, r'(?:role|user) "([^"]+)"') or _default_role(cfg)
    name = _named(text, r'database "([^"]+)" does not exist') or cfg["NAME"]
    shown_url = shown(url)
    if state == "42501":
        return NO_CREATEDB.format(role=role, role_sql=_role_sql(role))
    if state == "28P01" or "password authentication failed" in text:
        return BAD_PASSWORD.format(url=shown_url, role=role)
    if re.search(r'role "[^"]+" does not exist', text):
        pwprompt = " --pwprompt" if cfg.get("PASSWORD") else ""
        return NO_ROLE.format(url=shown_url, role=role, pwprompt=pwprompt)
    if state == "28000" or "authentication failed" in text or "pg_hba.conf" in text:
        return NOT_LET_IN.format(url=shown_url, role=role, detail=_server_says(text), name=name)
    if state == "3D000" or re.search(r'database "[^"]+" does not exist', text):
        return NO_DATABASE.format(url=shown_url, name=name)
    if state or "FATAL" in text or "ERROR" in text:
        return REFUSED.format(url=shown_url, detail=_server_says(text))
    return NO_SERVER.format(url=shown_url, detail=_first_line(text))


def shown(url: str) -> str:
    """The URL with its password hidden, fit to print."""
    return re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", url)


def _default_role(cfg: dict) -> str:
    """The role libpq signs in as when the URL names none."""
    return cfg.get("USER") or os.environ.get("PGUSER") or getpass.getuser()


def _role_sql(role: str) -> str:
    return (
        role if re.fullmatch(r"[a-z_][a-z0-9_]*", role) else '"{}"'.format(role.replace('"', '""'))
    )


def _named(text: str, pattern: str) -> str | None:
    match = re.search(pattern, text)
    return match.group(1) if match else None


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "no answer"
    line = re.sub(r"^connection (failed|is bad): ", "", line)
    return " ".join(line.split()).rstrip(".")


def _server_says(text: str) -> str:
    """What the server itself said: the part after libpq's last 'failed: ', without 'FATAL:'."""
    line = _first_line(text).rsplit("failed: ", 1)[-1]
    return re.sub(r"^(FATAL|ERROR):\s*", "", line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loomworks.pgcheck", description=__doc__)
    parser.add_argument(
        "--existing",
        action="store_true",
        help="the database must exist already (after a restore): create nothing",
    )
    args = parser.parse_args(argv)
    problem = check(os.environ.get("DATABASE_URL") or DEFAULT_URL, create=not args.existing)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
