"""The `mlp` entry point: SIGTERM is answered and closed streams reopened (cli/process.py)
before the slow imports of the app, which this module alone imports."""

from __future__ import annotations

import signal
import sys

from cli.process import Terminated, reopen_closed_streams, report_stop, stop_on_sigterm


def main() -> None:
    """Console-script entry point: the handler first, then the `mlp` app."""
    reopen_closed_streams()
    stop_on_sigterm()
    try:
        from cli.app import main as run_app

        run_app()
    except Terminated as stop:  # during the imports: no console to print on yet
        report_stop(stop.signum)
        sys.exit(128 + stop.signum)
    except KeyboardInterrupt:  # Ctrl-C during the imports: no traceback either
        report_stop(signal.SIGINT)
        sys.exit(128 + signal.SIGINT)
