"""Turning third-party failures into the project's own errors: connections, missing modules."""

from __future__ import annotations

import errno
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from project.datadir import sqlite_path
from project.errors import UPGRADE_DATABASE, AppctlError, ConfigError, ServiceUnavailable
from project.urls import mask_password

POOL_MODULE_PREFIX = "celery.concurrency."  # a pool's module, which imports its package (gevent, eventlet)

_CONNECTION_ERRORS = {
    "kombu.exceptions": ("OperationalError",),
    "redis.exceptions": ("ConnectionError", "TimeoutError", "BusyLoadingError"),
    "amqp.exceptions": ("ConnectionError", "RecoverableConnectionError", "AccessRefused"),
    "sqlalchemy.exc": ("OperationalError", "InterfaceError"),
}
# What a database's own message means, each pattern for one thing only. libpq reports a failed
# connection without an SQLSTATE, so those are told apart by the server's (English) text; errors
# inside a session carry an SQLSTATE. SQLite has neither: its messages are fixed strings.
_MISSING_DATABASE = re.compile(r'FATAL:\s+database "(?P<name>[^"]*)" does not exist')
_MISSING_ROLE = re.compile(r'FATAL:\s+role "(?P<name>[^"]*)" does not exist')
_REFUSED_LOGIN = re.compile(r"password authentication failed|no password supplied|no pg_hba\.conf entry")
_MISSING_TABLE = ("42P01", re.compile(r"no such table: |relation \"[^\"]*\" does not exist"))
_MISSING_COLUMN = ("42703", re.compile(r"no such column: |column \"[^\"]*\" (of relation \"[^\"]*\" )?does not exist"))
_MISSING_SCHEMA = ("3F000", re.compile(r"no schema has been selected|schema \"[^\"]*\" does not exist"))
_DISK_FULL = re.compile(r"database or disk is full|No space left on device")
_NO_ROOM = 1 << 20  # below this much free space, SQLite's "disk I/O error" means the disk is full
_SETTINGS = {"broker": "CELERY_BROKER_URL", "result backend": "CELERY_RESULT_BACKEND"}
# libpq's words for a connection option it refuses before connecting (checked against libpq 16 and 17).
_BAD_CONNECTION_OPTION = re.compile(
    r'invalid (port number|connection option|URI query parameter|integer value|\w+ value):? "'
)
_SQLITE_LOCKED = "database is locked"  # SQLite: another writer held the lock past the busy timeout
LOCKED_REASON = "the database stayed locked by another process (APPCTL_SQLITE_BUSY_TIMEOUT sets how long to wait)"
_NO_SUCH_REDIS_DATABASE = "DB index is out of range"  # Redis's answer to SELECT n beyond its `databases`


def connection_error_types() -> tuple[type[BaseException], ...]:
    """Exception classes that mean a service could not be reached (only from modules in use)."""
    found: list[type[BaseException]] = [OSError, TimeoutError]
    for module_name, names in _CONNECTION_ERRORS.items():
        module = sys.modules.get(module_name)
        found.extend(getattr(module, name) for name in names if module and hasattr(module, name))
    return tuple(found)


def is_connection_error(exc: BaseException) -> bool:
    """True when ``exc`` says a service could not be reached."""
    if isinstance(exc, RuntimeError) and "Retry limit exceeded" in str(exc):
        return True  # Celery's result backend gave up reconnecting
    return isinstance(exc, connection_error_types())


def reason(exc: BaseException) -> str:
    """The first line of ``exc``'s message, with URLs masked (SQLite's "database is locked" said plainly)."""
    if isinstance(exc, RuntimeError) and exc.__cause__ is not None:
        exc = exc.__cause__  # Celery's "Retry limit exceeded…": the cause says what went wrong
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    if text and _SQLITE_LOCKED in text[0]:
        return LOCKED_REASON
    return mask_password(text[0] if text else type(exc).__name__)


def _is(exc: BaseException, sqlstate: str, pattern: re.Pattern[str]) -> bool:
    """True when ``exc`` (or the driver error it wraps) has ``sqlstate`` or a message matching ``pattern``."""
    driver_error = getattr(exc, "orig", None) or exc
    return getattr(driver_error, "sqlstate", None) == sqlstate or bool(pattern.search(str(exc)))


