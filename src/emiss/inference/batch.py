"""Vectorised evaluation and fitting of one :class:`FastModel` at many points or on many datasets.

The single-point engine (:mod:`emiss.inference.fastmodel`) is dominated by numpy call overhead
on small arrays; here the same HistFactory expressions (pyhf 0.7.6 semantics: code-4 normsys,
code-4p histosys, staterror/shapesys/lumi/normfactor factors, Poisson main term, Gaussian and
Poisson constraint terms) are evaluated for a batch of N parameter vectors and/or N datasets at
once, which is what samplers (ensemble moves) and toy studies need.

:class:`BatchFitter` minimises -ln L for N datasets simultaneously by projected Gauss-Newton
(Fisher scoring; the Hessian of ``FastModel.nll_grad_hess``) with Levenberg damping and a
per-row Armijo line search. The Hessian has the structure H = D + J^T C J (D: diagonal
constraint curvatures, J: d lambda / d theta for the B bins, C = diag(n / lambda^2)), so each
Newton step is solved through the Sherman-Morrison-Woodbury identity with a square system of size
B + (free unconstrained parameters) instead of P x P (Golub & Van Loan, "Matrix Computations",
4th ed., Sec. 2.1.4).
Rows that do not converge are refitted one by one with the robust scalar :class:`Fitter`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.special import gammaln, xlogy

from emiss.inference.fastmodel import FastModel, FitData, code4

log = logging.getLogger(__name__)

#: Newton decrement (predicted decrease of -2 ln L) below which a batched fit has converged.
BATCH_TOL = 1e-8
BATCH_MAXITER = 40
BATCH_BACKTRACK = 10


@dataclass
class BatchData:
    """N datasets: main counts (N, B), normal auxdata (N, n_normal), Poisson auxdata (N, n_pois)."""

    main: np.ndarray
    n_aux: np.ndarray
    p_aux: np.ndarray

    def __post_init__(self) -> None:
        self.main = np.atleast_2d(np.asarray(self.main, float))
        n = self.main.shape[0]
        self.n_aux = np.broadcast_to(np.asarray(self.n_aux, float), (n, np.shape(self.n_aux)[-1]))
        self.p_aux = np.broadcast_to(np.asarray(self.p_aux, float), (n, np.shape(self.p_aux)[-1]))
        self.main_const = np.sum(gammaln(self.main + 1.0), axis=1)
        self.p_const = np.sum(gammaln(self.p_aux + 1.0), axis=1)

    @property
    def n(self) -> int:
        """Number of datasets."""
        return self.main.shape[0]

    @classmethod
    def repeat(cls, data: FitData, n: int) -> BatchData:
        """The same single dataset n times."""
        return cls(np.tile(data.main, (n, 1)), np.tile(data.n_aux, (n, 1)),
                   np.tile(data.p_aux, (n, 1)))

    def row(self, i: int) -> FitData:
        """Dataset i as a FitData (for the scalar fitter)."""
        return FitData(self.main[i].copy(), self.n_aux[i].copy(), self.p_aux[i].copy())

    def take(self, idx: np.ndarray) -> BatchData:
        """The datasets at positions idx."""
        return BatchData(self.main[idx], self.n_aux[idx], self.p_aux[idx])


class BatchModel:
    """Vectorised -ln L, gradient and Jacobian of a compiled model.

    Args:
        fm: the compiled model (its arrays are shared, not copied).
    """

    def __init__(self, fm: FastModel) -> None:
        self.fm = fm
        E, B, P, K = fm.E, fm.nbins_total, fm.npars, fm.K
        self.E, self.B, self.P, self.K = E, B, P, K
        self._M = np.zeros((E, B))
        self._M[np.arange(E), fm.el_bin] = 1.0
        # histosys (code 4p) aggregated per (parameter, element): inside |alpha| <= 1 the delta
        # is alpha * S + A * h(alpha), h = alpha^2 (15 - 10 alpha^2 + 3 alpha^4); outside it is
        # alpha * dup (alpha > 1) or alpha * ddn (alpha < -1) (pyhf/interpolators/code4p.py)
        self._hp = np.unique(fm._add_p)
        col = np.searchsorted(self._hp, fm._add_p)
        nh = self._hp.size
        mats = []
        for w in (0.5 * (fm._add_up + fm._add_dn), 0.0625 * (fm._add_up - fm._add_dn),
                  fm._add_up, fm._add_dn):
            m = np.zeros((nh, E))
            np.add.at(m, (col, fm._add_e), w)
            mats.append(m)
        self._hS, self._hA, self._hU, self._hD = mats
        n_mult = fm._mult_pos.size
        self._Q = sparse.csr_matrix((np.ones(n_mult), (np.arange(n_mult),
                                                       fm._jac_idx[:n_mult])),
                                    shape=(n_mult, B * P)).T.tocsr()
        self._G = sparse.csr_matrix((np.ones(n_mult), (np.arange(n_mult), fm._mult_p)),
                                    shape=(n_mult, P)).T.tocsr()
        self.unconstrained = np.ones(P, bool)
        self.unconstrained[fm.n_idx] = False
        self.unconstrained[fm.p_idx] = False

    # ---------------------------------------------------------------- rates
    def _rates(self, pars: np.ndarray, need_jac: bool = False):
        fm = self.fm
        N = pars.shape[0]
        vals = np.ones((N, self.K * self.E))
        d1 = np.zeros((N, self.K * self.E))
        vals[:, fm._lin_pos] = pars[:, fm._lin_p]
        d1[:, fm._lin_pos] = 1.0
        if fm._c4_pos.size:
            f, df = code4(pars[:, fm._c4_p], fm._c4_hi, fm._c4_lo, fm._c4_coef)
            vals[:, fm._c4_pos] = f
            d1[:, fm._c4_pos] = df
        A = np.broadcast_to(fm.nom, (N, self.E)).copy()
        dA = None
        if self._hp.size:
            a = pars[:, self._hp]
            inside = np.abs(a) <= 1.0
            ai = np.where(inside, a, 0.0)
            a2 = ai * ai
            h = a2 * (15.0 + a2 * (-10.0 + 3.0 * a2))
            au = np.where(a > 1.0, a, 0.0)
            ad = np.where(a < -1.0, a, 0.0)
            A += ai @ self._hS + h @ self._hA + au @ self._hU + ad @ self._hD
        if self._hp.size and need_jac:
            # d A_e / d alpha_p, shape (N, n_histosys_pars, E)
            dh = ai * (30.0 + a2 * (-40.0 + 18.0 * a2))
            dA = (inside[:, :, None] * (self._hS[None] + dh[:, :, None] * self._hA[None])
                  + (a > 1.0)[:, :, None] * self._hU[None]
                  + (a < -1.0)[:, :, None] * self._hD[None])
        return A, vals.reshape(N, self.K, self.E), d1, dA

    def expected_main(self, pars: np.ndarray) -> np.ndarray:
        """Expected counts (N, B) at parameter rows pars (N, P)."""
        pars = np.atleast_2d(np.asarray(pars, float))
        A, vals, _, _ = self._rates(pars)
        return (A * np.prod(vals, axis=1)) @ self._M

    def _nll_from_lam(self, pars: np.ndarray, data: BatchData, lam: np.ndarray) -> np.ndarray:
        fm = self.fm
        n = data.main
        with np.errstate(divide="ignore", invalid="ignore"):
            main = np.sum(lam - xlogy(n, lam), axis=1) + data.main_const
        z = (data.n_aux - pars[:, fm.n_idx]) / fm.n_sig
        nll = main + 0.5 * np.sum(z * z, axis=1) + fm.n_const
        if fm.p_idx.size:
            rate = pars[:, fm.p_idx] * fm.p_fac
            with np.errstate(divide="ignore", invalid="ignore"):
                nll = nll + np.sum(rate - xlogy(data.p_aux, rate), axis=1) + data.p_const
        bad = (np.any((lam <= 0) & (n > 0), axis=1) | np.any(lam < 0, axis=1)
               | ~np.all(np.isfinite(lam), axis=1) | ~np.isfinite(nll))
        nll[bad] = np.inf
        return nll

    def nll(self, pars: np.ndarray, data: BatchData) -> np.ndarray:
        """-ln L (pyhf constants included) per row; +inf where a rate is invalid.

        Args:
            pars: (N, P) parameter rows.
            data: N datasets (or one dataset repeated, see :meth:`BatchData.repeat`).

        Returns:
            (N,) array.
        """
        pars = np.atleast_2d(np.asarray(pars, float))
        lam = self.expected_main(pars)
        return self._nll_from_lam(pars, data, lam)

    def nll_grad(self, pars: np.ndarray, data: BatchData) -> tuple[np.ndarray, np.ndarray]:
        """-ln L and its gradient per row (no Jacobian; what gradient-based samplers need).

        Args:
            pars: (N, P).
            data: N datasets.

        Returns:
            (nll (N,), grad (N, P)); rows with invalid rates have nll = +inf, grad 0.
        """
        fm = self.fm
        pars = np.atleast_2d(np.asarray(pars, float))
        N = pars.shape[0]
        A, vals, d1, _ = self._rates(pars)
        F = np.prod(vals, axis=1)
        lam = (A * F) @ self._M
        nll = self._nll_from_lam(pars, data, lam)
        n = data.main
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(n > 0, 1.0 - n / lam, 1.0)
        we = w @ self._M.T  # (N, E): weight of each element's bin
        Fk = np.empty_like(vals)
        for k in range(self.K):
            others = [j for j in range(self.K) if j != k]
            Fk[:, k] = np.prod(vals[:, others], axis=1) if others else 1.0
        contrib = ((we * A)[:, None, :] * Fk).reshape(N, -1)[:, fm._mult_pos] * \
            d1[:, fm._mult_pos]
        g = np.asarray((self._G @ contrib.T).T)
        if self._hp.size:
            # d nll / d alpha_p = sum_e (d A_e / d alpha_p) w_e F_e (piecewise d A / d alpha)
            a = pars[:, self._hp]
            inside = np.abs(a) <= 1.0
            ai = np.where(inside, a, 0.0)
            a2 = ai * ai
            dh = ai * (30.0 + a2 * (-40.0 + 18.0 * a2))
            v = we * F
            g[:, self._hp] += (inside * (v @ self._hS.T + dh * (v @ self._hA.T))
                               + (a > 1.0) * (v @ self._hU.T) + (a < -1.0) * (v @ self._hD.T))
        g[:, fm.n_idx] += (pars[:, fm.n_idx] - data.n_aux) / fm.n_sig**2
        if fm.p_idx.size:
            with np.errstate(divide="ignore", invalid="ignore"):
                g[:, fm.p_idx] += fm.p_fac - data.p_aux / pars[:, fm.p_idx]
        g[~np.isfinite(nll)] = 0.0
        return nll, np.asarray(g)

    def nll_grad_jac(self, pars: np.ndarray, data: BatchData):
        """-ln L, gradient, Jacobian d lambda / d theta and constraint curvatures per row.

        Args:
            pars: (N, P).
            data: N datasets.

        Returns:
            (nll (N,), grad (N, P), J (N, B, P), curv (N, B) = n / lambda^2,
            dcon (N, P) diagonal constraint curvature).
        """
        fm = self.fm
        pars = np.atleast_2d(np.asarray(pars, float))
        N = pars.shape[0]
        A, vals, d1, dd = self._rates(pars, need_jac=True)
        F = np.prod(vals, axis=1)
        lam = (A * F) @ self._M
        nll = self._nll_from_lam(pars, data, lam)
        Fk = np.empty_like(vals)
        for k in range(self.K):  # product of the other slots, exact when a factor is zero
            others = [j for j in range(self.K) if j != k]
            Fk[:, k] = np.prod(vals[:, others], axis=1) if others else 1.0
        contrib = (A[:, None, :] * Fk).reshape(N, -1)[:, fm._mult_pos] * d1[:, fm._mult_pos]
        J = (self._Q @ contrib.T).T.reshape(N, self.B, self.P)
        if dd is not None:
            J[:, :, self._hp] += np.swapaxes((dd * F[:, None, :]) @ self._M, 1, 2)
        n = data.main
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(n > 0, 1.0 - n / lam, 1.0)
            curv = np.where(n > 0, n / lam**2, 0.0)
        g = (w[:, None, :] @ J)[:, 0, :]
        g[:, fm.n_idx] += (pars[:, fm.n_idx] - data.n_aux) / fm.n_sig**2
        dcon = np.zeros((N, self.P))
        dcon[:, fm.n_idx] = 1.0 / fm.n_sig**2
        if fm.p_idx.size:
            gp = pars[:, fm.p_idx]
            with np.errstate(divide="ignore", invalid="ignore"):
                g[:, fm.p_idx] += fm.p_fac - data.p_aux / gp
                dcon[:, fm.p_idx] = data.p_aux / gp**2
        bad = ~np.isfinite(nll)
        g[bad] = 0.0
        curv[bad] = 0.0
        J[bad] = 0.0
        return nll, g, J, curv, dcon

    def sample_data(self, pars: np.ndarray, rng: np.random.Generator) -> BatchData:
        """Pseudo-experiments at parameter rows pars (N, P): main counts and auxdata.

        As ``pyhf.Model.make_pdf(pars).sample()``: main ~ Poisson(lambda), normal auxdata
        ~ N(theta, sigma), Poisson auxdata ~ Poisson(tau * gamma).

        Args:
            pars: (N, P) generating parameters (one row per toy).
            rng: numpy Generator.

        Returns:
            BatchData with N toys.
        """
        fm = self.fm
        pars = np.atleast_2d(np.asarray(pars, float))
        lam = self.expected_main(pars)
        main = rng.poisson(np.maximum(lam, 0.0)).astype(float)
        n_aux = rng.normal(pars[:, fm.n_idx], fm.n_sig)
        p_aux = rng.poisson(pars[:, fm.p_idx] * fm.p_fac).astype(float)
        return BatchData(main, n_aux, p_aux)


class BatchFitter:
    """Minimise -ln L for N datasets at once (Gauss-Newton with a Woodbury solve).

    Args:
        fm: compiled model.
        bounds: (P, 2) parameter bounds (default the model's).
    """

    def __init__(self, fm: FastModel, bounds: np.ndarray | None = None) -> None:
        self.fm = fm
        self.bm = BatchModel(fm)
        self.bounds = fm.bounds.copy() if bounds is None else np.asarray(bounds, float)
        self.n_fallback = 0

    def fit(self, data: BatchData, x0: np.ndarray, poi_value: float | np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
        """Fit every dataset; the POI free (``poi_value=None``) or fixed (scalar or per row).

        Args:
            data: N datasets.
            x0: (N, P) or (P,) start points.
            poi_value: fixed POI value(s) or None.

        Returns:
            (best-fit parameters (N, P), minimum -2 ln L (N,)); rows whose fit failed with
            every strategy have -2 ln L = nan.
        """
        fm = self.fm
        N = data.n
        x = np.array(np.broadcast_to(np.asarray(x0, float), (N, fm.npars)))
        fixed = fm.fixed.copy()
        x[:, fixed] = fm.init[fixed]
        if poi_value is not None:
            fixed[fm.poi_index] = True
            x[:, fm.poi_index] = poi_value
        lo, hi = self.bounds[:, 0].copy(), self.bounds[:, 1].copy()
        lo[fixed] = -np.inf
        hi[fixed] = np.inf
        free = ~fixed
        x[:, free] = np.clip(x[:, free], lo[free], hi[free])
        xs, tnll, ok = self._newton(data, x, free, lo, hi)
        for i in np.flatnonzero(~ok):
            xs[i], tnll[i] = self._scalar_fit(data.row(i), xs[i], poi_value if poi_value is None
                                              or np.ndim(poi_value) == 0 else poi_value[i])
        return xs, tnll

    def _scalar_fit(self, data: FitData, x0: np.ndarray, poi_value: float | None):
        from emiss.inference.fastlimits import FitFailure, Fitter

        self.n_fallback += 1
        fm = self.fm
        if not np.array_equal(self.bounds, fm.bounds):
            import copy

            fm = copy.copy(fm)
            fm.bounds = self.bounds
        try:
            return Fitter(fm).fit(data, None if poi_value is None else float(poi_value), x0)
        except FitFailure as exc:
            log.warning("toy fit failed: %s", exc)
            return x0, math.nan

    def _step(self, g: np.ndarray, J: np.ndarray, curv: np.ndarray, dcon: np.ndarray,
              frozen: np.ndarray, damp: np.ndarray) -> np.ndarray:
        """Newton step -H^-1 g on the non-frozen parameters via Woodbury (see module doc)."""
        N, B, P = J.shape
        U = np.sqrt(curv)[:, :, None] * J  # (N, B, P), H = D + U^T U
        hdiag = np.sum(U * U, axis=1)
        unc = self.bm.unconstrained[None, :] & ~frozen
        # unconstrained directions get a positive diagonal delta, subtracted again through
        # extra rank-one rows with a negative sign
        delta = np.where(unc, np.maximum(hdiag, 1e-12), 0.0)
        D = dcon + delta + damp[:, None] * (dcon + hdiag) + 1e-12 * np.maximum(dcon + hdiag,
                                                                               1e-300)
        with np.errstate(divide="ignore", over="ignore"):
            Dinv = np.where(frozen, 0.0, 1.0 / D)
        ucols = np.flatnonzero(self.bm.unconstrained)
        E = np.zeros((N, ucols.size, P))
        E[:, np.arange(ucols.size), ucols] = np.sqrt(delta[:, ucols])
        V = np.concatenate([U, E], axis=1)  # (N, R, P)
        sgn = np.concatenate([np.ones(B), -np.ones(ucols.size)])
        gf = np.where(frozen, 0.0, g)
        Dg = Dinv * gf
        VD = V * Dinv[:, None, :]
        M = VD @ np.swapaxes(V, 1, 2)
        M[:, np.arange(sgn.size), np.arange(sgn.size)] += sgn[None, :]  # S^-1 = S (+-1)
        rhs = (V @ Dg[:, :, None])[:, :, 0]
        try:
            y = np.linalg.solve(M, rhs[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            y = np.stack([np.linalg.lstsq(M[i], rhs[i], rcond=None)[0] for i in range(N)])
        return -(Dg - (y[:, None, :] @ VD)[:, 0, :])

    def _newton(self, data: BatchData, x: np.ndarray, free: np.ndarray, lo: np.ndarray,
                hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        bm = self.bm
        N = x.shape[0]
        nll, g, J, curv, dcon = bm.nll_grad_jac(x, data)
        done = np.zeros(N, bool)
        ok = np.isfinite(nll)
        damp = np.zeros(N)
        active = ok.copy()
        for _ in range(BATCH_MAXITER):
            idx = np.flatnonzero(active & ~done)
            if idx.size == 0:
                break
            xa, ga = x[idx], g[idx]
            at_lo = (xa <= lo) & (ga > 0)
            at_hi = (xa >= hi) & (ga < 0)
            frozen = ~free[None, :] | at_lo | at_hi
            step = self._step(ga, J[idx], curv[idx], dcon[idx], frozen, damp[idx])
            dec = -np.sum(np.where(frozen, 0.0, ga) * step, axis=1)
            bad = ~np.isfinite(dec) | (dec < 0)
            conv = (dec < BATCH_TOL) & (damp[idx] == 0.0) & ~bad
            done[idx[conv]] = True
            active[idx[bad]] = False
            move = ~conv & ~bad
            idx, step, dec = idx[move], step[move], dec[move]
            if idx.size == 0:
                continue
            # projected Newton: full step projected onto the box, then backtracking
            t = np.ones(idx.size)
            accepted = np.zeros(idx.size, bool)
            xn = x[idx].copy()
            for _ in range(BATCH_BACKTRACK):
                pend = np.flatnonzero(~accepted)
                if pend.size == 0:
                    break
                cand = np.clip(x[idx[pend]] + t[pend, None] * step[pend], lo, hi)
                val = bm.nll(cand, data.take(idx[pend]))
                good = np.isfinite(val) & (val <= nll[idx[pend]] - 1e-4 * t[pend] * dec[pend])
                xn[pend[good]] = cand[good]
                accepted[pend[good]] = True
                t[pend[~good]] *= 0.25
            # rows with no acceptable step: converged to rounding, or raise the damping
            rej = np.flatnonzero(~accepted)
            floor = dec[rej] < 1e-7
            done[idx[rej[floor]]] = True
            hard = idx[rej[~floor]]
            damp[hard] = np.where(damp[hard] == 0.0, 1.0, damp[hard] * 10.0)
            active[hard[damp[hard] > 1e6]] = False
            acc = idx[accepted]
            if acc.size:
                x[acc] = xn[accepted]
                r = bm.nll_grad_jac(x[acc], data.take(acc))
                nll[acc], g[acc], J[acc], curv[acc], dcon[acc] = r
                damp[acc] = np.where(damp[acc] > 1e-3, damp[acc] * 0.1, 0.0)
        ok = done & np.isfinite(nll)
        return x, 2.0 * nll, ok
