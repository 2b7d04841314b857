"""Shared, session-scoped caches of expensive results (one per pytest-xdist worker).

``measured(stem)`` runs ``emiss measure STEM --json`` at most once per session and stem, so the
tests that check the same fit (published numbers, the --no-sidecar comparison) share it, and a
worker measures only the workspaces its tests need.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest


@pytest.fixture(scope="session")
def measured() -> Callable[[str], dict]:
    """stem -> the JSON of ``emiss measure STEM --json -q`` (computed on first use)."""
    from click.testing import CliRunner

    from emiss.cli import cli

    cache: dict[str, dict] = {}

    def get(stem: str) -> dict:
        if stem not in cache:
            res = CliRunner().invoke(cli, ["measure", stem, "--json", "-q"],
                                     catch_exceptions=False)
            assert res.exit_code == 0, res.output
            cache[stem] = json.loads(res.stdout)
        return cache[stem]

    return get
