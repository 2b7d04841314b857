"""Benchmark: toy-based CLs with emiss's fast engine versus pyhf's ToyCalculator, side by side.

Both compute the same hypothesis test (q~_mu, CLs at one mu, observed and expected band) on the
same small workspace: the synthetic Belle II-like layout of ``emiss.inference.toy`` reduced to
``--bins`` bins per channel and two backgrounds, plus one bump signal. pyhf uses the numpy
backend and scipy's optimiser (its defaults). Prints both times, the per-toy ratio and the CLs
values with their binomial errors (they must agree within them).

pyhf 0.7.6 calls ``np.percentile(..., interpolation=...)``, a keyword numpy >= 2.4 removed; this
script supplies numpy's ``method=`` under the old name so that pyhf's ToyCalculator runs.

Usage:
    python scripts/bench_toys.py [--ntoys-pyhf 100] [--ntoys-fast 2000] [--mu 0.5]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np


def main() -> None:
    """Run the benchmark and print the comparison."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ntoys-pyhf", type=int, default=100)
    ap.add_argument("--ntoys-fast", type=int, default=2000)
    ap.add_argument("--mu", type=float, default=0.5)
    ap.add_argument("--bins", type=int, default=4)
    args = ap.parse_args()

    import pyhf
    from pyhf.tensor.numpy_backend import numpy_backend

    from emiss.inference.fastmodel import model_from_workspace
    from emiss.inference.toy import toy_signal_patch, toy_workspace
    from emiss.inference.toys import FastToyCalculator

    numpy_backend.percentile = (lambda self, t, q, axis=None, interpolation="linear":
                                np.percentile(t, q, axis=axis, method=interpolation))
    pyhf.set_backend("numpy")
    ws = toy_workspace({"ita_onres": args.bins, "hta": args.bins}, ("bkg_bplus", "bkg_uds"),
                       seed=2, scale=60.0)
    patch = toy_signal_patch(ws, 0.5, total_yield=25.0)
    model = pyhf.Workspace(ws).model(patches=[patch])
    data = pyhf.Workspace(ws).data(model)
    fm = model_from_workspace(ws, patch)
    print(f"model: {len(model.config.par_names)} parameter sets, {fm.npars} parameters, "
          f"{fm.nbins_total} bins; mu = {args.mu}")

    t0 = time.perf_counter()
    fast = FastToyCalculator(fm, ntoys=args.ntoys_fast, seed=1).hypotest(args.mu)
    t_fast = time.perf_counter() - t0

    np.random.seed(1)  # noqa: NPY002 - pyhf draws its toys from numpy's global state
    t0 = time.perf_counter()
    cls, (clsb, clb), exp = pyhf.infer.hypotest(
        args.mu, data, model, calctype="toybased", ntoys=args.ntoys_pyhf,
        return_tail_probs=True, return_expected_set=True, track_progress=False)
    t_pyhf = time.perf_counter() - t0

    def err(p: float, n: int) -> float:
        return math.sqrt(max(p * (1 - p), 1e-12) / n)

    per_fast = t_fast / args.ntoys_fast
    per_pyhf = t_pyhf / args.ntoys_pyhf
    print(f"emiss fast toys: {args.ntoys_fast:6d} toys x 2 distributions  {t_fast:8.2f} s  "
          f"({1e3 * per_fast:.3f} ms per toy pair)")
    print(f"pyhf ToyCalculator: {args.ntoys_pyhf:3d} toys x 2 distributions  {t_pyhf:8.2f} s  "
          f"({1e3 * per_pyhf:.3f} ms per toy pair)")
    print(f"speed-up per toy: {per_pyhf / per_fast:.0f}x")
    print(f"CLs+b: fast {fast['CLsb']:.4f} +- {err(fast['CLsb'], args.ntoys_fast):.4f}   "
          f"pyhf {float(clsb):.4f} +- {err(float(clsb), args.ntoys_pyhf):.4f}")
    print(f"CLb:   fast {fast['CLb']:.4f} +- {err(fast['CLb'], args.ntoys_fast):.4f}   "
          f"pyhf {float(clb):.4f} +- {err(float(clb), args.ntoys_pyhf):.4f}")
    print(f"CLs:   fast {fast['CLs_obs']:.4f} +- {fast['CLs_obs_error']:.4f}   "
          f"pyhf {float(cls):.4f}")
    print("CLs expected (-2..+2 sigma): fast " + " ".join(f"{v:.4f}" for v in fast["CLs_exp"])
          + " | pyhf " + " ".join(f"{float(v):.4f}" for v in exp))


if __name__ == "__main__":
    main()
