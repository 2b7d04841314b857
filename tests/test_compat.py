"""Deprecated import paths still work, warn, and give the objects of the new modules."""

from __future__ import annotations

import importlib
import sys

import pytest

#: old module -> (new module, names that must be the same objects)
ALIASES = {
    "emiss.workspace": ("emiss.bundles.bundle", ("Bundle", "load_bundle", "BUNDLED_STEMS")),
    "emiss.workspace_build": ("emiss.bundles.k_emulation", ("build_all", "LAYOUT")),
    "emiss.measure": ("emiss.inference.measure", ("measure", "postfit_yields", "MeasureResult")),
    "emiss.projection": ("emiss.inference.projection", ("scale_spec", "expected_limits")),
}


@pytest.mark.parametrize("old", sorted(ALIASES))
def test_deprecated_module_warns_and_reexports(old, monkeypatch):
    new, names = ALIASES[old]
    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning, match=f"{old} is deprecated"):
        mod = importlib.import_module(old)
    target = importlib.import_module(new)
    for n in names:
        assert getattr(mod, n) is getattr(target, n), n


def test_old_bundled_dir_constant_is_the_package_data_folder():
    from emiss.bundles import bundled_dir

    with pytest.warns(DeprecationWarning):
        sys.modules.pop("emiss.workspace", None)
        mod = importlib.import_module("emiss.workspace")
    assert mod.BUNDLED_DIR == bundled_dir()
    assert (mod.BUNDLED_DIR / "belle2_kstar_bkgonly.json").is_file()
