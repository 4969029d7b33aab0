"""Typer command classes whose --help shows `--help` as a flag, like our own flags.

Typer 0.29 labels a flag with its type, `<bool>`; our boolean options pass `metavar=""` to show
none, and these classes do the same for the `--help` option Typer adds to every command.
"""

from __future__ import annotations

import typer.core


def _as_flag(option):
    if option is not None:
        option.metavar = ""
    return option


class FlagHelpCommand(typer.core.TyperCommand):
    """A command whose --help option is shown without a type."""

    def get_help_option(self, ctx):
        return _as_flag(super().get_help_option(ctx))


class FlagHelpGroup(typer.core.TyperGroup):
    """The `mlp` group, its --help option shown without a type."""

    def get_help_option(self, ctx):
        return _as_flag(super().get_help_option(ctx))
