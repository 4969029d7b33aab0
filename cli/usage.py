"""UsageError: an option or argument given on the command line that cannot be used.

It sits apart from the errors of what the options point at (a config, `ConfigError`; a run
directory, `RunError`; data, `DataError`), so that each says what it is. `cli/errors.py` maps
all of them to one stderr line and exit code 2.
"""


class UsageError(ValueError):
    """A command-line option or argument that cannot be used; str(err) is one line naming it."""
