"""make test's PostgreSQL check: whatever is wrong is ONE line with the command that fixes it.

The connection is replaced by one that raises what psycopg really raises. A failed connection
carries no SQLSTATE (libpq does not report one), only the server's words, so each case is tried
both ways: as psycopg 3 reports it today, and with the SQLSTATE the server means.
"""

import socket

import psycopg
import pytest
from psycopg import errors

from loomworks import pgcheck

SOCKET = 'connection failed: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432"'
TCP = 'connection failed: connection to server at "127.0.0.1", port 5432'


def _run(monkeypatch, capsys, url, *argv):
    monkeypatch.setenv("DATABASE_URL", url)
    code = pgcheck.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _connection_raises(monkeypatch, exc):
    def connect(url, *, dbname):
        raise exc

    monkeypatch.setattr(pgcheck, "_connect", connect)


class FakeServer:
    """Answers pgcheck's queries as a server would; remembers what it was asked to run."""

    def __init__(self, *, may_create=True, exists=True, create_error=None, role="mo"):
        self.may_create = may_create
        self.exists = exists
        self.create_error = create_error
        self.role = role
        self.ran = []
        self.dbnames = []

    def connect(self, url, *, dbname):
        self.dbnames.append(dbname)
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, query, params=None):
        text = query if isinstance(query, str) else query.as_string(None)
        self.ran.append(text)
        if text.startswith("CREATE DATABASE") and self.create_error:
            raise self.create_error
        if "rolcreatedb" in text:
            return Rows([(self.may_create,)])
        if "current_user" in text:
            return Rows([(self.role,)])
        if "pg_database" in text:
            return Rows([(1,)] if self.exists else [])
        return Rows([])


class Rows:
    def __init__(self, rows):
        self.rows = rows

    def fetchone(self):
        return self.rows[0] if self.rows else None


def _one_line(text):
    assert text.endswith("\n") and text.count("\n") == 1, f"not one line: {text!r}"
    return text.rstrip("\n")


# No server --------------------------------------------------------------------------------------


def test_no_server_listening_says_how_to_start_one(monkeypatch, capsys):
    _connection_raises(
        monkeypatch,
        psycopg.OperationalError(
            'connection failed: connection to server at "127.0.0.1", port 5499 failed: '
            "Connection refused\n\tIs the server running on that host and accepting TCP/IP "
            "connections?"
        ),
    )
    code, out, err = _run(monkeypatch, capsys, "postgres://127.0.0.1:5499/loomworks")
    assert code == 1
    assert out == ""
    assert _one_line(err) == pgcheck.NO_SERVER.format(
        url="postgres://127.0.0.1:5499/loomworks",
        detail='connection to server at "127.0.0.1", port 5499 failed: Connection refused',
    )
    assert "`docker compose up -d db`" in err
    assert "`sudo service postgresql start`" in err


def test_a_port_nobody_listens_on_is_told_as_no_server(monkeypatch, capsys):
    with socket.socket() as s:  # a port that was free a moment ago: the connection is refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, _, err = _run(monkeypatch, capsys, f"postgres://127.0.0.1:{port}/loomworks")
    assert code == 1
    assert _one_line(err).startswith(f"No PostgreSQL answers at postgres://127.0.0.1:{port}/")


def test_no_socket_file_is_told_as_no_server(monkeypatch, capsys):
    _connection_raises(
        monkeypatch,
        psycopg.OperationalError(
            f"{SOCKET} failed: No such file or directory\n\tIs the server running locally and "
            "accepting connections on that socket?"
        ),
    )
    code, _, err = _run(monkeypatch, capsys, "postgres:///loomworks")
    assert code == 1
    assert _one_line(err).startswith("No PostgreSQL answers at postgres:///loomworks (")
    assert "No such file or directory" in err


# Signing in -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [
        psycopg.OperationalError(f'{SOCKET} failed: FATAL:  role "mo" does not exist'),
        errors.InvalidAuthorizationSpecification('role "mo" does not exist'),  # 28000
    ],
    ids=["as-psycopg-reports-it", "sqlstate-28000"],
)
def test_a_missing_role_says_how_to_create_it(monkeypatch, capsys, exc):
    _connection_raises(monkeypatch, exc)
    code, _, err = _run(monkeypatch, capsys, "postgres:///loomworks")
    assert code == 1
    assert _one_line(err) == (
        "PostgreSQL at postgres:///loomworks has no role mo: create it with "
        "`sudo -u postgres createuser --createdb mo`."
    )


