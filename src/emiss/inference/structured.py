"""Newton steps in time linear in the number of nuisance parameters (structured Gauss-Newton).

The Gauss-Newton (expected-information) Hessian of a HistFactory likelihood with B bins and P
parameters is

    H = J^T C J + D,    J = d lambda / d theta (B x P),  C = diag(n / lambda^2),

with D the diagonal curvature of the constraint terms (Gaussian: 1 / sigma^2; Poisson: aux /
gamma^2; unconstrained parameters: 0). Only B bins carry data, so J^T C J has rank <= B, however
many nuisance parameters there are. The parameters fall into three groups:

* ``kg``: constrained and acting on several bins (normsys, histosys, lumi);
* ``kl``: constrained and acting on one bin only (the per-bin staterror and shapesys gammas):
  their columns of J have one non-zero entry, so their share of J D^-1 J^T is diagonal;
* ``u``: unconstrained (the POI, normfactors, shapefactors): D = 0 there.

With A = C^(1/2) J_K over the constrained parameters K = kg + kl and the B x B matrix
M = I + A D_K^-1 A^T (the Sherman-Morrison-Woodbury identity; Golub & Van Loan, "Matrix
Computations", 4th ed., Sec. 2.1.4), H_KK^-1 = D_K^-1 - D_K^-1 A^T M^-1 A D_K^-1; the
unconstrained block is eliminated by its Schur complement S = B_u^T M^-1 B_u (B_u = C^(1/2) J_u),
a u x u matrix. Solving H x = g then costs

    O(B^2 n_kg + B n_kl + B^3 + B^2 n_u + n_u^3)

operations and O(B P) memory: linear in the number of constrained nuisance parameters (and in
P for a fixed number of bins and of unconstrained parameters), against O(P^3) for a dense solve
of H (the reference solver, ``solver="dense"`` of :class:`emiss.inference.fastlimits.Fitter`).
The Levenberg damping of the dense solver, H_ii += (1e-12 + damp) max(H_ii, 1e-12), is applied
to the same diagonal, so both solvers compute the same step up to rounding.

Gauss-Newton converges linearly, slowly where the residuals 1 - n / lambda are large (fits at a
signal strength far from the data). :meth:`HessianStructure.exact_system` adds the omitted
term R = sum_b (1 - n_b / lambda_b) d^2 lambda_b / d theta^2 (the exact Hessian of -ln L, so
Newton's method converges quadratically). R couples only parameters acting on a common element
(sample x bin); with the per-bin parameters L (each acting on one bin) and the others G,
H_LL is diagonal plus one rank-one term per bin (inverted in O(n_L)), and the step is solved
through the Schur complement S = H_GG - H_GL H_LL^-1 H_LG in

    O(n_L n_G^2 + B n_G^2 + n_G^3 + E K^2 + n_entries)

operations (E elements with K multiplicative slots): linear in the number of per-bin
nuisance parameters, cubic in the number of the others (used up to ``EXACT_MAX_GLOBAL``).

:class:`BlockSystem` holds the Gauss-Newton systems of many rows factorised (the B x B
Woodbury matrix inverted through its Cholesky factor), so that a fitter that keeps one
Jacobian for several steps (the toy fitter, :class:`emiss.inference.toys.ToyFitter`) solves
each further step in O(B^2 + B n_kg + n_kl) per row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from emiss.inference.fastmodel import FastModel

#: Floor of a diagonal entry of H in the Levenberg term (as the dense solver).
DIAG_FLOOR = 1e-12
#: Largest number of non-per-bin parameters for which the exact Hessian (dense n_G x n_G
#: Schur complement) is used; beyond it the fits use Gauss-Newton steps only.
EXACT_MAX_GLOBAL = 400
#: (solve, column) of :meth:`HessianStructure.exact_system`: ``solve(rhs)`` -> H^-1 rhs and
#: ``column(j)`` -> H[:, j].
ExactSystem = tuple[Callable[[np.ndarray], np.ndarray], Callable[[int], np.ndarray]]


def structure_of(fm: FastModel) -> HessianStructure:
    """The :class:`HessianStructure` of a model, shared by the models of one background whose
    parameters act on the same elements (the hypotheses of a grid).

    Args:
        fm: compiled model.

    Returns:
        The structure (built once per distinct layout).
    """
    cache = getattr(fm, "structure_cache", None)
    if cache is None:
        return HessianStructure(fm)
    key = fm.layout_key()
    hs = cache.get(key)
    if hs is None:
        if len(cache) >= 16:
            cache.clear()
        hs = cache[key] = HessianStructure(fm)
    return hs


class HessianStructure:
    """The parameter groups of a compiled model's Gauss-Newton Hessian (see module doc).

    Args:
        fm: compiled model.

    Attributes:
        nbins, npars: the model's bins and parameters.
        kg: constrained parameters acting on several bins.
        kl, kl_bin: constrained parameters acting on one bin, and that bin.
        u: unconstrained parameters.
        lfold_t: (n_kl, B) 0/1 matrix summing per-bin terms into their bins.
        exact_ok, exact_reason: whether :meth:`exact_system` applies, and why not.
        G, L, L_bin, gcol: with ``exact_ok``: the parameters acting on several bins (histosys
            ones first, then the others on multiplicative slots, then the rest), the per-bin
            ones (``kl``) and their bins, and each parameter's column in G (-1 outside).
    """

    # index arrays of the exact Hessian's extra term R (:meth:`_prepare_exact`)
    G: np.ndarray
    L: np.ndarray
    L_bin: np.ndarray
    gcol: np.ndarray
    _nh: int  # histosys parameters at the front of G
    _nz: int  # then the other parameters on multiplicative slots
    _zg: np.ndarray  # those parameters
    _Lfold: np.ndarray  # (B, n_L) 0/1: per-bin parameter -> its bin
    _pair_e: np.ndarray  # element of each ordered pair of slots (k, l)
    _pair_k: np.ndarray  # flat slot positions k * E + e and l * E + e of the pairs
    _pair_l: np.ndarray
    _pair_oth: np.ndarray  # flat positions of the pair's element's other slots
    _pair_idx: np.ndarray  # flat index of each pair's entry of R[:, G]
    _c4_e: np.ndarray  # element of each code-4 interpolated slot
    _Z: Any  # (P, E) sparse pattern of the multiplicative slots (histosys cross terms)
    _Z_pos: np.ndarray  # slot position of each stored entry of _Z
    _Z_e: np.ndarray  # its element

    def __init__(self, fm: FastModel) -> None:
        P, B = fm.npars, fm.nbins_total
        ent_bin = fm._jac_idx // P
        ent_par = fm._jac_idx % P
        first = np.full(P, B)
        last = np.full(P, -1)
        np.minimum.at(first, ent_par, ent_bin)
        np.maximum.at(last, ent_par, ent_bin)
        constrained = np.zeros(P, bool)
        constrained[fm.n_idx] = True
        constrained[fm.p_idx] = True
        local = constrained & (last <= first)  # one bin (or none: last = -1)
        self.nbins = B
        self.npars = P
        self.kg = np.flatnonzero(constrained & ~local)
        self.kl = np.flatnonzero(local)
        self.kl_bin = np.where(last[self.kl] >= 0, last[self.kl], 0)
        self.u = np.flatnonzero(~constrained)
        self.lfold_t = np.zeros((self.kl.size, B))
        self.lfold_t[np.arange(self.kl.size), self.kl_bin] = 1.0
        self.exact_ok = False
        self.exact_reason = ""
        try:
            self._prepare_exact(fm)
        except _NoExact as exc:
            self.exact_reason = str(exc)

    # ------------------------------------------------------------------ exact Hessian
    def _prepare_exact(self, fm: FastModel) -> None:
        """Static index arrays of the exact Hessian's extra term R (see module doc).

        Raises:
            _NoExact: R lacks the block structure :meth:`exact_system` solves.
        """
        G = np.sort(np.concatenate([self.kg, self.u]))
        if G.size > EXACT_MAX_GLOBAL:
            raise _NoExact(f"{G.size} parameters act on several bins (> {EXACT_MAX_GLOBAL})")
        if fm._add_e.size and not fm._hdense:
            raise _NoExact("histosys evaluated entry by entry")
        real = fm._slot_kind > 0
        _check_element_blocks(fm, real, self.kl)
        self._order_global(fm, G, real)
        self.L, self.L_bin = self.kl, self.kl_bin
        self._Lfold = np.zeros((self.nbins, self.L.size))
        self._Lfold[self.L_bin, np.arange(self.L.size)] = 1.0
        self._prepare_pairs(fm, real)
        self._c4_e = fm._c4_pos % fm.E
        if fm._add_e.size:
            self._prepare_histosys(fm, real)
        self.exact_ok = True

    def _order_global(self, fm: FastModel, G: np.ndarray, real: np.ndarray) -> None:
        """Order G: histosys parameters, then the other parameters on multiplicative slots,
        then the rest (contiguous column blocks for the histosys cross terms)."""
        P, pmat = fm.npars, fm._slot_p
        hp = fm._hp if fm._add_e.size else np.zeros(0, int)
        gset = np.zeros(P, bool)
        gset[G] = True
        in_hp = np.zeros(P, bool)
        in_hp[hp] = True
        zrows = np.unique(pmat[real])
        zg = zrows[gset[zrows] & ~in_hp[zrows]]
        rest = G[~np.isin(G, np.concatenate([hp, zg]))]
        G = np.concatenate([hp, zg, rest]).astype(int)
        gcol = np.full(P, -1)
        gcol[G] = np.arange(G.size)
        self.G, self.gcol = G, gcol
        self._nh, self._nz = hp.size, zg.size
        self._zg = zg

    def _prepare_pairs(self, fm: FastModel, real: np.ndarray) -> None:
        """Ordered pairs of slots (k, l) of one element, column parameter in G:
        R[p_k, p_l] += w A F_(others) d1_k d1_l."""
        E, K, pmat, gcol = fm.E, fm.K, fm._slot_p, self.gcol
        pk, pl, pe, oth = [], [], [], []
        for k in range(K):
            for m in range(K):
                if k == m:
                    continue
                es = np.flatnonzero(real[k] & real[m] & (gcol[pmat[m]] >= 0))
                if not es.size:
                    continue
                others = [r for r in range(K) if r not in (k, m)]
                pk.append(np.full(es.size, k))
                pl.append(np.full(es.size, m))
                pe.append(es)
                oth.append(np.array([[r * E + e for r in others] for e in es], int).reshape(
                    es.size, len(others)))
        if not pe:
            self._pair_e = np.zeros(0, int)
            return
        self._pair_k = np.concatenate(pk) * E + np.concatenate(pe)
        self._pair_l = np.concatenate(pl) * E + np.concatenate(pe)
        self._pair_e = np.concatenate(pe)
        self._pair_oth = np.concatenate(oth) if K > 2 else np.zeros((self._pair_e.size, 0), int)
        rows = pmat.ravel()[self._pair_k]
        cols = gcol[pmat.ravel()[self._pair_l]]
        self._pair_idx = rows * self.G.size + cols

    def _prepare_histosys(self, fm: FastModel, real: np.ndarray) -> None:
        """Histosys x multiplicative slot: R[p_k(e), h] += sum_e w F_k d1_k dA_he (both
        orders), through a sparse (P, E) matrix of the slots."""
        from scipy import sparse

        P, E = fm.npars, fm.E
        pos = np.flatnonzero(real.ravel())
        rows_z = fm._slot_p.ravel()[pos]
        cols_z = pos % E
        order = np.arange(pos.size, dtype=float) + 1.0
        Z = sparse.csr_matrix((order, (rows_z, cols_z)), shape=(P, E))
        self._Z = Z
        self._Z_pos = pos[(Z.data - 1.0).astype(int)]  # slot position of each stored entry
        self._Z_e = self._Z_pos % E

    def exact_system(self, fm: FastModel, ev: tuple, use: np.ndarray, lam: float
                     ) -> ExactSystem | None:
        """The damped exact Hessian at an evaluation, factorised for solves.

        Args:
            fm: the model.
            ev: :meth:`FastModel.evaluate_jac`'s result at the point.
            use: (P,) bool, the parameters solved for.
            lam: Levenberg factor (H_ii += lam max(H_ii, 1e-12)).

        Returns:
            (solve, column): ``solve(rhs)`` -> H_use^-1 rhs (zero outside ``use``) and
            ``column(j)`` -> H[:, j] (undamped); None where H_use is not positive definite.
        """
        from scipy.linalg import lapack

        _, _, J, c, d, pieces = ev
        RG, Rdiag = self._residual(fm, pieces)
        G, L, lb = self.G, self.L, self.L_bin
        nG, P = G.size, self.npars
        # blocks of H = J^T C J + diag(d) + R
        JG = J[:, G]
        cJG = JG * c[:, None]
        HGG = JG.T @ cJG + RG[G]
        HGG[np.diag_indices(nG)] += d[G] + Rdiag[G]
        jl = J[lb, L]
        cl = c[lb]
        HLG = cJG[lb] * jl[:, None] + RG[L]
        DL = d[L] + Rdiag[L]
        DL = DL + lam * np.maximum(DL + cl * jl * jl, DIAG_FLOOR)
        useL = use[L]
        al = np.sqrt(cl) * jl
        if not useL.all():
            DL = np.where(useL, DL, 1.0)
            al = np.where(useL, al, 0.0)
            HLG = HLG * useL[:, None]
        if not np.all(DL > 0):
            return None
        inv = 1.0 / DL
        ai = al * inv
        Lfold = self._Lfold
        fac = 1.0 / (1.0 + Lfold @ (al * ai))
        gu = np.flatnonzero(use[G])
        HLGu = HLG[:, gu] if gu.size < nG else HLG
        # S = H_GG - H_GL H_LL^-1 H_LG with H_LL^-1 = D^-1 - per-bin Sherman-Morrison terms
        V = Lfold @ (HLGu * ai[:, None])
        S = (HGG[np.ix_(gu, gu)] if gu.size < nG else HGG) - HLGu.T @ (HLGu * inv[:, None])
        S += V.T @ (V * fac[:, None])
        S[np.diag_indices(gu.size)] += lam * np.maximum(np.diag(HGG)[gu], DIAG_FLOOR)
        if gu.size:
            chol, info = lapack.dpotrf(S, lower=1, clean=0)
            if info != 0:
                return None
        Gu = G[gu]

        def apply_LL(r: np.ndarray) -> np.ndarray:
            return r * inv - ai * (fac * (Lfold @ (ai * r)))[lb]

        def solve(rhs: np.ndarray) -> np.ndarray:
            rL = rhs[L] if useL.all() else np.where(useL, rhs[L], 0.0)
            y = apply_LL(rL)
            xg = lapack.dpotrs(chol, rhs[Gu] - y @ HLGu, lower=1)[0] if Gu.size else y[:0]
            x = np.zeros(P)
            x[Gu] = xg
            x[L] = apply_LL(rL - HLGu @ xg)
            return x

        def column(j: int) -> np.ndarray:
            """H[:, j] for a parameter j acting on several bins (the POI)."""
            col = (c * J[:, j]) @ J + RG[:, self.gcol[j]]
            col[j] += d[j] + Rdiag[j]
            return col

        return solve, column

    def _residual(self, fm: FastModel, pieces: tuple) -> tuple[np.ndarray, np.ndarray]:
        """R[:, G] (rows in parameter order, columns in G order) and the diagonal of R at an
        evaluation (``pieces``: the last item of :meth:`FastModel.evaluate_jac`)."""
        pars, A, vals, d1, Fk, F, w, dA, hist = pieces
        P, nG = self.npars, self.G.size
        we = w[fm.el_bin]
        RG: np.ndarray
        if self._pair_e.size:
            val = (we * A)[self._pair_e] * d1[self._pair_k] * d1[self._pair_l]
            if self._pair_oth.shape[1]:
                val = val * vals.ravel()[self._pair_oth].prod(axis=1)
            RG = np.bincount(self._pair_idx, weights=val, minlength=P * nG).reshape(P, nG)
        else:
            RG = np.zeros((P, nG))
        Rdiag = np.zeros(P)
        if fm._c4_pos.size:
            Rdiag += self._code4_diagonal(fm, pars, we * A, vals, Fk)
        if dA is not None:
            self._add_histosys(fm, RG, Rdiag, we, F, Fk, d1, dA, hist)
        return RG, Rdiag

    def _code4_diagonal(self, fm: FastModel, pars: np.ndarray, weA: np.ndarray,
                        vals: np.ndarray, Fk: np.ndarray) -> np.ndarray:
        """R's diagonal from the second derivatives of the code-4 interpolated slots (the
        polynomial inside |alpha| < 1, the exponential outside)."""
        a = pars[fm._c4_p]
        k2 = fm._c4_d2coef
        d2 = k2[0] + a * (k2[1] + a * (k2[2] + a * (k2[3] + a * k2[4])))
        up, dn = a >= 1.0, a <= -1.0
        if up.any() or dn.any():
            f = vals.ravel()[fm._c4_pos]
            d2 = np.where(up, fm._c4_lhi**2 * f, np.where(dn, fm._c4_llo**2 * f, d2))
        return np.bincount(fm._c4_p, weights=weA[self._c4_e] * Fk.ravel()[fm._c4_pos] * d2,
                           minlength=self.npars)

    def _add_histosys(self, fm: FastModel, RG: np.ndarray, Rdiag: np.ndarray, we: np.ndarray,
                      F: np.ndarray, Fk: np.ndarray, d1: np.ndarray, dA: np.ndarray,
                      hist: tuple) -> None:
        """Add the histosys terms to R: the diagonal (second derivative of the interpolation
        polynomial) and the histosys x multiplicative-slot cross terms."""
        a, inside = hist
        ai = a if inside is None else np.where(inside, a, 0.0)
        a2 = ai * ai
        h2 = 30.0 + a2 * (-120.0 + 90.0 * a2)
        if inside is not None:
            h2 = np.where(inside, h2, 0.0)
        Rdiag[fm._hp] += h2 * (fm._hmat[1] @ (we * F))
        self._Z.data = (Fk.ravel() * d1)[self._Z_pos] * we[self._Z_e]
        Y = self._Z @ dA.T  # (P, n_histosys): R[p, h] = sum_e w F_k d1_k dA_he
        nh, nz = self._nh, self._nz
        RG[:, :nh] += Y
        RG[fm._hp, nh:nh + nz] += Y[self._zg].T

    def solve(self, J: np.ndarray, c: np.ndarray, d: np.ndarray, g: np.ndarray,
              use: np.ndarray, lam: float = DIAG_FLOOR) -> np.ndarray:
        """x = H_use^-1 g_use for the damped Gauss-Newton Hessian (0 outside ``use``).

        Cost O(B^2 n_kg + B n_kl + B^3 + B^2 n_u + n_u^3) (module doc).

        Args:
            J: (B, P) Jacobian d lambda / d theta.
            c: (B,) bin curvatures n / lambda^2.
            d: (P,) constraint curvatures.
            g: (P,) right-hand side (the gradient for a Newton step).
            use: (P,) bool, the parameters solved for (the others held fixed).
            lam: Levenberg factor: H_ii += lam * max(H_ii, 1e-12) (1e-12 + damping).

        Returns:
            (P,) solution, zero outside ``use``.

        Raises:
            numpy.linalg.LinAlgError: a singular system.
        """
        kg, kl, klb = self.kg, self.kl, self.kl_bin
        s = np.sqrt(c)
        AG = J[:, kg] * s[:, None]
        hG = np.einsum("bk,bk->k", AG, AG) + d[kg]
        with np.errstate(divide="ignore"):
            invG = np.where(use[kg], 1.0 / (d[kg] + lam * np.maximum(hG, DIAG_FLOOR)), 0.0)
        aL = J[klb, kl] * s[klb]
        a2 = aL * aL
        hL = a2 + d[kl]
        with np.errstate(divide="ignore"):
            invL = np.where(use[kl], 1.0 / (d[kl] + lam * np.maximum(hL, DIAG_FLOOR)), 0.0)
        AGi = AG * invG
        M = AGi @ AG.T
        B = M.shape[0]
        M[np.diag_indices(B)] += 1.0 + np.bincount(klb, weights=a2 * invL, minlength=B)
        gG, gL = g[kg], g[kl]
        z = AGi @ gG + np.bincount(klb, weights=aL * invL * gL, minlength=B)
        x = np.zeros(self.npars)
        uu = self.u[use[self.u]]
        if uu.size:
            Bu = J[:, uu] * s[:, None]
            hU = np.einsum("bk,bk->k", Bu, Bu) + d[uu]
            sol = np.linalg.solve(M, np.column_stack([z, Bu]))
            p, Q = sol[:, 0], sol[:, 1:]
            S = Bu.T @ Q
            S[np.diag_indices(uu.size)] += lam * np.maximum(hU, DIAG_FLOOR)
            xu = np.linalg.solve(S, g[uu] - Bu.T @ p)
            r = p + Q @ xu
            x[uu] = xu
        else:
            r = np.linalg.solve(M, z)
        x[kg] = invG * (gG - AG.T @ r)
        x[kl] = invL * (gL - aL * r[klb])
        return x

    def solve_batch(self, J: np.ndarray, c: np.ndarray, d: np.ndarray, g: np.ndarray,
                    use: np.ndarray, lam: np.ndarray) -> np.ndarray:
        """:meth:`solve` for N systems at once (same cost per system).

        Args:
            J: (N, B, P) Jacobians.
            c: (N, B) bin curvatures.
            d: (N, P) constraint curvatures.
            g: (N, P) right-hand sides.
            use: (N, P) bool, the parameters solved for per row.
            lam: (N,) Levenberg factors.

        Returns:
            (N, P) solutions (zero outside ``use``); rows whose system is singular are nan.
        """
        kg, kl, klb = self.kg, self.kl, self.kl_bin
        N, B, _ = J.shape
        lam = np.asarray(lam, float)[:, None]
        s = np.sqrt(c)
        AG = J[:, :, kg] * s[:, :, None]
        hG = np.einsum("nbk,nbk->nk", AG, AG) + d[:, kg]
        with np.errstate(divide="ignore"):
            invG = np.where(use[:, kg], 1.0 / (d[:, kg] + lam * np.maximum(hG, DIAG_FLOOR)),
                            0.0)
        aL = J[:, klb, kl] * s[:, klb]
        a2 = aL * aL
        hL = a2 + d[:, kl]
        with np.errstate(divide="ignore"):
            invL = np.where(use[:, kl], 1.0 / (d[:, kl] + lam * np.maximum(hL, DIAG_FLOOR)),
                            0.0)
        AGi = AG * invG[:, None, :]
        M = AGi @ np.swapaxes(AG, 1, 2)
        diag = np.zeros((N, B))
        np.add.at(diag.T, klb, (a2 * invL).T)
        M[:, np.arange(B), np.arange(B)] += 1.0 + diag
        gG, gL = g[:, kg], g[:, kl]
        z = np.einsum("nbk,nk->nb", AGi, gG)
        zl = np.zeros((N, B))
        np.add.at(zl.T, klb, (aL * invL * gL).T)
        z += zl
        x = np.zeros_like(g)
        u = self.u
        if u.size:
            useu = use[:, u]
            Bu = J[:, :, u] * s[:, :, None] * useu[:, None, :]
            hU = np.einsum("nbk,nbk->nk", Bu, Bu) + d[:, u]
            rhs = np.concatenate([z[:, :, None], Bu], axis=2)
            sol = _solve_rows(M, rhs)
            p, Q = sol[:, :, 0], sol[:, :, 1:]
            S = np.swapaxes(Bu, 1, 2) @ Q
            # parameters not solved for: an identity row (their solution is 0)
            S[:, np.arange(u.size), np.arange(u.size)] += np.where(
                useu, lam * np.maximum(hU, DIAG_FLOOR), 1.0)
            rhs_u = np.where(useu, g[:, u] - np.einsum("nbk,nb->nk", Bu, p), 0.0)
            xu = _solve_rows(S, rhs_u[:, :, None])[:, :, 0]
            r = p + np.einsum("nbk,nk->nb", Q, xu)
            x[:, u] = xu
        else:
            r = _solve_rows(M, z[:, :, None])[:, :, 0]
        x[:, kg] = invG * (gG - np.einsum("nbk,nb->nk", AG, r))
        x[:, kl] = invL * (gL - aL * r[:, klb])
        return x


def solve_blocks_batch(hs: HessianStructure, JG: np.ndarray, JL: np.ndarray, c: np.ndarray,
                       dG: np.ndarray, dL: np.ndarray, gG: np.ndarray, gL: np.ndarray,
                       useG: np.ndarray, useL: np.ndarray, lam: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`HessianStructure.solve` for N systems given in blocks (the batched fitter's).

    The columns of the G block are ``hs.kg`` then ``hs.u`` (``BatchModel.blocks``), the L
    block ``hs.kl``; the cost per system is that of :meth:`HessianStructure.solve`.

    Args:
        hs: the structure.
        JG: (N, B, n_G) Jacobian of the G parameters; JL: (N, n_L) of the per-bin ones.
        c: (N, B) bin curvatures.
        dG, dL: constraint curvatures.
        gG, gL: right-hand sides.
        useG, useL: the parameters solved for.
        lam: (N,) Levenberg factors.

    Returns:
        (xG, xL), zero outside ``use``; rows with a singular system are nan.
    """
    N, B, nG = JG.shape
    nk = hs.kg.size
    lb = hs.kl_bin
    lam = np.asarray(lam, float)[:, None]
    s = np.sqrt(c)
    Hd = np.einsum("nbk,nbk,nb->nk", JG, JG, c) + dG
    with np.errstate(divide="ignore"):
        invK = np.where(useG[:, :nk],
                        1.0 / (dG[:, :nk] + lam * np.maximum(Hd[:, :nk], DIAG_FLOOR)), 0.0)
    aL = JL * s[:, lb]
    a2 = aL * aL
    with np.errstate(divide="ignore"):
        invL = np.where(useL, 1.0 / (dL + lam * np.maximum(a2 + dL, DIAG_FLOOR)), 0.0)
    # A = C^1/2 J_K; M = I + A D^-1 A^T = I + diag(s) (J_K D^-1 J_K^T) diag(s)
    JK = JG[:, :, :nk]
    M = (JK * invK[:, None, :]) @ np.swapaxes(JK, 1, 2)
    M *= s[:, :, None] * s[:, None, :]
    fold = hs.lfold_t
    M[:, np.arange(B), np.arange(B)] += 1.0 + (a2 * invL) @ fold
    z = s * (JK @ (invK * gG[:, :nk])[:, :, None])[:, :, 0] + (aL * invL * gL) @ fold
    nu = nG - nk
    if nu and useG[:, nk:].any():
        useU = useG[:, nk:]
        Bu = JG[:, :, nk:] * s[:, :, None] * useU[:, None, :]
        sol = _solve_rows(M, np.concatenate([z[:, :, None], Bu], axis=2))
        p, Q = sol[:, :, 0], sol[:, :, 1:]
        S = np.swapaxes(Bu, 1, 2) @ Q
        S[:, np.arange(nu), np.arange(nu)] += np.where(
            useU, lam * np.maximum(Hd[:, nk:], DIAG_FLOOR), 1.0)
        rhs = np.where(useU, gG[:, nk:] - np.einsum("nbk,nb->nk", Bu, p), 0.0)
        xu = _solve_rows(S, rhs[:, :, None])[:, :, 0]
        r = p + np.einsum("nbk,nk->nb", Q, xu)
    else:
        xu = np.zeros((N, nu))
        r = _solve_rows(M, z[:, :, None])[:, :, 0]
    xK = invK * (gG[:, :nk] - ((s * r)[:, None, :] @ JK)[:, 0, :])
    xL = invL * (gL - aL * r[:, lb])
    return np.concatenate([xK, xu], axis=1), xL


