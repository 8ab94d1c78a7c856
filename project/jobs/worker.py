"""Running a Celery worker of this app, in the foreground or detached (``--detach``)."""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from project.celery_internals.worker_command import run_celery_command
from project.errors import ConfigError
from project.failures import missing_module
from project.jobs.names import check_text
from project.jobs.registry import current_celery

BEAT_FLAGS = ("-B", "--beat")  # `celery worker`'s own option to run the beat inside the worker
# The app as Celery's ``-A`` names it: ``worker --detach`` re-executes ``python -m celery`` with the
# command line after the program name, so that line must name this app or the worker has no tasks.
WORKER_APP = f"{__name__}:celery"


@functools.cache
def _factory_celery() -> Any:
    from project import create_app

    return create_app().extensions["celery"]


def __getattr__(name: str) -> Any:
    """``celery``: the factory-built app's Celery, built when a re-executed worker first asks (PEP 562)."""
    if name == "celery":
        return _factory_celery()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run_worker(celery_args: Sequence[str]) -> None:
    """Run ``celery worker CELERY_ARGS`` for the current app until it stops; raise if it could not start.

    A worker option or setting that names what this machine does not have (a pool's package, a
    module, a file that cannot be created, a user) is a ConfigError, raised or reported by Celery.
    ``--beat`` (``-B``) runs the beat in a thread of this process once the worker is ready (Celery's
    own forks a process, whose inherited SQLite connections break the embedded database's locks);
    a detached worker keeps Celery's.
    """
    from celery.signals import worker_ready, worker_shutting_down

    _check_names(celery_args)
    _check_pidfile(celery_args)
    ready = threading.Event()
    beat = None
    if "--detach" not in celery_args and any(arg in BEAT_FLAGS for arg in celery_args):
        from project.schedules.beat import BeatThread

        celery_args = [arg for arg in celery_args if arg not in BEAT_FLAGS]
        beat = BeatThread(current_celery())

    def on_ready(**_: Any) -> None:
        ready.set()
        if beat is not None:
            beat.start()

    def on_shutting_down(**_: Any) -> None:  # no runs sent while the worker stops
        if beat is not None:
            beat.request_stop()

    worker_ready.connect(on_ready, weak=False)
    worker_shutting_down.connect(on_shutting_down, weak=False)
    # sys.argv is what a detaching worker re-executes: make it the command line of this app's worker.
    argv = [sys.argv[0], "-A", WORKER_APP, "worker", *celery_args]
    try:
        status = run_celery_command(current_celery(), ["worker", *celery_args], argv=argv)
    except ImportError as exc:
        if ready.is_set():
            raise
        raise missing_module(exc) from None
    except (OSError, KeyError) as exc:  # a log file or state db that cannot be created, an unknown --uid
        if ready.is_set():
            raise
        raise ConfigError(f"the worker cannot start: {exc}") from None
    finally:
        worker_ready.disconnect(on_ready)
        worker_shutting_down.disconnect(on_shutting_down)
        if beat is not None:
            beat.stop()
    if status:
        raise _stopped(status, started=ready.is_set())


def _option_values(celery_args: Sequence[str], *names: str) -> Iterator[str]:
    """The values ``celery_args`` give the options ``names`` (``--pidfile X``, ``--pidfile=X``, ``-n X``)."""
    for index, arg in enumerate(celery_args):
        name, equals, value = arg.partition("=")
        if equals and name in names:
            yield value
        elif arg in names and index + 1 < len(celery_args):
            yield celery_args[index + 1]


def _check_names(celery_args: Sequence[str]) -> None:
    """InvalidInput for a worker name or queue that is not UTF-8: its heartbeats and replies could never be written."""
    for value in _option_values(celery_args, "-n", "--hostname", "-Q", "--queues", "-X", "--exclude-queues"):
        check_text(value, "worker option value")


def _check_pidfile(celery_args: Sequence[str]) -> None:
    """ConfigError when ``--pidfile``'s folder is missing or not writable (Celery logs a traceback for it)."""
    for path in _option_values(celery_args, "--pidfile"):
        if not path or "%" in path:  # Celery fills in %n, %h…: the name is known once it does
            continue
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise ConfigError(f"the worker cannot start: the pid file's folder {folder!r} does not exist")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ConfigError(f"the worker cannot start: cannot create the pid file in {folder!r} (permission denied)")


def _stopped(status: int, started: bool) -> Exception:
    """Celery's worker ended with a failure status: before it was ready, it could not start as configured."""
    if not started:
        return ConfigError(f"the worker could not start (Celery exit status {status}): its log says why")
    return RuntimeError(f"the worker stopped on an unrecoverable error (Celery exit status {status}): its log says why")


def show_worker_help() -> None:
    """Celery's ``worker --help``, from a bare Celery app: help needs no configuration, database or broker."""
    from celery import Celery

    run_celery_command(Celery(fixups=[]), ["worker", "--help"])
