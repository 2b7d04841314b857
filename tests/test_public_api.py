"""The public API at the top of the package: the README's script runs as written."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

import emiss


def test_import_is_light_and_lists_its_api():
    code = "import sys, emiss; print('pyhf' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]
    for name in emiss.__all__:
        assert getattr(emiss, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        emiss.nope  # noqa: B018


#: The curated names a script needs (the docs use them); ``emiss.__all__`` holds at least these.
CURATED = ("load_bundle", "patchset", "scan", "measure", "compare", "scenario", "scenarios",
           "Spectrum", "user_spectrum", "posterior", "rate", "load_results", "format_compare")


def test_all_lists_the_curated_api():
    missing = [n for n in CURATED if n not in emiss.__all__]
    assert not missing, missing
    assert emiss.scenario is emiss.physics.scenarios.get_scenario
    assert emiss.measure is emiss.api.measure and emiss.compare is emiss.api.compare


def _leaf_commands(group, path=()):
    import click

    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            yield from _leaf_commands(cmd, (*path, name))
        else:
            yield " ".join((*path, name)), cmd


def test_every_command_is_a_module_level_function_of_emiss_cli():
    """Commands are plain module-level click commands (none made inside a function), so each
    is found by its name in its module."""
    import importlib

    from emiss.cli import cli

    commands = dict(_leaf_commands(cli))
    assert len(commands) >= 24
    for path, cmd in commands.items():
        fn = cmd.callback
        assert "<locals>" not in fn.__qualname__, (path, fn.__qualname__)
        module = importlib.import_module(fn.__module__)
        assert module.__name__.startswith("emiss.cli.")
        assert getattr(module, fn.__name__) is cmd, path


def test_the_docstring_script_gives_belle2s_numbers():
    """The module docstring's example: mu_hat 4.60 (arXiv:2311.14647 fit of the released
    likelihood, shared/data README: 4.60), the two-body best fit at 2.1 GeV (arXiv:2602.09666)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bundle = emiss.load_bundle("belle2")
        assert emiss.measure(bundle).mu_hat == pytest.approx(4.60, abs=0.01)
        ps = emiss.patchset(bundle, "twobody-scalar", masses="1.9:2.3:0.2", n_samples=0)
        results = emiss.scan(bundle, [ps, emiss.patchset("belle2", "sm", n_samples=0)],
                             jobs=1, progress=False)
        cmp = emiss.compare(results)
    (w,) = cmp["workspaces"]
    (entry,) = w["scenarios"]
    assert entry["scenario"] == "twobody-scalar" and entry["best"]["m_X"] == pytest.approx(2.1)
    assert "twobody-scalar" in emiss.format_compare(cmp)
    assert emiss.scenario("twobody-scalar").multiplicity == 2
