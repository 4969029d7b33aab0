"""The process's first moments: SIGTERM answered from the first instant, before the slow
imports, closed standard streams reopened, and how a stop outside training is reported.

Importing NumPy, Rich and the rest takes about half a second; a SIGTERM in that time (a
scheduler's timeout, `kill`) used to end the process silently. Here it becomes Terminated,
which the command reports as one line, `interrupted (SIGTERM)`, and exit status 143. Training
answers SIGTERM itself (it saves the state first) and puts this handler back afterwards.

A process started with stdout or stderr closed (`>&-`) gets /dev/null in their place here,
before any import can open a file that would take their number.

This module imports nothing heavy, so that all this is in place within milliseconds;
`cli/startup.py` (the entry point) and `cli/app.py` both use it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from collections.abc import Sequence


class Terminated(BaseException):
    """SIGTERM outside training: the command stops where it is.

    A BaseException, as KeyboardInterrupt is, so that no `except Exception` swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated(signum)


def stop_on_sigterm() -> None:
    """From here on SIGTERM raises Terminated; a SIGTERM the caller chose to ignore stays
    ignored."""
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN:
        signal.signal(signal.SIGTERM, _raise_terminated)


def reopen_closed_streams() -> None:
    """Point a standard descriptor the process started without (`>&-`, `2>&-`) at /dev/null.

    Otherwise the next file opened would take its number, and a stray write to stdout or
    stderr (a library's warning, a worker process) would land in a run's file. sys.stdout
    and sys.stderr stay None, which the streams here read as closed.
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)  # the lowest free number: `fd` itself
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def interrupted_line(signum: int) -> str:
    """'interrupted (SIGTERM)': what a command stopped by a signal outside training says."""
    return f"interrupted ({signal.Signals(signum).name})"


def wants_json(args: Sequence[str]) -> bool:
    """Whether a command line asks for --json (before any `--` that ends the options)."""
    options = list(args)
    if "--" in options:
        options = options[: options.index("--")]
    return "--json" in options


def report_stop(signum: int) -> None:
    """The interrupted line on stderr and, under --json, the JSON error object on stdout;
    written straight to the descriptors (the consoles may not exist yet), failures ignored."""
    line = interrupted_line(signum)
    with contextlib.suppress(OSError):
        os.write(2, (line + "\n").encode())
    if wants_json(sys.argv[1:]):
        with contextlib.suppress(OSError):
            os.write(1, (json.dumps({"error": line, "exit_code": 128 + signum}) + "\n").encode())
