"""Explicit Lorentz-covariant amplitudes for the light-invisible tests (independent of the helicity
formalism used in emiss.physics.currents/threebody).

Everything here is built from four-vectors, explicit polarisation vectors and numerical Dirac
matrices; hadronic matrix elements from their covariant definitions (HPQCD 2207.12468 eqs. (1)-(3),
BSZ 1503.05534 eqs. (3)-(6); tensor currents: ``hadronic_tensor``). Explicit spinors: Dirac
spinors, their charge conjugates (Majorana pairs) and Rarita-Schwinger vector-spinors built by
Clebsch-Gordan coupling (``rs_spinors``), never the closed-form spin sums of the code.
Metric (+,-,-,-), epsilon^{0123} = +1.
"""

from __future__ import annotations

import itertools

import numpy as np

G = np.diag([1.0, -1.0, -1.0, -1.0])
V_HIGGS = 246.21965  # GeV, PDG (G_F-defined vev), typed by hand for the tests

_EPS = np.zeros((4, 4, 4, 4))
for _perm in itertools.permutations(range(4)):
    _EPS[_perm] = np.linalg.det(np.eye(4)[list(_perm)])

# Dirac representation
_I2 = np.eye(2)
_SIG = [np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.array([[1, 0], [0, -1]])]
GAMMA = [np.block([[_I2, 0 * _I2], [0 * _I2, -_I2]]).astype(complex)] + [
    np.block([[0 * _I2, s], [-s, 0 * _I2]]).astype(complex) for s in _SIG
]
GAMMA5 = 1j * GAMMA[0] @ GAMMA[1] @ GAMMA[2] @ GAMMA[3]
ONE = np.eye(4, dtype=complex)
PL, PR = (ONE - GAMMA5) / 2, (ONE + GAMMA5) / 2


def dot(a, b):
    """Minkowski product over the last axis."""
    return (a[..., 0] * b[..., 0] - a[..., 1] * b[..., 1] - a[..., 2] * b[..., 2]
            - a[..., 3] * b[..., 3])


def lower(a):
    """Lower the last index."""
    return a @ G


def slash(p):
    """p-slash for p of shape (N, 4) -> (N, 4, 4)."""
    pl = lower(p)
    return np.einsum("nm,mab->nab", pl.astype(complex), np.array(GAMMA))


def bar(M):
    """Dirac adjoint gamma0 M^dagger gamma0."""
    return GAMMA[0] @ M.conj().T @ GAMMA[0]


def pair_frame_momenta(q2, cth, mB, mM, m):
    """Four-momenta in the pair rest frame: B along +z; X at polar angle theta, azimuth 0.3.

    Returns:
        pB, pM, p1, p2 (each (N, 4)) and |P| (B momentum in that frame).
    """
    q2 = np.asarray(q2, float)
    n = len(cth)
    sq = np.sqrt(q2)
    lam = mB**4 + mM**4 + q2**2 - 2 * (mB**2 * mM**2 + mB**2 * q2 + mM**2 * q2)
    P = np.sqrt(lam) / (2 * sq)
    EB = (mB**2 + q2 - mM**2) / (2 * sq)
    zero = np.zeros(n)
    pB = np.stack([EB, zero, zero, P], axis=1)
    q = np.stack([sq, zero, zero, zero], axis=1)
    pM = pB - q
    k = np.sqrt(q2 / 4 - m * m)
    sth = np.sqrt(1 - cth**2)
    phi = 0.3
    vec = np.stack([sth * np.cos(phi), sth * np.sin(phi), cth], axis=1) * k[:, None]
    p1 = np.concatenate([sq[:, None] / 2, vec], axis=1)
    p2 = np.concatenate([sq[:, None] / 2, -vec], axis=1)
    return pB, pM, p1, p2, P


def kstar_polarisations(pM, mM):
    """K* polarisation vectors for K* momentum along +z: dict helicity -> (N, 4) complex."""
    n = len(pM)
    kz, E = pM[:, 3], pM[:, 0]
    # pM points along +-z; use its signed z component for the longitudinal vector
    e0 = np.stack([kz, 0 * kz, 0 * kz, E], axis=1) / mM
    ep = np.tile(np.array([0, -1, -1j, 0]) / np.sqrt(2), (n, 1))
    em = np.tile(np.array([0, 1, -1j, 0]) / np.sqrt(2), (n, 1))
    return {0: e0.astype(complex), 1: ep, -1: em}


