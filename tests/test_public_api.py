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
