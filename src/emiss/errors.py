"""Exceptions that carry a message meant for people (the CLI prints it on one line)."""


class EmissError(ValueError):
    """Bad user input or inconsistent inputs; the message names the bad value and what is valid."""


class EmulatedDataWarning(UserWarning):
    """A workspace holds emulated observations (not data recorded by an experiment)."""
