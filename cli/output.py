"""Where the commands print, made so that a closed or failing stream never costs a run.

`mlp train ... | head -1` closes the pipe after one line; a full disk behind `> log` fails
every write; `>&-` starts the process with no stdout at all. Either way the training and the
run directory matter more than the report, so stdout and stderr are wrapped: the first write
that fails turns the rest of the output into a no-op (and points the file descriptor at
/dev/null, so the interpreter's last flush is quiet too). Where stdout is the product
(`mlp predict` without --out), `write_product` reports a failed write instead.

Output files (`--out`, `mlp export`) are replaced atomically when they are regular files;
anything else that is already there (a FIFO, a device, a link such as /dev/stdout) is written
through, as a shell redirect would, and never replaced.

Nothing here reads data as Rich markup: the consoles read neither markup nor `:emoji:` codes, so
a column named `weight[kg]` or a run named `[bold red]x` is shown as written.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import sys
from pathlib import Path
from typing import TextIO

from rich.console import Console

from mlp.checkpoint import atomic_write


class ForgivingStream(io.TextIOBase):
    """A text stream that passes writes to `target` until one fails, then drops them."""

    def __init__(self, target: TextIO | None) -> None:
        self.target = target
        self.broken = target is None  # a stream closed before start-up (`>&-`) is None

    def write(self, text: str) -> int:
        """Write `text`, or nothing once the stream has failed."""
        if not self.broken:
            try:
                self.target.write(text)  # type: ignore[union-attr]
            except (OSError, ValueError):
                self._give_up()
        return len(text)

    def flush(self) -> None:
        """Flush, unless the stream has failed."""
        if not self.broken:
            try:
                self.target.flush()  # type: ignore[union-attr]
            except (OSError, ValueError):
                self._give_up()

    def isatty(self) -> bool:
        """Whether the real stdout is a terminal (Rich decides on live output by it)."""
        if self.broken or self.target is None:
            return False
        try:
            return self.target.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        """The real stdout's descriptor."""
        if self.target is None:
            raise io.UnsupportedOperation("the stream is closed")
        return self.target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        """The real stdout's encoding."""
        return getattr(self.target, "encoding", None) or "utf-8"

    def _give_up(self) -> None:
        self.broken = True
        silence(self.target)


def silence(stream: TextIO | None) -> None:
    """Point `stream`'s descriptor at /dev/null, so that what is still buffered for it (the
    interpreter flushes at exit) and anything written later is dropped without an error."""
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())  # type: ignore[union-attr]
        os.close(devnull)


def stdout() -> ForgivingStream:
    """The current stdout, wrapped (tests replace sys.stdout, so it is read at each call)."""
    return ForgivingStream(sys.stdout)


def console(quiet: bool = False) -> Console:
    """The console a command reports on: stdout, forgiving, no highlighting of numbers.

    Soft wrap: a line is never broken or cropped by Rich (a terminal wraps it, a pipe keeps
    it whole, so a path in it can be copied); tables still fit the width (render.fitted).
    """
    return Console(
        file=stdout(), quiet=quiet, highlight=False, soft_wrap=True, markup=False, emoji=False
    )


def print_line(text: str) -> None:
    """One plain line on stdout (JSON output, predictions): never raises for a closed pipe."""
    stream = stdout()
    stream.write(text + "\n")
    stream.flush()


def error_console() -> Console:
    """Errors go to stderr, one unwrapped line, with no markup read into the message; a closed
    or failing stderr costs nothing (--json still prints its one object on stdout)."""
    stderr = ForgivingStream(sys.stderr)
    return Console(file=stderr, soft_wrap=True, highlight=False, markup=False, emoji=False)


def write_product(text: str) -> None:
    """Write `text` to stdout where it is what the command produces (`mlp predict`).

    A reader that left (a closed pipe, as with `| head`) ends the output quietly, as for any
    Unix filter; any other failure (a closed stdout, a full disk, a file-size limit) raises an
    OSError naming stdout, since the product did not get where it was sent. The bytes go to
    the descriptor with os.write, each write checked: Python's buffered stdout can drop the
    tail of a write that a file-size limit cut short without a word.
    """
    stream = sys.stdout
    if stream is None:
        raise OSError(errno.EBADF, "closed (nowhere to write)", "stdout")
    try:
        fd = _descriptor(stream)
        if fd is None:  # not a real file (a test's capture): its own write is all there is
            stream.write(text)
            stream.flush()
        else:
            stream.flush()  # whatever was printed before goes first
            _write_all(fd, text.encode(stream.encoding or "utf-8", stream.errors or "strict"))
    except BrokenPipeError:
        silence(stream)
    except (OSError, ValueError) as err:
        silence(stream)  # the interpreter's last flush must not fail again
        code = getattr(err, "errno", None) or errno.EIO
        raise OSError(code, getattr(err, "strerror", None) or str(err), "stdout") from None


def _descriptor(stream: TextIO) -> int | None:
    try:
        return stream.fileno()
    except (OSError, ValueError, io.UnsupportedOperation, AttributeError):
        return None


def _write_all(fd: int, data: bytes) -> None:
    """Every byte of `data` to `fd`, however many writes it takes (OSError if one fails)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_file(path: Path, data: bytes) -> None:
    """Write `data` to `path`: atomically where `path` is a regular file or absent; through it,
    like a shell redirect, where it is something else (a FIFO, a device, a link such as
    /dev/stdout), so that the node is never replaced. OSError (naming `path`) on failure."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is None or stat.S_ISREG(mode):
        atomic_write(path, lambda file: file.write(data))
    elif stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
    else:
        _write_through(path, data)


def is_stdout(path: Path) -> bool:
    """Whether `path` is where stdout goes (/dev/stdout, or the file it was redirected to), so
    that a report printed after writing it would land in the same file."""
    try:
        return os.path.samestat(os.stat(path), os.fstat(1))
    except OSError:
        return False


def _write_through(path: Path, data: bytes) -> None:
    """Open `path` for writing as `> path` would (truncating what a link points to) and write
    every byte; a FIFO waits for its reader, as with a shell."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_NOCTTY)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
    except OSError as err:
        raise OSError(err.errno, err.strerror, str(path)) from None
