"""Bayesian posterior of the signal strength with every nuisance parameter marginalised.

Model and priors (stated, as in the HistFactory Bayesian reading of Cranmer et al.,
CERN-OPEN-2012-016, Sec. 3, and the reinterpretations arXiv:2402.08417 / arXiv:2507.12393):

* likelihood: the Poisson main term of the compiled HistFactory model (pyhf 0.7.6 semantics,
  :mod:`emiss.inference.fastmodel`);
* nuisance priors: the constraint terms themselves, read as densities in the parameter
  (Gaussian N(theta; aux, sigma) for normsys/histosys/staterror/lumi; for shapesys the Poisson
  term tau * Pois(aux | tau gamma), i.e. Gamma(aux + 1, rate tau) in gamma), truncated to the
  model's parameter bounds and normalised on them (this matters for wide staterror-like
  factors, e.g. N(1, 1) cut at 0); unconstrained non-POI factors (normfactor, shapefactor) flat
  within their bounds;
* POI prior: flat in the branching ratio B = mu * B_ref on [0, B_max] (B_ref: the patch's
  ``emiss.reference_branching_ratio``), i.e. flat in mu on [0, B_max / B_ref].

Samplers (both on emiss's fast likelihood):

* ``"nuts"`` (default): the No-U-Turn Hamiltonian sampler (Hoffman & Gelman, arXiv:1111.4246)
  of nutpie (Rust, maintained by the PyMC developers; mass-matrix adaptation of Seyboldt et al.
  arXiv:2303.09245) with the analytic gradient of ``FastModel.nll_grad``. Every bounded
  parameter is sampled in unconstrained logit coordinates u, x = lo + (hi - lo) sigmoid(u), with
  the log Jacobian added to the density. Independent chains.
* ``"emcee"``: the affine-invariant ensemble sampler (Foreman-Mackey et al., arXiv:1202.3665;
  Goodman & Weare 2010) on the vectorised likelihood (:mod:`emiss.inference.batch`), with a mix
  of moves (an independence Metropolis-Hastings proposal from a Student-t centred on the mode
  with the Laplace covariance, differential evolution, stretch). Efficient for a handful of
  parameters; in ~200 dimensions it mixes slowly (Huijser, Goodman & Brewer, arXiv:1509.02230):
  on Belle II's 232-parameter likelihood 1000 steps of 464 walkers left R-hat = 2.2, where NUTS
  reached 1.00.

Diagnostics: the rank-normalised split R-hat of Vehtari et al. (arXiv:1903.08008, Sec. 4.2;
NUTS: across chains, emcee: walkers as chains), the integrated autocorrelation time (emcee's
estimator: chain-averaged autocorrelation, Sokal's window) and the effective sample size
N / tau, for the POI and the parameter with the longest autocorrelation; NUTS also reports
divergent transitions.

Interval conventions: "central" intervals are the (1 - CL)/2 and (1 + CL)/2 quantiles; "hpd"
intervals are the shortest intervals holding the fraction CL of the samples (highest posterior
density for a unimodal marginal; Chen & Shao 1999). The mode of a one-dimensional marginal is
the maximum of a Gaussian kernel density estimate with the boundary at B = 0 handled by
reflection (Silverman 1986, Sec. 2.10).
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.special import gammaln
from scipy.stats import norm

from emiss.errors import EmissError
from emiss.inference.batch import BatchData, BatchModel
from emiss.inference.fastmodel import FastModel

if TYPE_CHECKING:
    import emcee

log = logging.getLogger(__name__)

#: Degrees of freedom of the multivariate Student-t independence proposal (heavier tails than the
#: Laplace Gaussian, so that the proposal covers the posterior).
T_DOF = 6.0
#: Walkers per sampled dimension of the emcee sampler (emcee recommends at least 2 D).
WALKERS_PER_DIM = 2
#: Weights of the moves: independence proposal, differential evolution, stretch.
MOVE_WEIGHTS = (0.6, 0.2, 0.2)


@dataclass
class PosteriorSetup:
    """What is sampled: the model, the fixed POI (or its prior range) and the sampled indices.

    Attributes:
        fm: compiled model.
        ref_br: B at mu = 1 (1 for a dimensionless POI).
        br_max: upper end of the flat prior in B (None: POI fixed).
        poi_fixed: fixed mu (e.g. 1 for SM-only, 0 for background-only) or None.
        index: indices of the sampled parameters in the model's vector.
        bounds: (D, 2) support of the sampled parameters.
        log_norm: constant of the log prior (flat priors' 1/width, shapesys' ln tau).
        extra_log_prior: optional further log prior of the sampled parameters, a function of
            rows x (N, D) returning (ln p (N,), d ln p / dx (N, D)) (e.g. flat priors on |C| for
            normfactors C² in ``emiss.studies.wet``); None: none.
    """

    fm: FastModel
    ref_br: float
    br_max: float | None
    poi_fixed: float | None
    extra_log_prior: Any = None
    index: np.ndarray = field(init=False)
    bounds: np.ndarray = field(init=False)
    log_norm: float = field(init=False)

    def __post_init__(self) -> None:
        fm = self.fm
        free = ~fm.fixed
        if self.poi_fixed is not None:
            free[fm.poi_index] = False
        elif self.br_max is None or not self.br_max > 0:
            raise EmissError(f"br_max={self.br_max!r}: the flat prior in B needs B_max > 0")
        self.index = np.flatnonzero(free)
        b = fm.bounds.copy()
        if self.poi_fixed is None and self.br_max is not None:  # br_max is set (checked above)
            b[fm.poi_index] = (0.0, self.br_max / self.ref_br)
        self.bounds = b[self.index]
        unc = np.ones(fm.npars, bool)
        unc[fm.n_idx] = False
        unc[fm.p_idx] = False
        flat = np.flatnonzero(unc & free)
        width = b[flat, 1] - b[flat, 0]
        if np.any(~np.isfinite(width)) or np.any(width <= 0):
            raise EmissError("an unconstrained parameter has no finite range; a flat prior "
                             "needs finite bounds")
        # truncation of the constraint priors to the bounds of the sampled parameters
        # (Gaussian: Phi((hi - aux)/sigma) - Phi((lo - aux)/sigma); Gamma(aux + 1, rate tau):
        # P(aux + 1, tau hi) - P(aux + 1, tau lo))
        from scipy.special import gammainc

        samp = np.zeros(fm.npars, bool)
        samp[self.index] = True
        nm = samp[fm.n_idx]
        ni = fm.n_idx[nm]
        mass_n = (norm.cdf((b[ni, 1] - fm.n_aux[nm]) / fm.n_sig[nm])
                  - norm.cdf((b[ni, 0] - fm.n_aux[nm]) / fm.n_sig[nm]))
        pm = samp[fm.p_idx]
        pi = fm.p_idx[pm]
        mass_p = (gammainc(fm.p_aux[pm] + 1, fm.p_fac[pm] * b[pi, 1])
                  - gammainc(fm.p_aux[pm] + 1, fm.p_fac[pm] * b[pi, 0]))
        self.log_norm = float(-np.sum(np.log(width)) + np.sum(np.log(fm.p_fac))
                              - np.sum(np.log(mass_n)) - np.sum(np.log(mass_p)))

    @property
    def ndim(self) -> int:
        """Number of sampled parameters."""
        return int(self.index.size)

    def full(self, x: np.ndarray) -> np.ndarray:
        """Full parameter rows (N, P) from sampled rows (N, D)."""
        x = np.atleast_2d(x)
        out = np.tile(self.fm.init, (x.shape[0], 1))
        if self.poi_fixed is not None:
            out[:, self.fm.poi_index] = self.poi_fixed
        out[:, self.index] = x
        return out

    # -- unconstrained coordinates: logit for two finite bounds, log for one, identity for none
    def _kinds(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lo, hi = self.bounds[:, 0], self.bounds[:, 1]
        two = np.isfinite(lo) & np.isfinite(hi)
        low = np.isfinite(lo) & ~np.isfinite(hi)
        up = ~np.isfinite(lo) & np.isfinite(hi)
        return two, low, up

    def to_x(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Map unconstrained rows u (N, D) to parameters.

        Returns:
            (x, ln |dx/du| summed per row, d ln|dx/du| / du, dx/du), all but the sum (N, D).
        """
        u = np.atleast_2d(np.asarray(u, float))
        lo, hi = self.bounds[:, 0], self.bounds[:, 1]
        two, low, up = self._kinds()
        x = u.copy()
        dxdu = np.ones_like(u)
        dlj = np.zeros_like(u)
        sg = 0.5 * (1.0 + np.tanh(0.5 * u))  # sigmoid, overflow-free
        w = np.where(two, hi - lo, 1.0)
        x = np.where(two, lo + w * sg, x)
        dxdu = np.where(two, w * sg * (1.0 - sg), dxdu)
        dlj = np.where(two, 1.0 - 2.0 * sg, dlj)
        eu = np.exp(np.minimum(u, 700.0))
        x = np.where(low, lo + eu, np.where(up, hi - eu, x))
        dxdu = np.where(low | up, eu, dxdu)
        dlj = np.where(low | up, 1.0, dlj)
        with np.errstate(divide="ignore"):
            lj = np.sum(np.log(dxdu), axis=1)
        return x, lj, dlj, dxdu

    def to_u(self, x: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_x` (points on a bound map to +-inf)."""
        x = np.atleast_2d(np.asarray(x, float))
        lo, hi = self.bounds[:, 0], self.bounds[:, 1]
        two, low, up = self._kinds()
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (x - np.where(two, lo, 0.0)) / np.where(two, hi - lo, 1.0)
            u = np.where(two, np.log(t) - np.log1p(-t), x)
            u = np.where(low, np.log(x - lo), np.where(up, np.log(hi - x), u))
        return u


class LogPosterior:
    """Vectorised unnormalised log posterior ln L + ln prior of the sampled parameters.

    Args:
        setup: the sampled model and priors.
    """

    def __init__(self, setup: PosteriorSetup) -> None:
        self.setup = setup
        self.bm = BatchModel(setup.fm)
        self.data = setup.fm.observed_data()
        self._bd: dict[int, BatchData] = {}
        self.ncalls = 0

    def _batch_data(self, n: int) -> BatchData:
        if n not in self._bd:
            self._bd[n] = BatchData.repeat(self.data, n)
        return self._bd[n]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """ln p(x | data) + const for rows x (N, D); -inf outside the prior support."""
        x = np.atleast_2d(np.asarray(x, float))
        self.ncalls += x.shape[0]
        b = self.setup.bounds
        inside = np.all((x >= b[:, 0]) & (x <= b[:, 1]), axis=1)
        out = np.full(x.shape[0], -np.inf)
        if inside.any():
            xi = x[inside]
            nll = self.bm.nll(self.setup.full(xi), self._batch_data(xi.shape[0]))
            out[inside] = -nll + self.setup.log_norm
            if self.setup.extra_log_prior is not None:
                out[inside] += self.setup.extra_log_prior(xi)[0]
        out[~np.isfinite(out)] = -np.inf
        return out

    def in_u(self, u: np.ndarray) -> np.ndarray:
        """ln p in the unconstrained coordinates (Jacobian included), rows u (N, D)."""
        x, lj, _, _ = self.setup.to_x(u)
        out = self(x) + lj
        out[~np.isfinite(out)] = -np.inf
        return out

    def value_and_grad_u(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        """ln p and its gradient in u at one point (analytic, ``FastModel.nll_grad``)."""
        st = self.setup
        if not hasattr(self, "_single"):
            two, low, up = st._kinds()
            lo, hi = st.bounds[:, 0], st.bounds[:, 1]
            full = st.full(np.zeros((1, st.ndim)))[0]
            self._single = (np.flatnonzero(two), np.flatnonzero(low), np.flatnonzero(up),
                            lo, hi, full)
        it, il, iu, lo, hi, full = self._single
        self.ncalls += 1
        u = np.asarray(u, float)
        x = u.copy()
        dxdu = np.ones_like(u)
        dlj = np.zeros_like(u)
        sg = 0.5 * (1.0 + np.tanh(0.5 * u[it]))
        w = hi[it] - lo[it]
        x[it] = lo[it] + w * sg
        dxdu[it] = w * sg * (1.0 - sg)
        dlj[it] = 1.0 - 2.0 * sg
        for idx, sign, base in ((il, 1.0, lo), (iu, -1.0, hi)):
            if idx.size:
                e = np.exp(np.minimum(u[idx], 700.0))
                x[idx] = base[idx] + sign * e
                dxdu[idx] = e
                dlj[idx] = 1.0
        with np.errstate(divide="ignore"):
            lj = float(np.sum(np.log(dxdu)))
        pars = full.copy()
        pars[st.index] = x
        if np.any(x < lo) or np.any(x > hi) or not math.isfinite(lj):
            return -math.inf, np.zeros(st.ndim)
        nll, g = st.fm.nll_grad(pars, self.data)
        if not math.isfinite(nll):
            return -math.inf, np.zeros(st.ndim)
        lp, grad_x = float(-nll + st.log_norm), -g[st.index]
        if st.extra_log_prior is not None:
            elp, eg = st.extra_log_prior(x[None, :])
            lp, grad_x = lp + float(elp[0]), grad_x + eg[0]
        if not math.isfinite(lp):
            return -math.inf, np.zeros(st.ndim)
        return lp + lj, grad_x * dxdu + dlj


def laplace(setup: PosteriorSetup, x0: np.ndarray | None = None
            ) -> tuple[np.ndarray, float, np.ndarray]:
    """Posterior mode and the inverse Hessian of -ln p there (Laplace approximation).

    The mode is the bounded maximum-likelihood fit (flat priors do not move it; the constraint
    terms are part of -ln L); the Hessian is the central finite difference of the analytic
    gradient (step 1e-4 of each parameter's constraint width), symmetrised; where it is not
    positive definite (e.g. the POI at its boundary) the Gauss-Newton Hessian is used.

    Args:
        setup: the sampled model.
        x0: full start vector (default the model's inits).

    Returns:
        (mode in the sampled coordinates (D,), ln p at the mode, covariance (D, D)).
    """
    from emiss.inference.fastlimits import Fitter

    fm = copy.copy(setup.fm)
    fm.bounds = fm.bounds.copy()
    fm.fixed = fm.fixed.copy()
    if setup.poi_fixed is None:
        fm.bounds[fm.poi_index] = setup.bounds[np.searchsorted(setup.index, fm.poi_index)]
    fitter = Fitter(fm)
    pars, _ = fitter.fit(fm.observed_data(), setup.poi_fixed, x0)
    mode = pars[setup.index]
    lp = LogPosterior(setup)
    lp_mode = float(lp(mode[None])[0])
    d = setup.ndim
    if d == 0:
        return mode, lp_mode, np.zeros((0, 0))
    bm = lp.bm
    h = 1e-4 * fm.width[setup.index]
    pts = np.repeat(pars[None], 2 * d, axis=0)
    pts[np.arange(d), setup.index] += h
    pts[d + np.arange(d), setup.index] -= h
    _, g, J, curv, dcon = bm.nll_grad_jac(pts, BatchData.repeat(fm.observed_data(), 2 * d))
    H = (g[:d, setup.index] - g[d:, setup.index]) / (2 * h[:, None])
    H = 0.5 * (H + H.T)
    try:
        np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        _, _, Hgn = fm.nll_grad_hess(pars, fm.observed_data())
        if Hgn is None:
            raise EmissError("-2 ln L is not finite at the posterior mode") from None
        H = Hgn[np.ix_(setup.index, setup.index)] + 1e-12 * np.eye(d)
    cov = np.linalg.inv(H)
    cov = 0.5 * (cov + cov.T)
    return mode, lp_mode, cov


class StudentT:
    """Multivariate Student-t density (location m, scale matrix S, nu degrees of freedom)."""

    def __init__(self, mean: np.ndarray, cov: np.ndarray, nu: float = T_DOF) -> None:
        self.mean = np.asarray(mean, float)
        self.d = self.mean.size
        self.nu = float(nu)
        self.L = np.linalg.cholesky(cov)
        self._logdet = 2.0 * float(np.sum(np.log(np.diag(self.L))))
        self._c = (gammaln(0.5 * (self.nu + self.d)) - gammaln(0.5 * self.nu)
                   - 0.5 * self.d * math.log(self.nu * math.pi) - 0.5 * self._logdet)

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        """Log density at rows x (N, d)."""
        from scipy.linalg import solve_triangular

        z = solve_triangular(self.L, (np.atleast_2d(x) - self.mean).T, lower=True)
        q = np.sum(z * z, axis=0)
        return self._c - 0.5 * (self.nu + self.d) * np.log1p(q / self.nu)

    def sample(self, n: int, rng: np.random.Generator | np.random.RandomState) -> np.ndarray:
        """n draws (n, d)."""
        z = rng.standard_normal((n, self.d))
        w = rng.chisquare(self.nu, n) / self.nu
        return self.mean + (z @ self.L.T) / np.sqrt(w)[:, None]


def _independence_move(proposal: StudentT) -> emcee.moves.MHMove:
    import emcee

    def propose(coords: np.ndarray, random: Any) -> tuple[np.ndarray, np.ndarray]:
        new = proposal.sample(coords.shape[0], random)
        return new, proposal.logpdf(coords) - proposal.logpdf(new)

    return emcee.moves.MHMove(propose)


# ---------------------------------------------------------------------------- diagnostics
def split_rhat(chains: np.ndarray) -> float:
    """Rank-normalised split R-hat (Vehtari et al. arXiv:1903.08008, Sec. 4.2).

    Args:
        chains: (n_steps, n_chains) draws of one quantity.

    Returns:
        max(bulk R-hat, tail R-hat) (1 for a constant quantity).
    """
    from scipy.stats import rankdata

    n = chains.shape[0] // 2
    if n < 2:
        return math.nan
    x = np.concatenate([chains[:n], chains[n:2 * n]], axis=1)

    def rhat(y: np.ndarray) -> float:
        m = y.mean(axis=0)
        w = y.var(axis=0, ddof=1).mean()
        b = n * m.var(ddof=1)
        if w <= 0:
            return 1.0
        return float(math.sqrt(((n - 1) / n * w + b / n) / w))

    def z(y: np.ndarray) -> np.ndarray:
        r = rankdata(y, method="average").reshape(y.shape)
        return norm.ppf((r - 0.375) / (y.size + 0.25))

    if np.ptp(x) == 0:
        return 1.0
    bulk = rhat(z(x))
    med = np.median(x)
    tail = rhat(z(np.abs(x - med)))
    return max(bulk, tail)


def autocorr_times(chain: np.ndarray, c: float = 5.0) -> np.ndarray:
    """Integrated autocorrelation time of each parameter of an ensemble chain.

    The estimator of emcee (``emcee.autocorr.integrated_time``; Goodman & Weare 2010, Sec. 3):
    the normalised autocorrelation function averaged over walkers, summed up to Sokal's
    automatic window (the smallest M with M >= c * tau(M), c = 5), vectorised over parameters.

    Args:
        chain: (n_steps, n_walkers, D).
        c: window constant.

    Returns:
        (D,) autocorrelation times (in steps).
    """
    n, _, d = chain.shape
    m = 1 << int(2 * n - 1).bit_length()
    rho = np.empty((n, d))
    step = max(1, int(2e7 // (m * chain.shape[1])))  # bounded memory per FFT block
    for j in range(0, d, step):
        x = chain[:, :, j:j + step] - chain[:, :, j:j + step].mean(axis=0, keepdims=True)
        f = np.fft.rfft(x, n=m, axis=0)
        acf = np.fft.irfft(f * np.conj(f), n=m, axis=0)[:n]  # (n, W, block)
        with np.errstate(invalid="ignore", divide="ignore"):
            acf = acf / acf[:1]
        rho[:, j:j + step] = np.nanmean(acf, axis=1)
    taus = 2.0 * np.cumsum(rho, axis=0) - 1.0
    ok = np.arange(n)[:, None] >= c * taus
    win = np.where(ok.any(axis=0), np.argmax(ok, axis=0), n - 1)
    out = taus[win, np.arange(taus.shape[1])]
    return np.where(np.isfinite(out), np.maximum(out, 1.0), 1.0)


# ---------------------------------------------------------------------------- summaries
def kde_mode(samples: np.ndarray, lower: float | None = 0.0) -> float:
    """Mode of a 1D sample from a Gaussian KDE (Scott's bandwidth), reflected at ``lower``."""
    from scipy.stats import gaussian_kde

    s = np.asarray(samples, float)
    if s.size < 2 or np.ptp(s) == 0:
        return float(s[0]) if s.size else math.nan
    data = s if lower is None else np.concatenate([s, 2 * lower - s])
    kde = gaussian_kde(data)
    lo = s.min() if lower is None else lower
    grid = np.linspace(lo, s.max(), 2049)
    dens = kde(grid)
    return float(grid[int(np.argmax(dens))])


def hpd_interval(samples: np.ndarray, cl: float) -> tuple[float, float]:
    """Shortest interval holding the fraction cl of the samples."""
    s = np.sort(np.asarray(samples, float))
    n = s.size
    k = max(1, int(math.ceil(cl * n)))
    if k >= n:
        return float(s[0]), float(s[-1])
    widths = s[k - 1:] - s[:n - k + 1]
    i = int(np.argmin(widths))
    return float(s[i]), float(s[i + k - 1])


def central_interval(samples: np.ndarray, cl: float) -> tuple[float, float]:
    """Equal-tailed interval: the (1 - cl)/2 and (1 + cl)/2 quantiles."""
    lo, hi = np.quantile(samples, [(1 - cl) / 2, (1 + cl) / 2])
    return float(lo), float(hi)


def summarise(samples: np.ndarray, lower: float | None = 0.0) -> dict[str, Any]:
    """Mode, median, mean, 68 % / 95 % central and HPD intervals of a 1D sample."""
    s = np.asarray(samples, float)
    return {
        "mode": kde_mode(s, lower),
        "median": float(np.median(s)),
        "mean": float(np.mean(s)),
        "std": float(np.std(s)),
        "central_68": list(central_interval(s, 0.6827)),
        "central_95": list(central_interval(s, 0.95)),
        "hpd_68": list(hpd_interval(s, 0.6827)),
        "hpd_95": list(hpd_interval(s, 0.95)),
    }


# ---------------------------------------------------------------------------- sampling
SAMPLERS = ("nuts", "emcee")


@dataclass
class PosteriorRun:
    """Draws and diagnostics of one posterior.

    Attributes:
        setup: what was sampled.
        chain: (n_draws, n_chains, D) draws of the sampled parameters (after tuning/burn-in).
        chain_u: the same draws in the unconstrained coordinates.
        mode, lp_mode, cov: Laplace approximation (sampled coordinates).
        sampler: "nuts" or "emcee".
        diagnostics: R-hat, autocorrelation times, ESS, sampler statistics.
    """

    setup: PosteriorSetup
    chain: np.ndarray
    chain_u: np.ndarray
    mode: np.ndarray
    lp_mode: float
    cov: np.ndarray
    sampler: str
    diagnostics: dict[str, Any]

    def poi(self) -> np.ndarray:
        """Draws of the POI (mu), flattened; empty when the POI is fixed."""
        if self.setup.poi_fixed is not None:
            return np.zeros(0)
        j = int(np.searchsorted(self.setup.index, self.setup.fm.poi_index))
        return self.chain[:, :, j].ravel()

    def thinned_u(self) -> np.ndarray:
        """Unconstrained draws thinned by the largest autocorrelation time (about independent)."""
        t = max(1, int(math.ceil(self.diagnostics.get("tau_max", 1.0))))
        return self.chain_u[::t].reshape(-1, self.chain_u.shape[-1])


def _start_points(setup: PosteriorSetup, mode: np.ndarray, cov: np.ndarray, n: int,
                  rs: np.random.RandomState) -> np.ndarray:
    """n start points near the mode: Laplace-Gaussian draws (shrunk towards the mode when many
    are rejected), moved just inside the support, with finite density."""
    d = setup.ndim
    b = setup.bounds
    logp = LogPosterior(setup)
    L = np.linalg.cholesky(cov)
    w = b[:, 1] - b[:, 0]
    inner_lo = np.where(np.isfinite(w), b[:, 0] + 1e-6 * w, b[:, 0])
    inner_hi = np.where(np.isfinite(w), b[:, 1] - 1e-6 * w, b[:, 1])
    out = np.empty((n, d))
    filled = 0
    for k in range(1000):
        scale = 0.5 ** min(k, 20)  # shrink the spread if the draws keep failing
        cand = mode + scale * (rs.standard_normal((n, d)) @ L.T)
        cand = np.clip(cand, inner_lo, inner_hi)
        if cand.size:
            cand = cand[np.isfinite(logp(cand))]
        take = min(n - filled, cand.shape[0])
        out[filled:filled + take] = cand[:take]
        filled += take
        if filled == n:
            return out
    raise EmissError("could not place the chains' start points inside the prior support")


def laplace_ln_evidence(setup: PosteriorSetup, lp_mode: float, cov: np.ndarray,
                        mode: np.ndarray) -> float:
    """Laplace approximation of ln Z: ln p(mode) + D/2 ln(2 pi) + 1/2 ln det(cov), minus ln 2
    for each parameter whose mode sits on a bound (half the Gaussian outside the support).

    (Tierney & Kadane 1986, JASA 81, 82; Kass & Raftery 1995, Eq. 4.)
    """
    d = setup.ndim
    if d == 0:
        return float(lp_mode)
    sign, logdet = np.linalg.slogdet(cov)
    on_bound = np.sum(np.isclose(mode, setup.bounds[:, 0], rtol=0, atol=1e-9)
                      | np.isclose(mode, setup.bounds[:, 1], rtol=0, atol=1e-9))
    return float(lp_mode + 0.5 * d * math.log(2 * math.pi) + 0.5 * logdet
                 - on_bound * math.log(2.0))


def sample_posterior(setup: PosteriorSetup, *, sampler: str = "nuts", draws: int = 1000,
                     tune: int = 500, chains: int = 4, seed: int = 0,
                     x0: np.ndarray | None = None,
                     laplace_result: tuple[np.ndarray, float, np.ndarray] | None = None
                     ) -> PosteriorRun:
    """Sample the posterior.

    Args:
        setup: what to sample.
        sampler: "nuts" (nutpie) or "emcee".
        draws: kept draws per chain (emcee: steps per walker).
        tune: tuning draws per chain (emcee: burn-in steps), discarded.
        chains: NUTS chains (emcee: ignored; walkers = max(2 D, 16)).
        seed: seed (the run is deterministic for a fixed seed).
        x0: full parameter vector to start the mode search from.
        laplace_result: (mode, lp_mode, cov) of :func:`laplace` if already computed.

    Returns:
        PosteriorRun.
    """
    if sampler not in SAMPLERS:
        raise EmissError(f"sampler {sampler!r} is unknown; valid: {', '.join(SAMPLERS)}")
    if draws < 10 or tune < 0 or chains < 1:
        raise EmissError(f"draws={draws}, tune={tune}, chains={chains}: need draws >= 10, "
                         "tune >= 0, chains >= 1")
    mode, lp_mode, cov = laplace_result if laplace_result is not None else laplace(setup, x0)
    d = setup.ndim
    if d == 0:
        empty = np.zeros((draws, 1, 0))
        return PosteriorRun(setup, empty, empty, mode, lp_mode, cov, sampler, {"ndim": 0})
    rs = np.random.RandomState(seed)
    if sampler == "nuts":
        chain_u, extra = _run_nuts(setup, mode, cov, draws, tune, chains, seed, rs)
        chain = setup.to_x(chain_u.reshape(-1, d))[0].reshape(chain_u.shape)
    else:
        chain, extra = _run_emcee(setup, mode, cov, draws, tune, rs)
        chain_u = setup.to_u(chain.reshape(-1, d)).reshape(chain.shape)
    diag = diagnostics(chain, setup)
    diag.update(extra)
    diag.update({"sampler": sampler, "draws": draws, "tune": tune})
    return PosteriorRun(setup, chain, chain_u, mode, lp_mode, cov, sampler, diag)


def _run_nuts(setup: PosteriorSetup, mode: np.ndarray, cov: np.ndarray, draws: int,
              tune: int, chains: int, seed: int, rs: np.random.RandomState
              ) -> tuple[np.ndarray, dict[str, Any]]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # arviz's refactoring notice
        import nutpie
        from nutpie.compiled_pyfunc import from_pyfunc

    d = setup.ndim
    logp = LogPosterior(setup)
    starts = setup.to_u(_start_points(setup, mode, cov, chains, rs))

    def make_logp() -> Any:
        return logp.value_and_grad_u

    def make_expand(seed1: int, seed2: int, chain: int) -> Any:
        return lambda u: {"u": np.asarray(u, float)}

    def init_point(s: int) -> np.ndarray:
        return starts[int(s) % chains].copy()

    model = from_pyfunc(d, make_logp, make_expand, [np.dtype("float64")], [(d,)], ["u"],
                        make_initial_point_fn=init_point)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trace = nutpie.sample(model, draws=draws, tune=tune, chains=chains, cores=1,
                              seed=int(seed), progress_bar=False, save_warmup=False)
    u = np.asarray(trace.posterior["u"].values, float)  # (chains, draws, d)
    stats = trace.sample_stats
    extra = {"chains": chains, "divergences": int(np.asarray(stats["diverging"]).sum()),
             "mean_tree_depth": float(np.asarray(stats["depth"]).mean()),
             "n_gradient_calls": int(logp.ncalls)}
    return np.swapaxes(u, 0, 1), extra


def _run_emcee(setup: PosteriorSetup, mode: np.ndarray, cov: np.ndarray, draws: int, tune: int,
               rs: np.random.RandomState) -> tuple[np.ndarray, dict[str, Any]]:
    import emcee

    d = setup.ndim
    nw = max(WALKERS_PER_DIM * d, 16)
    nw += nw % 2
    logp = LogPosterior(setup)
    prop = StudentT(mode, cov)
    moves = [(_independence_move(prop), MOVE_WEIGHTS[0]),
             (emcee.moves.DEMove(), MOVE_WEIGHTS[1]),
             (emcee.moves.StretchMove(), MOVE_WEIGHTS[2])]
    start = _start_points(setup, mode, cov, nw, rs)
    sampler = emcee.EnsembleSampler(nw, d, logp, vectorize=True, moves=moves)
    sampler.random_state = rs.get_state()
    sampler.run_mcmc(start, tune + draws, progress=False)
    chain = sampler.get_chain(discard=tune)
    extra = {"walkers": nw, "acceptance": float(np.mean(sampler.acceptance_fraction)),
             "n_likelihood_calls": int(logp.ncalls)}
    return chain, extra


def diagnostics(chain: np.ndarray, setup: PosteriorSetup) -> dict[str, Any]:
    """Autocorrelation times, ESS and split R-hat of the POI and the worst nuisance.

    Args:
        chain: (n_draws, n_chains, D).
        setup: the sampled model.

    Returns:
        Dict with ``tau_poi``, ``ess_poi``, ``rhat_poi`` (POI free only), ``tau_max``,
        ``ess_min`` (the parameter with the longest autocorrelation: ``worst_parameter``, its
        ``rhat_worst_parameter``), ``rhat_max`` (over all parameters), ``ndim``.
    """
    n_steps, nw, d = chain.shape
    taus = autocorr_times(chain)
    worst = int(np.argmax(taus))
    rh = [split_rhat(chain[:, :, j]) for j in range(d)]
    out: dict[str, Any] = {"ndim": d, "tau_max": float(taus[worst]),
                           "ess_min": float(n_steps * nw / taus[worst]),
                           "worst_parameter": setup.fm.par_names[int(setup.index[worst])],
                           "rhat_worst_parameter": rh[worst],
                           "rhat_max": float(np.nanmax(rh))}
    if setup.poi_fixed is None:
        j = int(np.searchsorted(setup.index, setup.fm.poi_index))
        out.update({"tau_poi": float(taus[j]), "ess_poi": float(n_steps * nw / taus[j]),
                    "rhat_poi": rh[j]})
    return out
