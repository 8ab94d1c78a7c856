"""Bad input, table-driven: each case gets its documented exit code and one error line, no traceback,
and leaves the database (users, job history) and the broker's queue exactly as they were.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import cli
from tests.conftest import run_appctl

LONG = "x" * 129
DEEP = "[" * 60_000 + "]" * 60_000  # JSON too deep for Python to read
TOO_DEEP = "[" * 101 + "]" * 101  # JSON Python reads, beyond the 100 levels an argument may nest
HUGE = str(10**20)


@dataclass(frozen=True)
class Case:
    """``appctl ARGS`` (with ENV set) must exit CODE with MESSAGE in its one ``Error:`` line."""

    args: list[str]
    code: int
    message: str
    env: dict[str, str] = field(default_factory=dict)
    stdin: bytes | None = None


def case(*args: str, code: int, message: str, stdin: bytes | None = None, **env: str) -> Case:
    return Case(list(args), code, message, env, stdin)


def import_case(text: bytes, *options: str, code: int = 65, message: str) -> Case:
    """``user import -`` reading TEXT."""
    return case("user", "import", "-", *options, code=code, message=message, stdin=text)


ADD = ("user", "add")
SEND = ("task", "send", "divide")
USER_ADD = [
    case(*ADD, "", "a@example.com", code=65, message="username must not be empty"),
    case(*ADD, " ", "a@example.com", code=65, message="contains spaces"),
    case(*ADD, "al ice", "a@example.com", code=65, message="contains spaces"),
    case(*ADD, "al\tice", "a@example.com", code=65, message="contains spaces"),
    case(*ADD, "alice\n", "a@example.com", code=65, message="contains spaces"),
    case(*ADD, "al\x00ice", "a@example.com", code=65, message="control characters"),
    case(*ADD, "\x1b[31mred", "a@example.com", code=65, message="control characters"),
    case(*ADD, "ab\u200bc", "a@example.com", code=65, message="control characters"),
    case(*ADD, "ab\u202ec", "a@example.com", code=65, message="control characters"),
    case(*ADD, "ab\ud800c", "a@example.com", code=65, message="control characters"),
    case(*ADD, "12345", "a@example.com", code=65, message="all digits"),
    case(*ADD, "\uff11\uff12", "a@example.com", code=65, message="all digits"),
    case(*ADD, LONG, "a@example.com", code=65, message="the limit is 128"),
    case(*ADD, "bob", "", code=65, message="is not valid"),
    case(*ADD, "bob", "not-an-email", code=65, message="is not valid"),
    case(*ADD, "bob", "bob@", code=65, message="is not valid"),
    case(*ADD, "bob", "@example.com", code=65, message="is not valid"),
    case(*ADD, "bob", "bob@@example.com", code=65, message="is not valid"),
    case(*ADD, "bob", "bob@example", code=65, message="is not valid"),
    case(*ADD, "bob", "b ob@example.com", code=65, message="contains spaces"),
    case(*ADD, "bob", "bob@example.com\n", code=65, message="contains spaces"),
    case(*ADD, "bob", "b\x00ob@example.com", code=65, message="control characters"),
    case(*ADD, "bob", "<script>@example.com", code=65, message="is not valid"),
    case(*ADD, "bob", "b" * 120 + "@example.com", code=65, message="the limit is 128"),
    case(*ADD, "alice", "new@example.com", code=4, message="username 'alice' is already taken"),
    case(*ADD, "newcomer", "alice@example.com", code=4, message="email 'alice@example.com' is already taken"),
    case(*ADD, "alice", "alice@example.com", code=4, message="username 'alice' is already taken"),
    case(*ADD, "alice", "other@example.com", "--if-not-exists", code=4, message="already taken"),
    case(*ADD, code=2, message="Missing argument 'USERNAME'"),
    case(*ADD, "bob", code=2, message="Missing argument 'EMAIL'"),
    case(*ADD, "bob", "bob@example.com", "extra", code=2, message="unexpected extra argument"),
    case(*ADD, "bob", "bob@example.com", "-o", "yaml", code=2, message="'yaml' is not one of"),
]
OTHER_USER_COMMANDS = [
    case("user", "list", "--limit", "-1", code=2, message="--limit"),
    case("user", "list", "--offset", "x", code=2, message="--offset"),
    case("user", "list", "--sort", "password", code=2, message="'password' is not one of"),
    case("user", "list", "--sort", "bogus", code=2, message="--sort"),
    case("user", "list", "--sort", "", code=2, message="--sort"),
    case("user", "list", "--limit", HUGE, code=2, message="--limit"),
    case("user", "list", "--limit", str(2**63), code=2, message="--limit"),
    case("user", "list", "--offset", HUGE, code=2, message="--offset"),
    case("user", "list", "--offset", str(2**63), code=2, message="--offset"),
    case("user", "show", "nobody", code=3, message="no user 'nobody'"),
    case("user", "show", "99999", code=3, message="no user '99999'"),
    case("user", "show", "99999999999999999999999", code=3, message="no user '99999999999999999999999'"),
    case("user", "show", "\u00b2", code=3, message="no user '\u00b2'"),
    case("user", "show", "", code=3, message="no user ''"),
    case("user", "delete", "nobody", "--yes", code=3, message="no user 'nobody'"),
    case("user", "delete", "alice", code=2, message="without --yes"),
]
USER_IMPORT = [
    import_case(b"username,email\nbob,bob@example.com\nbob,b2@example.com\n", message="is also on line 2"),
    import_case(b'{"username": "bob"}\n', message="is not an object"),
    import_case(b"not json\n", "--format", "jsonl", message="is not JSON"),
    import_case(b'{"username": "alice", "email": "a2@example.com"}\n', code=4, message="'alice' is already taken"),
    import_case(b'{"username": "bob", "email": "alice@example.com"}\n', code=4, message="is already taken"),
    import_case(b"a,b\n1,2\n", "--format", "csv", message="the CSV header must name"),
    import_case(b'{"username": "bo b", "email": "b@example.com"}\n', message="contains spaces"),
    import_case(b'{"username": "b\\u0000b", "email": "b@example.com"}\n', message="control characters"),
    import_case(b'{"username": 123, "email": "b@example.com"}\n', message="line 1"),
    import_case(b'{"username": "bob", "email": "bob@"}\n', message="is not valid"),
    import_case(b"\xff\xfe\n", "--format", "jsonl", message="is not UTF-8"),
    import_case(b"[1, 2]\n", "--format", "jsonl", message="is not an object"),
    import_case(b'{"username": "bob", "email": "bob@example.com", "admin": true}\n', message="is not an object"),
    import_case(b'username,email\n"bo\nb",bob@example.com\n', "--format", "csv", message="control characters"),
    import_case(b"username,email\nbob\n", "--format", "csv", message="line 2"),
    import_case(b"", message="no users in the input"),
    import_case(b"username,email\n", message="no users in the input"),
    import_case(b"\n \n\n", message="no users in the input"),
    import_case(b"[]\n", message="no users in the input"),
    import_case(b'{"username": ' + DEEP.encode() + b', "email": "b@example.com"}\n', message="nested too deeply"),
    import_case(b"[" + DEEP.encode() + b"]", message="nested too deeply"),
    import_case(b'[{"username": "bob", "email": "bob@example.com"},]', message="not a JSON array of users"),
    import_case(b'[{"username": "bob", "email": "bob@example.com"}', message="before its closing ]"),
    import_case(b'[{"username": "bob", "email": "bob@example.com"}] []', message="more after its closing ]"),
    import_case(b'[{"username": "bob", "email": "bob@example.com"}, 1]', message="line 1: is not an object"),
    import_case(b"", "--on-conflict", "merge", code=2, message="'merge' is not one of"),
    import_case(b"", "--format", "xml", code=2, message="'xml' is not one of"),
    case("user", "import", "/nonexistent/users.csv", code=2, message="/nonexistent/users.csv"),
]
TASK_SEND = [
    case("task", "send", "nosuchtask", code=3, message="no task 'nosuchtask'"),
    case("task", "send", "os.system", "rm -rf /", code=3, message="no task 'os.system'"),
    case("task", "send", "celery.backend_cleanup", code=3, message="no task 'celery.backend_cleanup'"),
    case("task", "send", "", code=3, message="no task ''"),
    case(*SEND, code=65, message="missing a required argument: 'x'"),
    case(*SEND, "1", code=65, message="missing a required argument: 'y'"),
    case(*SEND, "1", "2", "3", code=65, message="too many positional arguments"),
    case(*SEND, "1", "2", "-k", "z=3", code=65, message="unexpected keyword argument 'z'"),
    case(*SEND, "1", "-k", "x=2", code=65, message="multiple values for argument 'x'"),
    case(*SEND, "1e999", "2", code=65, message="no NaN or Infinity"),
    case(*SEND, "NaN", "2", code=65, message="no NaN or Infinity"),
    case(*SEND, "1", "-Infinity", code=65, message="no NaN or Infinity"),
    case(*SEND, "1", "2", "--queue=", code=65, message="queue name '' must be non-empty"),
    case(*SEND, "1", "2", "--queue", "a b", code=65, message="queue name 'a b'"),
    case(*SEND, "1", "2", "-k", "noequals", code=2, message="is not key=value"),
    case(*SEND, "1", "2", "-k", "1x=3", code=2, message="is not key=value"),
    case(*SEND, "1", "2", "--countdown", "-1", code=2, message="--countdown"),
    case(*SEND, "1", "2", "--countdown", "soon", code=2, message="--countdown"),
    case(*SEND, "1", "2", "--countdown", "nan", code=2, message="--countdown"),
    case(*SEND, "1", "2", "--countdown", "inf", code=2, message="--countdown"),
    case(*SEND, "1", "2", "--eta", "tomorrow", code=2, message="--eta"),
    case(*SEND, "1", "2", "--expires", "later", code=2, message="--expires"),
    case(*SEND, "1", "2", "--wait", "--timeout", "-5", code=2, message="--timeout"),
    case(*SEND, "1", "2", "--bogus", code=2, message="--bogus"),
    case(*SEND, DEEP, "2", code=2, message="nested too deeply"),
    case(*SEND, "1", "-k", f"y={DEEP}", code=2, message="nested too deeply"),
    case(*SEND, TOO_DEEP, "2", code=65, message="nested at most 100 levels"),
    case(*SEND, "1", "-k", f"y={TOO_DEEP}", code=65, message="nested at most 100 levels"),
    case(*SEND, "[1, NaN]", "2", code=65, message="no NaN or Infinity"),
    case(*SEND, '{"a": [Infinity]}', "2", code=65, message="no NaN or Infinity"),
    case(*SEND, "1", "2", "--countdown", "1e300", code=2, message="--countdown"),
    case(*SEND, "1", "2", "--countdown", "99999999999999", code=2, message="--countdown"),
    case(*SEND, "1", "2", "--expires", "1e300", code=2, message="--expires"),
    case(*SEND, "1", "2", "--expires", "0001-01-01T00:00:00", code=2, message="--expires"),
    case(*SEND, "1", "2", "--eta", "0001-01-01T00:00:00", code=2, message="--eta"),
    case(*SEND, "1", "2", "--eta", "9999-12-31T23:59:59-14:00", code=2, message="--eta"),
    case(*SEND, "1", "2", "--eta", "0001-01-01T00:00:00+00:00", code=2, message="more than 100 years from now"),
    case(*SEND, "1", "2", "--expires", "0999-06-01T00:00:00Z", code=2, message="more than 100 years from now"),
    case(*SEND, "1", "2", "--eta", "2030-01-01T00:00:00Z", "--countdown", "5", code=2, message="not both"),
    case(*SEND, "1", "2", "--wait", "--timeout", "1e308", code=2, message="--timeout"),
    case(*SEND, "1", "2", "--wait", "--timeout", "inf", code=2, message="--timeout"),
    case(*SEND, "1", "2", "--wait", "--timeout", "nan", code=2, message="--timeout"),
    case(*SEND, "1", "2", "--wait", code=78, message="APPCTL_WAIT_TIMEOUT", APPCTL_WAIT_TIMEOUT="1e308"),
]
FROM_FILE_VALUES = {  # a bad value, and what the error says
    "[1, NaN]": "arguments must be finite numbers",
    "[Infinity, 2]": "arguments must be finite numbers",
    '{"args": [1], "kwargs": {"y": -Infinity}}': "arguments must be finite numbers",
    "[1e999, 2]": "arguments must be finite numbers",
    f"[{TOO_DEEP}, 2]": "arguments must be nested at most 100 levels",
    f"[{DEEP}, 2]": "arguments must be nested at most 100 levels",
    f"[{'9' * 5000}, 2]": "not JSON",  # more digits than Python reads as a number
}
FROM_FILE = [
    case(
        *SEND,
        "--from-file",
        "-",
        code=65,
        message=f"line {line}: {message}",
        stdin=b"[1, 2]\n" * (line - 1) + text.encode(),
    )
    for text, message in FROM_FILE_VALUES.items()
    for line in (1, 2, 1000)
]
TASK_HISTORY = [
    case("task", "history", "--limit", HUGE, code=2, message="--limit"),
    case("task", "history", "--since", "99999999999d", code=2, message="--since"),
    case("task", "history", "--since", "101w" * 52, code=2, message="--since"),
    case("task", "history", "--since", "0001-01-01T00:00:00", code=2, message="--since"),
    case("task", "history", "--since", "9999-12-31T23:59:59-14:00", code=2, message="--since"),
    case("task", "prune", "--older-than", "99999999999d", "--yes", code=2, message="--older-than"),
    case("task", "prune", "--older-than", "1" + "0" * 400 + "s", "--yes", code=2, message="--older-than"),
]
JOB_IDS = [
    case("result", "wait", "", code=65, message="is not a task id"),
    case("result", "wait", "has\ttab", code=65, message="is not a task id"),
    case("result", "wait", "not\udcffutf8", code=65, message="is not a task id"),
    case("result", "wait", "x" * 300, code=65, message="is not a task id"),
    case("result", "wait", "\x1b[2J", code=65, message="is not a task id"),
    case("result", "wait", "made-up-id", code=3, message="made-up-id"),
    case("result", "wait", "made-up-id", "--timeout", "-1", code=2, message="--timeout"),
    case("result", "wait", "made-up-id", "--timeout", "abc", code=2, message="--timeout"),
    case("result", "wait", code=2, message="Missing argument"),
    case("result", "wait", "made-up-id", "--timeout", "1e308", code=2, message="--timeout"),
    case("result", "wait", "made-up-id", code=78, message="APPCTL_WAIT_TIMEOUT", APPCTL_WAIT_TIMEOUT="abc"),
    case("result", "wait", "made-up-id", code=78, message="APPCTL_WAIT_TIMEOUT", APPCTL_WAIT_TIMEOUT="-1"),
    case("result", "wait", "made-up-id", code=78, message="APPCTL_WAIT_TIMEOUT", APPCTL_WAIT_TIMEOUT="inf"),
    case("task", "status", "", code=65, message="is not a task id"),
    case("task", "status", "bad\nid", code=65, message="is not a task id"),
    case("task", "status", "made-up-id", code=3, message="made-up-id"),
    case("task", "revoke", "made-up-id", code=3, message="made-up-id"),
]
LIST = ("user", "list")
CONFIGURATION = [
    case(*LIST, code=78, message="unknown config 'nope'", FLASK_CONFIG="nope"),
    case(*LIST, code=78, message="unknown config 'Production'", FLASK_CONFIG="Production"),
    case(*LIST, code=78, message="DATABASE_URL 'notaurl' is not valid", DATABASE_URL="notaurl"),
    case(*LIST, code=78, message="is not valid", DATABASE_URL="postgresql://u:s3cret@host:port/db"),
    case(*LIST, code=78, message="needs the Python module", DATABASE_URL="mysql://u:s3cret@host/db"),
    case(*LIST, code=78, message="'foo' are not accepted", DATABASE_URL="sqlite:////tmp/appctl-x.sqlite?foo=1"),
    case(*LIST, code=78, message="no other process finds them", CELERY_RESULT_BACKEND="cache+memory://"),
    case(
        *SEND,
        "1",
        "2",
        "--wait",
        code=78,
        message="please make sure that it exists",
        CELERY_RESULT_BACKEND="file:///x/y",
    ),
    case(
        *LIST, code=78, message='invalid port number: "99999"', DATABASE_URL="postgresql://u:s3cret@127.0.0.1:99999/d"
    ),
    case(
        *LIST,
        code=78,
        message='invalid sslmode value: "bogus"',
        DATABASE_URL="postgresql://u@127.0.0.1/d?sslmode=bogus",
    ),
    case(*LIST, code=78, message='invalid connection option "foo"', DATABASE_URL="postgresql://u@127.0.0.1/d?foo=bar"),
    case(*SEND, "1", "2", code=78, message="are not accepted", CELERY_BROKER_URL="sqla+sqlite:////tmp/b.sqlite?x=1"),
    case(*LIST, code=78, message="no broker transport is called 'foo'", CELERY_BROKER_URL="foo://host"),
    case(*LIST, code=78, message="it is not a URL", CELERY_BROKER_URL="notaurl"),
    case(*LIST, code=78, message="Port could not be cast", CELERY_BROKER_URL="redis://:s3cret@host:port/0"),
    case(*LIST, code=78, message="Redis database 'zero'", CELERY_BROKER_URL="redis://127.0.0.1:6379/zero"),
    case(*LIST, code=78, message="no result backend is called 'foo'", CELERY_RESULT_BACKEND="foo://host"),
    case(*LIST, code=78, message="sqlalchemy.dialects:nonsense", CELERY_RESULT_BACKEND="db+nonsense://host/db"),
    case(*LIST, code=78, message="APPCTL_CONNECT_TIMEOUT", APPCTL_CONNECT_TIMEOUT="abc"),
    case(*LIST, code=78, message="APPCTL_SOCKET_TIMEOUT", APPCTL_SOCKET_TIMEOUT="-1"),
    case(*LIST, code=78, message="APPCTL_PUBLISH_RETRIES", APPCTL_PUBLISH_RETRIES="1.5"),
    case(*LIST, code=78, message="CELERY_VISIBILITY_TIMEOUT", CELERY_VISIBILITY_TIMEOUT="inf"),
    case(*LIST, code=78, message="APPCTL_RESTORE_INTERVAL", APPCTL_RESTORE_INTERVAL="nan"),
    case(*LIST, code=78, message="APPCTL_SQLITE_BUSY_TIMEOUT", APPCTL_SQLITE_BUSY_TIMEOUT="forever"),
    case(*LIST, code=78, message="APPCTL_DIVIDE_DELAY", APPCTL_DIVIDE_DELAY="-1"),
    case(*LIST, code=78, message="APPCTL_SOCKET_TIMEOUT", APPCTL_SOCKET_TIMEOUT="1e308"),
    case(*LIST, code=78, message="APPCTL_CONNECT_TIMEOUT", APPCTL_CONNECT_TIMEOUT="1e400"),
    case(*LIST, code=78, message="APPCTL_HEARTBEAT_INTERVAL", APPCTL_HEARTBEAT_INTERVAL="1e308"),
    case(*LIST, code=78, message="APPCTL_MIGRATION_LOCK_TIMEOUT", APPCTL_MIGRATION_LOCK_TIMEOUT="a while"),
    case(*LIST, code=78, message="APPCTL_PUBLISH_RETRIES", APPCTL_PUBLISH_RETRIES=HUGE + "000"),
    case(*LIST, code=78, message="APPCTL_PUBLISH_RETRIES", APPCTL_PUBLISH_RETRIES="\u00b2"),
    case(*LIST, code=78, message="APPCTL_DEBUG", APPCTL_DEBUG="sometimes"),
    case(*LIST, code=78, message="APPCTL_QUEUE", APPCTL_QUEUE="a b"),
    case(*LIST, code=78, message="APPCTL_QUEUE", APPCTL_QUEUE="q\x1b[2J"),
    case(*SEND, "1", "2", code=78, message="APPCTL_QUEUE", APPCTL_QUEUE="tab\there"),
    case(*LIST, code=78, message="must be an absolute path", APPCTL_DATA_DIR="relative/data"),
    case(*LIST, code=78, message="must be an absolute path", APPCTL_DATA_DIR="./data"),
    # Options in a URL's query string, and drivers a scheme names, are settings too (78, never 70).
    case(*LIST, code=78, message="could not convert", DATABASE_URL="sqlite:////tmp/appctl-x.sqlite?timeout=abc"),
    case(*LIST, code=78, message="relative path", DATABASE_URL="sqlite:///relative.sqlite"),
    case(*LIST, code=78, message="in-memory", DATABASE_URL="sqlite://"),
    case(*SEND, "1", "2", code=78, message="CELERY_BROKER_URL", CELERY_BROKER_URL="sqla+sqlite:///rel.sqlite"),
    case(
        *SEND, "1", "2", code=78, message="socket_timeout", CELERY_BROKER_URL="redis://127.0.0.1:1/0?socket_timeout=x"
    ),
    case(
        *SEND, "1", "2", code=78, message="CELERY_BROKER_URL", CELERY_BROKER_URL="redis://127.0.0.1:1/0?ssl_cert_reqs=x"
    ),
    case(*SEND, "1", "2", code=78, message="could not convert", CELERY_BROKER_URL="amqp://127.0.0.1:1//?heartbeat=x"),
    case(*SEND, "1", "2", code=78, message="master_name", CELERY_BROKER_URL="sentinel://127.0.0.1:1"),
    case(*SEND, "1", "2", code=78, message="pymongo", CELERY_BROKER_URL="mongodb://127.0.0.1:1/"),
    *(
        case(*SEND, "1", "2", "--wait", "--timeout", "5", code=78, message=message, CELERY_RESULT_BACKEND=url)
        for url, message in (
            ("redis://127.0.0.1:1/0?socket_timeout=x", "could not convert"),
            ("redis://127.0.0.1:1/0?ssl_cert_reqs=x", "rediss"),
            ("rediss://127.0.0.1:1/0", "needs ssl_cert_reqs"),
            ("mongodb://127.0.0.1:1/", "pymongo"),
            ("db+sqlite://", "in-memory"),
        )
    ),
    *(
        case(
            *command,
            code=78,
            message=f"the Redis database {database!r}",
            **{variable: f"redis://127.0.0.1:1/{database}"},
        )
        for command in (LIST, (*SEND, "1", "2"))
        for variable in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")
        for database in ("-1", "abc", HUGE, "\u00b2")
    ),
]
BYTE = "\udcff"  # the byte 0xff in an argument, as Python reads argv: not UTF-8
UNDECODABLE = [
    case("task", "history", "--args", BYTE, code=65, message="--args '\\xff' is not UTF-8 text"),
    case("task", "history", "--error", BYTE, code=65, message="is not UTF-8 text"),
    case("task", "history", "--name", BYTE, code=65, message="is not UTF-8 text"),
    case("task", "history", "--schedule", BYTE, code=65, message="is not UTF-8 text"),
    case("task", "revoke", "--args", BYTE, "--yes", code=65, message="is not UTF-8 text"),
    case("task", "prune", "--error", BYTE, "--yes", code=65, message="is not UTF-8 text"),
    case("task", "retry", "--args", BYTE, "--dry-run", code=65, message="is not UTF-8 text"),
    case("task", "send", "divide", BYTE, "1", code=65, message="argument '\\xff' is not UTF-8 text"),
    case("task", "send", "divide", "-k", f"x={BYTE}", "-k", "y=1", code=65, message="is not UTF-8 text"),
    case("task", "send", "divide", f'["{BYTE}"]', "1", code=65, message="is not UTF-8 text"),
    case("user", "list", "--search", BYTE, code=65, message="is not UTF-8 text"),
    case("user", "show", BYTE, code=65, message="is not UTF-8 text"),
    case("user", "deactivate", BYTE, code=65, message="is not UTF-8 text"),
    case("schedule", "show", BYTE, code=65, message="is not UTF-8 text"),
]
CASES = (
    USER_ADD
    + OTHER_USER_COMMANDS
    + USER_IMPORT
    + TASK_SEND
    + FROM_FILE
    + TASK_HISTORY
    + JOB_IDS
    + CONFIGURATION
    + UNDECODABLE
)


def case_id(c: Case) -> str:
    return " ".join([*(f"{k}={v}" for k, v in c.env.items()), *c.args]).encode("unicode_escape").decode()[:60]


def snapshot(data_dir: Path) -> dict[str, list[Any]]:
    """Every row of every table of the app's database, and the messages on the broker."""
    rows: dict[str, list[Any]] = {}
    for name in ("app.sqlite", "broker.sqlite"):
        with sqlite3.connect(data_dir / name) as connection:
            tables = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
            for (table,) in tables:
                rows[f"{name}:{table}"] = sorted(map(repr, connection.execute(f'SELECT * FROM "{table}"')))
    return rows


