"""Slow validation on Belle II's released likelihood: emiss's limits equal pyhf's.

pyhf's own ``upper_limit(..., scan=None)`` (numpy backend, scipy optimiser) takes minutes per
hypothesis test on this 232-parameter workspace, so this test is not part of the default suite:
run it with ``python -m pytest -m validation`` (the default run reports it as deselected).
``scripts/bench_scan.py --belle2 DIR`` prints the same comparison with timings.
"""

from __future__ import annotations

import numpy as np
import pytest
from belle2_data import require_data

pytestmark = pytest.mark.validation


def test_limits_of_three_patches_equal_pyhf(tmp_path):
    import pyhf

    from emiss.bundles import belle2_hepdata as B2
    from emiss.inference.scan import scan
    from emiss.patches import build_patchset, load_target, make_entry

    data = require_data()
    B2.import_belle2(data, tmp_path)
    ws = tmp_path / f"{B2.STEM}.json"
    target = load_target(ws)
    ps = build_patchset(target, make_entry("twobody-scalar", masses=[1.0, 2.1, 3.5]))
    rows = scan(target.spec, [ps], None, jobs=1, progress=False)["results"]
    pyhf.set_backend("numpy")
    w = pyhf.Workspace(target.spec)
    for p, row in zip(ps["patches"], rows, strict=True):
        model = w.model(patches=[p["patch"]])
        obs, exp = pyhf.infer.intervals.upper_limits.upper_limit(
            w.data(model), model, scan=None, level=0.05)
        mine = np.array([row["mu_limit_obs"], *row["mu_limit_exp"]])
        theirs = np.array([float(obs), *(float(e) for e in exp)])
        np.testing.assert_allclose(mine, theirs, rtol=1e-4)
