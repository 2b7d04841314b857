"""Detector response: probabilities, exact lines, folding, persistence, external formats."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from emiss.errors import EmissError
from emiss.physics.spectrum import Spectrum
from emiss.response import BELLE2_TRUE_EDGES, BoxKernel, ChannelResponse, Response

# Independent kinematic inputs (PDG 2024): m(Y(4S)), m(B+), m(K+) in GeV.
M_Y4S, M_B, M_K = 10.5794, 5.27934, 0.493677
Q2_MAX = (M_B - M_K) ** 2
SLOPE = 5.0 / M_B**2


def ita_kernel(eff_norm: float = 0.2) -> BoxKernel:
    """ITA-like kernel: 4 eta bins x q2_rec bins {-1, 4, 8, 25}, 0.15 GeV^2 resolution."""
    return BoxKernel(sqrt_s=M_Y4S, m_B=M_B, m_K=M_K, sigma=0.15,
                     q2rec_edges=(-1.0, 4.0, 8.0, 25.0), fractions=(0.25,) * 4,
                     eff_norm=eff_norm, eff_slope=SLOPE)


def flat_spectrum(br: float, lo: float = 0.0, hi: float = Q2_MAX) -> Spectrum:
    return Spectrum(process="B+->K+", q2_min=lo, q2_max=hi,
                    continuum=lambda q2: np.full_like(np.asarray(q2, float), br / (hi - lo)))


def box_by_hand(q2: float) -> tuple[float, float]:
    """q2_rec box from two-body kinematics written out independently (belle2.md 1.7)."""
    e_b = M_Y4S / 2
    p_b = math.sqrt(e_b**2 - M_B**2)
    gamma, gbeta = e_b / M_B, p_b / M_B
    e_k = (M_B**2 + M_K**2 - q2) / (2 * M_B)
    p_k = math.sqrt(max(e_k**2 - M_K**2, 0.0))
    e_lo, e_hi = gamma * e_k - gbeta * p_k, gamma * e_k + gbeta * p_k
    s = M_Y4S**2
    # q2_rec = s/4 + m_K^2 - sqrt(s) E*_K (belle2.md 1.4)
    return s / 4 + M_K**2 - M_Y4S * e_hi, s / 4 + M_K**2 - M_Y4S * e_lo


@pytest.mark.parametrize("q2, lo, hi", [(0.0, -1.74, 1.73), (4.0, 2.54, 5.49), (8.0, 6.81, 9.25),
                                        (16.0, 15.38, 16.75), (22.0, 21.88, 22.29)])
def test_box_matches_published_table(q2, lo, hi):
    """Box edges agree with the belle2.md 1.7 table (0.665 p*_K half-width) and a hand formula."""
    c, h = ita_kernel().box(np.array([q2]))
    assert c[0] - h[0] == pytest.approx(lo, abs=0.02)
    assert c[0] + h[0] == pytest.approx(hi, abs=0.02)
    a, b = box_by_hand(q2)
    assert c[0] - h[0] == pytest.approx(a, abs=1e-6)
    assert c[0] + h[0] == pytest.approx(b, abs=1e-6)


def test_column_sums_never_exceed_one():
    k = ita_kernel(eff_norm=1.0)
    r = k.bin_average(BELLE2_TRUE_EDGES)
    assert r.shape == (12, 101)
    assert np.all(r >= 0)
    assert r.sum(axis=0).max() <= 1.0 + 1e-12
    # deep inside the window nothing leaks out: column sum = efficiency
    q2 = np.array([6.0, 12.0])
    np.testing.assert_allclose(k.columns(q2).sum(axis=0), np.exp(-SLOPE * q2), rtol=1e-9)


def test_bad_matrix_rejected():
    with pytest.raises(EmissError, match="sums to"):
        ChannelResponse("ch", "B+->K+", [0, 1, 2], [[0.9, 0.2], [0.3, 0.1]], n_b=1.0)
    with pytest.raises(EmissError, match="shape"):
        ChannelResponse("ch", "B+->K+", [0, 1, 2, 3], [[0.1, 0.2]], n_b=1.0)


def test_flat_spectrum_folds_to_efficiency():
    """A flat spectrum on [3, 15] GeV^2 (boxes inside the q2_rec window) folds to n_b B <eps>."""
    norm, n_b, br = 0.2, 4.0e8, 1e-5
    k = ita_kernel(norm)
    cr = ChannelResponse("ita_onres", "B+->K+", BELLE2_TRUE_EDGES,
                         k.bin_average(BELLE2_TRUE_EDGES), n_b=n_b, kernel=k)
    lo, hi = 3.0, 15.0
    got = cr.fold(flat_spectrum(br, lo, hi)).sum()
    mean_eff = norm * (math.exp(-SLOPE * lo) - math.exp(-SLOPE * hi)) / (SLOPE * (hi - lo))
    assert got == pytest.approx(n_b * br * mean_eff, rel=2e-3)
    # eta(BDT2) is signal-flat: each eta bin holds a quarter
    y = cr.fold(flat_spectrum(br, lo, hi)).reshape(4, 3).sum(axis=1)
    np.testing.assert_allclose(y / y.sum(), 0.25, rtol=1e-9)


@pytest.mark.parametrize("m_x, allowed", [(2.1, {0, 1}), (4.0, {2}), (1.0, {0}), (2.8, {1, 2})])
def test_line_lands_only_where_box_allows(m_x, allowed):
    """A line at q2 = m^2 fills only q2_rec bins the kinematic box (+-5 sigma) overlaps."""
    k = ita_kernel()
    cr = ChannelResponse("ita_onres", "B+->K+", BELLE2_TRUE_EDGES,
                         k.bin_average(BELLE2_TRUE_EDGES), n_b=1.0, kernel=k)
    q2 = m_x**2
    lo, hi = box_by_hand(q2)
    edges = [-1.0, 4.0, 8.0, 25.0]
    reach = {i for i in range(3) if edges[i] < hi + 5 * 0.15 and edges[i + 1] > lo - 5 * 0.15}
    assert reach == allowed
    col = cr.column_at(q2).reshape(4, 3).sum(axis=0)
    for i in range(3):
        assert (col[i] > 1e-12) == (i in allowed)
    line = Spectrum(process="B+->K+", q2_min=0.0, q2_max=Q2_MAX, lines=((q2, 1e-5),))
    y = cr.fold(line).reshape(4, 3).sum(axis=0)
    assert y.sum() == pytest.approx(1e-5 * col.sum(), rel=1e-12)
    # without resolution, the share of each q2_rec bin is its overlap with the box
    sharp = BoxKernel(sqrt_s=M_Y4S, m_B=M_B, m_K=M_K, sigma=1e-5, q2rec_edges=tuple(edges),
                      fractions=(1.0,), eff_norm=0.2, eff_slope=SLOPE)
    overlap = [max(0.0, min(hi, edges[i + 1]) - max(lo, edges[i])) / (hi - lo) for i in range(3)]
    expected = 0.2 * math.exp(-SLOPE * q2) * np.array(overlap)
    np.testing.assert_allclose(sharp.columns(np.array([q2]))[:, 0], expected, rtol=1e-4,
                               atol=1e-9)


def test_save_load_roundtrip_deterministic(tmp_path):
    k = ita_kernel()
    cr = ChannelResponse("ita_onres", "B+->K+", BELLE2_TRUE_EDGES,
                         k.bin_average(BELLE2_TRUE_EDGES), n_b=4e8, kernel=k)
    r = Response({"ita_onres": cr})
    p1, p2 = r.save(tmp_path / "a.json"), Response.load(r.save(tmp_path / "b.json")).save(
        tmp_path / "c.json")
    assert p1.read_bytes() == (tmp_path / "b.json").read_bytes() == p2.read_bytes()
    back = Response.load(p1)
    s = flat_spectrum(1e-5)
    np.testing.assert_allclose(back.fold(s)["ita_onres"], r.fold(s)["ita_onres"], rtol=1e-9)
    np.testing.assert_allclose(back.channels["ita_onres"].column_at(4.41), cr.column_at(4.41),
                               rtol=1e-9)


def test_check_workspace_errors():
    cr = ChannelResponse("hta", "B+->K+", [0.0, 10.0, 20.0], np.full((6, 2), 0.01), n_b=1.0)
    r = Response({"hta": cr})
    ws = {"channels": [{"name": "hta", "samples": [{"name": "b", "data": [1.0] * 5}]}]}
    with pytest.raises(EmissError, match="6 fit bins .* has 5"):
        r.check_workspace(ws)
    ws2 = {"channels": [{"name": "other", "samples": [{"name": "b", "data": [1.0] * 6}]}]}
    with pytest.raises(EmissError, match="'hta' is not in the workspace"):
        r.check_workspace(ws2)


def _likelihood(nu: list[float]) -> dict:
    return {"channels": [{"name": "sgn1_had", "samples": [
        {"name": "bkg", "data": [50.0] * len(nu), "modifiers": []},
        {"name": "sgn_1_had", "data": nu,
         "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}]}


def test_from_hepdata_normalisation(tmp_path):
    """A number density built from a known R (arbitrary overall scale) gives R back."""
    n_b = 4.0e8
    null = Spectrum(process="B+->K+", q2_min=0.0, q2_max=22.885,
                    continuum=lambda q2: 2e-6 * (1 - np.asarray(q2) / 22.885) / 11.4425 * 2)
    b_null = null.bin_integrals(BELLE2_TRUE_EDGES)
    rng_free = np.linspace(0.001, 0.004, 3)[:, None] * np.linspace(1.0, 0.2, 101)[None, :]
    r_true = rng_free.copy()
    r_true[:, 0] = 0.0  # sentinel bin
    nu = n_b * r_true @ b_null
    dens = 123.0 * r_true * b_null[None, :]  # joint number density, any scale
    csv_path = tmp_path / "number_density_hta.csv"
    with open(csv_path, "w") as fh:
        fh.write("# joint number density\n")
        fh.write(",".join(f"q2_{j}" for j in range(101)) + "\n")
        for row in dens:
            fh.write(",".join(repr(float(v)) for v in row) + "\n")
    lik = tmp_path / "combined_likelihood.json"
    lik.write_text(json.dumps(_likelihood([float(v) for v in nu])))
    resp = Response.from_hepdata(lik, {"sgn1_had": csv_path}, null_spectrum=null, n_b=n_b)
    np.testing.assert_allclose(resp.channels["sgn1_had"].matrix, r_true, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(resp.fold(null)["sgn1_had"], nu, rtol=1e-10)


def test_from_hepdata_bad_inputs(tmp_path):
    null = flat_spectrum(1e-6, 0.0, 22.885)
    lik = tmp_path / "lik.json"
    lik.write_text(json.dumps(_likelihood([1.0, 2.0, 3.0])))
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(",".join(["0.1"] * 100) for _ in range(3)) + "\n")
    out = tmp_path / "resp.json"
    with pytest.raises(EmissError, match=r"shape \(3, 100\).*\(3 fit bins, 101 true-q2 bins\)"):
        Response.from_hepdata(lik, {"sgn1_had": bad}, null_spectrum=null, n_b=1e8)
    with pytest.raises(EmissError, match="channel 'nope' is not in the likelihood"):
        Response.from_hepdata(lik, {"nope": bad}, null_spectrum=null, n_b=1e8)
    assert not out.exists()


def test_from_root(tmp_path):
    uproot = pytest.importorskip("uproot")
    r = np.array([[0.1, 0.2, 0.0], [0.05, 0.1, 0.3]])  # (reco, true)
    x_edges = np.array([0.0, 5.0, 10.0, 22.9])
    y_edges = np.arange(3.0)
    path = tmp_path / "resp.root"
    with uproot.recreate(path) as fh:
        fh["R"] = (r.T, x_edges, y_edges)
    resp = Response.from_root(path, "R", channel="hta", n_b=2.0)
    np.testing.assert_allclose(resp.channels["hta"].matrix, r)
    np.testing.assert_allclose(resp.channels["hta"].true_edges, x_edges)
    with pytest.raises(EmissError, match="no object 'S'"):
        Response.from_root(path, "S", channel="hta", n_b=2.0)


def test_hepdata_default_n_b_is_belle2_charged_b_count():
    """Default n_b of the HEPData import: N(B+-) = 2 N_BB f+- of Belle II's 362 fb^-1 sample.

    N_BB = 387e6 (arXiv:2311.14647) and f+- = 0.5157 (R+-/00 = 1.065, HFLAV arXiv:2206.07501,
    f+- = R / (1 + R)), typed in here independently of the code.
    """
    from emiss.response import BELLE2_N_BPLUS

    assert BELLE2_N_BPLUS == pytest.approx(2 * 387e6 * 0.5157, rel=1e-4)


def test_kstar_channel_folds_parts_and_stacks():
    """A K* channel folds the longitudinal part with R_L and the rest with R_T, for one
    spectrum or a stack: a line of a scalar X (F_L = 1, it recoils only against a longitudinal
    K*) lands through R_L alone; a flat continuum with F_L = 0.3 gives n_b (0.3 R_L + 0.7 R_T)
    applied to width x density per true bin."""
    from emiss.response import Binned, KstarChannelResponse

    edges = np.array([0.0, 5.0, 10.0, 19.0])
    rng = np.random.default_rng(4)
    r_l, r_t = (rng.uniform(0.0, 0.3, (4, 3)) for _ in range(2))
    ch = KstarChannelResponse(name="k", process="B0->K*0", true_edges=edges,
                              matrix=np.zeros((4, 3)), n_b=1e6, matrix_long=r_l,
                              matrix_trans=r_t)
    line = Spectrum(process="B0->K*0", q2_min=0.0, q2_max=19.0, lines=((7.0, 2e-6),),
                    lines_long=(2e-6,))
    dens = 1e-6 / 19.0
    flat = Spectrum(process="B0->K*0", q2_min=0.0, q2_max=19.0,
                    continuum=lambda q2: np.full_like(np.asarray(q2, float), dens),
                    continuum_long=lambda q2: np.full_like(np.asarray(q2, float), 0.3 * dens))
    np.testing.assert_allclose(ch.fold(line), 1e6 * 2e-6 * r_l[:, 1], rtol=1e-12)
    by_hand = 1e6 * (0.3 * r_l + 0.7 * r_t) @ (np.diff(edges) * dens)
    np.testing.assert_allclose(ch.fold(flat), by_hand, rtol=1e-10)
    many = ch.fold_many([line, flat, line])
    assert many.shape == (3, 4)
    # a spectrum's yields do not depend on what is folded with it (same bits)
    for row, s in zip(many, (line, flat, line), strict=True):
        assert np.array_equal(row, ch.fold_binned(ch.integrate(s)))
    stacked = Binned.stack([ch.integrate(line), ch.integrate(flat)])
    assert stacked.line_q2 == (7.0,) and stacked.lines["total"].tolist() == [[2e-6], [0.0]]
    plain = Spectrum(process="B0->K*0", q2_min=0.0, q2_max=19.0,
                     continuum=lambda q2: np.full_like(np.asarray(q2, float), dens))
    with pytest.raises(EmissError, match="longitudinal part.*channel 'k'"):
        ch.fold_many([plain])
