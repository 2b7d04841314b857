"""The combined workspace through every later stage, as a user runs them.

``emiss workspace combine belle2 babar2013 bs-invisible`` followed by ``emiss patchset`` and
``emiss scan``; then ``emiss compare``, ``emiss publish``, ``emiss posterior`` and pyhf's own
``pyhf cls`` work on it unchanged, and the combined SM fit agrees with the fits of its parts:

* ``pyhf cls`` at emiss's observed 95 % CL limit gives CLs = 0.05 (pyhf's own fit of a
  combined likelihood, independent of emiss's engine);
* the combined SM-shaped signal strength is the inverse-variance mean of Belle II's and BaBar's
  (within 0.1 in mu, about a tenth of its error: the intervals are asymmetric and the parts
  share the form-factor nuisances) and its error follows 1/sigma^2 = sum 1/sigma_i^2 (10 %);
* the HEPData record names each channel's own reaction and centre-of-mass energy (ALEPH's B_s
  bound: Z-pole data) and passes the HEPData validator.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from cli_run import run
from click.testing import CliRunner

STEM = "combined_belle2_babar2013_bs_invisible_bkgonly"
PAIR = "threebody-fermion-pseudoscalar"
SMALL = "combined_belle2_hta_babar2013_bs_invisible_bkgonly.json"


def _cli(*args: str) -> None:
    """Run ``emiss ARGS`` in-process for a fixture (no capsys there); fail on a non-zero exit."""
    from emiss.cli import main

    try:
        main(list(args))
    except SystemExit as exc:
        assert exc.code in (0, None), args


def _build_chain(d: Path, parts: tuple[str, ...], stem: str) -> tuple[Path, Path]:
    """Combine parts into d, build a two-mass pair PatchSet on it and scan it."""
    _cli("workspace", "combine", *parts, "-o", str(d))
    ws = d / stem
    _cli("patchset", str(ws), "--scenario", PAIR, "--masses", "0.3,0.6", "-o",
         str(d / "pair.json"))
    _cli("scan", str(ws), str(d / "pair.json"), "-o", str(d / "res.json"), "-q")
    return d, ws


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Combined workspace, a two-mass pair PatchSet and its scan results."""
    return _build_chain(tmp_path_factory.mktemp("global_chain"),
                        ("belle2", "babar2013", "bs-invisible"), f"{STEM}.json")


@pytest.fixture(scope="module")
def small_chain(tmp_path_factory):
    """The same with Belle II's hadronic-tag emulation (few nuisances): quick for pyhf's own
    fits and for the sampler."""
    return _build_chain(tmp_path_factory.mktemp("small_chain"),
                        ("belle2_hta_bkgonly", "babar2013", "bs-invisible"), SMALL)


def test_compare_reads_the_combined_scan(chain, capsys):
    d, _ = chain
    rows = json.loads((d / "res.json").read_text())["results"]
    code, out, err = run(capsys, "compare", str(d / "res.json"), "--json")
    assert code == 0, err
    doc = json.loads(out)
    (sc,) = doc["workspaces"][0]["scenarios"]
    best = min(rows, key=lambda r: r["twice_nll"])
    assert sc["best"]["name"] == best["name"]
    assert sc["best"]["br_hat"] == pytest.approx(best["br_hat"], rel=1e-5)  # 6 digits written


def test_pyhf_cls_at_the_emiss_limit_is_five_percent(small_chain, tmp_path):
    """pyhf's own command line on a combined workspace and one patch of the PatchSet."""
    from pyhf.cli import cli as pyhf_cli

    d, ws = small_chain
    ps = json.loads((d / "pair.json").read_text())
    rows = {r["name"]: r for r in json.loads((d / "res.json").read_text())["results"]}
    patch = ps["patches"][0]
    row = rows[patch["metadata"]["name"]]
    pfile = tmp_path / "patch.json"
    pfile.write_text(json.dumps(patch["patch"]))
    res = CliRunner().invoke(pyhf_cli, ["cls", str(ws), "--patch", str(pfile), "--test-poi",
                                        repr(row["mu_limit_obs"])])
    assert res.exit_code == 0, res.output
    cls_obs = json.loads(res.output)["CLs_obs"]
    assert cls_obs == pytest.approx(0.05, abs=2e-3)


