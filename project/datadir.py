"""The data directory and its SQLite files, readable by their owner only."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from project.errors import ConfigError
from project.urls import parse_url

SETTINGS = {
    "SQLALCHEMY_DATABASE_URI": "DATABASE_URL",
    "CELERY_BROKER_URL": "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND": "CELERY_RESULT_BACKEND",
}


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (also ``sqla+`` / ``db+`` prefixed), None for others and memory."""
    path = parse_url(url).sqlite_file  # sqlite:///relative, sqlite:////absolute
    return Path(path) if path and path != ":memory:" else None


def make_private_directory(directory: Path) -> None:
    """Create ``directory`` (and its parents) with mode 0700 unless it exists."""
    if directory.is_dir():
        return
    try:
        directory.mkdir(mode=0o700, parents=True)
        directory.chmod(0o700)  # mkdir's mode went through the umask
    except FileExistsError:  # a file, or a directory another process made meanwhile
        if not directory.is_dir():
            raise ConfigError(f"APPCTL_DATA_DIR {directory} is not a directory", hint="set APPCTL_DATA_DIR") from None
    except OSError as exc:
        raise ConfigError(f"cannot create the data directory {directory}: {exc.strerror}") from None


def prepare_data_directory(config: Mapping[str, Any]) -> None:
    """Create the data directory (0700) and the SQLite files of the URLs (0600) that are missing.

    SQLite gives its journal and WAL files the mode of the database file, so they stay private too.
    """
    directory = Path(config["APPCTL_DATA_DIR"])
    for key, setting in SETTINGS.items():
        path = sqlite_path(config[key])
        if path is None:
            continue
        if path.parent == directory:
            make_private_directory(directory)
        try:
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError as exc:
            raise ConfigError(f"cannot open the SQLite file {path}: {exc.strerror}", hint=f"check {setting}") from None
