"""Where the commands print, made so that a closed or failing stdout never costs a run.

`mlp train ... | head -1` closes the pipe after one line; a full disk behind `> log` fails
every write. Either way the training and the run directory matter more than the report, so
stdout is wrapped: the first write that fails turns the rest of the output into a no-op
(and points the file descriptor at /dev/null, so the interpreter's last flush is quiet too).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from typing import TextIO

from rich.console import Console


class ForgivingStream(io.TextIOBase):
    """A text stream that passes writes to `target` until one fails, then drops them."""

    def __init__(self, target: TextIO) -> None:
        self.target = target
        self.broken = False

    def write(self, text: str) -> int:
        """Write `text`, or nothing once the stream has failed."""
        if not self.broken:
            try:
                self.target.write(text)
            except (OSError, ValueError):
                self._give_up()
        return len(text)

    def flush(self) -> None:
        """Flush, unless the stream has failed."""
        if not self.broken:
            try:
                self.target.flush()
            except (OSError, ValueError):
                self._give_up()

    def isatty(self) -> bool:
        """Whether the real stdout is a terminal (Rich decides on live output by it)."""
        return not self.broken and self.target.isatty()

    def fileno(self) -> int:
        """The real stdout's descriptor."""
        return self.target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        """The real stdout's encoding."""
        return getattr(self.target, "encoding", None) or "utf-8"

    def _give_up(self) -> None:
        self.broken = True
        with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.target.fileno())
            os.close(devnull)


def stdout() -> ForgivingStream:
    """The current stdout, wrapped (tests replace sys.stdout, so it is read at each call)."""
    return ForgivingStream(sys.stdout)


def console(quiet: bool = False) -> Console:
    """The console a command reports on: stdout, forgiving, no highlighting of numbers.

    Soft wrap: a line is never broken or cropped by Rich (a terminal wraps it, a pipe keeps
    it whole, so a path in it can be copied); tables still fit the width (render.fitted).
    """
    return Console(file=stdout(), quiet=quiet, highlight=False, soft_wrap=True)


def print_line(text: str) -> None:
    """One plain line on stdout (JSON output, predictions): never raises for a closed pipe."""
    stream = stdout()
    stream.write(text + "\n")
    stream.flush()


def error_console() -> Console:
    """Errors go to stderr, one unwrapped line, with no markup read into the message."""
    return Console(stderr=True, soft_wrap=True, highlight=False)