def _database_problem(where: str, exc: BaseException) -> ServiceUnavailable | None:
    """The error for a database that answered but cannot serve appctl, or None for anything else."""
    text = str(exc)
    if found := _MISSING_DATABASE.search(text):
        hint = f"create it (`createdb {found['name']}`), or fix the database name in DATABASE_URL"
        return ServiceUnavailable(f"the database at {where} does not exist", hint=hint)
    if found := _MISSING_ROLE.search(text):
        hint = "create the role, or fix the user name in DATABASE_URL"
        return ServiceUnavailable(f"the database at {where} has no role {found['name']!r}", hint=hint)
    if _REFUSED_LOGIN.search(text):
        hint = "check the user name and password in DATABASE_URL"
        return ServiceUnavailable(f"the database at {where} refused the login: {reason(exc)}", hint=hint)
    if _is(exc, *_MISSING_SCHEMA):
        hint = "create the schema, or fix search_path in the URL's options"
        return ServiceUnavailable(f"the schema that {where} selects does not exist", hint=hint)
    if _is(exc, *_MISSING_TABLE):
        return ServiceUnavailable(f"the database at {where} is not initialised", remedy=UPGRADE_DATABASE)
    if _is(exc, *_MISSING_COLUMN):
        return ServiceUnavailable(f"the database at {where} is behind the app's schema", remedy=UPGRADE_DATABASE)
    return None


