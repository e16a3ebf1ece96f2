"""Exceptions that carry a one-line message for the person at the terminal.

`UserInputError` means the input was wrong (exit code 2); the CLI prints its
message on one line and never a traceback.
"""

from __future__ import annotations


class ModelDeployError(Exception):
    """Base class for errors with a message meant for people."""

    exit_code = 1


class UserInputError(ModelDeployError):
    """The model id, a path, a file or an option was not usable as given."""

    exit_code = 2
