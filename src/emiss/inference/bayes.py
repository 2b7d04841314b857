"""Marginal likelihoods (evidences) by bridge sampling, and Bayes factors between scenarios.

Evidence of one hypothesis (a patch, priors of :mod:`emiss.inference.posterior`):
Z = integral of L(theta) pi(theta) d theta, estimated by bridge sampling with the optimal bridge
function (Meng & Wong 1996, Statistica Sinica 6, 831, Eq. 4.1, iterated to its fixed point), using
posterior draws (thinned by the autocorrelation time so that they are about independent)
and draws of a multivariate Student-t proposal matched to the posterior (mean and covariance of
half of the draws, the other half entering the estimator; the Laplace covariance when there are
fewer than 5 D draws per half), all in the sampler's unconstrained coordinates (logit of the
bounded parameters, Jacobian included: the evidence does not depend on the coordinates). The
relative mean-square error is the formula of Fruehwirth-Schnatter (2004, Econometrics Journal
7, 143, Eq. 13) as used by Gronau et al. (arXiv:1703.05984, Eq. 17) for independent draws; its
square root is the quoted error on ln Z.

A scenario with a mass grid (two-body m_X, three-body pair mass) is a discrete mixture: with
prior weights w_i of the grid points (flat in m: w_i proportional to the cell width; log in m:
cell width / m_i; cells end half-way between neighbours), Z = sum_i w_i Z_i and the posterior
probability of grid point i is w_i Z_i / Z. The error of Z adds the w_i Z_i errors in
quadrature.

Bayes factors K = Z_1 / Z_0 are read on the scale of Kass & Raftery (1995, JASA 90, 773,
Sec. 3.2): 2 ln K in 0-2 "not worth more than a bare mention", 2-6 "positive", 6-10 "strong",
> 10 "very strong".
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import logsumexp

from emiss.errors import EmissError
from emiss.inference.posterior import LogPosterior, PosteriorRun, StudentT

log = logging.getLogger(__name__)

#: Kass & Raftery (1995), Sec. 3.2: upper ends of the 2 ln K categories.
KASS_RAFTERY = ((2.0, "not worth more than a bare mention"), (6.0, "positive"),
                (10.0, "strong"), (math.inf, "very strong"))
BRIDGE_MAXITER = 1000
BRIDGE_TOL = 1e-10


def kass_raftery(two_ln_k: float) -> str:
    """Verbal category of 2 ln K (evidence for the numerator; negative: for the denominator)."""
    a = abs(two_ln_k)
    for edge, name in KASS_RAFTERY:
        if a < edge:
            return name if two_ln_k >= 0 else f"{name} (against)"
    return "very strong"


def bridge_sampling(log_post: Callable[[np.ndarray], np.ndarray], post_draws: np.ndarray,
                    proposal: StudentT, n_proposal: int,
                    rng: np.random.Generator) -> dict[str, float]:
    """ln Z by the iterative optimal bridge sampler (Meng & Wong 1996, Eq. 4.1).

    Args:
        log_post: vectorised unnormalised log posterior (ln L + ln prior).
        post_draws: (N1, D) about independent posterior draws.
        proposal: normalised proposal density with ``logpdf`` and ``sample``.
        n_proposal: N2, number of proposal draws.
        rng: random generator for the proposal draws.

    Returns:
        {"ln_z", "ln_z_error", "n_posterior", "n_proposal", "iterations"}.
    """
    n1 = post_draws.shape[0]
    if n1 < 2 or n_proposal < 2:
        raise EmissError("bridge sampling needs at least 2 posterior and 2 proposal draws")
    prop = proposal.sample(n_proposal, rng)
    l1 = log_post(post_draws) - proposal.logpdf(post_draws)
    l2 = log_post(prop) - proposal.logpdf(prop)
    l2 = np.where(np.isfinite(l2), l2, -np.inf)
    s1, s2 = n1 / (n1 + n_proposal), n_proposal / (n1 + n_proposal)
    shift = float(np.median(l1))
    e1, e2 = l1 - shift, l2 - shift
    lr = 0.0  # ln(r / e^shift)
    it = 0
    for it in range(1, BRIDGE_MAXITER + 1):  # noqa: B007 - the count is reported
        # numerator: mean over proposal draws of p/(s1 p + s2 r g); denominator: posterior
        num = logsumexp(e2 - np.logaddexp(math.log(s1) + e2, math.log(s2) + lr)) - math.log(
            n_proposal)
        den = logsumexp(-np.logaddexp(math.log(s1) + e1, math.log(s2) + lr)) - math.log(n1)
        new = num - den
        if abs(new - lr) < BRIDGE_TOL:
            lr = new
            break
        lr = new
    # relative MSE (Fruehwirth-Schnatter 2004, Eq. 13; independent draws)
    f2 = np.exp(e2 - np.logaddexp(math.log(s1) + e2, math.log(s2) + lr))  # at proposal draws
    f1 = np.exp(-np.logaddexp(math.log(s1) + e1, math.log(s2) + lr) + lr)  # at posterior draws
    re2 = f2.var() / max(f2.mean() ** 2, 1e-300) / n_proposal + \
        f1.var() / max(f1.mean() ** 2, 1e-300) / n1
    return {"ln_z": float(lr + shift), "ln_z_error": float(math.sqrt(re2)),
            "n_posterior": int(n1), "n_proposal": int(n_proposal), "iterations": int(it)}


def evidence(run: PosteriorRun, *, n_proposal: int | None = None, seed: int = 0
             ) -> dict[str, float]:
    """Evidence of one sampled posterior (bridge sampling on its thinned draws).

    Args:
        run: a posterior run.
        n_proposal: proposal draws (default: as many as thinned posterior draws, at least 2000).
        seed: seed of the proposal draws.

    Returns:
        The dict of :func:`bridge_sampling` (for a model without free parameters ln Z is
        ln L + ln prior at the single point, error 0).
    """
    setup = run.setup
    logp = LogPosterior(setup)
    d = setup.ndim
    if d == 0:
        lz = float(logp(np.zeros((1, 0)))[0])
        return {"ln_z": lz, "ln_z_error": 0.0, "n_posterior": 0, "n_proposal": 0,
                "iterations": 0}
    # bridge sampling in the sampler's unconstrained coordinates (density with Jacobian), where
    # the posterior is closer to the Student-t proposal than at the bounded parameters' edges
    draws = run.thinned_u()
    draws = draws[np.all(np.isfinite(draws), axis=1)]
    rng = np.random.default_rng(seed)
    draws = draws[rng.permutation(draws.shape[0])]
    half = draws.shape[0] // 2
    fit, use = draws[:half], draws[half:]
    mean = fit.mean(axis=0)
    if half > 5 * d:
        cov = np.atleast_2d(np.cov(fit, rowvar=False))
    else:  # too few draws for a covariance: the Laplace one, mapped at the mean
        _, _, _, dxdu = setup.to_x(mean[None])
        cov = run.cov / np.outer(dxdu[0], dxdu[0])
    try:
        prop = StudentT(mean, cov)
    except np.linalg.LinAlgError:
        prop = StudentT(mean, np.diag(np.diag(cov)))
    n2 = n_proposal or max(2000, use.shape[0])
    return bridge_sampling(logp.in_u, use, prop, n2, rng)


def mass_weights(masses: ArrayLike, prior: str = "flat") -> np.ndarray:
    """Normalised prior weights of mass grid points (cells end half-way between neighbours).

    Args:
        masses: grid (any order, distinct).
        prior: "flat" (density 1) or "log" (density 1/m, m > 0).

    Returns:
        Weights in the order of ``masses``, summing to 1.
    """
    m = np.asarray(masses, float)
    if m.size == 0:
        raise EmissError("empty mass grid")
    if np.unique(m).size != m.size:
        raise EmissError("the mass grid has repeated values; one patch per mass is needed")
    if prior not in ("flat", "log"):
        raise EmissError(f"mass prior {prior!r} is unknown; valid: flat, log")
    if prior == "log" and np.any(m <= 0):
        raise EmissError("a prior flat in log m needs masses > 0")
    order = np.argsort(m)
    ms = m[order]
    if ms.size == 1:
        w = np.ones(1)
    else:
        mid = 0.5 * (ms[1:] + ms[:-1])
        lo = np.concatenate([[ms[0] - (mid[0] - ms[0])], mid])
        hi = np.concatenate([mid, [ms[-1] + (ms[-1] - mid[-1])]])
        if prior == "flat":
            w = hi - lo
        else:
            lo = np.maximum(lo, ms * 1e-9)
            w = np.log(hi / lo)
    out = np.empty_like(w)
    out[order] = w / w.sum()
    return out


def combine_grid(ln_z: Sequence[float], ln_z_err: Sequence[float], weights: ArrayLike
                 ) -> dict[str, Any]:
    """Evidence of a mixture over grid points and the posterior probability of each point.

    Args:
        ln_z: ln Z_i per grid point.
        ln_z_err: errors of ln Z_i.
        weights: prior weights (sum 1).

    Returns:
        {"ln_z", "ln_z_error", "posterior_weights"}.
    """
    lz = np.asarray(ln_z, float)
    le = np.asarray(ln_z_err, float)
    lw = np.log(np.asarray(weights, float))
    terms = lw + lz
    tot = float(logsumexp(terms))
    post = np.exp(terms - tot)
    err = float(math.sqrt(np.sum((post * le) ** 2)))
    return {"ln_z": tot, "ln_z_error": err, "posterior_weights": post.tolist()}


def bayes_factor_table(evidences: Mapping[str, Mapping[str, float]], reference: str
                       ) -> list[dict[str, Any]]:
    """Bayes factors of every scenario against a reference scenario.

    Args:
        evidences: scenario -> {"ln_z", "ln_z_error"}.
        reference: the denominator scenario (e.g. "sm-only").

    Returns:
        Rows {"scenario", "ln_z", "ln_z_error", "ln_bf", "ln_bf_error", "two_ln_bf",
        "log10_bf", "kass_raftery"}, sorted by ln BF (largest first).
    """
    if reference not in evidences:
        raise EmissError(f"reference scenario {reference!r} has no evidence; have: "
                         f"{', '.join(sorted(evidences))}")
    ref = evidences[reference]
    rows: list[dict[str, Any]] = []
    for name, ev in evidences.items():
        lbf = ev["ln_z"] - ref["ln_z"]
        err = 0.0 if name == reference else math.hypot(ev["ln_z_error"], ref["ln_z_error"])
        rows.append({"scenario": name, "ln_z": ev["ln_z"], "ln_z_error": ev["ln_z_error"],
                     "ln_bf": lbf, "ln_bf_error": err, "two_ln_bf": 2 * lbf,
                     "log10_bf": lbf / math.log(10), "kass_raftery": kass_raftery(2 * lbf)})
    rows.sort(key=lambda r: (-r["ln_bf"], r["scenario"]))
    return rows


def format_bayes_table(rows: Sequence[Mapping[str, Any]], reference: str) -> str:
    """Text table of :func:`bayes_factor_table` rows (like ``emiss compare``)."""
    lines = [f"Bayes factors against {reference} (bridge sampling; errors are the bridge "
             "sampler's)",
             f"  {'scenario':<26} {'ln Z':>12} {'ln BF':>16} {'2 ln BF':>9} {'log10 BF':>9}"
             "  Kass-Raftery"]
    for r in rows:
        lbf = f"{r['ln_bf']:.2f} +- {r['ln_bf_error']:.2f}"
        lines.append(f"  {r['scenario']:<26} {r['ln_z']:>12.3f} {lbf:>16} "
                     f"{r['two_ln_bf']:>9.2f} {r['log10_bf']:>9.2f}  {r['kass_raftery']}")
    return "\n".join(lines) + "\n"