def massive_polarisations(p, m):
    """Three real polarisation vectors of a massive vector with momentum p (N, 4)."""
    pv = p[:, 1:]
    pn = np.linalg.norm(pv, axis=1)
    nhat = pv / pn[:, None]
    a = np.where(np.abs(nhat[:, 2:3]) < 0.9, np.array([[0, 0, 1.0]]), np.array([[1.0, 0, 0]]))
    e1 = np.cross(nhat, a)
    e1 /= np.linalg.norm(e1, axis=1)[:, None]
    e2 = np.cross(nhat, e1)
    z = np.zeros((len(p), 1))
    eps1 = np.concatenate([z, e1], axis=1)
    eps2 = np.concatenate([z, e2], axis=1)
    epsL = np.concatenate([pn[:, None], p[:, :1] * nhat], axis=1) / m
    return [eps1, eps2, epsL]


def hadronic(process, ff, pB, pM, mb, ms):
    """Covariant hadronic matrix elements.

    Returns:
        list over meson polarisations of (helicity, V^mu, A^mu, S, P) with complex arrays.
    """
    mB, mM = process.m_B, process.m_M
    q = pB - pM
    q2 = dot(q, q)
    Pm = pB + pM
    if not process.is_vector:
        fp, f0 = ff.fplus(q2), ff.f0(q2)
        r = (mB**2 - mM**2) / q2
        Vmu = fp[:, None] * (Pm - (r[:, None] * q)) + (f0 * r)[:, None] * q
        S = (mB**2 - mM**2) / (mb - ms) * f0
        z = np.zeros_like(q2)
        return [(0, Vmu.astype(complex), 0 * Vmu.astype(complex), S.astype(complex),
                 z.astype(complex))]
    V, A0, A1, A2, A3 = ff.V(q2), ff.A0(q2), ff.A1(q2), ff.A2(q2), ff.A3(q2)
    out = []
    for hel, eta in kstar_polarisations(pM, mM).items():
        etas = eta.conj()
        Vmu = np.einsum("abcd,nb,nc,nd->na", _EPS, lower(etas), lower(pB), lower(pM)) \
            * (2 * V / (mB + mM))[:, None]
        eq = dot(etas, q)
        Amu = 1j * (etas * ((mB + mM) * A1)[:, None]
                    - (eq * A2 / (mB + mM))[:, None] * Pm
                    - (eq * 2 * mM / q2 * (A3 - A0))[:, None] * q)
        S = np.zeros_like(q2).astype(complex)
        P = -1j * eq * 2 * mM * A0 / (mb + ms)
        out.append((hel, Vmu, Amu, S, P))
    return out


def fermion_tensor(p1, p2, m, Gam):
    """L^{mu nu} = Tr[(p1s + m) Gam^mu (p2s - m) bar(Gam^nu)] for a list of 4 Dirac matrices."""
    A = slash(p1) + m * ONE
    B = slash(p2) - m * ONE
    Gb = [bar(g) for g in Gam]
    L = np.empty((len(p1), 4, 4), complex)
    for mu in range(4):
        for nu in range(4):
            L[:, mu, nu] = np.einsum("nab,bc,ncd,da->n", A, Gam[mu], B, Gb[nu])
    return L


def fermion_scalar_trace(p1, p2, m, Gam):
    """Tr[(p1s + m) Gam (p2s - m) bar(Gam)]."""
    A = slash(p1) + m * ONE
    B = slash(p2) - m * ONE
    return np.einsum("nab,bc,ncd,da->n", A, Gam, B, bar(Gam)).real


# ---------------------------------------------------------------- explicit spinors (spin 1/2, 3/2)
#: Charge conjugation C = i gamma^2 gamma^0 (Dirac representation): v(p, s) = C ū(p, s)^T.
CHARGE_C = 1j * GAMMA[2] @ GAMMA[0]
#: sigma^{mu nu} = (i/2) [gamma^mu, gamma^nu] (upper indices), shape (4, 4, 4, 4).
SIGMA = np.array([[0.5j * (GAMMA[a] @ GAMMA[b] - GAMMA[b] @ GAMMA[a]) for b in range(4)]
                  for a in range(4)])


