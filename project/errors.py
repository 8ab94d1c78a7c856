"""The project's own exceptions: services raise these, the CLI maps them to exit codes."""

from __future__ import annotations

from collections.abc import Sequence


class AppctlError(Exception):
    """Base of every error a service reports to its caller.

    ``hint`` says what to do in the domain's terms; ``remedy`` names an act the caller offers (one of
    ``REMEDIES``), which the CLI turns into the command that does it (cli/exit_codes.py).
    """

    def __init__(self, message: str, hint: str | None = None, remedy: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.remedy = remedy

    def and_then(self, more: str) -> str:
        """The message with ``; more`` after it (a driver's reason may end its sentence: the period goes)."""
        return f"{self.message.rstrip('.')}; {more}"


# What a user can do about an error, as services name it; the CLI names the command for each.
LIST_TASKS = "list tasks"
LIST_USERS = "list users"
UPGRADE_DATABASE = "upgrade database"
SHOW_REVISIONS = "show revisions"
ACTIVATE_USER = "activate user"
SET_PASSWORD = "set password"
LIST_SCHEDULES = "list schedules"
SETTLE_CONFLICTS = "settle import conflicts"
RETRY_ANYWAY = "retry anyway"  # send a copy of a job not finished yet
LIST_QUEUES = "list queues"
REMEDIES = (
    LIST_TASKS,
    LIST_USERS,
    UPGRADE_DATABASE,
    SHOW_REVISIONS,
    ACTIVATE_USER,
    SET_PASSWORD,
    SETTLE_CONFLICTS,
    RETRY_ANYWAY,
    LIST_SCHEDULES,
    LIST_QUEUES,
)


class InvalidInput(AppctlError):
    """Input data that can never be accepted as given (bad email, bad JSON, wrong arguments)."""


class NotFound(AppctlError):
    """No such user, task name or task id."""


class Conflict(AppctlError):
    """The request collides with existing data."""


class UserExists(Conflict):
    """The username or email is already taken."""


class ServiceUnavailable(AppctlError):
    """The database, broker or result backend cannot be reached."""


class FateUnknown(ServiceUnavailable):
    """The broker failed during a send and its answer was lost: some jobs may or may not be queued.

    ``message`` is ``failure; unknown``; ``unknown`` names the jobs (lines or ids) of unknown fate.
    """

    def __init__(
        self, failure: str, unknown: str, hint: str | None = None, remedy: str | None = None, ids: Sequence[str] = ()
    ) -> None:
        super().__init__(f"{failure.rstrip('.')}; {unknown}", hint, remedy)
        self.failure = failure
        self.unknown = unknown
        self.ids = list(ids)  # the jobs of unknown fate


class TimedOut(AppctlError):
    """A bounded wait ran out before the work finished."""


class ConfigError(AppctlError):
    """The configuration is unknown, missing or malformed."""


class JobFailed(AppctlError):
    """A job ran and failed, or was revoked."""


class Unhealthy(AppctlError):
    """A check found a problem (database behind head, no worker answering)."""


class WrongPassword(AppctlError):
    """A password check failed: no match, no password set, or the account is deactivated."""
