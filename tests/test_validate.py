"""The validation layer at the door of the Python API and the work budgets (issue "Bad input
and faults", items 3 and 4): bad numbers are one EmissError before any work or output, big
requests are refused with their size, sampling is streamed, limit searches are bounded."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest

from emiss import validate
from emiss.bundles import bundled_dir
from emiss.errors import EmissError
from emiss.io import read_json

ROOT = Path(__file__).resolve().parents[1]
WS = bundled_dir() / "belle2_hta_bkgonly.json"
PS = ROOT / "patches" / "belle2_hta" / "sm.json"


def _fail(*_args, **_kwargs):
    raise AssertionError("work started before the inputs were checked")


@pytest.mark.parametrize("kwargs, fragment", [
    ({"cl": 0.0}, "cl 0.0: out of range"),
    ({"cl": 1.0}, "cl 1.0: above the maximum"),
    ({"cl": 1.5}, "cl 1.5"),
    ({"cl": -0.5}, "cl -0.5"),
    ({"cl": float("nan")}, "not a number"),
    ({"cl": float("inf")}, "cl inf"),
    ({"chunk_size": 0}, "chunk_size 0"),
    ({"jobs": 0}, "jobs 0"),
    ({"ntoys": 0}, "ntoys 0"),
    ({"toy_seed": -1}, "toy_seed -1"),
    ({"calctype": "bogus"}, "calctype 'bogus'"),
    ({"engine": "bogus"}, "engine 'bogus'"),
    ({"executor": "bogus"}, "executor 'bogus'"),
])
def test_scan_checks_its_options_before_any_work(kwargs, fragment, tmp_path, monkeypatch):
    from emiss.inference import scan as S

    monkeypatch.setattr(S, "check_patchsets", _fail)
    monkeypatch.setattr(S, "load_json_file", _fail)
    out = tmp_path / "r.json"
    with pytest.raises(EmissError, match=fragment):
        S.scan(str(WS), [str(PS)], out, **kwargs)
    assert list(tmp_path.iterdir()) == []  # no results, no journal


def test_physics_entries_check_samples_and_seeds():
    from emiss.physics import predict, sm

    t0 = time.monotonic()
    with pytest.raises(EmissError, match="n_samples 100000000: above the maximum"):
        predict.predict("sm", "B+->K+", n_samples=10**8)
    with pytest.raises(EmissError, match="seed -1"):
        predict.predict("twobody-scalar", "B+->K+", n_samples=10, seed=-1)
    with pytest.raises(EmissError, match="n_samples 1"):
        sm.sm_prediction("B+->K+", n_samples=1)
    with pytest.raises(EmissError, match="mass nan"):
        predict.predict("twobody-scalar", "B+->K+", mass=float("nan"))
    with pytest.raises(EmissError, match="no finite"):
        predict.predict("twobody-vector", "B+->K+", params={"g": 1e300})
    with pytest.raises(EmissError, match="not a probability"):
        predict.predict("heavy-np", "B+->K+", params={"C_L": 1e6}, n_samples=2)
    assert time.monotonic() - t0 < 5


def test_rate_draws_are_streamed_in_chunks(monkeypatch):
    """Several chunks give the same numbers as one list of all draws (memory: one chunk)."""
    from emiss.physics import formfactors as F
    from emiss.physics import predict, sm

    one = sm.sm_prediction("B0->K*0", n_samples=50, seed=3)
    monkeypatch.setattr(F, "SAMPLE_CHUNK", 7)
    seen = []
    orig = F.sample_chunks

    def spy(*args, **kwargs):
        for chunk in orig(*args, **kwargs):
            seen.append(len(chunk))
            yield chunk

    monkeypatch.setattr(F, "sample_chunks", spy)
    many = sm.sm_prediction("B0->K*0", n_samples=50, seed=3)
    assert seen == [7] * 7 + [1]
    for key in ("uncertainty_ff", "FL_uncertainty"):
        assert many[key] == pytest.approx(one[key], rel=1e-12)
    a = predict.predict("twobody-vector", "B0->K*0", mass=2.1, n_samples=20, seed=1)
    monkeypatch.setattr(F, "SAMPLE_CHUNK", 10_000)
    b = predict.predict("twobody-vector", "B0->K*0", mass=2.1, n_samples=20, seed=1)
    assert a["uncertainty"] == pytest.approx(b["uncertainty"], rel=1e-12)


def test_running_spread_matches_numpy():
    from emiss.physics.formfactors import RunningSpread

    x = np.random.default_rng(0).normal(5.0, 2.0, 10_001)
    x[17] = np.nan
    r = RunningSpread()
    for part in np.array_split(x, 9):
        r.add(part)
    assert r.std() == pytest.approx(np.nanstd(x, ddof=1), rel=1e-12)
    single = RunningSpread()
    single.add(x[20:120])
    assert single.std() == np.std(x[20:120], ddof=1)  # one chunk: numpy's number exactly


def test_grids_above_the_budget_are_refused_with_their_size():
    from emiss.patches.grid import make_entry

    t0 = time.monotonic()
    with pytest.raises(EmissError, match="280034001 hypotheses; at most 10000.*split"):
        make_entry("heavy-np", params={"C_L": "-16:4:0.001", "C_R": "-7:7:0.001"})
    with pytest.raises(EmissError, match="47001 hypotheses"):
        make_entry("twobody-scalar", masses="0:4.7:0.0001")
    assert time.monotonic() - t0 < 2
    assert make_entry("twobody-scalar", masses="0:4.7:0.001").n_hypotheses == 4701


def test_generate_refuses_before_building(monkeypatch):
    from emiss.patches import build
    from emiss.patches.grid import make_entry

    monkeypatch.setattr(build, "TemplateBuilder", _fail)
    entries = [make_entry("twobody-scalar", masses="0.1:4.5:0.001", name=f"e{i}")
               for i in range(3)]
    with pytest.raises(EmissError, match="13203 hypotheses"):
        build.generate(str(WS), entries)
    monkeypatch.setattr(build, "load_target", _fail)
    with pytest.raises(EmissError, match="n_samples 1"):
        build.generate(str(WS), entries[:1], n_samples=1)
    with pytest.raises(EmissError, match="seed -1"):
        build.generate(str(WS), entries[:1], seed=-1)
    monkeypatch.undo()
    monkeypatch.setattr(build, "TemplateBuilder", _fail)
    monkeypatch.setattr(validate, "MAX_PATCHSET_BYTES", 1_000_000)
    with pytest.raises(EmissError, match=r"GB of PatchSet JSON .* split"):
        build.generate(str(WS), [make_entry("twobody-scalar", masses="0.1:4.5:0.01")])


def test_projection_checks_masses_lumis_and_size(monkeypatch):
    from emiss.studies import projection

    monkeypatch.setattr(projection, "load_targets", _fail)
    with pytest.raises(EmissError, match="mass 9 GeV is outside the B -> K\\* range"):
        projection.run([1.0], masses=[9.0])
    with pytest.raises(EmissError, match="luminosity 1e\\+300: above the maximum"):
        projection.run([1e300])
    with pytest.raises(EmissError, match="luminosity 0"):
        projection.run([0])
    with pytest.raises(EmissError, match="at most 2000"):
        projection.run(list(range(1, 1001)))
    with pytest.raises(EmissError, match="n_samples 1"):
        projection.run([1.0], n_samples=1)
    # a mass one scenario cannot take is skipped for it, not an error
    assert projection.check_request([1.0], ["twobody-scalar", "threebody-scalar"],
                                    [3.0]) == 1


def test_posterior_and_toys_check_before_the_model_is_built(monkeypatch):
    from emiss.inference import lee, posterior_grid

    monkeypatch.setattr(posterior_grid, "FastBackground", _fail)
    spec = read_json(WS)
    for kw, frag in (({"seed": -1}, "seed -1"), ({"draws": 5}, "draws 5"),
                     ({"chains": 0}, "chains 0"), ({"br_max": 0.0}, "br_max 0.0"),
                     ({"min_weight": 1.0}, "min_weight 1.0"), ({"sampler": "x"}, "sampler")):
        with pytest.raises(EmissError, match=frag):
            posterior_grid.PosteriorGrid(spec, **kw)
    monkeypatch.undo()
    monkeypatch.setattr(posterior_grid.PosteriorGrid, "run", _fail)
    with pytest.raises(EmissError, match="GB of draws per hypothesis"):
        posterior_grid.PosteriorGrid(spec, draws=100_000, chains=64, tune=100_000)
    monkeypatch.setattr(lee, "MassScan", _fail)
    with pytest.raises(EmissError, match="n_toys -1"):
        lee.global_significance(None, [], n_toys=-1)
    with pytest.raises(EmissError, match="ref_level 0"):
        lee.global_significance(None, [], ref_level=0)


def test_bounded_limit_search_agrees_with_pyhf_and_gives_up_fast():
    import pyhf
    from pyhf.infer.intervals.upper_limits import toms748_scan

    from emiss.inference.limits import LimitSearchError, bounded_toms748_scan

    pyhf.set_backend("numpy")
    model = pyhf.simplemodels.uncorrelated_background(
        signal=[12.0, 11.0], bkg=[50.0, 52.0], bkg_uncertainty=[3.0, 7.0])
    data = pyhf.tensorlib.astensor([51, 48] + model.config.auxdata)
    obs, exp = toms748_scan(data, model, 0.0, 5.0, rtol=0.01)
    b_obs, b_exp, _ = bounded_toms748_scan(data, model, 0.0, 5.0, rtol=0.01)
    assert b_obs == pytest.approx(float(obs), rel=1e-12)
    assert b_exp == pytest.approx([float(e) for e in exp], rel=1e-12)
    t0 = time.monotonic()
    for level in (1.5, -0.5, 0.0, 1.0, float("nan")):  # cl = -0.5 ran for 990 s before
        with pytest.raises(LimitSearchError, match="not in \\(0, 1\\)"):
            bounded_toms748_scan(data, model, 0.0, 5.0, level=level)
    with pytest.raises(LimitSearchError, match="no limit bracket.*2 doublings"):
        bounded_toms748_scan(data, model, 0.01, 0.02, level=1e-12, max_steps=2)
    with pytest.raises(LimitSearchError, match="time budget of 0 s"):
        bounded_toms748_scan(data, model, 0.0, 5.0, max_seconds=0.0)
    assert time.monotonic() - t0 < 10


def test_scan_fallback_on_a_bad_level_fails_the_row_at_once():
    """The executor's last resort (pyhf bracket from mu > 0) no longer loops for minutes."""
    from emiss.inference.executors import analyse_chunk

    spec, ps = read_json(WS), read_json(PS)
    opts = {"cl": 1.5, "poi": "mu", "calctype": "asymptotics", "engine": "fast",
            "workspace_digest": "x"}
    t0 = time.monotonic()
    [(key, _analysis, status)] = analyse_chunk(spec, opts,
                                               [(("k",), ps["patches"][0]["patch"])])
    assert time.monotonic() - t0 < 30
    assert status.startswith("failed") and "not in (0, 1)" in status, status


def test_ranges_are_declared_once():
    """The click types wrap the ranges of emiss.validate (one source of bounds)."""
    from emiss.cli import _args

    for name in ("CL", "JOBS", "SEED", "CHUNK_SIZE", "NTOYS", "DRAWS", "MASS", "FF_SAMPLES",
                 "RATE_SAMPLES"):
        assert getattr(_args, name).rng is getattr(validate, name)
    assert validate.CL.accepts(0.95) and not validate.CL.accepts(1.0)
    assert validate.SEED.accepts(0) and validate.SEED.accepts(2**32 - 1)
    assert not validate.SEED.accepts(2**32)
    assert validate.FF_SAMPLES.accepts(0) and not validate.FF_SAMPLES.accepts(1)
    assert not validate.LUMI.accepts(0) and not validate.LUMI.accepts(math.inf)