def dirac_spinors(p, m):
    """u(p, s) for s = +1/2, -1/2 (spin along z in the rest frame, boosted; ūu = 2m).

    u = (sqrt(E + m) chi, sigma.p chi / sqrt(E + m)) (Dirac representation).

    Args:
        p: four-momenta (N, 4) with p^2 = m^2.
        m: mass (GeV).

    Returns:
        complex array (N, 2, 4): [point, spin state, Dirac index].
    """
    n = len(p)
    E = p[:, 0]
    sp = sum(p[:, i + 1, None, None] * _SIG[i][None] for i in range(3))  # (N, 2, 2)
    out = np.zeros((n, 2, 4), complex)
    for s, chi in enumerate((np.array([1.0, 0.0]), np.array([0.0, 1.0]))):
        out[:, s, :2] = np.sqrt(E + m)[:, None] * chi
        out[:, s, 2:] = np.einsum("nab,b->na", sp, chi) / np.sqrt(E + m)[:, None]
    return out


def charge_conjugate(u):
    """v = C ū^T = C gamma0^T u* for spinors u (..., 4) (also vector-spinors (..., 4mu, 4))."""
    return np.einsum("ab,bc,...c->...a", CHARGE_C, GAMMA[0].T, u.conj())


def canonical_polarisations(p, m):
    """Polarisation vectors eps(p, lambda), lambda = +1, 0, -1: the rest-frame vectors
    -(1, i, 0)/sqrt2, (0, 0, 1), (1, -i, 0)/sqrt2 boosted to p (the boost of ``dirac_spinors``).

    Returns:
        complex array (N, 3, 4) [point, lambda index (+1, 0, -1), mu].
    """
    rest = [np.array([-1.0, -1j, 0.0]) / np.sqrt(2), np.array([0.0, 0.0, 1.0]),
            np.array([1.0, -1j, 0.0]) / np.sqrt(2)]
    E, pv = p[:, 0], p[:, 1:]
    out = np.zeros((len(p), 3, 4), complex)
    for i, e in enumerate(rest):
        pe = pv @ e
        out[:, i, 0] = pe / m
        out[:, i, 1:] = e[None, :] + (pe / (m * (E + m)))[:, None] * pv
    return out


def rs_spinors(p, m):
    """Rarita-Schwinger vector-spinors u^mu(p, s), s = 3/2, 1/2, -1/2, -3/2, from Clebsch-Gordan
    coupling of spin 1 and spin 1/2: u^mu(s) = sum <1 l; 1/2 r | 3/2 s> eps^mu(l) u(r).

    Returns:
        complex array (N, 4, 4, 4): [point, spin state, mu, Dirac index].
    """
    eps = canonical_polarisations(p, m)  # +1, 0, -1
    u = dirac_spinors(p, m)  # up, down
    ep, e0, em = eps[:, 0], eps[:, 1], eps[:, 2]
    up, dn = u[:, 0], u[:, 1]

    def outer(e, s):
        return e[:, :, None] * s[:, None, :]

    r23, r13 = np.sqrt(2.0 / 3.0), np.sqrt(1.0 / 3.0)
    states = [outer(ep, up), r23 * outer(e0, up) + r13 * outer(ep, dn),
              r13 * outer(em, up) + r23 * outer(e0, dn), outer(em, dn)]
    return np.stack(states, axis=1)


def rs_spin_sum(p, m, sign=+1):
    """sum_s u^mu ū^nu (sign +1) or v^mu v̄^nu (sign -1, m -> -m), the closed form
    -(p-slash + m)[g^{mu nu} - gamma^mu gamma^nu/3 - 2 p^mu p^nu/(3 m^2)
    + (p^mu gamma^nu - p^nu gamma^mu)/(3 m)] (upper indices).

    Returns:
        complex array (N, 4, 4, 4, 4): [point, mu, nu, Dirac, Dirac].
    """
    mm = sign * m
    ps = slash(p)
    out = np.zeros((len(p), 4, 4, 4, 4), complex)
    for a in range(4):
        for b in range(4):
            br = (G[a, b] * ONE[None] - (GAMMA[a] @ GAMMA[b])[None] / 3
                  - (2 * p[:, a] * p[:, b] / (3 * m * m))[:, None, None] * ONE[None]
                  + (p[:, a, None, None] * GAMMA[b][None] - p[:, b, None, None] * GAMMA[a][None])
                  / (3 * mm))
            out[:, a, b] = -np.einsum("nij,njk->nik", ps + mm * ONE[None], br)
    return out


