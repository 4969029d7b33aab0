"""From what went wrong to what the user sees: one line on stderr (one per mistake in a config),
an exit code, and with
--json one JSON object on stdout. The one place that maps errors to messages and codes."""

from __future__ import annotations

import contextlib
import errno
import functools
import json
from collections.abc import Callable, Iterator

import typer

from cli import output
from cli.config import ConfigError
from cli.environment import EnvironmentSettingError
from cli.rundir import RunError
from cli.usage import UsageError
from data import DataError
from mlp import CheckpointError

BAD_INPUT = 2  # anything wrong with what the user gave us
FAILED = 1  # training that failed, a gradient check that did not pass, a write that failed
# A disk that cannot take more: full, over quota, failing, or a file-size limit (ulimit -f)
WRITE_FAILURES = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG)


class CommandError(Exception):
    """A command that cannot produce its result; `message` is one line, `code` the exit code."""

    def __init__(self, message: str, code: int, prefix: str = "error: ") -> None:
        super().__init__(message)
        self.message, self.code, self.prefix = message, code, prefix


def fail(message: str, code: int, prefix: str = "error: ") -> CommandError:
    """The error to raise for `message` with exit code `code`."""
    return CommandError(message, code, prefix)


def describe_os_error(err: OSError) -> str:
    """'runs/x/model.npz: No space left on device'."""
    return f"{err.filename}: {err.strerror}" if err.filename else str(err)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn every kind of bad input into a CommandError: exit 2, or 1 for a failing disk."""
    try:
        yield
    except (
        ConfigError,
        DataError,
        CheckpointError,
        RunError,
        UsageError,
        EnvironmentSettingError,
    ) as err:
        raise fail(str(err), BAD_INPUT) from None
    except OSError as err:
        # A full or failing disk is a failure to write; anything else (a path that is not a
        # folder, no permission) is the user's to fix.
        code = FAILED if err.errno in WRITE_FAILURES else BAD_INPUT
        raise fail(describe_os_error(err), code) from None


def reported(command: Callable) -> Callable:
    """Wrap a command so that a CommandError is printed as one stderr line (and, when the
    command was given --json, as `{"error": ..., "exit_code": ...}` on stdout) and exits."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except CommandError as err:
            report(err, as_json=bool(kwargs.get("as_json")))
            raise typer.Exit(err.code) from None

    return run


def report(err: CommandError, as_json: bool) -> None:
    """Print `err`: one stderr line per line of its message and, with --json, the JSON error
    object on stdout, whether or not stderr could be written."""
    for line in err.message.splitlines():  # several config mistakes: one line each
        output.error_console().print(f"{err.prefix}{line}", markup=False)
    if as_json:
        output.print_line(json.dumps({"error": err.message, "exit_code": err.code}))
