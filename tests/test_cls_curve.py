"""CLs curves kept in the scan's rows, ``--observed-only`` and ``emiss plot cls``.

The curve's CLs are checked against pyhf's own ``hypotest`` (qtilde, expected set) on the
patched workspace, run with a tight minimiser tolerance so that its fits are the reference;
the observed-only limits against a full scan's.
"""

from __future__ import annotations

import json
import math

import pyhf
import pytest
from _counting import counting_workspace, patchset, signal_patch

from emiss import contracts
from emiss.errors import EmissError
from emiss.inference.fastlimits import CLS_CURVE_POINTS, ROOT_RTOL
from emiss.inference.results import csv_text, load_results
from emiss.inference.scan import scan

#: a normsys on the background; an excess in the middle bin (mu_hat > 0 for "excess") and a
#: deficit where "deficit" puts its signal (mu_hat = 0, the lower bound)
NORMSYS = [{"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.08, "lo": 0.93}}]
N_OBS, BKG = [52.0, 71.0, 38.0], [50.0, 55.0, 45.0]
SIGNALS = {"excess": [2.0, 12.0, 1.0], "deficit": [1.0, 2.0, 10.0]}


@pytest.fixture(scope="module")
def inputs():
    ws = counting_workspace(N_OBS, BKG, bkg_modifiers=NORMSYS)
    ps = patchset(ws, [signal_patch(sig, mass=m, name=name)
                       for m, (name, sig) in enumerate(SIGNALS.items(), start=1)])
    return ws, ps


@pytest.fixture(scope="module")
def docs(inputs):
    ws, ps = inputs
    run = {"full": {}, "curve": {"cls_curve": True}, "obs": {"observed_only": True},
           "pyhf": {"cls_curve": True, "engine": "pyhf"}}
    return {k: scan(ws, [ps], None, jobs=1, progress=False, **kw) for k, kw in run.items()}


def _row(doc, name):
    return next(r for r in doc["results"] if r["name"] == name)


@pytest.fixture
def tight_pyhf():
    pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer(tolerance=1e-12))
    try:
        yield
    finally:
        pyhf.set_backend("numpy", "scipy")


@pytest.mark.parametrize("name", list(SIGNALS))
def test_curve_equals_pyhf_hypotest(docs, inputs, name, tight_pyhf):
    """At 3 points of the curve, CLs_obs and CLs_exp (5) equal pyhf's hypotest to 1e-4."""
    ws, ps = inputs
    curve = _row(docs["curve"], name)["cls_curve"]
    assert len(curve["mu"]) == CLS_CURVE_POINTS
    w = pyhf.Workspace(ws)
    patch = next(p for p in ps["patches"] if p["metadata"]["name"] == name)["patch"]
    model = w.model(patches=[patch])
    data = w.data(model)
    for i in (1, CLS_CURVE_POINTS // 2, CLS_CURVE_POINTS - 3):
        obs, exp = pyhf.infer.hypotest(curve["mu"][i], data, model, test_stat="qtilde",
                                       return_expected_set=True)
        assert curve["cls_obs"][i] == pytest.approx(float(obs), rel=1e-4)
        assert curve["cls_exp"][i] == pytest.approx([float(e) for e in exp], rel=1e-4)


@pytest.mark.parametrize("name", list(SIGNALS))
def test_curve_crosses_the_level_at_the_limits(docs, name):
    """CLs falls through 1 - CL between the grid points around each limit (found apart)."""
    row = _row(docs["curve"], name)
    curve = row["cls_curve"]
    mus = curve["mu"]
    assert mus == sorted(mus) and mus[0] > 0 and mus[-1] > max(row["mu_limit_exp"])
    limits = [row["mu_limit_obs"], *row["mu_limit_exp"]]
    values = [curve["cls_obs"], *[[e[k] for e in curve["cls_exp"]] for k in range(5)]]
    for lim, cls in zip(limits, values, strict=True):
        for mu, c in zip(mus, cls, strict=True):
            assert (c > 0.05) == (mu < lim), (name, lim, mu, c)


def test_curve_keeps_the_limits_byte_identical(docs):
    """Rows with a curve are the rows without one, plus the curve."""
    for plain, with_curve in zip(docs["full"]["results"], docs["curve"]["results"],
                                 strict=True):
        extra = dict(with_curve)
        extra.pop("cls_curve")
        assert extra == plain
    assert docs["curve"]["options"]["cls_curve"] == CLS_CURVE_POINTS
    assert "cls_curve" not in docs["full"]["options"]


def test_pyhf_engine_curve(docs):
    """The pyhf engine's curve (pyhf's hypotest) crosses 1 - CL at that engine's limits (its
    toms748 roots) and lies on the fast engine's grid up to the limits' tolerance."""
    for name in SIGNALS:
        row, fast = _row(docs["pyhf"], name), _row(docs["curve"], name)
        curve = row["cls_curve"]
        assert curve["mu"] == pytest.approx(fast["cls_curve"]["mu"], rel=2e-3)
        limits = [row["mu_limit_obs"], *row["mu_limit_exp"]]
        values = [curve["cls_obs"], *[[e[k] for e in curve["cls_exp"]] for k in range(5)]]
        for lim, cls in zip(limits, values, strict=True):
            assert all((c > 0.05) == (mu < lim) for mu, c in zip(curve["mu"], cls, strict=True))


def test_observed_only_rows(docs):
    """Observed limits equal the full scan's to the root finding's tolerance; the rest of
    the analysis (best fit, p0) is identical; expected limits are null, said in the options."""
    assert docs["obs"]["options"]["observed_only"] is True
    assert "observed_only" not in docs["full"]["options"]
    for full, obs in zip(docs["full"]["results"], docs["obs"]["results"], strict=True):
        assert obs["status"] == "ok"
        assert obs["mu_limit_obs"] == pytest.approx(full["mu_limit_obs"], rel=2 * ROOT_RTOL)
        for key in ("mu_hat", "twice_nll", "p0", "Z"):
            assert obs[key] == full[key]
        for key in ("mu_limit_exp", "br_limit_exp", "coupling_limit_exp"):
            if key in full:
                assert obs[key] == [None] * 5


def test_observed_only_pyhf_engine(inputs):
    """The pyhf engine's observed-only limit is pyhf's own observed root."""
    ws, ps = inputs
    doc = scan(ws, [ps], None, jobs=1, progress=False, observed_only=True, engine="pyhf",
               names=["excess"])
    row = doc["results"][0]
    assert row["mu_limit_exp"] == [None] * 5
    w = pyhf.Workspace(ws)
    model = w.model(patches=[ps["patches"][0]["patch"]])
    cls = float(pyhf.infer.hypotest(row["mu_limit_obs"], w.data(model), model,
                                    test_stat="qtilde"))
    assert cls == pytest.approx(0.05, rel=1e-3)


def test_results_file_round_trip(docs, tmp_path):
    """Written, validated and read back; typed by the contract; the CSV leaves curves out."""
    from emiss.inference.results import write_results

    path = tmp_path / "r.json"
    write_results(path, docs["curve"], with_csv=True)
    doc = load_results(path)
    typed = contracts.ResultsDocument.from_dict(doc)
    curve = typed.results[0].cls_curve
    assert isinstance(curve, contracts.ClsCurve)
    assert curve.mu == doc["results"][0]["cls_curve"]["mu"]
    assert len(curve.cls_exp[0]) == 5
    assert "cls_curve" not in typed.results[0].values  # not a label coordinate
    assert contracts.ResultsDocument.from_dict(docs["full"]).results[0].cls_curve is None
    assert not typed.observed_only
    assert contracts.ResultsDocument.from_dict(docs["obs"]).observed_only
    header = (tmp_path / "r.csv").read_text().splitlines()[0]
    assert "cls" not in header and header == csv_text(docs["full"]).splitlines()[0]


def test_broken_curve_is_refused(docs, tmp_path):
    bad = json.loads(json.dumps(docs["curve"]))
    bad["results"][0]["cls_curve"]["cls_exp"][2] = [0.1, 0.2, 0.3, 0.4]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(EmissError, match=r"cls_curve.*cls_exp.*2"):
        load_results(tmp_path / "bad.json")


def test_curve_needs_asymptotics(inputs):
    ws, ps = inputs
    with pytest.raises(EmissError, match="asymptotics"):
        scan(ws, [ps], None, jobs=1, progress=False, cls_curve=True, calctype="toybased")
    with pytest.raises(EmissError, match="switch"):
        scan(ws, [ps], None, jobs=1, progress=False, observed_only="yes")


def test_plot_cls(docs, tmp_path):
    from emiss.plotting.scan import plot_cls, plot_limits

    paths = plot_cls([docs["curve"]], tmp_path, "excess", prefix="r")
    assert [p.name for p in paths] == ["r_cls_excess.png", "r_cls_excess.pdf"]
    assert all(p.stat().st_size > 10_000 for p in paths)
    with pytest.raises(EmissError, match="--cls-curve"):
        plot_cls([docs["full"]], tmp_path, "excess")
    # an observed-only scan still has its limit plot, without a band
    assert plot_limits([docs["obs"]], tmp_path, label="m_X")


def test_curve_grid_is_rounded_and_reaches_past_the_limits():
    from emiss.inference.fastlimits import cls_curve_grid

    grid = cls_curve_grid(1.0, [0.5, 0.7, 1.0, 1.4, 2.0 / 1.25 * 1.2345], points=12)
    assert len(grid) == 12 and grid == sorted(set(grid))
    assert grid[-1] == pytest.approx(2.469, abs=1e-12)  # 1.25 x the highest limit, 4 digits
    assert all(float(f"{m:.4g}") == m for m in grid)
    assert cls_curve_grid(math.nan, [math.nan] * 5) == []