def dual(F):
    """F~^{mu nu} = (1/2) eps^{mu nu alpha beta} F_{alpha beta} for F (N, 4, 4) upper indices."""
    Fl = np.einsum("am,nmk,kb->nab", G, F, G)
    return 0.5 * np.einsum("abcd,ncd->nab", _EPS, Fl)


def tensor_from_parts(E, B, n):
    """The antisymmetric F^{mu nu} with F^{mu nu} n_nu = E^mu and F~^{mu nu} n_nu = B^mu (n unit
    time-like, E.n = B.n = 0): F = E n - n E - eps^{mu nu rho sigma} B_rho n_sigma (checked)."""
    F = (np.einsum("na,nb->nab", E, n) - np.einsum("na,nb->nab", n, E)
         - np.einsum("abcd,nc,nd->nab", _EPS, lower(B), lower(n)))
    np.testing.assert_allclose(np.einsum("nab,nb->na", F, lower(n)), E, atol=1e-9)
    np.testing.assert_allclose(np.einsum("nab,nb->na", dual(F), lower(n)), B, atol=1e-9)
    return F


def hadronic_tensor(process, ff, pB, pM):
    """<M|s̄ sigma^{mu nu} b|B> and <M|s̄ sigma^{mu nu} gamma5 b|B> (upper indices) from the
    covariant definitions: B -> K, F = i f_T (P^mu q^nu - P^nu q^mu)/(m_B + m_K) (HPQCD
    2207.12468 eq. (3)); B -> K*, <s̄ i sigma^{mu nu} q_nu b> = 2 T1 eps^{mu nu rho sigma}
    eta*_nu p_rho k_sigma and <s̄ i sigma^{mu nu} q_nu gamma5 b> = i T2 [(m_B^2 - m_V^2) eta*^mu
    - (eta*.q) P^mu] + i T3 (eta*.q) [q^mu - q^2 P^mu/(m_B^2 - m_V^2)] (BSZ 1503.05534 sec. 2),
    T3 from T23 = [(m_B^2 - m_V^2)(m_B^2 + 3 m_V^2 - q^2) T2 - lambda T3]/(8 m_B m_V^2 (m_B - m_V)).
    The full tensors follow from their q-contractions (``tensor_from_parts``) and
    sigma gamma5 = (i/2) eps sigma (F5 = i F~; tested in test_pair_operators).

    Returns:
        list over meson polarisations of (helicity, F, F5), complex arrays (N, 4, 4).
    """
    mB, mM = process.m_B, process.m_M
    q = pB - pM
    q2 = dot(q, q)
    n = q / np.sqrt(q2)[:, None]
    Pm = pB + pM
    if not process.is_vector:
        fT = ff.fT(q2)
        F = (1j * fT / (mB + mM))[:, None, None] * (np.einsum("na,nb->nab", Pm, q)
                                                    - np.einsum("na,nb->nab", q, Pm))
        return [(0, F.astype(complex), 1j * dual(F))]
    T1, T2, T23 = ff.T1(q2), ff.T2(q2), ff.T23(q2)
    lam = mB**4 + mM**4 + q2**2 - 2 * (mB**2 * mM**2 + mB**2 * q2 + mM**2 * q2)
    T3 = ((mB**2 - mM**2) * (mB**2 + 3 * mM**2 - q2) * T2
          - 8 * mB * mM**2 * (mB - mM) * T23) / lam
    out = []
    for hel, eta in kstar_polarisations(pM, mM).items():
        etas = eta.conj()
        eq = dot(etas, q)
        sq_def = -2j * T1[:, None] * np.einsum("abcd,nb,nc,nd->na", _EPS, lower(etas),
                                               lower(pB), lower(pM))  # sigma^{mu nu} q_nu
        s5_def = (T2[:, None] * ((mB**2 - mM**2) * etas - eq[:, None] * Pm)
                  + (T3 * eq)[:, None] * (q - (q2 / (mB**2 - mM**2))[:, None] * Pm))
        E = sq_def / np.sqrt(q2)[:, None]
        E5 = s5_def / np.sqrt(q2)[:, None]
        F = tensor_from_parts(E, -1j * E5, n)
        F5 = 1j * dual(F)
        np.testing.assert_allclose(np.einsum("nab,nb->na", F5, lower(q)), s5_def,
                                   atol=1e-9 * np.abs(s5_def).max())
        out.append((hel, F, F5))
    return out