def test_a_missing_role_in_a_url_with_a_password_is_created_with_one(monkeypatch, capsys):
    _connection_raises(
        monkeypatch, psycopg.OperationalError(f'{TCP} failed: FATAL:  role "ann" does not exist')
    )
    code, _, err = _run(monkeypatch, capsys, "postgres://ann:s3cret@127.0.0.1:5432/loomworks")
    assert code == 1
    assert "`sudo -u postgres createuser --createdb --pwprompt ann`" in _one_line(err)
    assert "s3cret" not in err
    assert "postgres://ann:***@127.0.0.1:5432/loomworks" in err


def test_a_refusal_that_names_no_role_names_the_operating_system_user(monkeypatch, capsys):
    # A server speaking another language: only the SQLSTATE says what happened.
    monkeypatch.delenv("PGUSER", raising=False)
    monkeypatch.setattr(pgcheck.getpass, "getuser", lambda: "olive")
    _connection_raises(monkeypatch, errors.InvalidAuthorizationSpecification("accès refusé"))
    code, _, err = _run(monkeypatch, capsys, "postgres:///loomworks")
    assert code == 1
    assert _one_line(err) == (
        "PostgreSQL at postgres:///loomworks does not let role olive in (accès refusé): connect "
        "over TCP with a password (postgres://olive:PASSWORD@127.0.0.1:5432/loomworks), or "
        "allow it in pg_hba.conf."
    )


@pytest.mark.parametrize(
    "exc",
    [
        psycopg.OperationalError(
            f'{TCP} failed: FATAL:  password authentication failed for user "ann"'
        ),
        errors.InvalidPassword('password authentication failed for user "ann"'),  # 28P01
    ],
    ids=["as-psycopg-reports-it", "sqlstate-28P01"],
)
def test_a_wrong_password_says_where_to_put_the_right_one(monkeypatch, capsys, exc):
    _connection_raises(monkeypatch, exc)
    code, _, err = _run(monkeypatch, capsys, "postgres://ann:wrong@127.0.0.1:5432/loomworks")
    assert code == 1
    assert _one_line(err) == (
        "PostgreSQL at postgres://ann:***@127.0.0.1:5432/loomworks refused the password of role "
        "ann: put the right one in DATABASE_URL, or set a new one with "
        "`sudo -u postgres psql -c '\\password ann'`."
    )


def test_peer_authentication_failing_says_to_use_a_password_or_pg_hba(monkeypatch, capsys):
    _connection_raises(
        monkeypatch,
        psycopg.OperationalError(
            f'{SOCKET} failed: FATAL:  Peer authentication failed for user "ann"'
        ),
    )
    code, _, err = _run(monkeypatch, capsys, "postgres://ann@/loomworks")
    assert code == 1
    assert _one_line(err) == (
        "PostgreSQL at postgres://ann@/loomworks does not let role ann in "
        '(Peer authentication failed for user "ann"): connect over TCP with a password '
        "(postgres://ann:PASSWORD@127.0.0.1:5432/loomworks), or allow it in pg_hba.conf."
    )


# Creating the database ------------------------------------------------------------------------


def test_a_role_without_createdb_is_told_the_alter_role_command(monkeypatch, capsys):
    server = FakeServer(may_create=False, exists=False, role="mo")
    monkeypatch.setattr(pgcheck, "_connect", server.connect)
    code, out, err = _run(monkeypatch, capsys, "postgres:///loomworks")
    assert code == 1
    assert out == ""
    assert _one_line(err) == (
        "PostgreSQL role mo may not create databases, and the tests and the benchmark make their "
        "own: `sudo -u postgres psql -c 'ALTER ROLE mo CREATEDB'`."
    )
    assert not any(q.startswith("CREATE DATABASE") for q in server.ran)


