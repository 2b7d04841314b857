#!/usr/bin/env python
"""Benchmark: time per Newton step of the structured solver against the dense one, 50 to 5000
parameters.

A synthetic HistFactory workspace with a fixed binning (3 channels x 10 bins = 30 bins, as Belle
II's likelihood) grows by background samples; each sample carries its own MC-statistics
staterror (one gamma per bin: the per-bin nuisance parameters), a normsys and a histosys shared
by a group of samples (ten groups: the nuisance parameters acting on several bins), plus the
signal's normfactor ``mu``. With S samples: P = 30 S + 20 + 1 parameters.

For each size it times one Newton step at the same point, in process CPU time (min of three
repetitions):

* old: the previous engine's step: the dense Gauss-Newton Hessian (``FastModel.nll_grad_hess``,
  O(B P^2)) and a dense solve (``numpy.linalg.solve``, O(P^3));
* new: the fast engine's Gauss-Newton step: ``FastModel.evaluate_jac`` (no Hessian formed) and
  ``HessianStructure.solve`` (Woodbury over the bins, O(B^2 n_kg + B n_kl + B^3): linear in P);
* exact: the exact-Hessian step the fast engine switches to when Gauss-Newton converges slowly
  (``HessianStructure.exact_system``, O(n_kl n_kg^2 + n_kg^3): linear in the per-bin parameters).

Both solvers are checked to give the same step (relative difference printed). Ends with the
ratio old / new at the largest size and the fitted growth exponents (time ~ P^k).

Usage:
    python scripts/bench_engine.py [--sizes 50,100,200,500,1000,2000,5000] [--reps 3]
"""

from __future__ import annotations

import argparse
import functools
import math
import time

import numpy as np


def workspace(n_samples: int, seed: int = 1) -> tuple[dict, list]:
    """The synthetic workspace with n_samples backgrounds, and a signal patch."""
    rng = np.random.default_rng(seed)
    channels, observations = [], []
    for c in range(3):
        nb = 10
        x = (np.arange(nb) + 0.5) / nb
        total = np.zeros(nb)
        samples = []
        for s in range(n_samples):
            nom = 40.0 / n_samples * (np.exp(-rng.uniform(-1.5, 2.5) * x) + 0.2) * 6
            total += nom
            z = rng.standard_normal(nb)
            samples.append({"name": f"b{s}", "data": list(nom), "modifiers": [
                {"name": f"norm_g{s % 10}", "type": "normsys",
                 "data": {"hi": 1.0 + 0.1 * (1 + s % 3), "lo": 1.0 - 0.08 * (1 + s % 3)}},
                {"name": f"shape_g{s % 10}", "type": "histosys",
                 "data": {"hi_data": list(nom * (1 + 0.1 * z)),
                          "lo_data": list(nom * (1 - 0.08 * z))}},
                {"name": f"stat_b{s}", "type": "staterror",
                 "data": list(nom * rng.uniform(0.05, 0.3, nb))},
            ]})
        channels.append({"name": f"ch{c}", "samples": samples})
        observations.append({"name": f"ch{c}", "data": [float(v) for v in rng.poisson(total)]})
    spec = {"channels": channels, "observations": observations,
            "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
            "version": "1.0.0"}
    patch = []
    for c in range(3):
        x = (np.arange(10) + 0.5) / 10
        sig = 8.0 * np.exp(-0.5 * ((x - 0.4) / 0.1) ** 2)
        patch.append({"op": "add", "path": f"/channels/{c}/samples/-",
                      "value": {"name": "signal", "data": list(sig),
                                "modifiers": [{"name": "mu", "type": "normfactor",
                                               "data": None}]}})
    return spec, patch


def _old_step(fm, x: np.ndarray, data, idx: np.ndarray) -> np.ndarray:
    """The previous engine's Newton step: dense Hessian, dense solve."""
    _, g, H = fm.nll_grad_hess(x, data)
    Hs = H[np.ix_(idx, idx)]
    Hs[np.diag_indices_from(Hs)] += 1e-12 * np.maximum(np.diag(Hs), 1e-12)
    step = np.zeros(fm.npars)
    step[idx] = -np.linalg.solve(Hs, g[idx])
    return step


