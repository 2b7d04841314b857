"""Plots people would publish (issue 10.7): real bin labels, an uncertainty band and a pull
panel on the post-fit plots, readable sample names, the data source on every figure, and
projection plots without clipped or unlabelled lines."""

from __future__ import annotations

import numpy as np
import pytest

from emiss.bundles import load_bundle
from emiss.errors import EmissError
from emiss.inference.results import data_info
from emiss.plotting.labels import channel_bins, sample_name


@pytest.fixture()
def figures(monkeypatch):
    """Capture the figures instead of writing them (and close them afterwards)."""
    import matplotlib.pyplot as plt

    import emiss.plotting.measure as pm
    import emiss.plotting.projection as pp

    figs = []

    def keep(fig, stem, formats=("png", "pdf")):
        figs.append((str(stem), fig))
        return []

    monkeypatch.setattr(pm, "save_figure", keep)
    monkeypatch.setattr(pp, "save_figure", keep)
    yield figs
    for _, f in figs:
        plt.close(f)


def _texts(fig) -> list[str]:
    out = [t.get_text() for ax in fig.axes for t in ax.texts]
    out += [ax.get_title(loc) for ax in fig.axes for loc in ("left", "center", "right")]
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is not None:
            out += [t.get_text() for t in leg.get_texts()]
    return out


# ----------------------------------------------------------------------------- bin labels
def test_emulation_bins_are_the_analysis_bins():
    """The B+ -> K+ emulation's bins as stated in docs/workspaces.md (arXiv:2311.14647):
    ITA eta(BDT2) in {0.92, 0.94, 0.96, 0.98, 1.00} (outer) x q2_rec in {-1, 4, 8, 25} GeV^2
    (inner), on and off resonance; HTA 6 BDTh bins in [0.4, 1.0]."""
    bins = channel_bins(load_bundle("belle2_combined_bkgonly"))
    ita = bins["ita_onres"]
    assert ita.labels == ["−1–4", "4–8", "8–25"] * 4
    assert [g[1:] for g in ita.groups] == [(0, 3), (3, 6), (6, 9), (9, 12)]
    assert "0.92 < \\eta < 0.94" in ita.groups[0][0] and "0.98 < \\eta < 1" in ita.groups[3][0]
    assert bins["ita_offres"].labels == ita.labels and bins["ita_offres"].groups == ita.groups
    assert bins["hta"].labels == ["0.4–0.5", "0.5–0.6", "0.6–0.7", "0.7–0.8", "0.8–0.9",
                                  "0.9–1"]
    assert {b.source for b in bins.values()} == {"emulation"}


def test_kstar_bins_are_q2rec_times_cos_theta_k():
    """docs/kstar.md: 24 fit bins = q2_rec (6, outer) x cos(theta_K) (4, inner)."""
    bins = channel_bins(load_bundle("belle2_kstar_bkgonly"))
    for ch in ("kstar_kpi", "kstar_kspi", "kstar_kpi0"):
        b = bins[ch]
        assert len(b.labels) == 24 and len(b.groups) == 6
        assert b.labels[:4] == ["−1–−0.5", "−0.5–0", "0–0.5", "0.5–1"]
        assert "-3 < q^2_\\mathrm{rec} < 1" in b.groups[0][0]
        assert "14 < q^2_\\mathrm{rec} < 21" in b.groups[5][0]
        assert b.source == "response"


def test_sidecar_bin_labels_win_and_are_checked():
    b = load_bundle("belle2_hta_bkgonly")
    b.meta = dict(b.meta, channels={"hta": dict(b.meta["channels"]["hta"],
                                                bin_labels=[f"BDT {i}" for i in range(6)])})
    got = channel_bins(b)["hta"]
    assert got.labels == [f"BDT {i}" for i in range(6)] and got.source == "sidecar"
    b.meta["channels"]["hta"]["bin_labels"] = ["too", "few"]
    with pytest.raises(EmissError, match="bin_labels must be a list of 6 strings"):
        channel_bins(b)


