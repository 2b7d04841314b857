"""Slow validation on Belle II's released likelihood: emiss's limits equal pyhf's.

pyhf's ``upper_limit(..., scan=None)`` needs about ten hypothesis tests per limit (six limits per
patch) and one test takes minutes on this 232-parameter workspace with the numpy backend; with
the jax backend ``upper_limit`` itself fails in pyhf 0.7.6 (it caches test statistics by POI
value, and jax arrays are unhashable). So pyhf's limits are found here from pyhf's own
``pyhf.infer.hypotest`` (jax backend when it installs, else numpy): for each of emiss's six limits
L (observed, expected -2..+2 sigma) pyhf's CLs is evaluated at L (1 -+ 1e-3) and the crossing of
CLs = 0.05 is interpolated linearly in log CLs (the interpolation error is of order 1e-6
relative, far below the 1e-4 compared). Twelve pyhf hypothesis tests per patch, three patches:
this takes tens of minutes, so the test is not in the default suite: run it with
``python -m pytest -m validation`` (the default run reports it as deselected).
``scripts/bench_scan.py --belle2 DIR`` times the two side by side.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from belle2_data import require_data

pytestmark = pytest.mark.validation
log = logging.getLogger(__name__)

STEP = 1e-3  # relative half-width of the bracket around emiss's limit


def _pyhf_limit(model, data, mu0: float, band: int | None) -> float:
    """pyhf's CLs = 0.05 crossing near mu0 (band None: observed; 0..4: expected -2..+2 sigma)."""
    import pyhf

    cls = []
    mus = (mu0 * (1 - STEP), mu0 * (1 + STEP))
    for mu in mus:
        obs, exp = pyhf.infer.hypotest(mu, data, model, test_stat="qtilde",
                                       return_expected_set=True)
        cls.append(float(obs) if band is None else float(exp[band]))
    y0, y1 = np.log(cls[0]), np.log(cls[1])
    assert y1 != y0, (mu0, band, cls)
    return float(mus[0] + (np.log(0.05) - y0) * (mus[1] - mus[0]) / (y1 - y0))


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
    try:
        pyhf.set_backend("jax")
    except Exception:  # jax not installed: numpy (hours)
        pyhf.set_backend("numpy")
    try:
        w = pyhf.Workspace(target.spec)
        for p, row in zip(ps["patches"], rows, strict=True):
            model = w.model(patches=[p["patch"]])
            d = w.data(model)
            mine = np.array([row["mu_limit_obs"], *row["mu_limit_exp"]])
            theirs = np.array([_pyhf_limit(model, d, mine[0], None)]
                              + [_pyhf_limit(model, d, mine[1 + k], k) for k in range(5)])
            print(p["metadata"]["name"], "emiss", mine.tolist(), "pyhf", theirs.tolist(),
                  "max rel", float(np.max(np.abs(mine / theirs - 1))), flush=True)
            np.testing.assert_allclose(mine, theirs, rtol=1e-4)
    finally:
        pyhf.set_backend("numpy")
