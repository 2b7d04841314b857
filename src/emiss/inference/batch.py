"""Vectorised evaluation and fitting of one :class:`FastModel` at many points or on many datasets.

The single-point engine (:mod:`emiss.inference.fastmodel`) is dominated by numpy call overhead
on small arrays; here the same HistFactory expressions (pyhf 0.7.6 semantics: code-4 normsys,
code-4p histosys, staterror/shapesys/lumi/normfactor factors, Poisson main term, Gaussian and
Poisson constraint terms; the formulas of :mod:`emiss.inference.histfactory`, which the
single-point engine uses too) are evaluated for a batch of N parameter vectors and/or N
datasets at once, which is what samplers (ensemble moves) and toy studies need.

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
from typing import TYPE_CHECKING, SupportsIndex

import numpy as np
from numpy.typing import ArrayLike
from scipy import sparse

from emiss.inference.fastmodel import FastModel, FitData

if TYPE_CHECKING:
    from emiss.inference.structured import HessianStructure
from emiss.inference.histfactory import (
    code4,
    code4_dpoly,
    code4_poly,
    code4p_blocks,
    code4p_dh,
    code4p_h,
    gaussian_curvature,
    gaussian_grad,
    gaussian_nll,
    lgamma_const,
    poisson_constraint_curvature,
    poisson_constraint_grad,
    poisson_nll,
)

log = logging.getLogger(__name__)

#: Newton decrement (predicted decrease of -2 ln L) below which a batched fit has converged.
BATCH_TOL = 1e-8
BATCH_MAXITER = 30
#: From this iteration on, a row whose decrement falls by less than BATCH_SLOW_RATIO per step
#: (slow linear convergence of Gauss-Newton, large residuals) goes to the scalar fitter,
#: whose exact-Hessian steps converge quadratically.
BATCH_SLOW_AFTER = 10
BATCH_SLOW_RATIO = 0.6
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
        self.main_const = lgamma_const(self.main)
        self.p_const = lgamma_const(self.p_aux)

    @property
    def n(self) -> int:
        """Number of datasets."""
        return self.main.shape[0]

    @classmethod
    def repeat(cls, data: FitData, n: int) -> BatchData:
        """The same single dataset n times."""
        return cls(np.tile(data.main, (n, 1)), np.tile(data.n_aux, (n, 1)),
                   np.tile(data.p_aux, (n, 1)))

    def row(self, i: SupportsIndex) -> FitData:
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
        for w in code4p_blocks(fm._add_up, fm._add_dn):
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
    def _rates(self, pars: np.ndarray, need_jac: bool = False
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
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
            h = code4p_h(a2)
            au = np.where(a > 1.0, a, 0.0)
            ad = np.where(a < -1.0, a, 0.0)
            A += ai @ self._hS + h @ self._hA + au @ self._hU + ad @ self._hD
        if self._hp.size and need_jac:
            # d A_e / d alpha_p, shape (N, n_histosys_pars, E)
            dh = code4p_dh(ai, a2)
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
            main = poisson_nll(n, lam) + data.main_const
        nll = main + gaussian_nll(data.n_aux, pars[:, fm.n_idx], fm.n_sig) + fm.n_const
        if fm.p_idx.size:
            rate = pars[:, fm.p_idx] * fm.p_fac
            with np.errstate(divide="ignore", invalid="ignore"):
                nll = nll + poisson_nll(data.p_aux, rate) + data.p_const
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
            dh = code4p_dh(ai, a2)
            v = we * F
            g[:, self._hp] += (inside * (v @ self._hS.T + dh * (v @ self._hA.T))
                               + (a > 1.0) * (v @ self._hU.T) + (a < -1.0) * (v @ self._hD.T))
        g[:, fm.n_idx] += gaussian_grad(pars[:, fm.n_idx], data.n_aux, fm.n_sig)
        if fm.p_idx.size:
            with np.errstate(divide="ignore", invalid="ignore"):
                g[:, fm.p_idx] += poisson_constraint_grad(pars[:, fm.p_idx], fm.p_fac, data.p_aux)
        g[~np.isfinite(nll)] = 0.0
        return nll, np.asarray(g)

    def nll_grad_jac(self, pars: np.ndarray, data: BatchData
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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
        g[:, fm.n_idx] += gaussian_grad(pars[:, fm.n_idx], data.n_aux, fm.n_sig)
        dcon = np.zeros((N, self.P))
        dcon[:, fm.n_idx] = gaussian_curvature(fm.n_sig)
        if fm.p_idx.size:
            gp = pars[:, fm.p_idx]
            with np.errstate(divide="ignore", invalid="ignore"):
                g[:, fm.p_idx] += poisson_constraint_grad(gp, fm.p_fac, data.p_aux)
                dcon[:, fm.p_idx] = poisson_constraint_curvature(gp, data.p_aux)
        bad = ~np.isfinite(nll)
        g[bad] = 0.0
        curv[bad] = 0.0
        J[bad] = 0.0
        return nll, g, J, curv, dcon

    # ---------------------------------------------------------------- block Jacobian
    def _prepare_blocks(self) -> None:
        """Index maps of :meth:`blocks`: the Jacobian in the groups of
        :class:`emiss.inference.structured.HessianStructure` (G: kg then u, as (N, B, n_G);
        L: the per-bin parameters, one value each)."""
        from emiss.inference.structured import structure_of

        fm = self.fm
        hs = structure_of(fm)
        E, B, P = self.E, self.B, self.P
        hp = self._hp
        kg_h = hs.kg[np.isin(hs.kg, hp)]  # histosys first: their Jacobian is one column slice
        G = np.concatenate([kg_h, hs.kg[~np.isin(hs.kg, hp)], hs.u]).astype(int)
        L = hs.kl
        nG, nL = G.size, L.size
        gcol = np.full(P, -1)
        gcol[G] = np.arange(nG)
        lcol = np.full(P, -1)
        lcol[L] = np.arange(nL)
        self._bG, self._bL, self._bLbin, self._bnkg = G, L, hs.kl_bin, hs.kg.size
        self._bgcol, self._blcol = gcol, lcol
        mpos, mp = fm._mult_pos, fm._mult_p
        mb = fm.el_bin[mpos % E]
        isg = gcol[mp] >= 0
        self._bmg_pos = mpos[isg]
        ng = int(isg.sum())
        self._bQg = sparse.csr_matrix((np.ones(ng), (mb[isg] * nG + gcol[mp[isg]],
                                                     np.arange(ng))), shape=(B * nG, ng))
        self._bml_pos = mpos[~isg]
        nl = int((~isg).sum())
        self._bQl = sparse.csr_matrix((np.ones(nl), (lcol[mp[~isg]], np.arange(nl))),
                                      shape=(nL, nl))
        self._bLfold = np.zeros((nL, B))
        self._bLfold[np.arange(nL), hs.kl_bin] = 1.0
        nh = self._hp.size
        if nh:
            # elements grouped by bin, padded to the largest group (index E: a zero column):
            # d lambda_b / d alpha_h = sum over the group of F_e (S, A, U, D)[h, e] x coefficient
            order = np.argsort(fm.el_bin, kind="stable")
            counts = np.bincount(fm.el_bin, minlength=B)
            width = int(counts.max())
            pad = np.full((B, width), E)
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            for b in range(B):
                pad[b, :counts[b]] = order[starts[b]:starts[b] + counts[b]]
            self._bpad = pad
            X = np.concatenate([self._hS, self._hA, self._hU, self._hD], axis=0)  # (4 nh, E)
            Xe = np.concatenate([X, np.zeros((4 * nh, 1))], axis=1)
            self._bXpad = np.ascontiguousarray(np.transpose(Xe[:, pad], (1, 2, 0)))  # B, W, 4nh
            self._bh_g = np.flatnonzero(gcol[self._hp] >= 0)
            self._bh_gcol = gcol[self._hp[self._bh_g]]
            self._bh_slice = bool(np.array_equal(self._bh_gcol, np.arange(nh)))
            self._bh_l = np.flatnonzero(gcol[self._hp] < 0)
            self._bh_lcol = lcol[self._hp[self._bh_l]]
        self._bn_g = gcol[fm.n_idx]
        self._bp_g = gcol[fm.p_idx]
        self._bn_l = lcol[fm.n_idx]
        self._bp_l = lcol[fm.p_idx]
        self._blocks_ready = True

    def blocks(self, pars: np.ndarray, data: BatchData, need_jac: bool = True,
               jac: tuple | None = None) -> dict[str, np.ndarray]:
        """-ln L, gradient and the Gauss-Newton pieces in the structured solver's groups.

        Args:
            pars: (N, P) parameter rows.
            data: N datasets.
            need_jac: also the Jacobian and curvatures (else only nll).
            jac: :meth:`jacobian_blocks` at ``pars`` if already known (e.g. one row shared by
                all datasets, broadcast).

        Returns:
            dict with ``nll`` (N,) and, with need_jac, ``gG`` (N, n_G), ``gL`` (N, n_L),
            ``JG`` (N, B, n_G), ``JL`` (N, n_L), ``c`` (N, B), ``dG``, ``dL`` (constraint
            curvatures); rows with invalid rates have nll = +inf.
        """
        if not getattr(self, "_blocks_ready", False):
            self._prepare_blocks()
        fm = self.fm
        pars = np.atleast_2d(np.asarray(pars, float))
        N = pars.shape[0]
        if not need_jac:
            return {"nll": self.nll(pars, data)}
        lam, JG, JL = self.jacobian_blocks(pars) if jac is None else jac
        nll = self._nll_from_lam(pars, data, lam)
        n = data.main
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(n > 0, 1.0 - n / lam, 1.0)
            c = np.where(n > 0, n / lam**2, 0.0)
        gG = np.einsum("nbk,nb->nk", JG, w)
        gL = JL * w[:, self._bLbin]
        nG, nL = self._bG.size, self._bL.size
        dG = np.zeros((N, nG))
        dL = np.zeros((N, nL))
        tn = gaussian_grad(pars[:, fm.n_idx], data.n_aux, fm.n_sig)
        cn = np.broadcast_to(gaussian_curvature(fm.n_sig), tn.shape)
        for col, gg, dd in ((self._bn_g, gG, dG), (self._bn_l, gL, dL)):
            m = col >= 0
            gg[:, col[m]] += tn[:, m]
            dd[:, col[m]] += cn[:, m]
        if fm.p_idx.size:
            gp = pars[:, fm.p_idx]
            with np.errstate(divide="ignore", invalid="ignore"):
                tp = poisson_constraint_grad(gp, fm.p_fac, data.p_aux)
                cp = poisson_constraint_curvature(gp, data.p_aux)
            for col, gg, dd in ((self._bp_g, gG, dG), (self._bp_l, gL, dL)):
                m = col >= 0
                gg[:, col[m]] += tp[:, m]
                dd[:, col[m]] += cp[:, m]
        bad = ~np.isfinite(nll)
        if bad.any():
            for arr in (gG, gL, c):
                arr[bad] = 0.0
        return {"nll": nll, "gG": gG, "gL": gL, "JG": JG, "JL": JL, "c": c, "dG": dG, "dL": dL}

    def jacobian_blocks(self, pars: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Expected counts and the Jacobian in the structured solver's groups.

        Args:
            pars: (N, P) parameter rows.

        Returns:
            (lambda (N, B), JG (N, B, n_G), JL (N, n_L)); G: ``HessianStructure.kg`` then
            ``.u``, L: ``.kl`` (each per-bin parameter's derivative in its bin).
        """
        if not getattr(self, "_blocks_ready", False):
            self._prepare_blocks()
        fm = self.fm
        pars = np.atleast_2d(np.asarray(pars, float))
        N, K, E, B = pars.shape[0], self.K, self.E, self.B
        vals = np.ones((N, K * E))
        vals[:, fm._lin_pos] = pars[:, fm._lin_p]
        d1 = np.zeros((N, K * E))
        d1[:, fm._lin_pos] = 1.0
        if fm._c4_pos.size:
            a = pars[:, fm._c4_p]
            f = code4_poly(a, fm._c4_coef)
            df = code4_dpoly(a, fm._c4_dcoef)
            for mask, lg, sign in ((a >= 1.0, fm._c4_lhi, 1.0), (a <= -1.0, fm._c4_llo, -1.0)):
                if mask.any():
                    r, c = np.nonzero(mask)
                    f[r, c] = np.exp(sign * a[r, c] * lg[c])
                    df[r, c] = sign * lg[c] * f[r, c]
            vals[:, fm._c4_pos] = f
            d1[:, fm._c4_pos] = df
        vals3 = vals.reshape(N, K, E)
        A = np.broadcast_to(fm.nom, (N, E))
        nh = self._hp.size
        if nh:
            a = pars[:, self._hp]
            inside = np.abs(a) <= 1.0
            all_in = bool(inside.all())
            ai = a if all_in else np.where(inside, a, 0.0)
            a2 = ai * ai
            A = A + ai @ self._hS + code4p_h(a2) @ self._hA
            if not all_in:
                A = A + np.where(a > 1.0, a, 0.0) @ self._hU + np.where(a < -1.0, a, 0.0) @ \
                    self._hD
        # products of the other slots (prefix x suffix, exact with zero factors), times A
        Fk = np.empty_like(vals3)
        acc = A.copy()
        for k in range(K):
            Fk[:, k] = acc
            acc = acc * vals3[:, k]
        lam = acc @ self._M  # acc = A x all slots
        acc = np.ones((N, E))
        for k in range(K - 1, -1, -1):
            Fk[:, k] *= acc
            acc = acc * vals3[:, k]
        F = acc
        ent = Fk.reshape(N, K * E) * d1  # A * (other slots) * d slot
        nG = self._bG.size
        JG = np.asarray(self._bQg @ ent[:, self._bmg_pos].T).T.reshape(N, B, nG)
        JL = np.asarray(self._bQl @ ent[:, self._bml_pos].T).T
        if nh:
            dh = code4p_dh(ai, a2)
            Fe = np.concatenate([F, np.zeros((N, 1))], axis=1)
            # (B, N, W) @ (B, W, 4 nh): the bin sums of F_e X[h, e] for X in (S, A, U, D)
            T = (np.transpose(Fe[:, self._bpad], (1, 0, 2)) @ self._bXpad).reshape(B, N, 4, nh)
            Jh = dh * T[:, :, 1]  # 0 outside |alpha| <= 1 (ai = 0 there)
            Jh += T[:, :, 0]
            if not all_in:  # outside: the linear extrapolation's slope (hi or lo delta)
                n_o, h_o = np.nonzero(~inside)
                k_o = np.where(a[n_o, h_o] > 1.0, 2, 3)
                Jh[:, n_o, h_o] = T[:, n_o, k_o, h_o]
            Jh = np.transpose(Jh, (1, 0, 2))  # (N, B, nh)
            if self._bh_slice:
                JG[:, :, :nh] += Jh
            elif self._bh_g.size:
                JG[:, :, self._bh_gcol] += Jh[:, :, self._bh_g]
            if self._bh_l.size:
                Lb = self._bLbin[self._bh_lcol]
                JL[:, self._bh_lcol] += Jh[np.arange(N)[:, None], Lb, self._bh_l]
        return lam, JG, JL

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
    """Minimise -ln L for N datasets at once: structured Gauss-Newton, vectorised over rows.

    Each row takes the damped, projected Gauss-Newton steps of the scalar fitter
    (:class:`emiss.inference.fastlimits.Fitter`, Armijo backtracking, Levenberg damping after a
    failed line search), solved by :func:`emiss.inference.structured.solve_blocks_batch` in
    O(B^2 n_kg + B n_kl + B^3) per row (module doc of :mod:`emiss.inference.structured`) on
    the block Jacobian of :meth:`BatchModel.blocks`; converged rows leave the iteration. Rows
    that do not converge are refitted one by one with the scalar fitter (counted in
    ``n_fallback``). After a fit ``poi_grad`` holds d(-ln L)/d mu at each row's optimum.

    Args:
        fm: compiled model.
        bounds: (P, 2) parameter bounds (default the model's).
        chunk: rows fitted together (memory ~ chunk * B * n_G doubles).
    """

    def __init__(self, fm: FastModel, bounds: np.ndarray | None = None,
                 chunk: int = 250) -> None:
        self.fm = fm
        self.bm = BatchModel(fm)
        self.bounds = fm.bounds.copy() if bounds is None else np.asarray(bounds, float)
        self.n_fallback = 0
        self.chunk = int(chunk)
        self.poi_grad: np.ndarray | None = None
        self.niter = 0

    def fit(self, data: BatchData, x0: np.ndarray, poi_value: float | np.ndarray | None = None,
            tol: float = BATCH_TOL) -> tuple[np.ndarray, np.ndarray]:
        """Fit every dataset; the POI free (``poi_value=None``) or fixed (scalar or per row).

        Args:
            data: N datasets.
            x0: (N, P) or (P,) start points.
            poi_value: fixed POI value(s) or None.
            tol: Newton decrement (predicted decrease of -2 ln L) at which a row stops.

        Returns:
            (best-fit parameters (N, P), minimum -2 ln L (N,)); rows whose fit failed with
            every strategy have -2 ln L = nan.
        """
        from emiss.inference.blas import single_thread_blas

        fm = self.fm
        N = data.n
        x, free, lo, hi = _start_points(fm, self.bounds, N, x0, poi_value)
        tnll = np.full(N, np.nan)
        ok = np.zeros(N, bool)
        gpoi = np.full(N, np.nan)
        with single_thread_blas():
            for a in range(0, N, self.chunk):
                sl = slice(a, min(N, a + self.chunk))
                rows = np.arange(sl.start, sl.stop)
                x[sl], tnll[sl], ok[sl], gpoi[sl] = self._newton(
                    data if N <= self.chunk else data.take(rows), x[sl], free, lo, hi, tol)
        for i in np.flatnonzero(~ok):
            x[i], tnll[i] = self._scalar_fit(data.row(i), x[i], _row_poi(poi_value, i))
            if math.isfinite(tnll[i]):
                gpoi[i] = fm.nll_grad(x[i], data.row(i))[1][fm.poi_index]
        self.poi_grad = gpoi
        return x, tnll

    def _scalar_fit(self, data: FitData, x0: np.ndarray, poi_value: float | None
                    ) -> tuple[np.ndarray, float]:
        self.n_fallback += 1
        return _scalar_fit(self.fm, self.bounds, data, x0, poi_value)

    # One function on purpose: the rows that finish leave the shared per-row arrays (finish/keep
    # close over them) between the solve, the verdict and the line search of each iteration.
    def _newton(self, data: BatchData, x: np.ndarray, free: np.ndarray, lo: np.ndarray,
                hi: np.ndarray, tol: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Damped projected Gauss-Newton on all rows; finished rows leave the arrays.

        Returns:
            (x, -2 ln L, converged, d(-ln L)/d mu) per row.
        """
        from emiss.inference.structured import solve_blocks_batch

        bm = self.bm
        if not getattr(bm, "_blocks_ready", False):
            bm._prepare_blocks()
        hs_ = _structure(self.fm)
        G, L = bm._bG, bm._bL
        N = x.shape[0]
        out_x, out_t = x.copy(), np.full(N, np.nan)
        out_ok, out_g = np.zeros(N, bool), np.full(N, np.nan)
        gcol = bm._bgcol[self.fm.poi_index]
        rows = np.arange(N)
        xa = x.copy()
        st = _start_blocks(bm, xa, data)
        da = data
        damp = np.zeros(N)
        keys = ("nll", "gG", "gL", "JG", "JL", "c", "dG", "dL")

        def finish(mask: np.ndarray, ok: bool) -> None:
            r = rows[mask]
            out_x[r] = xa[mask]
            out_t[r] = 2.0 * st["nll"][mask]
            out_ok[r] = ok
            if gcol >= 0:
                out_g[r] = st["gG"][mask, gcol]

        def keep(mask: np.ndarray) -> None:
            nonlocal rows, xa, da, damp, st
            if mask.all():
                return
            rows, xa, damp = rows[mask], xa[mask], damp[mask]
            da = da.take(np.flatnonzero(mask))
            st = {k: st[k][mask] for k in keys}

        bad0 = ~np.isfinite(st["nll"])
        if bad0.any():
            finish(bad0, False)
            keep(~bad0)
        prev_dec = np.full(rows.size, np.inf)
        for it in range(BATCH_MAXITER):
            if rows.size == 0:
                break
            self.niter += 1
            gG, gL = st["gG"], st["gL"]
            useG = _movable(xa[:, G], gG, free[G], lo[G], hi[G])
            useL = _movable(xa[:, L], gL, free[L], lo[L], hi[L])
            sG, sL = solve_blocks_batch(hs_, st["JG"], st["JL"], st["c"], st["dG"], st["dL"],
                                        gG, gL, useG, useL, 1e-12 + damp)
            dec = np.sum(gG * sG, axis=1) + np.sum(gL * sL, axis=1)
            conv, bad = _newton_verdict(dec, prev_dec, damp, tol, it)
            prev_dec = dec
            if conv.any() or bad.any():
                finish(conv, True)
                finish(bad, False)
                move = ~conv & ~bad
                sG, sL, dec, prev_dec = sG[move], sL[move], dec[move], prev_dec[move]
                keep(move)
                if rows.size == 0:
                    break
            step = np.zeros_like(xa)
            step[:, G] = -sG
            step[:, L] = -sL
            xa, st, accepted = _line_search(bm, xa, st, da, step, dec, lo, hi, keys)
            rej = ~accepted
            floor = rej & (dec < 1e-7)
            damp = _next_damping(damp, accepted)
            dead = rej & ~floor & (damp > 1e6)
            if floor.any() or dead.any():
                finish(floor, True)
                finish(dead, False)
                prev_dec = prev_dec[~floor & ~dead]
                keep(~floor & ~dead)
        if rows.size:
            finish(np.ones(rows.size, bool), False)
        return out_x, out_t, out_ok, out_g


def _start_blocks(bm: BatchModel, x: np.ndarray, data: BatchData) -> dict[str, np.ndarray]:
    """:meth:`BatchModel.blocks` at the start points; one Jacobian when all rows start alike."""
    N = x.shape[0]
    shared = None
    if N > 1 and np.all(x == x[0]):  # one start for all datasets: one Jacobian
        lam1, JG1, JL1 = bm.jacobian_blocks(x[:1])
        shared = (np.broadcast_to(lam1, (N,) + lam1.shape[1:]),
                  np.broadcast_to(JG1, (N,) + JG1.shape[1:]),
                  np.broadcast_to(JL1, (N,) + JL1.shape[1:]))
    return bm.blocks(x, data, jac=shared)


def _movable(x: np.ndarray, g: np.ndarray, free: np.ndarray, lo: np.ndarray, hi: np.ndarray
             ) -> np.ndarray:
    """Free parameters not held at a bound by the gradient (the projected step's active set)."""
    return free & ~(((x <= lo) & (g > 0)) | ((x >= hi) & (g < 0)))


def _newton_verdict(dec: np.ndarray, prev_dec: np.ndarray, damp: np.ndarray, tol: float,
                    it: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows that converged and rows that failed, from the Newton decrement of this step.

    Args:
        dec: predicted decrease of -ln L per row.
        prev_dec: that of the previous step.
        damp: Levenberg damping per row.
        tol: convergence threshold of the decrement.
        it: iteration number.

    Returns:
        (converged, failed) masks.
    """
    bad = ~np.isfinite(dec) | (dec < 0)
    conv = (dec < tol) & (damp == 0.0) & ~bad
    if it >= BATCH_SLOW_AFTER:  # slow linear convergence: the scalar fitter's exact
        slow = ~conv & ~bad & (dec > BATCH_SLOW_RATIO * prev_dec)  # Newton steps
        bad |= slow
    return conv, bad


def _next_damping(damp: np.ndarray, accepted: np.ndarray) -> np.ndarray:
    """Levenberg damping after a line search: /10 (0 below 1e-3) on success, x10 (from 1) else."""
    return np.where(accepted, np.where(damp > 1e-3, damp * 0.1, 0.0),
                    np.where(damp == 0.0, 1.0, damp * 10.0))


def _line_search(bm: BatchModel, x: np.ndarray, st: dict[str, np.ndarray], data: BatchData,
                 step: np.ndarray, dec: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                 keys: tuple[str, ...]) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Armijo backtracking of every row along its projected step (factor 1/4 per try).

    Args:
        bm: the batched model.
        x: (n, P) current points.
        st: their :meth:`BatchModel.blocks` state.
        data: their datasets.
        step: (n, P) full steps.
        dec: predicted decrease per row.
        lo, hi: parameter bounds.
        keys: the state entries carried along.

    Returns:
        (new points, their state, accepted rows); rejected rows keep point and state.
    """
    n = x.shape[0]
    t = np.ones(n)
    accepted = np.zeros(n, bool)
    new_x = x.copy()
    new_st = None
    for _ in range(BATCH_BACKTRACK):
        pend = np.flatnonzero(~accepted)
        if pend.size == 0:
            break
        cand = np.clip(x[pend] + t[pend, None] * step[pend], lo, hi)
        trial = bm.blocks(cand, data if pend.size == n else data.take(pend))
        good = np.isfinite(trial["nll"]) & (
            trial["nll"] <= st["nll"][pend] - 1e-4 * t[pend] * dec[pend])
        if good.all() and pend.size == n:
            new_x, new_st = cand, trial
            accepted[:] = True
            break
        if new_st is None:
            new_st = {k: st[k].copy() for k in keys}
        acc = pend[good]
        new_x[acc] = cand[good]
        for k in keys:
            new_st[k][acc] = trial[k][good]
        accepted[acc] = True
        t[pend[~good]] *= 0.25
    return new_x, (new_st if new_st is not None else st), accepted


def _row_poi(poi_value: float | np.ndarray | None, i: SupportsIndex) -> float | None:
    """The POI value row i is fitted at: None (free), the one value, or the row's own."""
    if poi_value is None:
        return None
    if np.ndim(poi_value) == 0:
        return float(poi_value)
    return float(np.asarray(poi_value)[i])


def _scalar_fit(fm: FastModel, bounds: np.ndarray, data: FitData, x0: np.ndarray,
                poi_value: float | None) -> tuple[np.ndarray, float]:
    """The scalar fitter on one dataset within bounds (the batched fitters' fallback)."""
    from emiss.inference.fastlimits import FitFailure, Fitter

    if not np.array_equal(bounds, fm.bounds):
        import copy

        fm = copy.copy(fm)
        fm.bounds = bounds
    try:
        return Fitter(fm).fit(data, poi_value, x0)
    except FitFailure as exc:
        log.warning("toy fit failed: %s", exc)
        return x0, math.nan


def _structure(fm: FastModel) -> HessianStructure:
    from emiss.inference.structured import structure_of

    return structure_of(fm)


class ReferenceBatchFitter:
    """The previous batched fitter (kept as the reference of ``scripts/bench_toys.py``):
    Gauss-Newton with a Woodbury solve over the dense (N, B, P) Jacobian.

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
        x, free, lo, hi = _start_points(fm, self.bounds, N, x0, poi_value)
        xs, tnll, ok = self._newton(data, x, free, lo, hi)
        for i in np.flatnonzero(~ok):
            xs[i], tnll[i] = self._scalar_fit(data.row(i), xs[i], _row_poi(poi_value, i))
        return xs, tnll

    def _scalar_fit(self, data: FitData, x0: np.ndarray, poi_value: float | None
                    ) -> tuple[np.ndarray, float]:
        self.n_fallback += 1
        return _scalar_fit(self.fm, self.bounds, data, x0, poi_value)

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


def _start_points(fm: FastModel, bounds: np.ndarray, n: int, x0: ArrayLike,
                  poi_value: float | np.ndarray | None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Start points of n batched fits: fixed parameters at their inits, the POI at poi_value
    (when given), the free ones clipped into their bounds.

    Args:
        fm: the compiled model.
        bounds: (P, 2) parameter bounds.
        n: number of datasets.
        x0: (n, P) or (P,) start points.
        poi_value: fixed POI value(s) or None.

    Returns:
        (x (n, P), free mask, lower bounds, upper bounds); fixed parameters have infinite
        bounds so that clipping never moves them.
    """
    x = np.array(np.broadcast_to(np.asarray(x0, float), (n, fm.npars)))
    fixed = fm.fixed.copy()
    x[:, fixed] = fm.init[fixed]
    if poi_value is not None:
        fixed[fm.poi_index] = True
        x[:, fm.poi_index] = poi_value
    lo, hi = bounds[:, 0].copy(), bounds[:, 1].copy()
    lo[fixed] = -np.inf
    hi[fixed] = np.inf
    free = ~fixed
    x[:, free] = np.clip(x[:, free], lo[free], hi[free])
    return x, free, lo, hi
