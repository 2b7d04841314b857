"""B_s -> X X̄ of the pair scenarios in the combined likelihood (``bs-invisible`` part).

The B_s bin's signal is S * B(B_s -> X X̄) at the patch's reference coupling: S the bin's derived
sensitivity (sidecar), B the rate of the pair operator (``emiss.physics.bs_pairs.pair_rate``,
called with the operator's own arguments, not through the scenario routing). Checked against:

* the asymptotic CLs limit of a counting bin with n_obs = b: with q~ = -2 ln lambda
  = 2 [s - b ln(1 + s/b)] for n = b and the Asimov q~_A equal to it, CLs = 2 (1 - Phi(sqrt q~))
  (Cowan, Cranmer, Gross, Vitells arXiv:1007.1727 eqs. (65)-(66)), so S * 5.4e-4 solves
  2 [s - b ln(1 + s/b)] = Phi^-1(0.95)^2;
* the B_s-only likelihood of a pair scenario gives the recast bound 5.4e-4 (arXiv:2310.13043)
  on B(B_s -> X X̄) at 90 % CL, to 1 %, also through the coupling at the limit;
* scenarios that cannot annihilate a B_s (tensor quark current, a single X, the SM) put
  nothing there, and ``emiss patchset`` does not refuse them.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest
from cli_run import run
from particle import Particle
from scipy.optimize import brentq
from scipy.stats import norm

from emiss.bundles import bs_invisible
from emiss.bundles.bundle import Bundle, load_bundle
from emiss.inference.fastlimits import fast_analyse
from emiss.inference.fastmodel import model_from_workspace
from emiss.physics import bs_pairs
from emiss.physics.scenarios import get_scenario

#: B(B_s -> invisible) < 5.4e-4 at 90 % CL (arXiv:2310.13043 abstract, ar5iv rendering).
BOUND = 5.4e-4
M_BS = Particle.from_pdgid(531).mass / 1000.0  # GeV, PDG via ``particle``
#: threebody-fermion-pseudoscalar: (g/Lambda^2) s̄ (c_L P_L + c_R P_R) b ψ̄ iγ5 ψ, defaults
#: Lambda = 7 TeV, c_L = 1, c_R = 0 (``emiss scenarios``)
PSEUDO = ("fermion-pseudoscalar", 7e3, 1.0, 0.0)
STEM = "combined_belle2_bs_invisible_bkgonly"


@pytest.fixture(scope="module")
def combined(tmp_path_factory):
    """``emiss workspace combine belle2 bs-invisible`` and patches of two pair scenarios."""
    from emiss.cli import main

    out = tmp_path_factory.mktemp("comb")

    def emiss(*args: str) -> None:
        try:
            main(list(args))
        except SystemExit as exc:
            assert exc.code in (0, None), args

    emiss("workspace", "combine", "belle2", "bs-invisible", "-o", str(out))
    ws = out / f"{STEM}.json"
    emiss("patchset", str(ws), "--scenario", "threebody-fermion-pseudoscalar", "--masses",
          "0.5", "-o", str(out / "pseudo.json"))
    emiss("patchset", str(ws), "--scenario", "threebody-fermion-tensor", "--masses",
          "0.5,1.0", "-o", str(out / "tensor.json"))
    return out


def _bs_ops(ws: Path, patch: list[dict]) -> list[dict]:
    spec = json.loads(ws.read_text())
    names = [c["name"] for c in spec["channels"]]
    return [op for op in patch if names[int(op["path"].split("/")[2])] == "bs_invisible"]


def test_sensitivity_is_the_counting_bin_limit_over_the_bound():
    _, meta, _ = bs_invisible.build_bundle()
    info = meta["channels"]["bs_invisible"]["simplified"]
    assert info["n_obs"] == info["background"] == 100.0 and info["background_unc"] == 0.0
    b, z = 100.0, norm.ppf(0.95)
    s_up = brentq(lambda s: 2.0 * (s - b * math.log1p(s / b)) - z * z, 1.0, 100.0, xtol=1e-12)
    assert info["sensitivity"] * BOUND == pytest.approx(s_up, rel=1e-6)


def test_pair_patch_puts_s_times_b_in_the_bs_bin(combined):
    ws = combined / f"{STEM}.json"
    meta = json.loads((combined / f"{STEM}.meta.json").read_text())
    S = meta["channels"]["bs_invisible"]["simplified"]["sensitivity"]
    assert S == bs_invisible.build_bundle()[1]["channels"]["bs_invisible"]["n_b"]
    doc = json.loads((combined / "pseudo.json").read_text())
    (p,) = doc["patches"]
    block = p["metadata"]["emiss"]
    assert block["process"] == "B+->K+" and block["m_X"] == 0.5
    g_ref = block["coupling"]["reference_value"]
    kind, lam, c_l, c_r = PSEUDO
    br = bs_pairs.pair_rate(kind, 0.5, g_ref, lam, c_l, c_r).branching_ratio
    assert br > 0
    (op,) = _bs_ops(ws, p["patch"])
    sig = op["value"]
    assert sig["name"] == "signal"
    assert sig["data"] == [pytest.approx(S * br, rel=1e-8)]
    assert block["reference_branching_ratios"]["Bs->invisible"] == pytest.approx(br, rel=1e-7)
    mods = {m["name"]: m for m in sig["modifiers"]}
    assert mods["mu"]["type"] == "normfactor"  # one mu scales B -> K and B_s alike
    r = 2 * 1.3 / 230.3  # f_Bs = 230.3(1.3) MeV (FLAG 2021), B ~ f_Bs^2
    assert mods["bs_invisible_f_Bs"]["data"] == {"hi": pytest.approx(1 + r, abs=1e-8),
                                                 "lo": pytest.approx(1 - r, abs=1e-8)}
    # B_s mixing: time-integrated B = B (1 + A y_s) / (1 - y_s^2), A in [-1, 1] (1204.1737);
    # y_s = 0.129 / 2 (HFAG 2016): A = -1 and +1 at -1 and +1 sigma
    y = 0.129 / 2
    assert mods["bs_invisible_y_s"]["type"] == "normsys"
    assert mods["bs_invisible_y_s"]["data"] == {"hi": pytest.approx(1 / (1 - y), abs=1e-8),
                                                "lo": pytest.approx(1 / (1 + y), abs=1e-8)}
    # B -> K signal at the same coupling: the ratio of the two channels is R = B_s / B+ -> K+
    assert block["reference_branching_ratios"]["B+->K+"] == block["reference_branching_ratio"]


def test_tensor_pair_puts_nothing_in_the_bs_bin(combined):
    ws = combined / f"{STEM}.json"
    doc = json.loads((combined / "tensor.json").read_text())
    assert len(doc["patches"]) == 2
    for p in doc["patches"]:
        assert _bs_ops(ws, p["patch"]) == []
        assert "Bs->invisible" not in p["metadata"]["emiss"].get("reference_branching_ratios",
                                                                 {})
        assert len(p["patch"]) > 0  # the B -> K channels have their signal


def test_zero_rate_is_logged_once(tmp_path, capsys, caplog):
    run(capsys, "workspace", "combine", "belle2", "bs-invisible", "-o", str(tmp_path))
    with caplog.at_level(logging.INFO, logger="emiss.patches.templates"):
        code, _, err = run(capsys, "patchset", str(tmp_path / f"{STEM}.json"), "--scenario",
                           "threebody-vector-t", "--masses", "0.3,0.6,0.9", "-o",
                           str(tmp_path / "vt.json"))
    assert code == 0, err
    said = [r.getMessage() for r in caplog.records if "Bs->invisible" in r.getMessage()]
    assert len(said) == 1 and "tensor" in said[0], said


def _bs_only(scenario: str, mass: float):
    """The B_s bundle alone with the patch of one hypothesis (no HEPData record needed)."""
    from emiss.patches import make_entry, resolve_entry
    from emiss.patches.assemble import sample_ops
    from emiss.patches.target import target_from_bundle
    from emiss.patches.templates import TemplateBuilder

    spec, meta, resp = bs_invisible.build_bundle()
    target = target_from_bundle(Bundle(spec=spec, meta=meta, response=resp, path=None))
    builder = TemplateBuilder(target)
    res = resolve_entry(make_entry(scenario, masses=[mass]))
    t = builder.template(res, res.hypotheses[0])
    return spec, sample_ops(spec, t.samples, target.channel_modifiers, builder.family), t.emiss


@pytest.mark.parametrize(("scenario", "args"), [
    ("threebody-fermion-pseudoscalar", PSEUDO),
    ("threebody-vector-s", ("vector-scalar", 2e5, 1.0, 0.0)),
])
def test_bs_only_likelihood_gives_the_recast_bound(scenario, args):
    spec, ops, block = _bs_only(scenario, 0.5)
    assert block["process"] == "Bs->invisible"
    row = fast_analyse(model_from_workspace(spec, ops), cl=0.90)
    assert row["status"].startswith("ok"), row["status"]
    mu_up = float(row["mu_limit_obs"])
    assert mu_up * block["reference_branching_ratio"] == pytest.approx(BOUND, rel=0.01)
    # the same limit as a coupling: B(B_s -> X X̄) at g_up = g_ref sqrt(mu_up) is the bound
    kind, lam, c_l, c_r = args
    g_up = block["coupling"]["reference_value"] * math.sqrt(mu_up)
    assert bs_pairs.pair_rate(kind, 0.5, g_up, lam, c_l, c_r).branching_ratio == \
        pytest.approx(BOUND, rel=0.01)


def test_bs_only_refuses_a_scenario_without_b_s_rate():
    from emiss.errors import EmissError

    with pytest.raises(EmissError, match=r"B\(Bs->invisible\) = 0"):
        _bs_only("threebody-fermion-tensor", 0.5)


def test_response_file_keeps_the_line_inside(tmp_path):
    """The written response (12-digit rounding) still folds the line at q^2 = m_Bs^2."""
    paths = bs_invisible.write_bundle(tmp_path)
    b = load_bundle(paths[-1])
    cr = b.response.channels["bs_invisible"]
    assert cr.process == "Bs->invisible" and cr.true_edges[-1] >= M_BS**2
    spec = get_scenario("threebody-fermion-pseudoscalar").spectrum("Bs->invisible", 0.5)
    (q2, br), = spec.lines
    assert q2 == pytest.approx(M_BS**2, rel=1e-12)
    np.testing.assert_allclose(cr.fold(spec), [cr.n_b * br], rtol=1e-12)


@pytest.mark.parametrize("name", ["sm", "twobody-vector", "threebody-fermion-tensor",
                                  "threebody-fermion-vector"])
def test_scenarios_without_b_s_rate_give_a_zero_line_with_reason(name):
    spec = get_scenario(name).spectrum("Bs->invisible")
    (q2, br), = spec.lines
    assert br == 0.0 and spec.meta["reason"]


def test_emiss_rate_of_b_s_to_invisible():
    """``emiss rate --process Bs->invisible``: the pair operator's rate with its f_Bs spread."""
    import emiss

    kind, lam, c_l, c_r = PSEUDO
    r = emiss.rate("threebody-fermion-pseudoscalar", "Bs->invisible", mass=0.5)
    want = bs_pairs.pair_rate(kind, 0.5, 1.0, lam, c_l, c_r).branching_ratio
    assert r["branching_ratio"] == pytest.approx(want, rel=1e-12)
    assert r["uncertainty"] == pytest.approx(want * 2 * 1.3 / 230.3, rel=1e-6)
    assert r["FL"] is None and r["lines"][0]["q2"] == pytest.approx(M_BS**2, rel=1e-12)
    y = 0.129 / 2  # time-integrated: B (1 + A y_s) / (1 - y_s^2) at A = -1, +1 (1204.1737)
    assert r["time_integrated_range"] == [pytest.approx(want / (1 + y), rel=1e-12),
                                          pytest.approx(want / (1 - y), rel=1e-12)]
    zero = emiss.rate("twobody-vector", "Bs->invisible")
    assert zero["branching_ratio"] == 0.0 and "single invisible particle" in zero["reason"]


def test_emiss_rate_says_why_a_b_s_rate_is_zero():
    """The text output of ``emiss rate`` names the reason of a vanishing rate."""
    from click.testing import CliRunner

    from emiss.cli import cli

    res = CliRunner().invoke(cli, ["rate", "threebody-fermion-tensor", "--process",
                                   "Bs->invisible", "--mass", "0.5"])
    assert res.exit_code == 0, res.output
    assert "why zero" in res.output and "tensor current cannot annihilate" in res.output
    res = CliRunner().invoke(cli, ["rate", "threebody-fermion-pseudoscalar", "--process",
                                   "Bs->invisible", "--mass", "0.5"])
    assert res.exit_code == 0 and "why zero" not in res.output
