"""The wheel ships the bundled workspaces, and an installed emiss finds them from any directory.

Builds the wheel (pip, ~10 s), unpacks it into a temporary folder (what a non-editable
``pip install .`` puts into site-packages) and imports emiss from there in a fresh process
whose working directory is elsewhere: the bundled workspaces must come from the unpacked
package (importlib.resources), never from the source tree or the working directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def unpacked_wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                          str(out), str(ROOT)], capture_output=True, text=True)
    if res.returncode != 0 and "No matching distribution found" in res.stderr:
        pytest.skip("pip cannot fetch the build requirements (setuptools) from an index")
    assert res.returncode == 0, res.stderr[-2000:]
    (whl,) = out.glob("emiss-*.whl")
    site = out / "site"
    with zipfile.ZipFile(whl) as zf:
        zf.extractall(site)
    return site


def test_wheel_holds_every_bundled_file(unpacked_wheel):
    shipped = {p.name for p in (unpacked_wheel / "emiss" / "data" / "workspaces").glob("*.json")}
    committed = {p.name for p in (ROOT / "workspaces").glob("*.json")}
    assert committed and shipped == committed


def test_installed_emiss_finds_bundles_by_name_from_elsewhere(unpacked_wheel, tmp_path):
    code = (
        "import json\n"
        "from emiss.bundles import BUNDLED_STEMS, bundled_dir, load_bundle\n"
        "out = {'dir': str(bundled_dir()),\n"
        "       'stems': {s: str(load_bundle(s).path) for s in BUNDLED_STEMS},\n"
        "       'kstar_channels': sorted(load_bundle('belle2_kstar_bkgonly').response.channels)}\n"
        "print(json.dumps(out))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(unpacked_wheel)}
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout)
    where = Path(out["dir"]).resolve()
    assert where == (unpacked_wheel / "emiss" / "data" / "workspaces").resolve()
    assert set(out["stems"]) >= {"belle2_hta_bkgonly", "belle2_kstar_bkgonly",
                                 "belle2_k_kstar_combined_bkgonly"}
    for path in out["stems"].values():
        assert Path(path).resolve().parent == where
    assert out["kstar_channels"] == ["kstar_kpi", "kstar_kpi0", "kstar_kspi"]
