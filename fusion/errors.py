"""The one error type of fusion: inputs that cannot be fused as asked."""

from __future__ import annotations


class FusionError(ValueError):
    """Inputs that cannot be fused as asked; the message names the file and the mismatch."""
