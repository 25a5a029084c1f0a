"""Exact solution of a separable convex QP from a solver's approximate one.

HiGHS's active-set QP solver regularises the Hessian (by `qp_regularization_value`) and,
on large chains, returns duals accurate to about 1e-6 — not good enough for prices that
must clear markets exactly. The model's Hessian is diagonal, so once we know which
variables sit at a bound and which inequality rows bind (the active set, read from the
solver's answer), the optimum solves a small linear system:

    h_j·x_j + g_j − a_jᵀy = 0 for every free variable j,   A·x = b on every active row.

Free variables with h_j > 0 are eliminated (x_j = (a_jᵀy − g_j)/h_j); those with h_j = 0
(flows, constant-cost refining, reserves) stay as unknowns, so the system has one row per
active constraint and per such variable. If the solution breaks a bound or a sign
condition, the offending variables and rows change sides and the system is solved again
(a primal-dual active-set method, Hintermüller, Ito & Kunisch 2002), which from the
solver's near-optimal active set converges in a step or two. Rows with no free variable
keep the solver's dual (their price is not pinned down by the QP).
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


def polish(qp: QP, x0: np.ndarray, y0: np.ndarray, max_iterations: int = 12, tol: float = 1e-11) -> Polished:
    A = qp.A.tocsr()
    near = 1e-9
    lower, upper = _finite(qp.lower), _finite(qp.upper)
    span = np.maximum(1.0, np.abs(upper - lower))
    span = np.where(np.isfinite(span), span, 1.0)
    at_lower = np.isfinite(qp.lower) & (x0 <= lower + near * np.maximum(1.0, np.abs(lower)))
    at_upper = ~at_lower & np.isfinite(qp.upper) & (x0 >= upper - near * np.maximum(1.0, np.abs(upper)))
    equality = qp.row_lower == qp.row_upper
    row_lower, row_upper = _finite(qp.row_lower), _finite(qp.row_upper)
    row_value = A @ x0
    active_row = equality | (np.abs(y0) > tol) & (
        (np.isfinite(qp.row_upper) & (row_value >= row_upper - near * np.maximum(1.0, np.abs(row_upper))))
        | (np.isfinite(qp.row_lower) & (row_value <= row_lower + near * np.maximum(1.0, np.abs(row_lower)))))
    x, y = x0.copy(), y0.copy()
    for iteration in range(1, max_iterations + 1):
        free = ~(at_lower | at_upper)
        fixed_x = np.where(at_lower, qp.lower, np.where(at_upper, qp.upper, 0.0))
        rows = np.flatnonzero(active_row)
        A_rows = A[rows]
        touched = np.asarray((abs(A_rows[:, free]) > 0).sum(axis=1)).ravel() > 0
        solve_rows = rows[touched]
        A_s = A[solve_rows]
        quad = free & (qp.h > 0)
        flat = np.flatnonzero(free & (qp.h <= 0))
        rhs_rows = np.where(qp.row_lower[solve_rows] == qp.row_upper[solve_rows], qp.row_upper[solve_rows],
                            _bound_hit(qp, A_s @ x, solve_rows))
        rhs_rows = rhs_rows - A_s[:, ~free] @ fixed_x[~free]
        # Rows of fixed-dual constraints (no free variable) keep y; move their effect to the rhs.
        keep = np.setdiff1d(rows, solve_rows)
        g_eff = qp.g - (A[keep].T @ y[keep] if len(keep) else 0.0)
        Aq = A_s[:, quad]
        hinv = 1.0 / qp.h[quad]
        S = (Aq.multiply(hinv) @ Aq.T).toarray()
        Az = A_s[:, flat].toarray()
        m, k = len(solve_rows), len(flat)
        K = np.zeros((m + k, m + k))
        K[:m, :m] = S
        K[:m, m:] = Az
        K[m:, :m] = Az.T
        rhs = np.concatenate([rhs_rows + Aq @ (hinv * g_eff[quad]), g_eff[flat]])
        try:
            sol = np.linalg.solve(K, rhs)
        except np.linalg.LinAlgError:
            sol = np.linalg.lstsq(K, rhs, rcond=None)[0]
        y_new = np.zeros(len(qp.row_lower))
        y_new[keep] = y[keep]
        y_new[solve_rows] = sol[:m]
        x_new = fixed_x.copy()
        x_new[flat] = sol[m:]
        x_new[quad] = (A_s[:, quad].T @ sol[:m] - g_eff[quad]) * hinv
        reduced = qp.h * x_new + qp.g - A.T @ y_new
        # Which side is each variable and row really on?
        scale = tol * np.maximum(1.0, np.abs(qp.g))
        below = free & (x_new < qp.lower - near * span)
        above = free & (x_new > qp.upper + near * span)
        leave_lower = at_lower & (reduced < -scale)
        leave_upper = at_upper & (reduced > scale)
        row_value = A @ x_new
        wrong_sign = active_row & ~equality & (
            (np.isfinite(qp.row_upper) & (y_new > tol)) | (np.isfinite(qp.row_lower) & ~np.isfinite(qp.row_upper) & (y_new < -tol)))
        broken = ~active_row & ((row_value > qp.row_upper + near) | (row_value < qp.row_lower - near))
        x, y = x_new, y_new
        if not (below.any() or above.any() or leave_lower.any() or leave_upper.any() or wrong_sign.any() or broken.any()):
            stationarity = float(np.abs(reduced[free]).max()) if free.any() else 0.0
            return Polished(x, y, True, iteration, stationarity)
        at_lower = (at_lower & ~leave_lower) | below
        at_upper = (at_upper & ~leave_upper) | above
        active_row = (active_row & ~wrong_sign) | broken
    return Polished(x0, y0, False, max_iterations, np.inf)


def _finite(values: np.ndarray) -> np.ndarray:
    """A copy safe for arithmetic: infinite bounds become 0 (callers test the originals with isfinite)."""
    return np.where(np.isfinite(values), values, 0.0)


def _bound_hit(qp: QP, values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For an active inequality row: the bound it sits on."""
    upper, lower = qp.row_upper[rows], qp.row_lower[rows]
    use_upper = np.isfinite(upper) & (~np.isfinite(lower) | (np.abs(values - upper) <= np.abs(values - lower)))
    return np.where(use_upper, upper, lower)
