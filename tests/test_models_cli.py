"""`emiss model u1prime | u1prime-coupling | u1prime-scan` and the related modes through
`emiss rate`: JSON contract, errors as one line with exit 2, deterministic plane figures."""

import json
import math

import pytest
from cli_run import run
from particle import Particle

from emiss.models import u1prime as U


def _results(path, br_hat=9.2e-6, z=3.0):
    """A results document in the emiss-scan-results/1 format (docs/interfaces.md)."""
    rows = []
    for m in (1.5, 2.0, 2.1, 2.2, 2.5):
        best = m == 2.1
        rows.append({"name": f"tv_{m}", "patchset": 0, "scenario": "twobody-vector",
                     "process": "B+->K+", "reference_branching_ratio": 1e-5, "status": "ok",
                     "m_X": m, "mu_hat": br_hat / 1e-5 if best else 0.2,
                     "br_hat": br_hat if best else 2e-6, "twice_nll": 90.0 if best else 97.0,
                     "mu_limit_obs": 1.6, "mu_limit_exp": [0.4, 0.6, 0.8, 1.1, 1.5],
                     "br_limit_obs": 1.6e-5, "br_limit_exp": [4e-6, 6e-6, 8e-6, 1.1e-5, 1.5e-5],
                     "p0": 0.001, "Z": z if best else 0.5})
    doc = {"format": "emiss-scan-results/1", "workspace_digest": "w", "patchset_digest": "p",
           "patchset_digests": ["p"], "labels": ["m_X"], "options": {"cl": 0.95},
           "results": rows}
    path.write_text(json.dumps(doc))
    return path


def test_u1prime_json(capsys):
    code, out, err = run(capsys, "model", "u1prime", "--mT", "10000", "--g-qprime", "1e-6",
                         "--YTt", "1e-3", "--json")
    assert code == 0, err
    d = json.loads(out)
    for key in ("flavour_couplings", "scenario", "kinetic_mixing", "zprime", "modes", "mixing",
                "ewpo", "delta_for_P_inv_0.9"):
        assert key in d
    assert d["M_Zp"] == pytest.approx(2.1) and d["vtilde"] == pytest.approx(2.1e6)
    assert set(d["modes"]) >= {"B+->K+", "B0->K*0", "B+->pi+", "B0->rho0", "Bs->phi", "K+->pi+"}
    assert d["modes"]["K+->pi+"]["open"] is False
    code, out, _ = run(capsys, "model", "u1prime", "--mT", "10000", "--g-qprime", "1e-6")
    assert code == 0 and "B+->K+" in out and "closed" in out


def _nulls(obj, path=""):
    """Paths of the null values in a JSON document."""
    if isinstance(obj, dict):
        return [q for k, v in obj.items() for q in _nulls(v, f"{path}.{k}")]
    if isinstance(obj, list):
        return [q for i, v in enumerate(obj) for q in _nulls(v, f"{path}[{i}]")]
    return [path] if obj is None else []