def is_disk_full(exc: BaseException, url: str) -> bool:
    """True when ``exc`` says the disk is full: SQLite's SQLITE_FULL, ENOSPC, or SQLite's "disk I/O
    error" when the device holding the file at ``url`` has no room (in WAL mode SQLite says that when
    it cannot grow its side files)."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    if _DISK_FULL.search(str(exc)):
        return True
    path = sqlite_path(url)
    return "disk I/O error" in str(exc) and path is not None and _free_bytes(path.parent) < _NO_ROOM


def _free_bytes(directory: Path) -> int:
    """Bytes an unprivileged writer may still use on the device holding ``directory`` (large if unknown)."""
    try:
        stats = os.statvfs(directory)
    except OSError:
        return _NO_ROOM
    return stats.f_bavail * stats.f_frsize


def unavailable(service: str, url: str, exc: BaseException) -> ServiceUnavailable | ConfigError:
    """The error that says ``service`` at ``url`` failed with ``exc`` (ConfigError: libpq refused the
    URL's own options, a bad port or sslmode say, before it tried to connect)."""
    where = mask_password(url)
    if found := _BAD_CONNECTION_OPTION.search(str(exc)):
        setting = _SETTINGS.get(service, "DATABASE_URL")
        return ConfigError(f"{setting} {where!r} is not valid: {str(exc)[found.start() :].splitlines()[0]}")
    if is_disk_full(exc, url):
        hint = "free some space there (APPCTL_DATA_DIR moves the embedded default's files)"
        return ServiceUnavailable(f"no space left on the device holding the {service} at {where}", hint=hint)
    if service == "database" and (problem := _database_problem(where, exc)):
        return problem
    if _SQLITE_LOCKED in str(exc):
        hint = "try again; APPCTL_SQLITE_BUSY_TIMEOUT sets how long to wait"
        return ServiceUnavailable(f"the {service} at {where} stayed locked by another process", hint=hint)
    return ServiceUnavailable(f"cannot reach the {service} at {where}: {reason(exc)}")


@contextmanager
def _connection_errors(locate: Callable[[BaseException], tuple[str, str]]) -> Iterator[None]:
    """Re-raise connection failures inside the block as ServiceUnavailable for ``locate(exc)``."""
    try:
        yield
    except AppctlError:
        raise
    except Exception as exc:
        if names_missing_redis_database(exc):
            service, url = locate(exc)
            setting = _SETTINGS.get(service, service)
            hint = "a Redis server has databases 0 to 15 unless its `databases` setting says more"
            why = "the Redis server has no such database"
            raise ConfigError(f"{setting} {mask_password(url)!r} is not valid: {why}", hint) from exc
        if is_connection_error(exc):
            service, url = locate(exc)
            raise unavailable(service, url, exc) from exc
        if raised_reading_settings(exc):
            service, url = locate(exc)
            setting = _SETTINGS.get(service, service)
            hint = "check the options in the URL's query string, and that the driver it names is installed"
            # Celery's ImproperlyConfigured messages are sentences wrapped over lines: all of it, not the first.
            why = (
                mask_password(" ".join(str(exc).split()))
                if type(exc).__name__ == "ImproperlyConfigured"
                else reason(exc)
            )
            raise ConfigError(f"{setting} {mask_password(url)!r} is not valid: {why}", hint) from exc
        raise


# Where kombu, Celery and redis-py read a broker or backend URL's options and load its driver
# (module prefix → the functions that do it, or None for the whole module): a ValueError
# (``?socket_timeout=abc``), TypeError (an option the client does not take), KeyError
# (``?ssl_cert_reqs=bogus``) or ImportError raised there is a setting to fix, not a bug.
_SETTINGS_READERS: dict[str, frozenset[str] | None] = {
    "celery.app.base": frozenset({"_get_backend"}),
    "kombu.connection": None,
    "kombu.utils.url": None,
    "kombu.transport": frozenset({"__init__", "_connparams", "_create_client", "_get_pool", "get_transport_cls"}),
    "redis.connection": None,
}
_SETTINGS_ERRORS = (ValueError, TypeError, KeyError, ImportError)


def raised_reading_settings(exc: BaseException) -> bool:
    """True when ``exc`` came out of the code that reads a service URL's options or loads its driver."""
    celery_exceptions = sys.modules.get("celery.exceptions")
    improperly_configured = getattr(celery_exceptions, "ImproperlyConfigured", None)
    if not isinstance(exc, _SETTINGS_ERRORS) and not (improperly_configured and isinstance(exc, improperly_configured)):
        return False
    frame = exc.__traceback__
    while frame is not None:
        module = str(frame.tb_frame.f_globals.get("__name__", ""))
        for prefix, functions in _SETTINGS_READERS.items():
            if module.startswith(prefix) and (functions is None or frame.tb_frame.f_code.co_name in functions):
                return True
        frame = frame.tb_next
    return False


def names_missing_redis_database(exc: BaseException) -> bool:
    """True when ``exc`` (or its cause) is Redis refusing to select a database number it does not have."""
    return any(_NO_SUCH_REDIS_DATABASE in str(e) for e in (exc, exc.__cause__, exc.__context__) if e is not None)


def service_errors(service: str, url: str) -> AbstractContextManager[None]:
    """Re-raise connection failures inside the block as ServiceUnavailable naming ``service``."""
    return _connection_errors(lambda _: (service, url))


def raised_by_result_backend(exc: BaseException) -> bool:
    """True when ``exc``, or an exception it was raised from, came out of Celery's result backend code."""
    chain: BaseException | None = exc
    for _ in range(8):  # a chain is short; the bound guards against cycles
        if chain is None:
            return False
        frame = chain.__traceback__
        while frame is not None:
            if str(frame.tb_frame.f_globals.get("__name__", "")).startswith("celery.backends."):
                return True
            frame = frame.tb_next
        chain = chain.__cause__ or chain.__context__
    return False


def publish_errors(broker_url: str, backend_url: str) -> AbstractContextManager[None]:
    """Like service_errors, naming the result backend or the broker, whichever failed.

    Celery subscribes to the job's result (Redis) before it publishes, so both can fail here.
    """

    def locate(exc: BaseException) -> tuple[str, str]:
        return ("result backend", backend_url) if raised_by_result_backend(exc) else ("broker", broker_url)

    return _connection_errors(locate)


@contextmanager
def database_errors(url: str) -> Iterator[None]:
    """Re-raise SQLAlchemy connection and missing-schema failures as ServiceUnavailable."""
    try:
        yield
    except AppctlError:
        raise
    except Exception as exc:
        if is_database_failure(exc):
            raise unavailable("database", url, exc) from exc
        raise


# The DB-API exception classes that mean the database cannot be used (down, locked, schema missing),
# as SQLAlchemy and the drivers appctl uses directly (sqlite3, psycopg) name them.
_DATABASE_FAILURES = ("OperationalError", "InterfaceError", "ProgrammingError")
_DATABASE_MODULES = ("sqlalchemy", "sqlite3", "_sqlite3", "psycopg")


def is_database_failure(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be used, from SQLAlchemy or from a driver."""
    if type(exc).__module__.split(".")[0] not in _DATABASE_MODULES:
        return False
    return any(cls.__name__ in _DATABASE_FAILURES for cls in type(exc).__mro__)


def missing_module(exc: ImportError) -> ConfigError:
    """A pool whose package is not installed (``-P gevent``), or a module named by ``-I`` or a setting."""
    modules = [frame.f_globals.get("__name__", "") for frame, _ in traceback.walk_tb(exc.__traceback__)]
    pools = [module.rsplit(".", 1)[-1] for module in modules if module.startswith(POOL_MODULE_PREFIX)]
    if pools:
        return ConfigError(
            f"the {pools[-1]} pool needs a package that is not installed (no module named {exc.name!r})",
            hint=f"pip install {pools[-1]}",
        )
    return ConfigError(
        f"the worker cannot import {exc.name!r}: {exc}",
        hint="check the modules and pools named by the worker's options (-I, -P) and settings",
    )


def missing_driver(url: str, exc: ModuleNotFoundError) -> ConfigError:
    """A ``DATABASE_URL`` whose driver is not installed."""
    hint = "pip install 'appctl[postgres]'" if "psycopg" in str(exc) else "install the database driver"
    return ConfigError(f"DATABASE_URL {mask_password(url)} needs the Python module {exc.name!r}", hint=hint)
