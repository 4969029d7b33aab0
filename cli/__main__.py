"""`python -m cli` runs the `mlp` command."""

from cli.startup import main

main()
