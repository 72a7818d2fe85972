"""The one exception type the CLI turns into a one-line message and exit status 2."""


class InputError(ValueError):
    """Bad user input: a file, shape, value or option the tool cannot use."""