def test_publish_names_each_channels_reaction_and_energy(chain, tmp_path, capsys):
    from hepdata_validator.full_submission_validator import FullSubmissionValidator

    d, ws = chain
    out = tmp_path / "pub"
    code, _, err = run(capsys, "publish", str(ws), str(d / "pair.json"), "--results",
                       str(d / "res.json"), "-o", str(out))
    assert code == 0, err
    docs = list(yaml.safe_load_all((out / "hepdata" / "submission.yaml").read_text()))
    kw = {t["name"]: {k["name"]: k["values"] for k in t.get("keywords", [])} for t in docs[1:]}
    resp = {name.removeprefix("Response "): k for name, k in kw.items()
            if name.startswith("Response ")}
    assert resp["bs_invisible"]["cmenergies"] == [91.188]  # ALEPH at the Z pole
    assert resp["bs_invisible"]["reactions"] == ["B/S0 --> INVISIBLE"]
    assert resp["babar2013_kst0"]["reactions"] == ["B0 --> K*0 INVISIBLE"]
    assert resp["babar2013_kst0"]["cmenergies"] == [10.58]
    (limits,) = [k for name, k in kw.items() if name.startswith("Upper limits")]
    assert limits["cmenergies"] == [10.58, 91.188]
    table = yaml.safe_load((out / "hepdata" / f"upper_limits_{PAIR}.yaml").read_text())
    quals = [q for q in table["dependent_variables"][0]["qualifiers"] if q["name"] == "SQRT(S)"]
    assert sorted(q["value"] for q in quals) == [10.58, 91.188]
    v = FullSubmissionValidator()
    assert v.validate(directory=str(out / "hepdata")), v.get_messages()


def test_posterior_runs_on_a_combination(small_chain, tmp_path, capsys):
    """Belle II's hadronic-tag emulation + BaBar + B_s (few nuisances, so emcee is quick):
    evidences and Bayes factors come out."""
    d, ws = small_chain
    code, out, err = run(capsys, "posterior", str(ws), str(d / "pair.json"), "--sampler",
                         "emcee", "--draws", "300", "--tune", "100", "--br-max", "2e-4",
                         "--min-weight", "0", "--no-plots", "-o", str(tmp_path / "post"))
    assert code == 0, err
    doc = json.loads((tmp_path / "post" / "posterior.json").read_text())
    (scen,) = [s for s in doc["scenarios"] if s["scenario"] == PAIR]
    assert len(scen["points"]) == 2
    assert all(math.isfinite(p["ln_z"]) for p in scen["points"])
    assert PAIR in {r["scenario"] for r in doc["bayes_factors"]}


def _sm_fit(capsys, workspace: str) -> dict:
    code, out, err = run(capsys, "measure", workspace, "--json", "-q")
    assert code == 0, err
    return json.loads(out)


def test_combined_sm_fit_is_the_mean_of_its_parts(tmp_path, capsys):
    for names in (["babar2013"], ["belle2", "babar2013"]):
        code, _, err = run(capsys, "workspace", "combine", *names, "-o", str(tmp_path))
        assert code == 0, err
    parts = [_sm_fit(capsys, "belle2"),
             _sm_fit(capsys, str(tmp_path / "babar2013_bkgonly.json"))]
    comb = _sm_fit(capsys, str(tmp_path / "combined_belle2_babar2013_bkgonly.json"))
    mu = comb["mu_hat"]
    # each part's error on the side that faces the combined value
    sig = [p["mu_err_down"] if p["mu_hat"] > mu else p["mu_err_up"] for p in parts]
    w = [1 / s**2 for s in sig]
    mean = sum(wi * p["mu_hat"] for wi, p in zip(w, parts, strict=True)) / sum(w)
    assert mu == pytest.approx(mean, abs=0.1)
    err = 0.5 * (comb["mu_err_up"] + comb["mu_err_down"])
    assert err == pytest.approx(1 / math.sqrt(sum(w)), rel=0.10)
    # and the combination is more precise than either part
    assert err < min(0.5 * (p["mu_err_up"] + p["mu_err_down"]) for p in parts)
