"""project/config.py, urls.py and the factory: defaults, environment variables, Celery settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from project import create_app
from project.config import BaseConfig, DevelopmentConfig, ProductionConfig, TestingConfig, config, data_directory
from project.errors import ConfigError
from project.urls import mask_password, sqlalchemy_database_url


def test_the_chapters_config_mapping() -> None:
    assert config == {"development": DevelopmentConfig, "testing": TestingConfig, "production": ProductionConfig}
    assert all(issubclass(cls, BaseConfig) for cls in config.values())


def test_data_directory_default_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert data_directory({}) == Path.home().resolve() / ".local" / "share" / "appctl"
    assert data_directory({"XDG_DATA_HOME": str(tmp_path / "xdg")}) == tmp_path / "xdg" / "appctl"
    assert data_directory({"APPCTL_DATA_DIR": "~/data"}) == Path.home().resolve() / "data"
    # a relative XDG_DATA_HOME is ignored, as the XDG Base Directory spec says: never the current directory
    assert data_directory({"XDG_DATA_HOME": "xdg"}) == Path.home().resolve() / ".local" / "share" / "appctl"


@pytest.mark.parametrize("relative", ["relative", "./data", "../data", "data/appctl"])
def test_a_relative_data_directory_is_a_config_error(relative: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must be an absolute path"):
        data_directory({"APPCTL_DATA_DIR": relative})


def test_two_working_directories_never_mean_two_data_directories(env: dict[str, str], tmp_path: Path) -> None:
    """cron runs elsewhere: a relative APPCTL_DATA_DIR is refused from every directory, and nothing is created."""
    import subprocess

    from tests.conftest import APPCTL

    for cwd in (tmp_path / "one", tmp_path / "two"):
        cwd.mkdir()
        for command in (
            ["db", "upgrade"],
            ["user", "add", "ann", "ann@example.com"],
            ["task", "send", "divide", "1", "2"],
        ):
            done = subprocess.run(
                [APPCTL, *command], cwd=cwd, env={**env, "APPCTL_DATA_DIR": "data"}, capture_output=True, text=True
            )
            assert (done.returncode, done.stdout) == (78, ""), done.stderr
            assert done.stderr == (
                "Error: APPCTL_DATA_DIR 'data' must be an absolute path (hint: a relative one would change with the "
                "current directory; for example $HOME/appctl-data)\n"
            )
        assert list(cwd.iterdir()) == []


@pytest.mark.parametrize("setting", ["DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"])
@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("rel.sqlite", "relative path"),
        ("./data/rel.sqlite", "relative path"),
        ("rel.sqlite?timeout=3", "relative path"),
        ("file:rel.sqlite?uri=true", "relative path"),
        (":memory:", "in-memory"),
        ("", "in-memory"),
    ],
)
def test_a_sqlite_file_that_is_not_one_fixed_place_is_a_config_error(
    env: dict[str, str], tmp_path: Path, setting: str, path: str, why: str
) -> None:
    """Like a relative APPCTL_DATA_DIR, a relative (or in-memory) SQLite file in any URL would change with the
    current directory (or with each command): refused from every directory, and nothing is created."""
    import subprocess

    from tests.conftest import APPCTL

    prefix = {"DATABASE_URL": "", "CELERY_BROKER_URL": "sqla+", "CELERY_RESULT_BACKEND": "db+"}[setting]
    url = f"{prefix}sqlite://" + (f"/{path}" if path else "")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    done = subprocess.run(
        [APPCTL, "user", "list"], cwd=cwd, env={**env, setting: url}, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (78, ""), done.stderr
    assert done.stderr.startswith(f"Error: {setting} {url!r} is not valid: ") and why in done.stderr
    assert done.stderr.count("\n") == 1
    assert list(cwd.iterdir()) == []


@pytest.mark.parametrize("queue", ["", "celery", "reports.high", "ü-queue"])
def test_appctl_queue_sets_the_default_queue(queue: str, tmp_path: Path) -> None:
    settings = TestingConfig.from_environ({"APPCTL_DATA_DIR": str(tmp_path), "APPCTL_QUEUE": queue})
    assert settings["CELERY_TASK_DEFAULT_QUEUE"] == (queue or "celery")


@pytest.mark.parametrize("queue", [" ", "a b", "tab\there", "new\nline", "\x1b[2J", "nbsp\u00a0"])
def test_appctl_queue_is_checked_as_queue_is(queue: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"APPCTL_QUEUE is not valid: queue name .* must be non-empty"):
        TestingConfig.from_environ({"APPCTL_DATA_DIR": str(tmp_path), "APPCTL_QUEUE": queue})


def test_embedded_defaults_live_in_the_data_directory(tmp_path: Path) -> None:
    settings = DevelopmentConfig.from_environ({"APPCTL_DATA_DIR": str(tmp_path)})
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/app.sqlite"
    assert settings["CELERY_BROKER_URL"] == f"sqla+sqlite:///{tmp_path}/broker.sqlite"
    assert settings["CELERY_RESULT_BACKEND"] == f"db+sqlite:///{tmp_path}/results.sqlite"
    assert settings["CELERY_TASK_DEFAULT_QUEUE"] == "celery"
    assert settings["DIVIDE_DELAY"] == 5.0
    assert TestingConfig.from_environ({"APPCTL_DATA_DIR": str(tmp_path)})["DIVIDE_DELAY"] == 0.0


def test_service_urls_from_the_environment(tmp_path: Path) -> None:
    settings = ProductionConfig.from_environ(
        {
            "APPCTL_DATA_DIR": str(tmp_path),
            "DATABASE_URL": "postgresql://user:pw@db:5432/app",
            "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
            "CELERY_RESULT_BACKEND": "redis://127.0.0.1:6379/1",
            "APPCTL_QUEUE": "jobs",
            "APPCTL_DIVIDE_DELAY": "0.5",
        }
    )
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://user:pw@db:5432/app"
    assert settings["CELERY_BROKER_URL"] == "redis://127.0.0.1:6379/0"
    assert settings["CELERY_RESULT_BACKEND"] == "redis://127.0.0.1:6379/1"
    assert settings["CELERY_TASK_DEFAULT_QUEUE"] == "jobs"
    assert settings["DIVIDE_DELAY"] == 0.5
    assert settings["CELERY_BROKER_TRANSPORT_OPTIONS"]["visibility_timeout"] > 0


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgres://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite:////tmp/x.sqlite", "sqlite:////tmp/x.sqlite"),
    ],
)
def test_postgresql_urls_as_users_write_them(url: str, expected: str) -> None:
    assert sqlalchemy_database_url(url) == expected


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("redis://:secret@h:6379/0", "redis://:***@h:6379/0"),
        ("at amqp://guest:guest@h// and postgresql://u:p@h/d", "at amqp://guest:***@h// and postgresql://u:***@h/d"),
        ("redis://h:6379/0", "redis://h:6379/0"),
        ("postgresql://user@h/d", "postgresql://user@h/d"),
    ],
)
def test_mask_password(text: str, masked: str) -> None:
    assert mask_password(text) == masked


@pytest.mark.parametrize("value", ["soon", "-1", "nan"])
def test_a_bad_divide_delay_is_a_config_error(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="APPCTL_DIVIDE_DELAY"):
        BaseConfig.from_environ({"APPCTL_DATA_DIR": str(tmp_path), "APPCTL_DIVIDE_DELAY": value})


def test_flask_config_picks_the_class_when_the_app_is_built(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_CONFIG", "production")
    assert create_app().config["DEBUG"] is False
    monkeypatch.setenv("FLASK_CONFIG", "development")
    assert create_app().config["DEBUG"] is True
    monkeypatch.delenv("FLASK_CONFIG")
    assert create_app().config["DEBUG"] is True  # development by default
    assert create_app("testing").config["TESTING"] is True


def test_an_unknown_config_name_is_a_config_error(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_CONFIG", "nope")
    with pytest.raises(ConfigError, match="unknown config 'nope'"):
        create_app()


def test_a_missing_database_driver_is_a_config_error(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://u:secret@h/d")
    with pytest.raises(ConfigError, match=r"mysql://u:\*\*\*@h/d needs the Python module") as raised:
        create_app()
    assert raised.value.hint == "install the database driver"


def test_the_celery_settings_the_contract_depends_on(env: dict[str, str]) -> None:
    celery = create_app().extensions["celery"]
    conf = celery.conf
    assert (conf.task_serializer, conf.result_serializer, list(conf.accept_content)) == ("json", "json", ["json"])
    assert conf.task_acks_late and conf.task_reject_on_worker_lost and conf.worker_prefetch_multiplier == 1
    assert conf.task_track_started and conf.result_extended
    assert conf.broker_url.startswith("sqla+sqlite:///") and conf.result_backend.startswith("db+sqlite:///")
    assert conf.broker_transport_options["polling_interval"] <= 0.1
    assert conf.task_default_queue == env["APPCTL_QUEUE"]


def test_the_shell_context_has_app_and_db(env: dict[str, str]) -> None:
    from project import db

    app = create_app()
    with app.app_context():
        context = app.make_shell_context()
    assert (context["app"], context["db"]) == (app, db)
    assert app.blueprints["users"].url_prefix == "/users"


def test_the_data_directory_is_private(env: dict[str, str]) -> None:
    create_app()
    assert Path(env["APPCTL_DATA_DIR"]).stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize(
    ("variable", "command"),
    [
        ("CELERY_BROKER_URL", ["task", "send", "divide", "1", "2"]),
        ("CELERY_BROKER_URL", ["task", "send", "divide", "1", "2", "--wait"]),
        ("CELERY_RESULT_BACKEND", ["task", "send", "divide", "1", "2", "--wait"]),
        ("CELERY_RESULT_BACKEND", ["result", "wait", "some-id"]),
        ("CELERY_RESULT_BACKEND", ["task", "status", "some-id"]),
    ],
)
def test_a_redis_database_the_server_does_not_have_is_a_config_error(
    env: dict[str, str], redis_url: str, variable: str, command: list[str]
) -> None:
    """Redis has databases 0-15 unless configured otherwise; /99 is a setting to fix (78), not an outage (69)."""
    from urllib.parse import urlsplit, urlunsplit

    from tests.conftest import run_appctl

    assert run_appctl("db", "upgrade", env=env).returncode == 0
    missing = urlunsplit(urlsplit(redis_url)._replace(path="/99"))
    done = run_appctl(*command, env={**env, variable: missing})
    assert (done.returncode, done.stdout) == (78, ""), done.stderr
    assert done.stderr.startswith(f"Error: {variable} ") and "the Redis server has no such database" in done.stderr
    assert done.stderr.count("\n") == 1
