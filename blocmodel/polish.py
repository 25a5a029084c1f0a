"""Exact optimum of the chain QP from a solver's approximate answer.

HiGHS's active-set QP solver regularises the Hessian (`qp_regularization_value`) and, on
chains with many routes and tiny markets, returns answers whose optimality conditions
hold only to about 1e-5 — not good enough for prices that must clear markets exactly.
The model's Hessian is diagonal, so for a given set of variables held at their bounds
the optimality conditions are a small linear system:

    h_j·x_j + g_j − a_jᵀy = 0 for every free variable j,     A·x = b,

with the free variables that have h_j > 0 eliminated (x_j = (a_jᵀy − g_j)/h_j), leaving
one unknown per row and per free variable of zero curvature (flows, constant-cost
refining, reserves, row slacks).

`polish` first tries the solver's active set as it stands (usually right: one solve).
If the answer breaks a bound or a sign condition it runs a primal active-set method
(Nocedal & Wright, *Numerical Optimization*, alg. 16.3) from the solver's point: steps
towards the optimum of the current free set, stopping at the first bound it meets, and
frees one variable with a wrongly-signed reduced cost at a time — with ratio tests, so
every step keeps the point feasible and never raises the objective; with Bland's rule
against cycling on degenerate (tied) routes. It ends when every optimality condition of
the unregularised QP holds to `tol`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass
class QP:
    """min ½ xᵀ diag(h) x + gᵀx  s.t.  row_lower ≤ A x ≤ row_upper,  lower ≤ x ≤ upper."""

    h: np.ndarray
    g: np.ndarray
    A: sp.csc_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


@dataclass
class Polished:
    x: np.ndarray
    y: np.ndarray
    ok: bool
    iterations: int
    stationarity: float


class _Equalities:
    """The QP with inequality rows turned into equalities with bounded slacks:
    min ½ zᵀ diag(h) z + gᵀz  s.t.  B z = b,  lower ≤ z ≤ upper,  z = (x, slacks)."""

    def __init__(self, qp: QP):
        inequality = np.flatnonzero(qp.row_lower != qp.row_upper)
        m, n = qp.A.shape
        self.n = n
        slack = sp.csc_matrix((-np.ones(len(inequality)), (inequality, np.arange(len(inequality)))), shape=(m, len(inequality)))
        self.B = sp.hstack([qp.A, slack], format="csc")
        self.Bt = self.B.T.tocsr()
        self.b = np.where(qp.row_lower == qp.row_upper, qp.row_upper, 0.0)
        self.h = np.concatenate([qp.h, np.zeros(len(inequality))])
        self.g = np.concatenate([qp.g, np.zeros(len(inequality))])
        self.lower = np.concatenate([qp.lower, qp.row_lower[inequality]])
        self.upper = np.concatenate([qp.upper, qp.row_upper[inequality]])
        self.inequality = inequality

    def perturbed(self, rng: np.random.Generator, size: float) -> "_Equalities":
        """A copy with costs and finite lower bounds shifted by tiny random amounts."""
        other = object.__new__(_Equalities)
        other.__dict__.update(self.__dict__)
        other.g = self.g + size * np.maximum(1.0, np.abs(self.g)) * rng.uniform(-1, 1, len(self.g))
        span = np.where(np.isfinite(self.upper - self.lower), np.abs(self.upper - self.lower), 1.0)
        other.lower = np.where(np.isfinite(self.lower), self.lower - size * np.maximum(span, 1.0) * rng.uniform(0, 1, len(self.g)), self.lower)
        return other

    def extend(self, x: np.ndarray) -> np.ndarray:
        return np.concatenate([x, (self.B[:, : self.n] @ x)[self.inequality]])

    def reduced_costs(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self.h * z + self.g - self.Bt @ y

    def solve(self, free: np.ndarray, rho: np.ndarray, sigma: np.ndarray, least_squares: bool = True):
        """Solve  h_F·dz_F − B_Fᵀdy = −rho_F,  B_F·dz_F = −sigma  for (dz, dy), dz = 0 off F.

        Rows without a free variable keep their dual (dy = 0): the QP does not pin down
        the price of a market where nothing can move. Returns (dz, dy, singular); a singular
        system gets its least-squares answer, or (None, None, True) if `least_squares` is off."""
        quad = np.flatnonzero(free & (self.h > 0))
        flat = np.flatnonzero(free & (self.h <= 0))
        rows = np.flatnonzero(np.asarray(abs(self.B[:, free]).sum(axis=1)).ravel() > 0)
        Bq = self.B[rows][:, quad]
        hinv = 1.0 / self.h[quad]
        m, k = len(rows), len(flat)
        Bz = self.B[rows][:, flat]
        rhs = np.concatenate([-sigma[rows] + Bq @ (hinv * rho[quad]), rho[flat]])
        sol = _sparse_solve(sp.bmat([[Bq.multiply(hinv) @ Bq.T, Bz], [Bz.T, None]], format="csc"), rhs) \
            if m + k > SPARSE_ABOVE else None
        singular = False
        if sol is None:
            K = np.zeros((m + k, m + k))
            K[:m, :m] = (Bq.multiply(hinv) @ Bq.T).toarray()
            K[:m, m:] = Bz.toarray()
            K[m:, :m] = K[:m, m:].T
            try:
                sol = np.linalg.solve(K, rhs)
                singular = not np.all(np.isfinite(sol))
            except np.linalg.LinAlgError:
                singular = True
            if singular and not least_squares:
                return None, None, True
            if singular:
                sol = np.linalg.lstsq(K, rhs, rcond=None)[0]
        dy = np.zeros(self.B.shape[0])
        dy[rows] = sol[:m]
        dz = np.zeros(len(self.h))
        dz[flat] = sol[m:]
        dz[quad] = (Bq.T @ sol[:m] - rho[quad]) * hinv
        return dz, dy, singular


SPARSE_ABOVE = 150    # KKT systems larger than this are factorised sparse (network structure: few nonzeros per row)


def _sparse_solve(K: sp.csc_matrix, rhs: np.ndarray) -> np.ndarray | None:
    """K⁻¹·rhs by sparse LU, or None if K is singular or the answer is not accurate (the
    caller then takes the dense path, which handles singular systems)."""
    import scipy.sparse.linalg as spla

    try:
        sol = spla.splu(K).solve(rhs)
    except RuntimeError:          # exactly singular
        return None
    if not np.all(np.isfinite(sol)):
        return None
    scale = max(1.0, float(np.abs(rhs).max(initial=0.0)), float(abs(K).max()) * float(np.abs(sol).max(initial=0.0)))
    if float(np.abs(K @ sol - rhs).max(initial=0.0)) > 1e-12 * scale:
        return None
    return sol


def polish(qp: QP, x0: np.ndarray, y0: np.ndarray, tol: float = 1e-11, max_iterations: int | None = None) -> Polished:
    eq = _Equalities(qp)
    limit = max_iterations or 20 * len(eq.h) + 50
    start = _start(eq, x0)
    result = _active_set(eq, start.copy(), y0.copy(), _at_bounds(eq, start), tol, limit)
    if result is None:
        # Degenerate vertices (tied routes, free flows at zero) can make the method cycle.
        # Break the ties with tiny random shifts of costs and lower bounds (the classic
        # perturbation method), then settle the exact problem on the active set found.
        perturbed = eq.perturbed(np.random.default_rng(0), 1e-9)
        found = _active_set(perturbed, _start(perturbed, x0), y0.copy(), _at_bounds(perturbed, _start(perturbed, x0)), tol, limit)
        if found is not None:
            z, y, _, _ = found
            fixed = _at_bounds(perturbed, z)
            z = np.where(fixed, np.where(z <= perturbed.lower, eq.lower, eq.upper), z)
            result = _active_set(eq, np.clip(z, eq.lower, eq.upper), y, fixed, tol, limit)
    if result is None:
        return Polished(x0, y0, False, limit, np.inf)
    z, y, iterations, stationarity = result
    return Polished(z[: eq.n], y, True, iterations, stationarity)


def _start(eq: "_Equalities", x0: np.ndarray) -> np.ndarray:
    z = np.clip(eq.extend(x0), eq.lower, eq.upper)
    fixed = _at_bounds(eq, z)
    return np.where(fixed & (z <= eq.lower + 1e-9 * np.maximum(1.0, np.abs(z))), eq.lower, np.where(fixed, eq.upper, z))


def _at_bounds(eq: "_Equalities", z: np.ndarray) -> np.ndarray:
    size = np.maximum(1.0, np.abs(z))
    at_lower = np.isfinite(eq.lower) & (z <= eq.lower + 1e-9 * size)
    at_upper = ~at_lower & np.isfinite(eq.upper) & (z >= eq.upper - 1e-9 * size)
    return at_lower | at_upper


def _active_set(eq: _Equalities, z, y, fixed, tol, limit):
    """Primal active-set method from a feasible `z` with `fixed` variables at their bounds."""
    scale = tol * np.maximum(1.0, np.abs(eq.g))
    degenerate = 0
    for iteration in range(1, limit + 1):
        free = ~fixed
        # Step to the optimum of the free set (restores feasibility of the rows too).
        rho = eq.reduced_costs(z, y)
        sigma = eq.B @ z - eq.b
        dz, dy, singular = eq.solve(free, np.where(free, rho, 0.0), sigma, least_squares=False)
        if singular:
            # Free flows form a cycle: the step is not unique. Fix the smallest free
            # variable of zero curvature at its nearest bound (a degenerate pivot).
            flat = np.flatnonzero(free & (eq.h <= 0))
            if not len(flat):
                return None
            gap = np.minimum(z[flat] - eq.lower[flat], eq.upper[flat] - z[flat])
            j = flat[np.argmin(gap)]
            z[j] = eq.lower[j] if z[j] - eq.lower[j] <= eq.upper[j] - z[j] else eq.upper[j]
            fixed[j] = True
            continue
        alpha, blocking = _ratio_test(z, dz, eq.lower, eq.upper, free)
        z = z + alpha * dz
        y = y + alpha * dy
        if blocking is not None:
            z[blocking] = eq.lower[blocking] if dz[blocking] < 0 else eq.upper[blocking]
            fixed[blocking] = True
            continue
        # Stationary on the free set: price the fixed variables.
        r = eq.reduced_costs(z, y)
        at_lower = fixed & (z <= eq.lower)
        wrong = np.where(at_lower, -r, r) > scale
        wrong &= fixed
        wrong &= ~(at_lower & (eq.upper <= eq.lower))   # a variable fixed by equal bounds never moves
        if not wrong.any():
            stationarity = float(np.abs(r[~fixed]).max()) if (~fixed).any() else 0.0
            return z, y, iteration, stationarity
        candidates = np.flatnonzero(wrong)
        if degenerate > 5:     # Bland's rule once steps stop making progress
            j = candidates[0]
        else:
            j = candidates[np.argmax(np.abs(r[candidates]) / np.maximum(1.0, np.abs(eq.g[candidates])))]
        before = z.copy()
        fixed[j] = False
        z, y, moved = _enter(eq, z, y, fixed, j, r[j], at_lower[j])
        degenerate = degenerate + 1 if not moved else 0
        if np.array_equal(before, z) and degenerate > 4 * len(z):
            return None
    return None


def _enter(eq: _Equalities, z, y, fixed, j, reduced, from_lower):
    """Move the entering variable j off its bound along the path that keeps the free set
    stationary, until its reduced cost vanishes or another variable meets a bound."""
    free = ~fixed
    free_others = free.copy()
    free_others[j] = False
    column = eq.B[:, j].toarray().ravel()
    touched = np.asarray(abs(eq.B[:, free_others]).sum(axis=1)).ravel() > 0
    if (np.abs(column[~touched]) > 0).any():
        # j feeds a market where nothing else can move (a transit node whose routes all sit
        # at zero): its price is not pinned yet. Free j without moving; the next step prices
        # that market so j's reduced cost is zero, and the routes beyond it enter after.
        return z, y, False
    sign = 1.0 if from_lower else -1.0
    # d(z_F, y)/dt when z_j moves by sign·t: the rows absorb sign·column.
    dz, dy, singular = eq.solve(free_others, np.zeros(len(z)), sign * column)
    dz[j] = sign
    curvature = eq.h[j] - sign * column @ dy          # d(reduced cost_j)/dt · sign
    t_zero = -sign * reduced / curvature if curvature > 1e-14 else np.inf
    t_block, blocking = _ratio_test(z, dz, eq.lower, eq.upper, free, step=np.inf)
    t = min(t_zero, t_block)
    if not np.isfinite(t):
        return z, y, False
    z = z + t * dz
    y = y + t * dy
    if t_block <= t_zero and blocking is not None:
        z[blocking] = eq.lower[blocking] if dz[blocking] < 0 else eq.upper[blocking]
        fixed[blocking] = True
    return z, y, t > 0


def _ratio_test(z, dz, lower, upper, free, step: float = 1.0):
    """Largest α ≤ step keeping free variables within bounds, and the one that blocks."""
    alpha, blocking = step, None
    pivot = 1e-11 * max(1.0, float(np.abs(dz).max(initial=0.0)))   # ignore round-off in the direction
    down = free & (dz < -pivot) & np.isfinite(lower)
    up = free & (dz > pivot) & np.isfinite(upper)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.full(len(z), np.inf)
        ratios[down] = (lower[down] - z[down]) / dz[down]
        ratios[up] = (upper[up] - z[up]) / dz[up]
    ratios = np.maximum(ratios, 0.0)
    k = int(np.argmin(ratios)) if len(ratios) else -1
    if k >= 0 and ratios[k] < alpha:
        alpha, blocking = float(ratios[k]), k
    return alpha, blocking