# ----------------------------------------------------------------------------- post-fit figure
def _fake_postfit():
    rng = np.random.default_rng(1)
    bkg = np.array([90.0, 60.0, 40.0, 25.0, 15.0, 10.0])
    sig = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    total = bkg + sig
    return {"hta": {"samples": {"bkg_bplus": bkg * 0.6, "bkg_uds": bkg * 0.4,
                                "bkg_ccbar": np.zeros(6), "signal": sig},
                    "total": total, "total_err": 0.1 * np.sqrt(total),
                    "data": np.round(total + rng.normal(0, 3, 6))}}


def test_postfit_figure_has_labels_band_pulls_and_data_tag(figures, tmp_path):
    from emiss.plotting.measure import plot_postfit

    b = load_bundle("belle2_hta_bkgonly")
    pf = _fake_postfit()
    plot_postfit(pf, tmp_path, "belle2_hta_bkgonly", mu_hat=2.18, bins=channel_bins(b),
                 data=data_info(b.meta))
    ((stem, fig),) = figures
    assert stem.endswith("belle2_hta_bkgonly_hta_postfit")
    main, pull = fig.axes
    texts = _texts(fig)
    assert any(t.startswith("emulated data") for t in texts)  # the emulation says so
    legend = [t.get_text() for t in main.get_legend().get_texts()]
    assert not any(t.startswith("bkg_") for t in legend)  # readable names
    assert sample_name("bkg_ccbar") not in legend  # empty samples are left out
    assert any("fit uncertainty" in t for t in legend) and "data" in legend
    assert any("2.18" in t for t in legend)
    assert [t.get_text() for t in pull.get_xticklabels()] == channel_bins(b)["hta"].labels
    assert pull.get_xlabel() == r"BDT$_\mathrm{h}$ output"
    # pull = (n - nu) / sqrt(nu + sigma_nu^2), computed here independently
    d = pf["hta"]
    want = (d["data"] - d["total"]) / np.sqrt(d["total"] + d["total_err"] ** 2)
    heights = np.array([p.get_height() for p in pull.patches])
    np.testing.assert_allclose(heights, want, rtol=1e-12)


def test_real_data_label_names_its_source():
    info = data_info({"emulated_data": False, "data_statement": "Belle II recorded data",
                      "source": {"hepdata": "ins2947386", "doi": "10.17182/hepdata.1",
                                 "arxiv": "2311.14647"}})
    assert info["emulated_data"] is False and info["data_statement"] == "Belle II recorded data"
    for part in ("HEPData ins2947386", "doi:10.17182/hepdata.1", "arXiv:2311.14647"):
        assert part in info["label"]
    assert "emulated" not in info["label"]
    several = data_info({"emulated_data": False, "source": {"arxiv": ["2507.12393", "2311.14647"]}})
    assert several["label"] == "recorded data (arXiv:2507.12393, 2311.14647)"
    named = data_info({"emulated_data": False, "source": {"experiment": "Belle II",
                                                           "hepdata": "ins2947386"}})
    assert named["label"] == "Belle II data (HEPData ins2947386)"
    emu = data_info(load_bundle("belle2_combined_bkgonly").meta)
    assert emu["emulated_data"] is True and emu["label"].startswith("emulated data")
    assert data_info({})["emulated_data"] is None


