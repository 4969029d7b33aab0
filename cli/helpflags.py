"""Typer command classes whose help reads as a command line, and whose usage errors honour
--json.

Typer 0.29 labels a flag with its type, `<bool>`; our boolean options pass `metavar=""` to show
none, and these classes do the same for the `--help` option Typer adds to every command. Its
usage lines put required arguments in braces (`{RUN}`); here they read `RUN`, optional ones
staying in brackets (`[FOLDER]`), as in click and most Unix tools.

A mistake the option parser catches (an unknown option, a missing argument, `--jobs 0`) is
shown by Typer as a Rich box on stderr; on a command line that asks for --json it becomes the
same one stderr line and JSON error object (exit 2) as any other bad input.
"""

from __future__ import annotations

import typer
import typer.core

from cli.errors import CommandError, report
from cli.process import wants_json

try:  # Typer 0.29 carries its own copy of click; its usage errors are importable from there
    from typer._click import exceptions as _click_exceptions
except ImportError:  # an older Typer (0.13, our lowest) raises click's own
    from click import exceptions as _click_exceptions

UsageError = _click_exceptions.UsageError


class _NeverRaised(Exception):
    """Stands in for NoArgsIsHelpError where click is older than 8.2 and has none."""


# `mlp` alone: click 8.2 and later raise this to show the help
NoArgsIsHelpError = getattr(_click_exceptions, "NoArgsIsHelpError", _NeverRaised)


def _as_flag(option):
    if option is not None:
        option.metavar = ""
    return option


def _json_usage_error(err: UsageError) -> typer.Exit:
    """Report a parser error the --json way; the Exit to raise after it."""
    report(CommandError(err.format_message(), err.exit_code), as_json=True)
    return typer.Exit(err.exit_code)


def _parsed(make_context, info_name, args, parent, extra):
    """`make_context(...)`, with a usage error reported the --json way where asked for."""
    try:
        return make_context(info_name, list(args), parent=parent, **extra)
    except NoArgsIsHelpError:  # `mlp` alone shows the help, as it always has
        raise
    except UsageError as err:
        if not wants_json(args):
            raise
        raise _json_usage_error(err) from None


class FlagHelpCommand(typer.core.TyperCommand):
    """A command whose --help option is shown without a type, its arguments by name."""

    def get_help_option(self, ctx):
        return _as_flag(super().get_help_option(ctx))

    def collect_usage_pieces(self, ctx):
        pieces = super().collect_usage_pieces(ctx)
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]

    def make_context(self, info_name, args, parent=None, **extra):
        """Parse `args`; under --json a usage error is the JSON error object."""
        return _parsed(super().make_context, info_name, args, parent, extra)


class FlagHelpGroup(typer.core.TyperGroup):
    """The `mlp` group, its --help option shown without a type."""

    def get_help_option(self, ctx):
        return _as_flag(super().get_help_option(ctx))

    def make_context(self, info_name, args, parent=None, **extra):
        """Parse the options before the command (`mlp --bogus --json` is a JSON error too)."""
        return _parsed(super().make_context, info_name, args, parent, extra)

    def resolve_command(self, ctx, args):
        """The command `args` name; under --json an unknown one is the JSON error object."""
        try:
            return super().resolve_command(ctx, args)
        except UsageError as err:
            if not wants_json(args):
                raise
            raise _json_usage_error(err) from None
