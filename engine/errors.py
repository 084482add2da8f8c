"""One-line descriptions of the errors a user can fix, shared by every entry point's command line."""

from __future__ import annotations

import errno


class InputError(ValueError):
    """Input data a user can fix, met during a run (a parsing map that broke after the start-up check): the
    trainers report it in one line, exit 2. Raised in a loader worker, PyTorch re-raises it in the main
    process with the worker's traceback in the message; :func:`describe_input_error` keeps the last line."""


def describe_input_error(err: InputError) -> str:
    """The one line of an :class:`InputError`, also when a loader worker's traceback wraps it."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__


def describe_os_error(err: OSError) -> str:
    """One line for a file-system error: ``no space left on <path>``, or ``<path>: <what>``."""
    if err.errno == errno.ENOSPC:
        return f"no space left on {err.filename or 'the output disk'}"
    if err.errno == errno.EROFS:
        return f"read-only file system: cannot write {err.filename or 'the output'}"
    if err.filename and err.strerror:
        return f"{err.filename}: {err.strerror}"
    return str(err)