def test_postfit_band_is_the_covariance_propagated():
    """On a model linear in its parameters (nu = k b + mu s, k and mu free normfactors, no
    constraint terms) the band must be sqrt(b^2 V_kk + s^2 V_mumu + 2 b s V_kmu), with V the
    inverse of the analytic observed information H_ij = sum_bins n a_i a_j / nu^2 (a = b, s)
    at the exact maximum-likelihood point."""
    import pyhf

    from emiss.bundles import Bundle
    from emiss.inference.measure import postfit

    b, s = [100.0, 80.0, 60.0, 40.0], [2.0, 6.0, 12.0, 20.0]
    n = np.array([104.0, 90.0, 75.0, 70.0])
    spec = {"channels": [{"name": "c", "samples": [{"name": "bkg", "data": b, "modifiers": [
                {"name": "k", "type": "normfactor", "data": None}]}]}],
            "observations": [{"name": "c", "data": n.tolist()}],
            "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
            "version": "1.0.0"}
    patch = [{"op": "add", "path": "/channels/0/samples/-", "value": {
        "name": "signal", "data": s, "modifiers": [{"name": "mu", "type": "normfactor",
                                                    "data": None}]}}]
    got = postfit(Bundle(spec=spec, meta={}, response=None, path=None), patch)["c"]
    ws = pyhf.Workspace(spec)
    model = ws.model(patches=[patch], poi_name="mu")
    assert model.config.par_order == ["k", "mu"]
    bb, ss = np.array(b), np.array(s)
    a = np.stack([bb, ss])
    theta = np.array([1.0, 1.0])  # the exact MLE: Newton on the score sum (n/nu - 1) a = 0
    for _ in range(50):
        nu = theta @ a
        theta = theta + np.linalg.solve((a * n / nu**2) @ a.T, a @ (n / nu - 1.0))
    nu = theta @ a
    cov = np.linalg.inv((a * n / nu**2) @ a.T)
    want = np.sqrt(bb**2 * cov[0, 0] + ss**2 * cov[1, 1] + 2 * bb * ss * cov[0, 1])
    np.testing.assert_allclose(got["total_err"], want, rtol=1e-3)
    np.testing.assert_allclose(got["total"], nu, rtol=1e-5)  # the fit's own tolerance


# ----------------------------------------------------------------------------- projection
def test_projection_lines_are_labelled_and_never_clipped(figures, tmp_path):
    from emiss.plotting.projection import plot_all

    data = {"emulated_data": True, "label": "emulated data: expected (Asimov) results"}
    doc = {"settings": {"data": data},
           "sm": [{"lumi_ab": x, "workspace": "K", "Z": 1.3 * x**0.5, "precision": None}
                  for x in (1.0, 50.0)],
           "limits": [{"lumi_ab": x, "scenario": "twobody-scalar", "m_X": m, "workspace": "Kstar",
                       "process": "B0->K*0", "br_limit": {"0.95": None if m > 2 else 4e-6}}
                      for x in (1.0, 50.0) for m in (0.5, 1.0, 2.1)],
           "separation": [{"lumi_ab": x, "m_X": 2.1, "A": "a", "B": "b", "variant": v,
                           "delta_chi2_A_true": d * x, "delta_chi2_B_true": 2 * d * x}
                          for x in (1.0, 50.0) for v, d in (("K", 0.0), ("Kstar", 2.0))]}
    plot_all(doc, tmp_path, prefix="mine")
    stems = [s.rsplit("/", 1)[1] for s, _ in figures]
    assert stems == ["mine_sm", "mine_limits_Kstar", "mine_separation"]
    for stem, fig in figures:
        assert "emulated data: expected (Asimov) results" in _texts(fig), stem
        for ax in fig.axes:
            for line in ax.get_lines():
                y = np.asarray(line.get_ydata(), dtype=float)
                if len(y) == 0:
                    continue
                assert not line.get_label().startswith("_") or line.get_linestyle() == "--", \
                    (stem, "unlabelled line")
                if ax.get_yscale() == "log":  # nothing at or clipped to a floor
                    assert np.all(y > 0) and not np.any(y == 1e-3), (stem, y)
    sep = dict(figures)[str(tmp_path / "mine_separation")]
    legend = [t.get_text() for t in sep.axes[0].get_legend().get_texts()]
    assert any("2 points" in t and "= 0" in t for t in legend)  # the K pair at Delta chi2 = 0
    assert any("25" in t for t in legend)
    lim = dict(figures)[str(tmp_path / "mine_limits_Kstar")]
    assert any("1 point failed" in t for t in _texts(lim))
