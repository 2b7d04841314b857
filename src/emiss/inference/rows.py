"""The result row of one hypothesis, shared by both engines (``limits`` and ``fastlimits``).

Keys (docs/interfaces.md, inference): ``mu_hat``, ``twice_nll``, ``mu_limit_obs``,
``mu_limit_exp`` (5: -2, -1, 0, +1, +2 sigma), ``p0``, ``Z``, ``status``.
"""

from __future__ import annotations

from typing import Any

#: Keys of an analysis row.
ROW_KEYS = ("mu_hat", "twice_nll", "mu_limit_obs", "mu_limit_exp", "p0", "Z", "status")


def failed_row(message: str) -> dict[str, Any]:
    """A row whose numbers are nan and whose status names the failure.

    Args:
        message: what went wrong (one line).

    Returns:
        Row dict with the keys of :data:`ROW_KEYS`.
    """
    nan = float("nan")
    return {
        "mu_hat": nan,
        "twice_nll": nan,
        "mu_limit_obs": nan,
        "mu_limit_exp": [nan] * 5,
        "p0": nan,
        "Z": nan,
        "status": message.splitlines()[0] if message else "failed",
    }