def assert_one_error_line(stderr: str, c: Case) -> None:
    """One ``Error:`` line carrying the message; a usage error (2) also shows Click's usage and hint."""
    lines = stderr.splitlines()
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], stderr
    assert c.message in errors[0], stderr
    assert len(lines) == 1 or c.code == 2, stderr
    assert "Traceback" not in stderr and "s3cret" not in stderr


@pytest.fixture
def seeded(app: Any, env: dict[str, str]) -> Path:
    """A migrated database holding alice, and one job sent (so the broker and history have rows)."""
    from project.jobs.send import send_job
    from project.users.service import create_user

    create_user("alice", "alice@example.com")
    send_job("divide", [1, 2])
    return Path(env["APPCTL_DATA_DIR"])


def test_the_corpus_is_large() -> None:
    assert len(CASES) >= 50


@pytest.mark.parametrize("c", CASES, ids=case_id)
def test_bad_input(c: Case, seeded: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in c.env.items():
        monkeypatch.setenv(name, value)
    before = snapshot(seeded)
    result = runner.invoke(cli, c.args, input=c.stdin)
    assert result.exit_code == c.code, (result.stderr, result.exception)
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    assert_one_error_line(result.stderr, c)
    assert snapshot(seeded) == before


SUBPROCESS_CASES = [  # a sample, as users run it: one per kind of failure
    USER_ADD[2],
    USER_ADD[24],
    OTHER_USER_COMMANDS[4],
    USER_IMPORT[0],
    TASK_SEND[4],
    TASK_SEND[11],
    JOB_IDS[1],
    CONFIGURATION[7],
    UNDECODABLE[0],
    UNDECODABLE[10],
]


@pytest.mark.slow
@pytest.mark.parametrize("c", SUBPROCESS_CASES, ids=case_id)
def test_bad_input_as_a_real_process(c: Case, seeded: Path, env: dict[str, str]) -> None:
    before = snapshot(seeded)
    result = run_appctl(*c.args, env={**env, **c.env}, input=c.stdin.decode() if c.stdin else None)
    assert (result.returncode, result.stdout) == (c.code, "")
    assert_one_error_line(result.stderr, c)
    assert snapshot(seeded) == before


@pytest.mark.parametrize(
    "args", [("user", "list", "--search", "x" * 100_000), ("task", "history", "--name", "x" * 100_000)], ids=str
)
def test_a_filter_longer_than_any_value_matches_nothing(args: tuple[str, ...], seeded: Path, runner: CliRunner) -> None:
    """SQLite refuses LIKE patterns over 50,000 bytes ("pattern too complex", once reported as exit 69)."""
    result = runner.invoke(cli, list(args))
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


LONG = "x" * 100_000


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("user", "show", LONG), 3),
        (("user", "delete", "--yes", LONG), 3),
        (("user", "add", LONG + " y", "a@example.com"), 65),
        (("user", "add", "ann", LONG + "@example.com"), 65),
        (("user", "list", "--sort", LONG), 2),
        (("task", "send", LONG), 3),
        (("task", "send", "divide", "1", "2", "--queue", LONG + " q"), 65),
        (("task", "status", LONG), 65),
        (("result", "wait", LONG), 65),
        (("db", "upgrade", LONG), 3),
    ],
    ids=lambda value: " ".join(value[:2]) if isinstance(value, tuple) else str(value),
)
def test_a_long_input_is_echoed_cut_short(args: tuple[str, ...], code: int, seeded: Path, runner: CliRunner) -> None:
    """An error quotes what was typed so the user can find it, never 100,000 characters of it."""
    before = snapshot(seeded)
    result = runner.invoke(cli, list(args))
    assert result.exit_code == code, result.stderr
    assert result.stderr.startswith("Error:") and len(result.stderr) < 600, result.stderr[:600]
    assert snapshot(seeded) == before


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_import_from_an_endless_stream_is_one_line_exit_65(fmt: str, seeded: Path, runner: CliRunner) -> None:
    """`user import /dev/zero`: the first line never ends; it is refused once it is too long, not read whole."""
    before = snapshot(seeded)
    result = runner.invoke(cli, ["user", "import", "--format", fmt, "/dev/zero"])
    assert (result.exit_code, result.stdout) == (65, "")
    assert result.stderr == "Error: line 1 is longer than 1048576 characters: this is no file of users\n"
    assert snapshot(seeded) == before


def test_send_from_an_endless_stream_is_one_line_exit_65(seeded: Path, runner: CliRunner) -> None:
    """`task send --from-file /dev/zero`: refused once its first line is too long; nothing is sent."""
    before = snapshot(seeded)
    result = runner.invoke(cli, ["task", "send", "divide", "--from-file", "/dev/zero"])
    assert (result.exit_code, result.stdout) == (65, "")
    assert result.stderr.startswith("Error: line 1 is longer than 16777216 bytes; each line must be")
    assert snapshot(seeded) == before
