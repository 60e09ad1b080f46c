"""The package's named errors: what a user did or gave that cannot work, said in one line.

The command line (``llmmusic.cli``) prints any of these as ``llmmusic <command>: <message>`` and exits
non-zero without a traceback; library callers can catch them by class. Each derives from the built-in
error a caller would already expect (``ValueError``, ``KeyboardInterrupt``), so code written against
those keeps working.

Used in: every module that reads a user's file or option.
"""

from __future__ import annotations

import signal


class UserError(ValueError):
    """An input (option, file, folder) that is not what was expected; the message names it."""


class DataError(UserError):
    """A file whose content is not what was expected (corrupt, truncated, of another kind)."""


class DatasetLocked(UserError):
    """A dataset folder that another process is writing to.

    Attributes:
        holder: the pid of that process (``None`` when it could not be read).
    """

    def __init__(self, message: str, holder: int | None = None) -> None:
        super().__init__(message)
        self.holder = holder


class Interrupted(KeyboardInterrupt):
    """The run was asked to stop (Ctrl-C or ``kill``).

    Attributes:
        signum: the signal (``SIGINT`` or ``SIGTERM``).
    """

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)

    @property
    def exit_code(self) -> int:
        """The shell convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum
