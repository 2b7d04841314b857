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


def _pyhf_defaults() -> None:
    import pyhf

    pyhf.set_backend("numpy", "scipy")


@pytest.fixture(autouse=True, scope="session")
def _pyhf_defaults_at_start():
    """pyhf's default backend (numpy, scipy) before any fixture: a package that switches the
    backend when it is imported (spey-pyhf picks jax when jax is installed) must not decide the
    backend of the session's fits."""
    _pyhf_defaults()
    yield


@pytest.fixture(autouse=True)
def _pyhf_defaults_around_each_test():
    """Each test starts and ends with pyhf's defaults (numpy, scipy): pyhf's backend is
    process-wide, so a test that picks an optimizer must not change the fits of another test
    or of a fixture set up after it."""
    _pyhf_defaults()
    yield
    _pyhf_defaults()
