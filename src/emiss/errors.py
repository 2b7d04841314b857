"""Exceptions that carry a message meant for people (the CLI prints it on one line)."""


class EmissError(ValueError):
    """Bad user input or inconsistent inputs; the message names the bad value and what is valid."""


class EmulatedDataWarning(UserWarning):
    """A workspace holds emulated observations (not data recorded by an experiment)."""


class Interrupted(KeyboardInterrupt):
    """A run stopped by SIGINT or SIGTERM; the message says what was kept and how to go on.

    Args:
        message: what was kept (e.g. the journal a resumed run continues from).
        signum: the signal that stopped the run (None: SIGINT).
    """

    def __init__(self, message: str = "", signum: int | None = None) -> None:
        super().__init__(message)
        self.signum = signum
