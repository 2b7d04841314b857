"""Patch assembly and template building on small synthetic inputs (no bundled workspace needed).

Physics and form factors are replaced by tiny stand-ins (monkeypatched), so every expected number
below follows from the stand-in definitions and the response matrix written here, independently
of the generator's code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyhf
import pytest

import emiss.patches as P
from emiss.bundles.bundle import Bundle
from emiss.errors import EmissError
from emiss.io import dumps_json
from emiss.patches import hypotheses
from emiss.patches.assemble import verify_digest
from emiss.patches.grid import make_entry
from emiss.physics.spectrum import Spectrum
from emiss.response import ChannelResponse, Response

Q2MAX = 22.9
N_B = 1.0e6
TRUE_EDGES = np.array([0.0, 4.0, 8.0, 12.0, Q2MAX])
# reco bin i <- true bin j; column sums (efficiencies) 0.5 each, except the last true bin (0)
R = np.array([
    [0.4, 0.1, 0.0, 0.0],
    [0.1, 0.3, 0.1, 0.0],
    [0.0, 0.1, 0.4, 0.0],
])


@dataclass(frozen=True)
class FakeFF:
    """Stand-in form factor: rate scale a, linear slope b in q^2."""

    a: float
    b: float


@dataclass
class FakeScenario:
    """Stand-in scenario with the registry's fields."""

    name: str
    multiplicity: int
    needs_mass: bool
    parameters: dict
    coupling: str | None

    def spectrum(self, process, mass=None, params=None, ff=None):
        params = {**{k: v["default"] for k, v in self.parameters.items()}, **(params or {})}
        if self.multiplicity == 2:  # line, B = g^2 a
            g = params.get("g", 1.0)
            return Spectrum(process, 0.0, Q2MAX, lines=((mass * mass, g * g * ff.a),))
        lo = 4 * mass * mass if self.multiplicity == 3 else 0.0
        c = params.get("C_L", 1.0) + params.get("C_R", 0.0)
        g2 = params.get("g", 1.0) ** 2 if self.multiplicity == 3 else c * c * 1e-7

        def dB(q2):
            return g2 * ff.a * (1.0 + ff.b * (q2 - 10.0)) * np.ones_like(q2)

        return Spectrum(process, lo, Q2MAX, continuum=dB)


SCENARIOS = {
    "sm": FakeScenario("sm", 1, False, {}, None),
    "heavy-np": FakeScenario("heavy-np", 1, False, {"C_L": {"default": -6.0},
                                                    "C_R": {"default": 0.0}}, None),
    "twobody-scalar": FakeScenario("twobody-scalar", 2, True, {"g": {"default": 1e-3}}, "g"),
    "threebody-scalar": FakeScenario("threebody-scalar", 3, True, {"g": {"default": 1.0}}, "g"),
}


@pytest.fixture
def fake_physics(monkeypatch):
    from emiss.physics import formfactors

    def get(name):
        if name not in SCENARIOS:
            raise EmissError(f"unknown scenario {name!r}; valid: {', '.join(SCENARIOS)}")
        return SCENARIOS[name]

    def sample(kind, n, seed=0):
        rng = np.random.default_rng(seed)
        return [FakeFF(1.0 + 0.1 * x, 0.02 * y) for x, y in rng.standard_normal((n, 2))]

    monkeypatch.setattr(hypotheses, "scenario", get)
    monkeypatch.setattr(hypotheses, "central_ff", lambda kind: FakeFF(1.0, 0.0))
    monkeypatch.setattr(formfactors, "sample", sample)


