"""Solving a chain's system (`system.py`) exactly.

Two methods, used together by `solve_system`:

- `exact_newton`: semismooth Newton on the exact system (Qi & Sun 1993; for complementarity
  in the "min/mid" form, the primal-dual active-set method of Hintermüller, Ito & Kunisch
  2003). Each step solves the linearised conditions of the piece of the system the
  current point lies in, so once the pieces are right the next point solves the system
  to rounding error. Fast from a good start (a re-solve, a calibrated baseline), but
  only locally convergent.
- `dual_newton` inside an outer loop: the system frozen at a point (charges, payments and
  caps held; each complementarity atom given curvature μ about an anchor) is the gradient
  of a convex, C¹, piecewise-quadratic Φ, minimised by Newton's method with an Armijo line
  search (projected for the licence prices ≥ 0) — globally convergent. The outer loop
  re-freezes at the new point (diagonalisation for the price-dependent charges; Nagurney,
  *Network Economics*, ch. 2) and moves the anchors to the new quantities (the proximal
  point method, Rockafellar 1976), until the exact residual is small enough for
  `exact_newton` to finish.

Both stop on the exact system's own residual, relative to each product's price and
market size; a solution is returned only if it is below `tolerance`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .system import Frozen, State, System

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewtonOptions:
    tolerance: float = 1e-11           # largest scaled residual of a solution
    max_exact: int = 40                # exact Newton steps
    max_tiny_steps: int = 10           # consecutive exact steps shorter than 1e-3 of a Newton step before handing over
    max_dual: int = 200                # Newton steps per frozen problem
    max_outer: int = 400               # freezes (diagonalisation / proximal steps)
    mu_start: float = 10.0             # proximal curvature, in units of the product's market per price
    mu_growth: float = 4.0
    mu_max: float = 1e8
    divergence: float = 1e9            # a price this many reference prices away: no equilibrium


@dataclass
class Outcome:
    status: str                        # "optimal", "infeasible", "not_converged"
    u: np.ndarray
    x: np.ndarray
    state: State | None
    residual: float
    exact_steps: int = 0
    dual_steps: int = 0
    outer_steps: int = 0
    message: str = ""


# ------------------------------------------------------------------------- exact
def exact_newton(system: System, u: np.ndarray, x: np.ndarray, options: NewtonOptions) -> Outcome:
    """Semismooth Newton with a backtracking (Armijo) line search on ½‖F‖² of the scaled
    residual, the merit function for which the Newton step is a descent direction. A run
    that keeps taking tiny steps is far from its answer's pieces: it stops early and hands
    over to HiGHS (measured on the 2,000 random cases: half the time of searching on)."""
    zs = system.unknown_scale(exact=True)
    rs = system.row_scale(exact=True)
    z = np.concatenate([u, x])
    n_u = system.n_u
    state = system.evaluate_exact(z[:n_u], z[n_u:])
    F = system.exact_residual(state) / rs
    norm, merit = float(np.abs(F).max(initial=0.0)), _merit(F)
    steps = tiny_steps = 0
    while norm > options.tolerance and steps < options.max_exact and tiny_steps < options.max_tiny_steps:
        steps += 1
        d = _scaled_step(system.exact_jacobian(state), rs, zs, -F)
        if d is None:
            break
        alpha, accepted = 1.0, False
        while alpha > 1e-8:
            trial = z + alpha * d * zs
            trial_state = system.evaluate_exact(trial[:n_u], trial[n_u:])
            G = system.exact_residual(trial_state) / rs
            trial_norm, trial_merit = float(np.abs(G).max(initial=0.0)), _merit(G)
            if trial_merit <= (1.0 - 1e-4 * alpha) * merit or trial_norm <= options.tolerance:
                accepted = True
                break
            alpha *= 0.5
        if not accepted:
            break
        tiny_steps = tiny_steps + 1 if alpha < 1e-3 else 0
        z, state, F, norm, merit = trial, trial_state, G, trial_norm, trial_merit
    # Once the pieces are right a Newton step solves the system to rounding error: take it,
    # so that answers reached from different starts agree to the last digits, not just to
    # the tolerance (a small market's price moves a lot per unit of a world-scaled residual).
    # Also a run whose line search stalled in rounding just above the tolerance finishes here.
    rounding_floor = False
    for _ in range(3 if norm <= 1e3 * options.tolerance else 0):
        d = _scaled_step(system.exact_jacobian(state), rs, zs, -F)
        if d is None:
            break
        trial = z + d * zs
        trial_state = system.evaluate_exact(trial[:n_u], trial[n_u:])
        G = system.exact_residual(trial_state) / rs
        trial_norm = float(np.abs(G).max(initial=0.0))
        if not trial_norm < norm:
            rounding_floor = True           # a full step on the right pieces gains nothing: rounding
            break
        z, state, F, norm = trial, trial_state, G, trial_norm
        steps += 1
        if np.abs(d).max(initial=0.0) <= 1e-15:
            break
    # within a hundred times the tolerance, a residual no exact Newton step reduces is rounding
    # error (the check's own bound is 1e-6), not a wrong piece
    status = "optimal" if norm <= options.tolerance or (rounding_floor and norm <= 1e2 * options.tolerance) else "not_converged"
    return Outcome(status, z[:n_u], z[n_u:], state, norm, exact_steps=steps)


def _merit(F: np.ndarray) -> float:
    """‖F‖², infinite rather than a warning when a wild trial point overflows it."""
    with np.errstate(over="ignore", invalid="ignore"):
        value = float(F @ F)
    return value if np.isfinite(value) else np.inf


def _scaled_step(J: sp.csr_matrix, row_scale: np.ndarray, unknown_scale: np.ndarray, rhs: np.ndarray) -> np.ndarray | None:
    """The Newton step d of diag(1/row_scale) J diag(unknown_scale) d = rhs (rows and columns
    that are identically zero dropped, their step zero). A small system is scaled and
    factorised as a dense array: SciPy's sparse bookkeeping costs far more than the
    arithmetic at the sizes of the shipped chains (tens to hundreds of unknowns)."""
    n = J.shape[0]
    if n >= DENSE_BELOW:
        return _solve((sp.diags(1.0 / row_scale) @ J @ sp.diags(unknown_scale)).tocsc(), rhs)
    A = J.toarray()
    A *= (1.0 / row_scale)[:, None]
    A *= unknown_scale[None, :]
    nonzero = A != 0
    keep = nonzero.any(axis=1) & nonzero.any(axis=0)
    d = np.zeros(len(rhs))
    # A row whose one entry is on the diagonal (an atom held at a bound: an idle route, a
    # shut refinery) gives its unknown's step by a division; LU then factorises only the
    # rest (on the 60 x 10 bench, ~250 of ~1,000 unknowns: a 60th of the work)
    diagonal = np.diagonal(A)
    alone = keep & (nonzero.sum(axis=1) == 1) & (diagonal != 0)
    d[alone] = rhs[alone] / diagonal[alone]
    rest = keep & ~alone
    if not rest.any():
        return d
    solution = dense_linear_solve(A[np.ix_(rest, rest)], rhs[rest] - A[np.ix_(rest, alone)] @ d[alone])
    if solution is None:
        return None
    d[rest] = solution
    return d


def _solve(J: sp.csc_matrix, rhs: np.ndarray) -> np.ndarray | None:
    """Solve J d = rhs; rows and columns that are identically zero (idle markets, whose
    price the conditions leave free) are dropped and their step is zero."""
    J = J.tocsc()
    J.eliminate_zeros()
    live_cols = np.diff(J.indptr) > 0
    Jr = J.tocsr()
    live_rows = np.diff(Jr.indptr) > 0
    keep = live_rows & live_cols
    d = np.zeros(len(rhs))
    if not keep.any():
        return d
    solution = linear_solve(Jr[keep][:, keep].tocsc(), rhs[keep])
    if solution is None:
        return None
    d[keep] = solution
    return d


DENSE_BELOW = 1200       # systems this small are factorised dense (LAPACK); larger ones sparse (SuperLU)


def _dense_solve(A: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    import scipy.linalg as la

    try:
        x = la.lu_solve(la.lu_factor(A, check_finite=False), b, check_finite=False)
    except (ValueError, np.linalg.LinAlgError):
        return None
    return x if np.all(np.isfinite(x)) else None


def dense_linear_solve(A: np.ndarray, b: np.ndarray, refinements: int = 4) -> np.ndarray | None:
    """`linear_solve` of a dense array: the same shifted LU and iterative refinement."""
    import scipy.linalg as la

    n = A.shape[0]
    scale = max(float(np.abs(A).max(initial=0.0)), 1.0)
    shifted = A.copy()
    shifted[np.diag_indices(n)] += 1e-12 * scale
    try:
        factor = la.lu_factor(shifted, check_finite=False)
    except (ValueError, np.linalg.LinAlgError):
        return None
    return _refined(A, b, lambda r: la.lu_solve(factor, r, check_finite=False), refinements)


def _refined(A, b: np.ndarray, solve, refinements: int) -> np.ndarray | None:
    """solve(b), then iterative refinement against A (which removes the shift's effect)."""
    x = solve(b)
    for _ in range(refinements):
        residual = b - A @ x
        if not np.all(np.isfinite(residual)) or np.abs(residual).max(initial=0.0) <= 1e-15 * max(np.abs(b).max(initial=0.0), 1e-300):
            break
        x = x + solve(residual)
    return x if np.all(np.isfinite(x)) else None


def linear_solve(A: sp.csc_matrix, b: np.ndarray, refinements: int = 4) -> np.ndarray | None:
    """x with A x = b, to rounding error where A is nonsingular, and a solution of least
    change where it is singular but consistent (degenerate trade patterns).

    A is factorised with a tiny shift (1e-12 of its largest entry) on the diagonal, so the
    factorisation never meets an exactly singular matrix (SuperLU in SciPy 1.17 corrupts
    memory after reporting one), and iterative refinement removes the shift's effect."""
    n = A.shape[0]
    scale = max(float(abs(A).max()) if A.nnz else 0.0, 1.0)
    shifted = (A + 1e-12 * scale * sp.identity(n, format="csc")).tocsc()
    try:
        if n < DENSE_BELOW:
            import scipy.linalg as la

            factor = la.lu_factor(shifted.toarray(), check_finite=False)

            def solve(r):
                return la.lu_solve(factor, r, check_finite=False)
        else:
            lu = spla.splu(shifted)
            solve = lu.solve
    except (RuntimeError, ValueError, np.linalg.LinAlgError):
        return None
    return _refined(A, b, solve, refinements)


# -------------------------------------------------------------------------- dual
def dual_newton(system: System, frozen: Frozen, u: np.ndarray, options: NewtonOptions,
                damping: float = 1e-10) -> tuple[np.ndarray, State, int, bool, float]:
    """Minimise the frozen Φ over u (licence prices and shadings ≥ 0) by projected Newton
    with an Armijo line search. `damping`: the Levenberg–Marquardt damping to start from
    (the last call's, in the outer loop). Returns (u, state, steps, diverged, damping)."""
    s = system.unknown_scale(exact=False)
    r = system.row_scale(exact=False)
    b = system.bounded
    state = system.evaluate_frozen(u, frozen)
    steps = 0
    for steps in range(1, options.max_dual + 1):
        g = state.residual
        gs = g / r
        active = np.zeros(len(u), dtype=bool)
        upper = frozen.extra["upper"][b]
        active[b] = ((u[b] <= 0) & (g[b] > 0)) | ((u[b] >= upper) & (g[b] < 0))
        projected = np.where(active, 0.0, gs)
        if np.abs(projected).max(initial=0.0) <= options.tolerance * 0.1:
            break
        H = state.response_jacobian()
        free = ~active
        rhs = -np.where(free, gs, 0.0)
        dense = len(u) < DENSE_BELOW
        if dense:
            masked = H.toarray() / r[:, None] * s[None, :]
            masked[~free, :] = 0.0
            masked[:, ~free] = 0.0
            top = max(float(np.abs(np.diag(masked)).max(initial=0.0)), 1.0)
        else:
            masked = (sp.diags(1.0 / r) @ H @ sp.diags(s)).multiply(free[:, None]).multiply(free[None, :]).tocsc()
            top = max(float(np.abs(masked.diagonal()).max(initial=0.0)), 1.0)
        # Levenberg–Marquardt damping: where Φ is flat (a producer at capacity with no route
        # open yet) the Newton step is unbounded; the damping λ bounds it and adapts
        accepted = False
        for attempt in range(40):
            shift = np.where(free, damping * top, 1.0)
            if dense:
                d = _dense_solve(masked + np.diag(shift), rhs)
            else:
                d = linear_solve((masked + sp.diags(shift)).tocsc(), rhs, refinements=0)
            if d is None:
                damping *= 10.0
                continue
            du = d * s
            trial = u + du
            trial[b] = np.clip(trial[b], 0.0, frozen.extra["upper"][b])
            trial_state = system.evaluate_frozen(trial, frozen)
            change = system.potential_change(state, trial_state, frozen)
            if change <= 1e-4 * float(g @ (trial - u)) and float(g @ (trial - u)) < 0:
                accepted = True
                # lower the damping only after a first-try success: lowering it after a step
                # that needed a raise set up a rejection on the next step, two factorisations
                # per step (measured at 250 x 30)
                damping = max(damping / 10.0, 1e-14) if attempt == 0 else damping
                break
            damping *= 10.0
        if not accepted:
            break
        if np.abs((trial - u) / s).max(initial=0.0) > options.divergence:
            return trial, trial_state, steps, True, damping
        u, state = trial, trial_state
    return u, state, steps, False, damping


# -------------------------------------------------------------------- together
def solve_system(system: System, u: np.ndarray, x: np.ndarray | None, options: NewtonOptions = NewtonOptions(),
                 newton_first: bool = True, can_clear: Callable[[], bool] | None = None,
                 another_start: Callable[[], tuple[np.ndarray, np.ndarray] | None] | None = None) -> Outcome:
    """The exact solution of `system`, starting from prices `u` (and vertical quantities `x`).
    `newton_first`: try exact Newton from the start before HiGHS (right from a warm start;
    from a start whose constant-cost routes are all idle it nearly always fails, after a
    long line search, so route generation goes to HiGHS first). `can_clear`: asked before
    the slow dual method; False (some market cannot clear at any price) ends the solve as
    infeasible there (the dual method would only drive a price without bound).
    `another_start`: asked next, a point (u, x) to try exact Newton from before the dual
    method (`solver.LEVY_CONTINUATION`)."""
    if x is None:
        x = _initial_vertical(system, u)
    first = exact_newton(system, u, x, options) if newton_first else None
    if first is not None and first.status == "optimal":
        return first
    if first is not None:
        log.debug("exact Newton from the start stopped at residual %.3g; HiGHS on the frozen system", first.residual)
    attempt = _highs_then_newton(system, u, x, options)
    if attempt is not None and attempt.status == "optimal":
        attempt.exact_steps += first.exact_steps if first is not None else 0
        return attempt
    if first is None:
        first = exact_newton(system, u, x, options)
        if first.status == "optimal":
            return first
    if can_clear is not None and not can_clear():
        return Outcome("infeasible", u, x, None, np.inf, first.exact_steps, message="a market cannot clear at any price")
    start = another_start() if another_start is not None else None
    if start is not None:
        beside = exact_newton(system, *start, options)
        if beside.status == "optimal":
            beside.exact_steps += first.exact_steps
            return beside
    log.debug("HiGHS and exact Newton did not finish; dual method")
    if attempt is not None and attempt.residual < first.residual and np.all(np.isfinite(attempt.u)):
        u, x = attempt.u, attempt.x       # from the nearest point found
    mu = options.mu_start * system.quantity_per_price if system.n_vertical else np.zeros(0)
    anchor = np.clip(x, 0.0, system.hi[system.vertical_atoms])
    total_dual = 0
    best = first
    previous = np.inf
    damping = 1e-10
    for outer in range(1, options.max_outer + 1):
        frozen = Frozen.at(system, u, anchor, mu)
        # each frozen problem starts from the damping the last one ended with (measured at
        # 250 x 30: restarting at 1e-10 spent some 16 factorisations per accepted step)
        u, state, steps, diverged, damping = dual_newton(system, frozen, u, options, min(damping, 1e-2))
        total_dual += steps
        if diverged:
            return Outcome("infeasible", u, anchor, None, np.inf, first.exact_steps, total_dual, outer,
                           "prices grow without bound: no quantity at any price clears the markets")
        anchor = state.q[system.vertical_atoms].copy()
        exact = system.evaluate_exact(u, anchor)
        residual = float(np.abs(system.exact_residual(exact) / system.row_scale(exact=True)).max(initial=0.0))
        if residual < 1e-3 or outer % 8 == 0 or residual >= previous:
            attempt = exact_newton(system, u, anchor, options)
            if attempt.status == "optimal":
                attempt.dual_steps, attempt.outer_steps = total_dual, outer
                attempt.exact_steps += first.exact_steps
                return attempt
            if attempt.residual < best.residual:
                best = attempt
        previous = residual
        if system.n_vertical:
            mu = np.minimum(mu * options.mu_growth, options.mu_max * system.quantity_per_price)
    best.status = "not_converged"
    best.dual_steps, best.outer_steps = total_dual, options.max_outer
    best.message = f"no exact equilibrium found (largest scaled residual {best.residual:.2e})"
    return best


def _highs_then_newton(system: System, u: np.ndarray, x: np.ndarray, options: NewtonOptions, rounds: int = 16) -> Outcome | None:
    """HiGHS solves the system frozen at `u` (the welfare QP, `backend.frozen_qp`); exact Newton
    finishes from its answer on the true system. Where price-dependent charges moved (ad
    valorem duties, levies, payments), freeze again at HiGHS's prices and repeat
    (diagonalisation)."""
    from .backend import frozen_qp, vertex_flows

    best = None
    zero = np.zeros(system.n_vertical)
    damped, last_residual = False, np.inf
    for _ in range(rounds):
        frozen = Frozen.at(system, u, zero, zero)
        answer = frozen_qp(system, frozen)
        if answer is None:
            return best
        u_h, x_h, certified = answer
        u_h = u_h.copy()
        u_h[system.bounded] = np.maximum(u_h[system.bounded], 0.0)
        u_q, x_q = _on_qp_pieces(system, u_h, x_h)
        attempt = exact_newton(system, u_q, x_q, options)
        if attempt.status == "optimal":
            return attempt
        # tied routes: HiGHS's answer may open a cycle of them, on which Newton's system is
        # singular; the same totals carried at a vertex of the frozen problem (a forest) are not
        x_v = vertex_flows(system, frozen, x_h)
        vertex = None if x_v is None else exact_newton(system, *_on_qp_pieces(system, u_h, x_v), options)
        if vertex is not None and vertex.status == "optimal":
            return vertex
        best = min((o for o in (best, vertex, attempt) if o is not None), key=lambda o: o.residual)
        if not certified:       # HiGHS cycled on this frozen QP: it would on the next one too
            return best
        # freeze again where Newton got to (its charges are the true ones there), else at HiGHS's prices
        following = attempt.u if np.all(np.isfinite(attempt.u)) else u_h
        if np.allclose(following, u, rtol=1e-13, atol=0.0):
            return best
        # diagonalisation can cycle between two freezes (a duty on a customs value that changes
        # sign: frozen with the duty, the exporter's price falls below zero; frozen without it,
        # it rises again): once a round ends further from the solution than the one before,
        # every later freeze is halfway between the last freeze and its answer (measured on such
        # a case: the exact residual halves each round and Newton finishes after nine)
        damped = damped or attempt.residual >= last_residual
        last_residual = attempt.residual
        u = 0.5 * (u + following) if damped else following
    return best


def _on_qp_pieces(system: System, u: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """HiGHS's answer moved onto its own pieces by one linear solve: every vertical atom
    strictly between its bounds there is free (its argument t = θ), every one at a bound
    stays at it. HiGHS's QP regularises (1e-7) and stops at its tolerances, so its prices
    leave t a little off θ: an idle route with t a hair above zero reads as free to Newton's
    piece rule, closes a cycle of free routes, and the Newton system is singular and
    inconsistent (measured on the 60 x 10 constant-cost bench: steps of 1e7 market sizes,
    then the slow dual method). Returns the moved point where it is nearer an equilibrium
    (its exact residual is smaller), else the answer unchanged; exact Newton then finishes
    from it on the true pieces."""
    if not system.n_vertical:
        return u, x
    v = system.vertical_atoms
    scale = 1e-12 * system.atom_quantity_scale[v]
    hi = system.hi[v]
    at_hi = np.isfinite(hi) & (x >= hi - scale)
    free = (x > scale) & ~at_hi
    state = system.evaluate_exact(u, x)
    rs, zs = system.row_scale(exact=True), system.unknown_scale(exact=True)
    F = system.exact_residual(state)
    F[system.n_u:] = np.where(free, -system.kappa * (state.t[v] - system.theta[v]), x - np.where(at_hi, hi, 0.0))
    d = _scaled_step(system.exact_jacobian(state, free=free), rs, zs, -F / rs)
    if d is None:
        return u, x
    z = np.concatenate([u, x]) + d * zs
    moved = system.evaluate_exact(z[: system.n_u], z[system.n_u:])
    if not np.abs(system.exact_residual(moved) / rs).max(initial=0.0) < np.abs(system.exact_residual(state) / rs).max(initial=0.0):
        return u, x
    return z[: system.n_u], z[system.n_u:]


def _initial_vertical(system: System, u: np.ndarray) -> np.ndarray:
    """Start vertical quantities at zero (routes and reserves idle, constant-cost refiners shut)."""
    return np.zeros(system.n_vertical)
