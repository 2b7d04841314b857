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
"""

from __future__ import annotations

import numpy as np

from emiss.inference.fastmodel import FastModel

#: Floor of a diagonal entry of H in the Levenberg term (as the dense solver).
DIAG_FLOOR = 1e-12


class HessianStructure:
    """The parameter groups of a compiled model's Gauss-Newton Hessian (see module doc).

    Args:
        fm: compiled model.

    Attributes:
        kg: constrained parameters acting on several bins.
        kl, kl_bin: constrained parameters acting on one bin, and that bin.
        u: unconstrained parameters.
    """

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
