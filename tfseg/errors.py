"""The one exception type that the command line turns into a one-line error."""


class TfsegError(ValueError):
    """A user-facing error: bad input, option or file, described in one line."""


class TrainingStopped(Exception):
    """Training ended early on SIGTERM or SIGINT, with the last epoch's state saved.

    Attributes:
        exit_code: int. 128 + the signal number, as a shell reports a process ended by it.
    """

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