def test_a_role_without_createdb_is_told_even_when_the_database_exists(monkeypatch, capsys):
    # pytest-django makes test_loomworks beside it, which would fail with a traceback.
    server = FakeServer(may_create=False, exists=True, role="Mo Smith")
    monkeypatch.setattr(pgcheck, "_connect", server.connect)
    code, _, err = _run(monkeypatch, capsys, "postgres:///loomworks")
    assert code == 1
    assert "`sudo -u postgres psql -c 'ALTER ROLE \"Mo Smith\" CREATEDB'`" in _one_line(err)


def test_create_database_refused_with_insufficient_privilege_is_one_line(monkeypatch, capsys):
    server = FakeServer(
        may_create=True,
        exists=False,
        create_error=errors.InsufficientPrivilege("permission denied to create database"),
    )
    monkeypatch.setattr(pgcheck, "_connect", server.connect)
    monkeypatch.setenv("PGUSER", "mo")
    code, _, err = _run(monkeypatch, capsys, "postgres:///loomworks")
    assert code == 1
    assert _one_line(err) == pgcheck.NO_CREATEDB.format(role="mo", role_sql="mo")


def test_a_missing_database_is_created_and_said_so(monkeypatch, capsys):
    server = FakeServer(may_create=True, exists=False)
    monkeypatch.setattr(pgcheck, "_connect", server.connect)
    code, out, err = _run(monkeypatch, capsys, "postgres:///loomworks_docs")
    assert code == 0
    assert out == "Created database loomworks_docs.\n"
    assert err == ""
    assert server.dbnames == ["postgres"]
    assert 'CREATE DATABASE "loomworks_docs"' in server.ran


def test_all_well_says_nothing(monkeypatch, capsys):
    server = FakeServer(may_create=True, exists=True)
    monkeypatch.setattr(pgcheck, "_connect", server.connect)
    assert _run(monkeypatch, capsys, "postgres:///loomworks") == (0, "", "")
    assert not any(q.startswith("CREATE DATABASE") for q in server.ran)


# --existing: make check-ledger after a restore ------------------------------------------------


def test_existing_connects_to_the_database_itself_and_creates_nothing(monkeypatch, capsys):
    server = FakeServer(may_create=False, exists=True)
    monkeypatch.setattr(pgcheck, "_connect", server.connect)
    assert _run(monkeypatch, capsys, "postgres:///restored", "--existing") == (0, "", "")
    assert server.dbnames == ["restored"]
    assert server.ran == []


@pytest.mark.parametrize(
    "exc",
    [
        psycopg.OperationalError(f'{SOCKET} failed: FATAL:  database "restored" does not exist'),
        errors.InvalidCatalogName('database "restored" does not exist'),  # 3D000
    ],
    ids=["as-psycopg-reports-it", "sqlstate-3D000"],
)
def test_existing_names_a_missing_database_and_how_to_restore_it(monkeypatch, capsys, exc):
    _connection_raises(monkeypatch, exc)
    code, _, err = _run(monkeypatch, capsys, "postgres:///restored", "--existing")
    assert code == 1
    assert _one_line(err) == pgcheck.NO_DATABASE.format(url="postgres:///restored", name="restored")
    assert "`createdb restored && pg_restore -d restored BACKUP.dump`" in err


# Anything else --------------------------------------------------------------------------------


def test_another_refusal_by_the_server_is_its_own_words_in_one_line(monkeypatch, capsys):
    _connection_raises(
        monkeypatch,
        psycopg.OperationalError(f"{SOCKET} failed: FATAL:  sorry, too many clients already"),
    )
    code, _, err = _run(monkeypatch, capsys, "postgres:///loomworks")
    assert code == 1
    assert (
        _one_line(err)
        == "PostgreSQL at postgres:///loomworks refused: sorry, too many clients already."
    )


def test_a_sqlite_address_is_refused_in_one_line(monkeypatch, capsys):
    code, _, err = _run(monkeypatch, capsys, "sqlite:////tmp/demo.sqlite3")
    assert code == 1
    assert _one_line(err) == pgcheck.NOT_POSTGRES.format(url="sqlite:////tmp/demo.sqlite3")
