"""Typer command classes whose help reads as a command line: `--help` shown as a flag, and
required arguments by name.

Typer 0.29 labels a flag with its type, `<bool>`; our boolean options pass `metavar=""` to show
none, and these classes do the same for the `--help` option Typer adds to every command. Its
usage lines put required arguments in braces (`{RUN}`); here they read `RUN`, optional ones
staying in brackets (`[FOLDER]`), as in click and most Unix tools.
"""

from __future__ import annotations

import typer.core


def _as_flag(option):
    if option is not None:
        option.metavar = ""
    return option


class FlagHelpCommand(typer.core.TyperCommand):
    """A command whose --help option is shown without a type, its arguments by name."""

    def get_help_option(self, ctx):
        return _as_flag(super().get_help_option(ctx))

    def collect_usage_pieces(self, ctx):
        pieces = super().collect_usage_pieces(ctx)
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]


class FlagHelpGroup(typer.core.TyperGroup):
    """The `mlp` group, its --help option shown without a type."""

    def get_help_option(self, ctx):
        return _as_flag(super().get_help_option(ctx))
