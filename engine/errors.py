"""One-line descriptions of the errors a user can fix, shared by every entry point's command line."""

from __future__ import annotations

import errno


def describe_os_error(err: OSError) -> str:
    """One line for a file-system error: ``no space left on <path>``, or ``<path>: <what>``."""
    if err.errno == errno.ENOSPC:
        return f"no space left on {err.filename or 'the output disk'}"
    if err.errno == errno.EROFS:
        return f"read-only file system: cannot write {err.filename or 'the output'}"
    if err.filename and err.strerror:
        return f"{err.filename}: {err.strerror}"
    return str(err)
