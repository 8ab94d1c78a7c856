"""appctl: manage the users of the Flask + Celery app and send its background jobs."""

from __future__ import annotations

import gc
import os
import sys
from typing import Any

import click

from cli.exit_codes import AppctlClickError, ExitStatus, as_click_error, interrupted, one_line_usage
from cli.interrupts import let_late_interrupts_kill, quiet_cleanup_on_interrupt
from cli.lazy import LazyGroup
from cli.render import set_no_color
from cli.secrets import mask_logs_and_warnings
from cli.state import AppState
from cli.stderr_log import log_warnings_to_stderr

__version__ = "0.1.0"
SIGPIPE_STATUS = 141  # 128 + SIGPIPE
NO_ANSWER = "no answer (end of input at the prompt); nothing was changed"

COMMANDS = {
    "db": "cli.commands.db:db",
    "user": "cli.commands.user:user",
    "task": "cli.commands.task:task",
    "result": "cli.commands.result:result",
    "queue": "cli.commands.queue:queue",
    "worker": "cli.commands.worker:worker",
    "schedule": "cli.commands.schedule:schedule",
    "beat": "cli.commands.beat:beat",
    "status": "cli.commands.status:status",
}


class AppctlGroup(LazyGroup):
    """The root group: turns every error, usage errors included, into one stderr line and an exit code.

    Ctrl-C is handled here, once for every command: Click would turn it into "Aborted!" and exit 1,
    the code for a failed job; appctl says "interrupted" and exits 130, as a shell does.
    """

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise one_line_usage(exc) from None
        except KeyboardInterrupt:
            raise interrupted() from None

    def invoke(self, ctx: click.Context) -> Any:
        quiet_cleanup_on_interrupt()
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise one_line_usage(exc) from None
        except KeyboardInterrupt:
            raise interrupted() from None
        except click.exceptions.Abort as exc:  # a prompt got Ctrl-C, or end of input (Ctrl-D)
            click.echo(err=True)  # end the prompt's line
            if isinstance(exc.__context__, KeyboardInterrupt):
                raise interrupted() from None
            raise AppctlClickError(NO_ANSWER, ExitStatus.FAILURE) from None
        except (click.ClickException, click.exceptions.Exit):
            raise
        except BrokenPipeError:
            # Whoever read stdout stopped (`appctl user export | head`): end quietly with the status
            # of a process killed by SIGPIPE, as other tools do; nothing more can be written anyway.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(SIGPIPE_STATUS)
        except Exception as exc:
            raise as_click_error(exc, ctx.ensure_object(AppState).debug) from None


@click.group(
    "appctl", cls=AppctlGroup, lazy_subcommands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, "-V", "--version", prog_name="appctl")
@click.option("--debug", is_flag=True, envvar="APPCTL_DEBUG", help="Show tracebacks (passwords masked).")
@click.option("--no-color", is_flag=True, help="No colour, even on a terminal (NO_COLOR works too).")
@click.pass_context
def cli(ctx: click.Context, debug: bool, no_color: bool) -> None:
    """Manage the app's users and send its background jobs.

    Data goes to stdout, messages to stderr; exit codes are listed in the README.
    """
    ctx.ensure_object(AppState).debug = debug
    mask_logs_and_warnings()
    log_warnings_to_stderr()
    set_no_color(no_color or bool(os.environ.get("NO_COLOR")))


def main() -> None:
    """Console-script entry point."""
    try:
        cli(prog_name="appctl")
    finally:
        let_late_interrupts_kill()  # the command has ended: its exit must not turn into a traceback
        # Every resource is closed by now; the interpreter's last garbage collection would only walk the
        # imported libraries' objects, about a sixth of a one-shot command's time, to free memory the
        # process gives back anyway. Frozen objects are left out of it (teardown, atexit and flushes still run).
        gc.freeze()