def _new_step(fm, hs, x: np.ndarray, data, use: np.ndarray) -> np.ndarray:
    """The fast engine's Gauss-Newton step: no Hessian formed, structured solve."""
    _, g, J, c, d, _ = fm.evaluate_jac(x, data)
    return -hs.solve(J, c, d, g, use, 1e-12)


def _exact_step(fm, hs, x: np.ndarray, data, use: np.ndarray) -> np.ndarray | None:
    """The fast engine's exact-Hessian step."""
    ev = fm.evaluate_jac(x, data)
    system = hs.exact_system(fm, ev, use, 1e-12)
    return None if system is None else -system[0](ev[1])


def _cpu(fn, reps: int) -> float:
    """Smallest CPU time of fn() over reps runs (repeated until >= 20 ms per run)."""
    best = math.inf
    for _ in range(reps):
        n, t = 0, 0.0
        t0 = time.process_time()
        while t < 0.02 or n < 1:
            fn()
            n += 1
            t = time.process_time() - t0
        best = min(best, t / n)
    return best


def main() -> None:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="50,100,200,500,1000,2000,5000",
                    help="target numbers of parameters")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    from emiss.inference.blas import single_thread_blas
    from emiss.inference.fastmodel import model_from_workspace
    from emiss.inference.structured import HessianStructure

    print("time per Newton step (process CPU, one BLAS thread), 30 bins")
    print(f"{'P':>6s} {'n_kg':>5s} {'n_kl':>6s} {'old dense ms':>13s} {'new ms':>8s} "
          f"{'exact ms':>9s} {'old/new':>8s} {'step rel diff':>14s}")
    rows = []
    with single_thread_blas():
        for target in (int(v) for v in args.sizes.split(",")):
            n_samples = max(1, round((target - 21) / 30))
            spec, patch = workspace(n_samples)
            fm = model_from_workspace(spec, patch)
            hs = HessianStructure(fm)
            rng = np.random.default_rng(2)
            x = fm.init.copy()
            free = ~fm.fixed
            x[free] += 0.3 * rng.standard_normal(free.sum()) * np.minimum(fm.width[free], 1.0)
            x = np.clip(x, fm.bounds[:, 0] + 1e-3, fm.bounds[:, 1] - 1e-3)
            data = fm.observed_data()
            use = free.copy()
            idx = np.flatnonzero(use)

            old_step = functools.partial(_old_step, fm, x, data, idx)
            new_step = functools.partial(_new_step, fm, hs, x, data, use)
            exact_step = functools.partial(_exact_step, fm, hs, x, data, use)
            s_old, s_new = old_step(), new_step()
            diff = float(np.max(np.abs(s_old - s_new)) / np.max(np.abs(s_old)))
            t_old = _cpu(old_step, args.reps)
            t_new = _cpu(new_step, args.reps)
            t_ex = _cpu(exact_step, args.reps) if hs.exact_ok else math.nan
            rows.append((fm.npars, t_old, t_new, t_ex))
            print(f"{fm.npars:6d} {hs.kg.size:5d} {hs.kl.size:6d} {1e3 * t_old:13.3f} "
                  f"{1e3 * t_new:8.3f} {1e3 * t_ex:9.3f} {t_old / t_new:8.1f} {diff:14.2e}",
                  flush=True)
    P = np.log([r[0] for r in rows])
    k_old = np.polyfit(P[-3:], np.log([r[1] for r in rows[-3:]]), 1)[0]
    k_new = np.polyfit(P[-3:], np.log([r[2] for r in rows[-3:]]), 1)[0]
    print(f"growth over the three largest sizes: old ~ P^{k_old:.2f}, new ~ P^{k_new:.2f}")
    print(f"speedup={rows[-1][1] / rows[-1][2]:.0f} at P={rows[-1][0]}")


if __name__ == "__main__":
    main()
