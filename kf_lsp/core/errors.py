"""Bad input, as every front reports it: one line naming the file and line, exit code 2."""

from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2


class InputError(Exception):
    """Bad input: printed as one line, exit code 2."""
