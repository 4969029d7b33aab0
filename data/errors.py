"""The one exception the data layer raises for bad input."""


class DataError(ValueError):
    """Bad dataset input; str(err) is one line naming the file, column, row or value at fault."""