def make_spec() -> dict:
    def bkg(n, val):
        return {"name": "bkg", "data": [val] * n, "modifiers": [
            {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}},
            {"name": "sig_eff", "type": "normsys", "data": {"hi": 1.03, "lo": 0.97}}]}

    return {
        "channels": [{"name": "sr", "samples": [bkg(3, 50.0)]},
                     {"name": "off", "samples": [bkg(2, 20.0)]}],
        "observations": [{"name": "sr", "data": [55, 52, 50]}, {"name": "off", "data": [20, 21]}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }


def make_target(flat_eff: bool = False) -> Bundle:
    # flat: efficiency 0.5 for every true bin, true bins 2 and 3 both feed reco bin 2
    mat = np.array([[0.5, 0, 0, 0], [0, 0.5, 0, 0], [0, 0, 0.5, 0.5]]) if flat_eff else R
    resp = Response(channels={"sr": ChannelResponse("sr", "B+->K+", TRUE_EDGES, mat, N_B)})
    mods = {"sr": [{"name": "sig_eff", "type": "normsys", "data": {"hi": 1.03, "lo": 0.97}}]}
    return Bundle(spec=make_spec(), response=resp, hepdata="ins2725943",
                  channel_modifiers=mods, name="toy")


def samples_in(patch: dict) -> dict:
    """(path, name) -> sample of the patch's sample operations (not its measurement ones)."""
    return {(op["path"], op["value"]["name"]): op["value"] for op in patch["patch"]
            if op["path"].startswith("/channels/")}


def test_twobody_patchset_metadata_and_normalisation(fake_physics):
    t = make_target()
    ps = P.build_patchset(t, make_entry("twobody-scalar", masses="1,2.1"), n_samples=20)
    pyhf.PatchSet(ps)  # schema + unique names/values
    md = ps["metadata"]
    assert md["digests"]["sha256"] == pyhf.utils.digest(make_spec())
    assert md["labels"] == ["m_X"] and md["references"] == {"hepdata": "ins2725943"}
    assert "mu" in md["description"]
    p = ps["patches"][1]
    assert p["metadata"]["name"] == "twobody_scalar_mX_2p10"
    assert p["metadata"]["values"] == [2.1]
    em = p["metadata"]["emiss"]
    assert em["scenario"] == "twobody-scalar" and em["process"] == "B+->K+"
    assert em["reference_branching_ratio"] == 1e-5
    # B = g^2 at the default g = 1e-3 -> B = 1e-6; 1e-5 needs g = 1e-3 * sqrt(10)
    assert em["coupling"]["name"] == "g"
    assert em["coupling"]["reference_value"] == pytest.approx(1e-3 * np.sqrt(10), rel=1e-7)
    s = samples_in(p)
    assert set(s) == {("/channels/0/samples/-", "signal"), ("/channels/0/samples/-", "sm_nunu")}
    sig = s[("/channels/0/samples/-", "signal")]
    # line at q^2 = 4.41 in true bin 1 -> yields 1e-5 * N_B * R[:, 1]
    assert sig["data"] == pytest.approx(1e-5 * N_B * R[:, 1], rel=1e-7)
    names = [m["name"] for m in sig["modifiers"]]
    assert names[0] == "mu" and "sig_eff" in names
    for m in sig["modifiers"]:  # a line's shape has no FF dependence: declared, no effect
        if m["name"].startswith("ff_"):
            assert m["data"] == {"hi_data": sig["data"], "lo_data": sig["data"]}
    sm = s[("/channels/0/samples/-", "sm_nunu")]
    assert not any(m["type"] == "normfactor" for m in sm["modifiers"])
    # SM stand-in: flat dB/dq2 = 1e-7 over [0, 22.9] (B = 2.29e-6), at the SM patch's mu = 1:
    # Belle II's 4.97e-6 (the SM-only point of a light-X patch is the SM patch at mu = 1)
    flat = 1e-7 * np.diff(TRUE_EDGES)
    assert sm["data"] == pytest.approx(N_B * R @ flat * 4.97e-6 / flat.sum(), rel=1e-7)
    assert any(m["name"].startswith("ff_BK_pc") for m in sm["modifiers"])


def test_patches_apply_and_build_models(fake_physics):
    t = make_target()
    ps = P.build_patchset(t, make_entry("threebody-scalar", masses="0.5,1.5"), n_samples=20)
    pset = pyhf.PatchSet(ps)
    ws = pyhf.Workspace(make_spec())
    pset.verify(ws)
    for patch in pset.patches:
        model = ws.model(patches=[patch])
        assert model.config.poi_name == "mu"
        assert "sig_eff" in model.config.parameters


def test_threebody_nothing_below_threshold(fake_physics):
    """A pair with m_X = 1.5 GeV starts at q^2 = 9: no rate in true bins [0, 4), [4, 8)."""
    t = make_target(flat_eff=True)  # reco bins 0, 1 <- true bins [0, 4), [4, 8) only
    ps = P.build_patchset(t, make_entry("threebody-scalar", masses="1.5"), n_samples=10)
    sig = samples_in(ps["patches"][0])[("/channels/0/samples/-", "signal")]
    assert sig["data"][0] == 0.0 and sig["data"][1] == 0.0
    # all of B = 1e-5 sits in [9, 22.9], i.e. in reco bin 2, at efficiency 0.5
    assert sig["data"][2] == pytest.approx(0.5 * N_B * 1e-5, rel=1e-7)


def test_ff_variations_shape_only_for_signal_but_not_for_sm(fake_physics):
    t = make_target(flat_eff=True)
    ps = P.build_patchset(t, make_entry("threebody-scalar", masses="0.2"), n_samples=50)
    s = samples_in(ps["patches"][0])
    sig, sm = s[("/channels/0/samples/-", "signal")], s[("/channels/0/samples/-", "sm_nunu")]
    hs_sig = {m["name"]: m["data"] for m in sig["modifiers"] if m["type"] == "histosys"}
    hs_sm = {m["name"]: m["data"] for m in sm["modifiers"] if m["type"] == "histosys"}
    assert hs_sig and set(hs_sig) <= set(hs_sm)  # shared names: same form factors
    shift_sm = 0.0
    for d in hs_sm.values():
        shift_sm = max(shift_sm, abs(sum(d["hi_data"]) - sum(sm["data"])) / sum(sm["data"]))
    assert shift_sm > 0.03  # the 10 % rate uncertainty of the stand-in reaches sm_nunu
    # flat efficiency: a shape-only variation keeps the total yield (B fixed by mu), while
    # the shape itself moves between bins
    moved = 0.0
    for d in hs_sig.values():
        for key in ("hi_data", "lo_data"):
            assert sum(d[key]) == pytest.approx(sum(sig["data"]), rel=1e-6)
            moved = max(moved, max(abs(a - b) for a, b in zip(d[key], sig["data"], strict=True)))
    assert moved > 1e-3 * max(sig["data"])


def test_heavy_np_labels_and_mu_is_the_hypothesis(fake_physics):
    t = make_target()
    ps = P.build_patchset(t, make_entry("heavy-np", params={"C_L": "-8,-4", "C_R": 1}),
                          n_samples=10)
    assert ps["metadata"]["labels"] == ["C_L", "C_R"]
    p = ps["patches"][0]
    assert p["metadata"]["values"] == [-8.0, 1.0]
    assert p["metadata"]["name"] == "heavy_np_CL_m8p00_CR_1p00"
    em = p["metadata"]["emiss"]
    # stand-in B = (C_L + C_R)^2 1e-7 * 22.9 = 49 * 2.29e-6
    assert em["reference_branching_ratio"] == pytest.approx(49 * 22.9e-7, rel=1e-7)
    assert em["coupling"] is None
    assert {k[1] for k in samples_in(p)} == {"signal"}


def test_sm_patch_ops_and_labels(fake_physics):
    t = make_target()
    t.sm_reference = {"B+->K+": 4.97e-6}
    ops = P.sm_patch(t, n_samples=10)
    assert len(ops) == 1 and ops[0]["value"]["name"] == "signal"
    flat = 4.97e-6 / 22.9 * np.diff(TRUE_EDGES)
    assert ops[0]["value"]["data"] == pytest.approx(N_B * R @ flat, rel=1e-7)
    ps = P.build_patchset(t, make_entry("sm"), n_samples=10)
    assert ps["metadata"]["labels"] == ["C_L", "C_R"]
    assert ps["patches"][0]["metadata"]["name"] == "sm"


def test_deterministic_bytes(fake_physics):
    e = make_entry("threebody-scalar", masses="0.3,1")
    a = dumps_json(P.build_patchset(make_target(), e, n_samples=20))
    b = dumps_json(P.build_patchset(make_target(), e, n_samples=20))
    assert a == b
    c = dumps_json(P.build_patchset(make_target(), e, n_samples=20, seed=1))
    assert a != c  # the seed matters, so the check above can fail


def test_zero_yield_hypothesis_rejected(fake_physics):
    # a line at q^2 = 16 lies in the last true bin, whose efficiency is 0
    with pytest.raises(EmissError, match="twobody_scalar_mX_4p00.*no signal yield"):
        P.build_patchset(make_target(), make_entry("twobody-scalar", masses="2,4"),
                         n_samples=5)


def test_bad_inputs(fake_physics):
    t = make_target()
    with pytest.raises(EmissError, match="endpoint"):
        P.build_patchset(t, make_entry("twobody-scalar", masses="1,4.9"))
    with pytest.raises(EmissError, match="endpoint"):
        P.build_patchset(t, make_entry("threebody-scalar", masses="2.4"))
    with pytest.raises(EmissError, match="unknown scenario 'nope'"):
        P.build_patchset(t, make_entry("nope", masses="1"))
    with pytest.raises(EmissError, match="unknown parameter 'x'"):
        P.build_patchset(t, make_entry("twobody-scalar", masses="1", params=["x=1"]))
    with pytest.raises(EmissError, match="needs masses"):
        P.build_patchset(t, make_entry("twobody-scalar"))


def test_digest_mismatch_is_clear(fake_physics):
    ps = P.build_patchset(make_target(), make_entry("twobody-scalar", masses="1"), n_samples=5)
    other = make_spec()
    other["observations"][0]["data"][0] += 1
    with pytest.raises(EmissError, match="digest mismatch"):
        verify_digest(ps, other)
    verify_digest(json.loads(dumps_json(ps)), make_spec())


def test_workspace_without_response_is_clear():
    class Bundle:
        spec, meta, response, path = make_spec(), {}, None, None

    with pytest.raises(EmissError, match="no detector response"):
        P.target_from_bundle(Bundle())