#: Fewest rows for which :func:`spd_inverse_rows` inverts the Cholesky factors row by row of
#: the factor, vectorised over the matrices (fewer matrices: LAPACK's inverse per matrix, whose
#: call overhead is then smaller).
LOOP_MIN_ROWS = 48
#: Most bins for which it does so (more bins: LAPACK's inverse per matrix).
LOOP_MAX_BINS = 64


def spd_inverse_rows(M: np.ndarray) -> np.ndarray:
    """Inverses of N symmetric positive definite B x B matrices.

    Cholesky factors M = L L^T (LAPACK, batched), then L^-1 by forward substitution one row
    at a time, each step vectorised over the N matrices (numpy has no batched triangular
    inverse), and M^-1 = L^-T L^-1: B steps of O(N B^2) work instead of N LAPACK calls. With
    fewer than ``LOOP_MIN_ROWS`` matrices or more than ``LOOP_MAX_BINS`` bins, LAPACK's inverse
    per matrix. Matrices that are not positive definite give nan.

    Args:
        M: (N, B, B).

    Returns:
        (N, B, B) inverses.
    """
    n, B, _ = M.shape
    if n < LOOP_MIN_ROWS or B > LOOP_MAX_BINS:
        return _inverse_rows(M)
    L = _cholesky_rows(M)
    X = np.zeros_like(L)
    d = 1.0 / L[:, np.arange(B), np.arange(B)]
    for i in range(B):  # row i of the lower-triangular L^-1
        if i:
            X[:, i, :i] = -np.einsum("nj,njk->nk", L[:, i, :i], X[:, :i, :i]) * d[:, i, None]
        X[:, i, i] = d[:, i]
    return np.swapaxes(X, 1, 2) @ X


