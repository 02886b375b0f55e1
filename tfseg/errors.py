"""The one exception type that the command line turns into a one-line error."""


class TfsegError(ValueError):
    """A user-facing error: bad input, option or file, described in one line."""
