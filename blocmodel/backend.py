"""HiGHS, in one place: the linear programs blocmodel hands to it.

- `least_trade`: among the flow patterns that are all equilibria (constant-cost routes
  can tie, e.g. cross-hauling at zero transport cost), the one with the least trade.
- `elastic_lp`: for a scenario with no equilibrium, the smallest relaxation of market
  clearing that makes it feasible (which markets and which constraints conflict).

Every access to HiGHS goes through `_highs()` and `_status`, so a change of HiGHS's API is
met here.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .system import State, System


def _highs():
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("random_seed", 0)
    return h


def _optimal(h) -> bool:
    import highspy

    return h.getModelStatus() == highspy.HighsModelStatus.kOptimal


def _pass_lp(h, cost, lower, upper, A: sp.csc_matrix, row_lower, row_upper) -> None:
    import highspy

    lp = highspy.HighsLp()
    lp.num_col_ = len(cost)
    lp.num_row_ = A.shape[0]
    lp.col_cost_ = np.asarray(cost, dtype=float)
    lp.col_lower_ = np.asarray(lower, dtype=float)
    lp.col_upper_ = np.asarray(upper, dtype=float)
    lp.row_lower_ = np.asarray(row_lower, dtype=float)
    lp.row_upper_ = np.asarray(row_upper, dtype=float)
    A = A.tocsc()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr.astype(np.int32)
    lp.a_matrix_.index_ = A.indices.astype(np.int32)
    lp.a_matrix_.value_ = A.data.astype(float)
    h.passModel(lp)


def least_trade(system: System, state: State) -> State:
    """The equilibrium with the least trade on constant-cost routes: flows on routes at the
    margin (delivered price = buyers' price) may be rearranged keeping every market's
    totals and every quota's licensed flow; HiGHS picks the pattern with the least trade
    between regions. Prices and every other quantity are unchanged."""
    lay = system.problem.layout
    v = system.vertical_atoms
    routes = system.slice["route"]
    is_route = (v >= routes.start) & (v < routes.stop)
    tol = 1e-9 * system.atom_price_scale[v]
    margin = np.abs(state.t[v] - system.theta[v]) <= tol
    candidates = np.flatnonzero(is_route & margin)
    if len(candidates) < 2:
        return state
    atoms = v[candidates]
    C = state.C[:, atoms].tocsc()
    used_rows = np.flatnonzero(np.asarray(abs(C).sum(axis=1)).ravel() > 0)
    C = C[used_rows]
    current = state.q[atoms]
    totals = C @ current
    route_index = atoms - routes.start
    origin, destination = lay.route_origin_node[route_index], lay.route_destination_node[route_index]
    home = lay.node_region[origin] == lay.node_region[destination]
    scale = system.atom_quantity_scale[atoms]
    cost = np.where(home, 0.0, 1.0) / scale       # least trade, each product in its own units
    h = _highs()
    rows_scale = system.quantity_scale[used_rows]
    _pass_lp(h, cost, np.zeros(len(atoms)), system.hi[atoms], sp.diags(1.0 / rows_scale) @ C, totals / rows_scale, totals / rows_scale)
    h.run()
    if not _optimal(h):
        return state
    x = np.clip(np.asarray(h.getSolution().col_value), 0.0, system.hi[atoms])
    # keep the new pattern only if it leaves every market exactly cleared
    new_q = state.q.copy()
    new_q[atoms] = x
    new_x = state.x.copy()
    new_x[candidates] = x
    trial = system.evaluate_exact(state.u, new_x)
    scale_rows = system.row_scale(exact=True)
    if np.abs(system.exact_residual(trial) / scale_rows).max(initial=0.0) > 1e-10:
        return state
    return trial


def frozen_qp(system: System, frozen) -> tuple[np.ndarray, np.ndarray] | None:
    """The frozen system as the welfare QP HiGHS solves: one variable per atom (a supplier's
    output, a buyer's purchase, a refinery's output, a route's flow, a reserve's purchase)
    within [0, capacity]; minimise Σ φ(q) − o·q, with φ the integral of each atom's inverse
    response (q²/2β − αq/β on a curve, θ·q for a complementarity atom), subject to market
    clearing C·q + c = 0 (and licence rows C·q + c >= 0). By Fenchel duality this is the
    dual of minimising Φ; its row duals are the prices. Returns (prices u, vertical
    quantities) or None if HiGHS does not reach the optimum."""
    import highspy

    C = frozen.C.tocsc()
    n_atoms = system.n_atoms
    alpha, beta, hi = system.alpha, system.beta, system.hi
    o = frozen.offset
    vertical = system.vertical
    curve = (beta > 0) & ~vertical
    fixed = (beta <= 0) & ~vertical
    qscale = system.atom_quantity_scale                      # variables in units of the product's market
    V = float(np.max(system.price_scale * system.quantity_scale))    # one value unit for the objective
    safe_beta = np.where(curve, beta, 1.0)
    linear = np.where(vertical, system.theta - o, np.where(curve, -alpha / safe_beta - o, -o))
    cost = linear * qscale / V
    hessian = np.where(curve, qscale**2 / safe_beta / V, 0.0)
    lower = np.where(fixed, np.clip(alpha, 0.0, hi), 0.0) / qscale
    upper = np.where(fixed, np.clip(alpha, 0.0, hi), hi) / qscale
    upper = np.where(np.isfinite(upper), upper, highspy.kHighsInf)
    rows_scale = system.quantity_scale
    A = (sp.diags(1.0 / rows_scale) @ C @ sp.diags(qscale)).tocsc()
    rhs = -frozen.c / rows_scale
    row_lower = rhs.copy()
    row_upper = rhs.copy()
    row_upper[system.bounded] = highspy.kHighsInf        # licence and budget rows: C·q + c >= 0
    h = _highs()
    h.setOptionValue("time_limit", 60.0)
    _pass_lp(h, cost, lower, upper, A, row_lower, row_upper)
    diag = np.flatnonzero(hessian > 0)
    if len(diag):
        start = np.zeros(n_atoms + 1, dtype=np.int32)
        counts = np.zeros(n_atoms, dtype=np.int32)
        counts[diag] = 1
        start[1:] = np.cumsum(counts)
        h.passHessian(n_atoms, len(diag), highspy.HessianFormat.kTriangular, start, diag.astype(np.int32), hessian[diag])
    h.run()
    if not _optimal(h):
        return None
    solution = h.getSolution()
    q = np.asarray(solution.col_value) * qscale
    # row duals are in objective units per scaled row: u = V·λ / row scale (HiGHS's sign: minimisation)
    u = np.asarray(solution.row_dual) * V / rows_scale
    return u, q[system.vertical_atoms]


def elastic_lp(A: sp.csc_matrix, cost, lower, upper, row_lower, row_upper):
    """Solve an LP; returns (optimal, column values, row duals)."""
    h = _highs()
    _pass_lp(h, cost, lower, upper, A, row_lower, row_upper)
    h.run()
    if not _optimal(h):
        return False, None, None
    solution = h.getSolution()
    return True, np.asarray(solution.col_value), np.asarray(solution.row_dual)