@dataclass(eq=False)
class BlockSystem:
    """The damped Gauss-Newton system of :func:`solve_blocks_batch` for N rows, factorised once
    and solved for any number of right-hand sides.

    Same algebra and groups (G = ``hs.kg`` then ``hs.u``, L = ``hs.kl``; the order of
    ``BatchModel.blocks``): the B x B matrix M = I + A D^-1 A^T of the Woodbury identity is
    symmetric positive definite (the identity plus a positive semi-definite term; its eigenvalues
    are >= 1) and kept as its inverse, computed through its Cholesky factor (Golub & Van Loan,
    "Matrix Computations", 4th ed., Sec. 4.2), the unconstrained parameters' Schur complement
    as its inverse (n_u x n_u). Building costs
    O(B^2 n_kg + B^3 + B^2 n_u + n_u^3) per row, as one :func:`solve_blocks_batch`; each later
    solve O(B^2 + B n_kg + n_kl + B n_u) per row. A fitter that keeps the Jacobian of one point
    (quasi-Newton steps near the optimum) solves its later steps at that cost.

    Build with :meth:`build`; ``take``/``put`` select and overwrite rows, :meth:`concat` joins
    the rows of several systems.

    Attributes:
        hs: the structure.
        nk: constrained parameters at the front of G (``hs.kg.size``).
        s: (N, B) square roots of the bin curvatures, C^1/2.
        invK: (N, n_kg) inverse damped diagonal of the constrained parameters of G (0: held).
        invL: (N, n_kl) the same for the per-bin parameters.
        aL: (N, n_kl) the per-bin parameters' entries of A = C^1/2 J.
        JK: (N, B, n_kg) Jacobian of the constrained parameters of G.
        Minv: (N, B, B) M^-1.
        Ju: (N, B, n_u) Jacobian of the unconstrained parameters.
        Hu: (N, n_u) their Gauss-Newton diagonal.
        lam: (N,) Levenberg factors.
        useU: (N, n_u) bool, the unconstrained parameters solved for.
        Bu: (N, B, n_u) C^1/2 J_u of those; Q: (N, B, n_u) M^-1 Bu.
        Sinv: (N, n_u, n_u) inverse of their Schur complement.
    """

    hs: HessianStructure
    nk: int
    s: np.ndarray
    invK: np.ndarray
    invL: np.ndarray
    aL: np.ndarray
    JK: np.ndarray
    Minv: np.ndarray
    Ju: np.ndarray
    Hu: np.ndarray
    lam: np.ndarray
    useU: np.ndarray
    Bu: np.ndarray
    Q: np.ndarray
    Sinv: np.ndarray
    #: The per-row arrays (first axis: the rows).
    ROWS: ClassVar[tuple[str, ...]] = ("s", "invK", "invL", "aL", "JK", "Minv", "Ju", "Hu",
                                       "lam", "useU", "Bu", "Q", "Sinv")

    @classmethod
    def build(cls, hs: HessianStructure, nk: int, JG: np.ndarray, JL: np.ndarray, c: np.ndarray,
              dG: np.ndarray, dL: np.ndarray, useG: np.ndarray, useL: np.ndarray,
              lam: np.ndarray) -> BlockSystem:
        """Factorise the systems of N rows.

        Args:
            hs: the structure.
            nk: number of constrained parameters at the front of G (``hs.kg.size``).
            JG, JL, c, dG, dL: as :func:`solve_blocks_batch`.
            useG, useL: (N, n_G), (N, n_L) bool, the parameters solved for.
            lam: (N,) Levenberg factors.

        Returns:
            The factorised systems (rows whose matrix is not positive definite give nan
            solutions).
        """
        B = JG.shape[1]
        lam = np.asarray(lam, float)
        s = np.sqrt(c)
        JK = JG[:, :, :nk]
        hK = np.einsum("nbk,nbk,nb->nk", JK, JK, c) + dG[:, :nk]
        with np.errstate(divide="ignore"):
            invK = np.where(useG[:, :nk],
                            1.0 / (dG[:, :nk] + lam[:, None] * np.maximum(hK, DIAG_FLOOR)), 0.0)
        aL = JL * s[:, hs.kl_bin]
        a2 = aL * aL
        with np.errstate(divide="ignore"):
            invL = np.where(useL, 1.0 / (dL + lam[:, None] * np.maximum(a2 + dL, DIAG_FLOOR)),
                            0.0)
        M = (JK * invK[:, None, :]) @ np.swapaxes(JK, 1, 2)
        M *= s[:, :, None] * s[:, None, :]
        M[:, np.arange(B), np.arange(B)] += 1.0 + (a2 * invL) @ hs.lfold_t
        Minv = spd_inverse_rows(M)
        Ju = np.array(JG[:, :, nk:], order="C")
        Hu = np.einsum("nbk,nbk,nb->nk", Ju, Ju, c) + dG[:, nk:]
        useU = np.array(useG[:, nk:], bool)
        Bu, Q, Sinv = _unconstrained_blocks(Minv, Ju, s, Hu, lam, useU)
        return cls(hs, nk, s, invK, invL, aL, np.array(JK, order="C"), Minv, Ju, Hu, lam, useU,
                   Bu, Q, Sinv)

    @classmethod
    def concat(cls, systems: Sequence[BlockSystem]) -> BlockSystem:
        """One system holding the rows of ``systems`` (of one structure), in order."""
        first = systems[0]
        return cls(first.hs, first.nk,
                   **{k: np.concatenate([getattr(s, k) for s in systems]) for k in cls.ROWS})

    def with_u(self, useU: np.ndarray) -> BlockSystem:
        """A copy solving for the unconstrained parameters ``useU`` (N, n_u) instead (the POI
        freed or fixed at the same point): O(B^2 n_u) per row."""
        out = self.take(slice(None))
        out.useU = np.array(useU, bool)
        out.Bu, out.Q, out.Sinv = _unconstrained_blocks(out.Minv, out.Ju, out.s, out.Hu,
                                                         out.lam, out.useU)
        return out

    def masks(self) -> tuple[np.ndarray, np.ndarray]:
        """(useG, useL): the parameters each row's system solves for."""
        return np.concatenate([self.invK != 0.0, self.useU], axis=1), self.invL != 0.0

    def take(self, idx: Any) -> BlockSystem:
        """The systems of rows idx (a copy)."""
        copy = isinstance(idx, slice)
        rows = {k: getattr(self, k)[idx] for k in self.ROWS}
        return BlockSystem(self.hs, self.nk,
                           **({k: v.copy() for k, v in rows.items()} if copy else rows))

    def put(self, idx: Any, other: BlockSystem) -> None:
        """Overwrite rows idx with the systems of ``other``."""
        for k in self.ROWS:
            getattr(self, k)[idx] = getattr(other, k)

    def solve(self, gG: np.ndarray, gL: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """H^-1 g per row (zero for the parameters not solved for).

        Args:
            gG: (N, n_G), gL: (N, n_L) right-hand sides.

        Returns:
            (xG, xL).
        """
        nk, s, JK = self.nk, self.s, self.JK
        z = s * np.einsum("nbk,nk->nb", JK, self.invK * gG[:, :nk]) + \
            (self.aL * self.invL * gL) @ self.hs.lfold_t
        p = np.einsum("nij,nj->ni", self.Minv, z)
        if self.useU.any():
            rhs = np.where(self.useU, gG[:, nk:] - np.einsum("nbk,nb->nk", self.Bu, p), 0.0)
            xu = np.einsum("nuv,nv->nu", self.Sinv, rhs)
            r = p + np.einsum("nbk,nk->nb", self.Q, xu)
        else:
            xu = np.zeros((s.shape[0], self.Ju.shape[2]))
            r = p
        xK = self.invK * (gG[:, :nk] - np.einsum("nbk,nb->nk", JK, s * r))
        xL = self.invL * (gL - self.aL * r[:, self.hs.kl_bin])
        return np.concatenate([xK, xu], axis=1), xL


def _unconstrained_blocks(Minv: np.ndarray, Ju: np.ndarray, s: np.ndarray, Hu: np.ndarray,
                          lam: np.ndarray, useU: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The unconstrained parameters' blocks of :class:`BlockSystem`: (Bu, Q = M^-1 Bu, S^-1)
    with S = Bu^T M^-1 Bu + damping (an identity row for the parameters not solved for, whose
    solution is 0)."""
    n, nu = useU.shape
    Bu = Ju * s[:, :, None] * useU[:, None, :]
    if nu and useU.any():
        Q = Minv @ Bu
        S = np.swapaxes(Bu, 1, 2) @ Q
        S[:, np.arange(nu), np.arange(nu)] += np.where(
            useU, lam[:, None] * np.maximum(Hu, DIAG_FLOOR), 1.0)
        return Bu, Q, _inverse_rows(S)
    return Bu, np.zeros_like(Bu), np.broadcast_to(np.eye(nu), (n, nu, nu)).copy()


def _rowwise(fn: Callable[[np.ndarray], np.ndarray], M: np.ndarray) -> np.ndarray:
    """fn over a stack of matrices at once; where it fails (LinAlgError), row by row, with nan
    for the rows it fails on."""
    try:
        return fn(M)
    except np.linalg.LinAlgError:
        out = np.full(M.shape, np.nan)
        for i in range(M.shape[0]):
            try:
                out[i] = fn(M[i])
            except np.linalg.LinAlgError:
                continue
        return out


def _inverse_rows(M: np.ndarray) -> np.ndarray:
    """Batched inverses; singular rows give nan."""
    return _rowwise(np.linalg.inv, M)


def _cholesky_rows(M: np.ndarray) -> np.ndarray:
    """Batched Cholesky factors; rows that are not positive definite give nan."""
    return _rowwise(np.linalg.cholesky, M)


class _NoExact(Exception):
    """The exact-Hessian solver does not apply to this model (the reason says why)."""


def _check_element_blocks(fm: FastModel, real: np.ndarray, L: np.ndarray) -> None:
    """Raise :class:`_NoExact` where a parameter acts twice on one element, or two per-bin
    parameters (``L``) act on one element: R would not have the block structure solved here.

    Args:
        fm: the model.
        real: (K, E) bool, the multiplicative slots in use.
        L: the per-bin parameters.
    """
    P, E, pmat = fm.npars, fm.E, fm._slot_p
    is_local = np.zeros(P, bool)
    is_local[L] = True
    flat = pmat * E + np.arange(E)[None, :]
    if np.unique(flat[real]).size != int(real.sum()):
        raise _NoExact("a parameter acts twice on one element")
    n_loc = (real & is_local[pmat]).sum(axis=0)
    if fm._add_e.size:
        n_loc = n_loc + np.bincount(fm._add_e, weights=is_local[fm._add_p],
                                    minlength=E).astype(int)
    if np.any(n_loc > 1):
        raise _NoExact("two per-bin parameters act on one element")


def _solve_rows(M: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Batched solve; rows with a singular matrix give nan instead of stopping the batch."""
    try:
        return np.linalg.solve(M, rhs)
    except np.linalg.LinAlgError:
        out = np.full(rhs.shape, np.nan)
        for i in range(M.shape[0]):
            try:
                out[i] = np.linalg.solve(M[i], rhs[i])
            except np.linalg.LinAlgError:
                continue
        return out
