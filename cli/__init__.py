"""The `mlp` command: config files, run directories and the Typer app around the core."""
