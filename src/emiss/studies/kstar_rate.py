"""K + K* hypotheses for separations: the K* form-factor rate variations carried on K.

Used by the luminosity forecasts (``emiss.studies.projection``) before a separation fit.
"""

from __future__ import annotations

import copy

import numpy as np


def _signal_ops(spec: dict, ops: list[dict]) -> list[tuple[str, dict]] | None:
    """(channel name, signal sample) of the ``add .../samples/-`` ops; None for other op forms."""
    names = [c["name"] for c in spec["channels"]]
    out = []
    for o in ops:
        parts = str(o.get("path", "")).split("/")
        if o.get("op") != "add" or len(parts) != 5 or parts[1] != "channels" \
                or not parts[2].isdigit() or int(parts[2]) >= len(names):
            return None
        if isinstance(o.get("value"), dict) and o["value"].get("name") == "signal":
            out.append((names[int(parts[2])], o["value"]))
    return out


def kstar_rate_to_k(spec: dict, ops: list[dict], rtol: float = 1e-6) -> list[dict]:
    """Carry the form-factor rate variations of a K + K* hypothesis on its K channels.

    The builder (``emiss.patches.templates``) normalises a K + K* hypothesis to B(B+ -> K+), so
    every ``ff_*_pc<i>`` histosys of the K* signal mixes a shape change (F_L, q^2) with a change
    of the K*/K rate. Histosys interpolation is additive (pyhf code 0), and with the free mu
    multiplying the sum, the effective K* shape change at pull theta is
    theta delta / (1 + theta r): a rate pull dilutes or amplifies the shape change. At the
    pulls a separation fit needs (|theta| ~ 4) that lets the K* part of the combination mimic
    shapes the K*-only model (normalised to B(B0 -> K*0), shape-only variations) cannot, and
    Delta chi^2(K + K*) fell below Delta chi^2(K*) (45.8 -> 32.8, two-body scalar vs vector,
    2.1 GeV, 50 ab^-1). This re-expresses the same first-order variations with the rate on
    the K side: for each nuisance without a shape effect on the K signal (absent or a pure
    rate there) the K* signal variations are scaled to keep the K* total and the K signal gets
    the inverse rate, K/K* being the same as before at theta = +-1. The K* part is then the
    K*-only model's form (mu x (nominal + sum theta delta)) and adding K can only raise the
    profile Delta chi^2. Nominal yields are unchanged (Asimov truths and benchmarks too), but
    mu no longer equals B(B+ -> K+)/ref exactly when ff nuisances move: use for separations,
    not limits.

    Args:
        spec: the K + K* background-only spec the ops patch.
        ops: the hypothesis' patch (``add /channels/<i>/samples/-`` ops).
        rtol: relative tolerance deciding that a K-signal variation is a pure rate.

    Returns:
        New ops (input untouched); the input when it has no K or no K* signal.
    """
    sig = _signal_ops(spec, ops)
    if sig is None:
        return ops
    ops = copy.deepcopy(ops)
    sig = _signal_ops(spec, ops) or []
    kst = [v for c, v in sig if c.startswith("kstar_")]
    kk = [v for c, v in sig if not c.startswith("kstar_")]
    if not kst or not kk:
        return ops
    tot = float(sum(np.sum(v["data"]) for v in kst))
    names = sorted({m["name"] for v in kst for m in v["modifiers"] if m["type"] == "histosys"})
    for n in names:
        k_mods = [m for v in kk for m in v["modifiers"] if m["name"] == n]
        if any(m["type"] != "histosys" for m in k_mods):
            continue
        pure = True
        for v in kk:
            for m in v["modifiers"]:
                if m["name"] == n:
                    nom = np.asarray(v["data"], float)
                    for key in ("hi_data", "lo_data"):
                        var = np.asarray(m["data"][key], float)
                        r = var.sum() / nom.sum() if nom.sum() > 0 else 1.0
                        pure &= bool(np.allclose(var, r * nom, rtol=rtol, atol=0.0))
        if not pure:
            continue  # n shapes the K signal: leave its rate where the builder put it
        fac = {}
        for key in ("hi_data", "lo_data"):
            t = float(sum(np.sum(m["data"][key]) for v in kst for m in v["modifiers"]
                          if m["name"] == n))
            if not t > 0:
                break
            fac[key] = tot / t
        if len(fac) != 2:
            continue
        for v in kst:
            for m in v["modifiers"]:
                if m["name"] == n:
                    for key, x in fac.items():
                        m["data"][key] = [float(y) * x for y in m["data"][key]]
        for v in kk:
            mods = [m for m in v["modifiers"] if m["name"] == n]
            if mods:
                for key, x in fac.items():
                    mods[0]["data"][key] = [float(y) * x for y in mods[0]["data"][key]]
            else:
                v["modifiers"].append({"name": n, "type": "histosys", "data": {
                    key: [float(y) * x for y in v["data"]] for key, x in fac.items()}})
    return ops