def numeric_dgamma(process, q2, m, msq, n_points=12):
    """dGamma/dq^2 = int dm12^2 |M|^2 / (256 pi^3 m_B^3) (PDG kinematics review eq. (49.22))
    by Gauss-Legendre in the pair's polar angle (m12^2 is linear in cos theta).

    Args:
        process: Process.
        q2: pair invariant mass squared (GeV^2).
        m: mass of each invisible particle.
        msq: function (pB, pM, p1, p2) -> (total, K*-longitudinal) spin-summed |M|^2 arrays.
        n_points: Gauss-Legendre order.

    Returns:
        (total, longitudinal) dGamma/dq^2 in GeV^-1.
    """
    mB, mM = process.m_B, process.m_M
    x, w = np.polynomial.legendre.leggauss(n_points)
    pB, pM, p1, p2, _ = pair_frame_momenta(np.full(n_points, q2), x, mB, mM, m)
    ends = pair_frame_momenta(np.full(2, q2), np.array([-1.0, 1.0]), mB, mM, m)
    e12 = dot(ends[1] + ends[2], ends[1] + ends[2])
    jac = abs(e12[1] - e12[0]) / 2.0
    tot, lng = msq(pB, pM, p1, p2)
    norm = 256 * np.pi**3 * mB**3
    return jac * np.sum(w * tot) / norm, jac * np.sum(w * lng) / norm


def gamma_lower(Gam):
    """Gamma_mu (lower index) from a list of four Gamma^mu."""
    return [G[a, a] * Gam[a] for a in range(4)]


def pair_amplitudes_dirac(p1, p2, m, Gam, majorana=False):
    """Explicit amplitudes ū(p1, s1) Gam v(p2, s2) (Gam one 4x4 matrix or an (N, 4, 4) array).

    majorana: the antisymmetrised matrix element of a self-conjugate field,
    <chi chi|chī Gam chi|0> = ū1 Gam v2 - ū2 Gam v1 (v = C ū^T), times 1/2 for the
    normalisation L = (K/2) J chī Gam chi.

    Returns:
        complex (N, 2, 2) [point, s1, s2].
    """
    u1, u2 = dirac_spinors(p1, m), dirac_spinors(p2, m)
    v1, v2 = charge_conjugate(u1), charge_conjugate(u2)
    Gm = np.broadcast_to(Gam, (len(p1), 4, 4))

    def amp(ua, vb):
        ubar = np.einsum("nsi,ij->nsj", ua.conj(), GAMMA[0])
        return np.einsum("nsi,nij,ntj->nst", ubar, Gm, vb)

    if not majorana:
        return amp(u1, v2)
    return 0.5 * (amp(u1, v2) - np.swapaxes(amp(u2, v1), 1, 2))


def pair_amplitudes_rs(p1, p2, m, Gam, majorana=False):
    """Explicit amplitudes ū_nu(p1, s1) Gam v^nu(p2, s2) of a Rarita-Schwinger pair (``rs_spinors``,
    v^nu = C ū^{nu T}); majorana as in ``pair_amplitudes_dirac``.

    Returns:
        complex (N, 4, 4) [point, s1, s2].
    """
    u1, u2 = rs_spinors(p1, m), rs_spinors(p2, m)
    v1, v2 = charge_conjugate(u1), charge_conjugate(u2)
    Gm = np.broadcast_to(Gam, (len(p1), 4, 4))

    def amp(ua, vb):
        ubar = np.einsum("nsai,ij->nsaj", ua.conj(), GAMMA[0])
        return np.einsum("nsai,nij,ntaj,a->nst", ubar, Gm, vb, np.diag(G))

    if not majorana:
        return amp(u1, v2)
    return 0.5 * (amp(u1, v2) - np.swapaxes(amp(u2, v1), 1, 2))
