"""`python -m cli` runs the `mlp` command."""

from cli.app import main

main()