def test_u1prime_readme_point_fills_or_explains_every_field(capsys):
    """README inputs (no Y_T^t, no dark fermion): mixing, ewpo, dark_matter say why they are not
    computed and what would make them so; no null except inputs that say they were not given."""
    code, out, err = run(capsys, "model", "u1prime", "--mT", "10000", "--g-qprime", "1e-6",
                         "--mZp", "2.1", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert sorted(_nulls(d)) == [".inputs.Y_Tt", ".inputs.m_X"]
    assert set(d["inputs_not_given"]) == {"Y_Tt", "m_X"}
    for key, needs in (("mixing", ["Y_Tt"]), ("ewpo", ["Y_Tt"]),
                       ("dark_matter", ["g_qX", "m_X"])):
        assert d[key]["computed"] is False and d[key]["needs"] == needs, key
        assert len(d[key]["reason"]) > 20, key
    # a real T'-t mixing needs ṽ Y_T^t/√2 <= m_T - m_t, ṽ = M_Z'/g̃q' = 2.1e6 GeV
    mt = Particle.from_pdgid(6).mass / 1000.0
    assert d["mixing"]["Y_Tt_max"] == pytest.approx(math.sqrt(2) * (1e4 - mt) / 2.1e6,
                                                    rel=1e-9)
    assert 0 < d["ewpo"]["s_L2_max_95"] < 1
    assert 0 < d["ewpo"]["Y_Tt_max_95"] <= d["mixing"]["Y_Tt_max"]
    code, out, _ = run(capsys, "model", "u1prime", "--mT", "10000", "--g-qprime", "1e-6",
                       "--mZp", "2.1")
    assert code == 0
    assert "T'-t mixing: not computed" in out and "dark matter: not computed" in out
    assert "EWPO: S, T, U not computed" in out


@pytest.mark.parametrize("m_X,relic", [(30.0, (30 / 10) ** 2 * (0.07 / 0.1) ** 4), (1.0, None)])
def test_u1prime_with_every_input_computes_every_field(capsys, m_X, relic):
    """With Y_T^t and a dark fermion the sections are computed; the talk's relic formula
    Omega_X/Omega_DM = (m_X/10 GeV)^2 (0.07/g̃q'_X)^4 holds only for m_X > M_Z' (else said)."""
    code, out, err = run(capsys, "model", "u1prime", "--mT", "10000", "--g-qprime", "1e-6",
                         "--YTt", "1e-3", "--gX", "0.1", "--mX", str(m_X), "--json")
    assert code == 0, err
    d = json.loads(out)
    assert _nulls(d) == [] and d["inputs_not_given"] == {}
    assert d["mixing"]["computed"] and d["ewpo"]["computed"] and d["dark_matter"]["computed"]
    dm = d["dark_matter"]
    if relic is None:
        assert "relic_fraction" not in dm and "m_X > M_Z'" in dm["not_computed"][
            "relic_fraction"]
    else:
        assert dm["relic_fraction"] == pytest.approx(relic, rel=1e-12)


@pytest.mark.parametrize("args,msg", [
    (("--mT", "100", "--g-qprime", "1e-6"), "exceed the top mass"),
    (("--mT", "1e4", "--g-qprime", "1e-6", "--vtilde", "1e6", "--mZp", "2.1"), "inconsistent"),
    (("--mT", "1e4", "--g-qprime", "1e-6", "--gX", "0.1"), "dark-fermion mass"),
    (("--mT", "2000", "--g-qprime", "1e-6", "--YTt", "1"), "no T'-t mixing solution"),
])
def test_u1prime_bad_input(capsys, args, msg):
    code, out, err = run(capsys, "model", "u1prime", *args)
    assert code == 2 and out == ""
    assert err.startswith("emiss: error:") and msg in err and "Traceback" not in err


def test_coupling_command(capsys):
    code, out, err = run(capsys, "model", "u1prime-coupling", "--br-hat", "9.2e-6",
                         "--br-interval", "5.8e-6,1.1e-5", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["g_qprime_at_10TeV"] == pytest.approx(float(U.required_coupling(9.2e-6, 1e4)))
    lo, hi = d["g_qprime_at_10TeV_interval"]
    assert lo < d["g_qprime_at_10TeV"] < hi
    code, _, err = run(capsys, "model", "u1prime-coupling", "--br-hat", "-1")
    assert code == 2 and "--br-hat -1: out of range" in err


def test_scan_plane_files_and_determinism(capsys, tmp_path):
    res = _results(tmp_path / "r.json")
    outs = []
    for name in ("a", "b"):
        code, out, err = run(capsys, "model", "u1prime-scan", str(res), "-o",
                             str(tmp_path / name), "--YTt", "1e-3")
        assert code == 0, err
        outs.append(tmp_path / name)
    # file names encode the input (results stem r)
    for f in ("r_u1prime_plane.png", "r_u1prime_plane.pdf", "r_u1prime_plane.json"):
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes()
    s = json.loads((outs[0] / "r_u1prime_plane.json").read_text())
    assert s["scan"]["m_Zp"] == pytest.approx(2.1)  # the best-fit mass
    assert s["br_interval_used"] == pytest.approx([9.2e-6 - 9.2e-6 / 3, 9.2e-6 + 9.2e-6 / 3])
    assert s["coupling_all_escape"]["g_qprime_at_10TeV"] == pytest.approx(
        float(U.required_coupling(9.2e-6, 1e4)))


def test_scan_bad_inputs_write_nothing(capsys, tmp_path):
    res = _results(tmp_path / "r.json")
    out = tmp_path / "o"
    code, _, err = run(capsys, "model", "u1prime-scan", str(res), "-o", str(out), "--mZp", "4")
    assert code == 2 and "outside the scanned masses" in err and not out.exists()
    code, _, err = run(capsys, "model", "u1prime-scan", str(res), "-o", str(out), "--mT-range",
                       "5,1")
    assert code == 2 and "--mT-range" in err and not out.exists()
    empty = tmp_path / "e.json"
    empty.write_text(json.dumps({"format": "emiss-scan-results/1", "workspace_digest": "w",
                                 "patchset_digests": ["p"], "labels": ["m_X"], "options": {},
                                 "results": []}))
    code, _, err = run(capsys, "model", "u1prime-scan", str(empty), "-o", str(out))
    assert code == 2 and "twobody-vector" in err and not out.exists()


def test_rate_accepts_related_processes(capsys):
    code, out, err = run(capsys, "rate", "twobody-vector", "--process", "B+->rho+", "--mass",
                         "2.1", "--param", "g=1e-8", "--samples", "4", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["branching_ratio"] > 0 and d["FL"] is not None
    code, out, err = run(capsys, "spectrum", "twobody-vector", "--process", "K+->pi+",
                         "--mass", "0.2", "--q2", "0.01", "--json")
    assert code == 0, err
    code, _, err = run(capsys, "rate", "twobody-vector", "--process", "K+->pi+", "--mass", "2.1")
    assert code == 2 and "kinematic endpoint" in err
