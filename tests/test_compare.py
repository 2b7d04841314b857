"""Model comparison (best-fit mass, 68 % interval, likelihood ratio vs SM) and the scan plots."""

from __future__ import annotations

import json
import math

import numpy as np
import pyhf
import pytest
import scan_toy as T

from emiss.inference.compare import compare, format_table, interval_from_profile, profile_curve
from emiss.inference.scan import scan


def test_interval_of_a_parabola_is_exact():
    """-2 ln L = ((m - 2)/0.1)^2: minimum at 2, Delta = 1 at 2 -/+ 0.1."""
    x = np.round(np.arange(1.5, 2.51, 0.1), 10)
    iv = interval_from_profile(x, 50 + ((x - 2.0) / 0.1) ** 2)
    assert iv["best"] == pytest.approx(2.0)
    assert iv["lower"] == pytest.approx(1.9, abs=1e-9)
    assert iv["upper"] == pytest.approx(2.1, abs=1e-9)
    assert not iv["lower_open"] and not iv["upper_open"]


def test_interval_linear_interpolation_by_hand():
    # Delta = [9, 0.5, 0, 3]: lower crossing between 1 and 2 at 2 - 0.5/8.5, upper at 3 + 1/3
    iv = interval_from_profile(np.array([1.0, 2.0, 3.0, 4.0]), np.array([19.0, 10.5, 10.0, 13.0]))
    assert iv["best"] == 3.0
    assert iv["lower"] == pytest.approx(2.0 - 0.5 / 8.5, rel=1e-12)
    assert iv["upper"] == pytest.approx(3.0 + 1.0 / 3.0, rel=1e-12)


def test_interval_open_at_grid_edge():
    iv = interval_from_profile(np.array([1.0, 2.0, 3.0]), np.array([5.0, 1.0, 0.5]))
    assert iv["best"] == 3.0 and iv["upper_open"] and iv["upper"] == 3.0
    # Delta = [4.5, 0.5, 0]: crossing at 2 - (1 - 0.5)/(4.5 - 0.5)
    assert not iv["lower_open"] and iv["lower"] == pytest.approx(1.875, rel=1e-12)


def test_profile_takes_minimum_over_other_labels():
    rows = [{"name": f"r{i}", "m_X": m, "g": g, "twice_nll": v, "status": "ok"}
            for i, (m, g, v) in enumerate([(1, 1, 5.0), (1, 2, 3.0), (2, 1, 4.0), (2, 2, 7.0)])]
    rows.append({"name": "bad", "m_X": 3, "twice_nll": None, "status": "failed: x"})
    x, t, best = profile_curve(rows, "m_X")
    assert list(x) == [1.0, 2.0] and list(t) == [3.0, 4.0]
    assert [b["name"] for b in best] == ["r1", "r2"]


@pytest.fixture(scope="module")
def toy_results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cmp")
    ws = T.workspace(inject_mass=1.5, inject_mu=1.0)
    ps = T.patchset(ws, [1.3, 1.4, 1.5, 1.6, 1.7])
    sm = T.sm_patchset(ws)
    out = tmp / "res.json"
    scan(ws, [ps, sm], out, jobs=1, engine=T.ENGINE, progress=False)
    return ws, ps, sm, out


def test_compare_on_injected_toy(toy_results):
    """Best mass = injected mass; Delta(-2lnL) vs SM = difference of pyhf's own best fits."""
    ws, ps, sm, out = toy_results
    res = compare([json.loads(out.read_text())])
    (w,) = res["workspaces"]
    assert w["reference"]["scenario"] == "sm"
    (e,) = w["scenarios"]
    assert e["best"]["m_X"] == 1.5 and e["best"]["name"] == "mX_1p500"
    lo, hi = e["interval_68"]
    assert 1.4 < lo < 1.5 < hi < 1.7

    work = pyhf.Workspace(ws)

    def twice_nll(patch):
        model = work.model(patches=[patch["patch"]])
        return float(pyhf.infer.mle.fit(work.data(model), model, return_fitted_val=True)[1])

    delta = twice_nll(sm["patches"][0]) - twice_nll(ps["patches"][2])
    assert e["delta_twice_nll_vs_sm"] == pytest.approx(delta, abs=2e-3)
    assert e["Z_local_vs_sm"] == pytest.approx(math.sqrt(delta), abs=1e-3)
    assert "twobody-scalar" in format_table(res)


def test_cli_compare_and_plots(toy_results, tmp_path, capsys):
    from emiss.cli import main

    out = str(toy_results[3])
    main(["compare", out, "--json"])
    parsed = json.loads(capsys.readouterr().out)
    assert parsed["workspaces"][0]["scenarios"][0]["best"]["m_X"] == 1.5
    # file names encode the input: <results stem>_<kind>[_<scenario>]
    for kind, stem in (("limits", "res_limits_twobody-scalar"),
                       ("significance", "res_significance"), ("likelihood", "res_likelihood")):
        main(["plot", kind, out, "-o", str(tmp_path)])
        assert (tmp_path / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (tmp_path / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"
