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


# Seconds HiGHS may spend on one frozen QP before the dual method takes over. Measured at 250
# regions x 30 products: the frozen QPs HiGHS solves take at most 0.6 s (1,300-1,600 atoms);
# the three that ran longer cycled to any limit given (60 s each, 180 of the 234 s solve), and
# the dual method then solved their chains in seconds. So a few seconds, growing with size.
def qp_time_limit(n_columns: int) -> float:
    return max(3.0, 2e-3 * n_columns)


# Active-set iterations HiGHS may take on one frozen QP. Those it solves take at most 1.5 per
# column on the 60 x 10 and 120 x 10 benches and 250 x 30 (2,469 on 1,747 columns), and at most
# 58 on the slow tier's small QPs (the first 700 cases); a degenerate one cycles at its optimal
# objective (250 x 30's m09: 1,550 columns, the optimum reached before 2,000 iterations, still
# cycling after 42,000).
# Stopped here, its last iterate is Newton's start all the same (`frozen_qp`).
def qp_iteration_limit(n_columns: int) -> int:
    return 3 * n_columns + 1000


def _highs():
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("random_seed", 0)
    return h


def _optimal(h) -> bool:
    import highspy

    return h.getModelStatus() == highspy.HighsModelStatus.kOptimal


def _stopped_at_limit(h) -> bool:
    import highspy

    return h.getModelStatus() in (highspy.HighsModelStatus.kIterationLimit, highspy.HighsModelStatus.kTimeLimit)


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
    margin (delivered price = buyers' price), and goods thrown away in markets priced at 0,
    may be rearranged keeping every market's totals and every quota's licensed flow; HiGHS
    picks the pattern with the least trade between regions (goods with no value are thrown
    away where they are, not shipped to be thrown away elsewhere). Prices and every other
    quantity are unchanged."""
    lay = system.problem.layout
    v = system.vertical_atoms
    routes, disposal = system.slice["route"], system.slice["disposal"]
    is_route = (v >= routes.start) & (v < routes.stop)
    is_disposal = (v >= disposal.start) & (v < disposal.stop)
    tol = 1e-9 * system.atom_price_scale[v]
    margin = np.abs(state.t[v] - system.theta[v]) <= tol
    candidates = np.flatnonzero(is_route & margin)
    if len(candidates) < 2:
        return state
    candidates = np.union1d(candidates, np.flatnonzero(is_disposal & margin))
    atoms = v[candidates]
    home = np.ones(len(atoms), dtype=bool)             # throwing away is no trade
    on_route = atoms < routes.stop
    route_index = atoms[on_route] - routes.start
    home[on_route] = lay.node_region[lay.route_origin_node[route_index]] == lay.node_region[lay.route_destination_node[route_index]]
    cost = np.where(home, 0.0, 1.0) / system.atom_quantity_scale[atoms]       # least trade, each product in its own units
    x = _same_totals(system, state.C[:, atoms], atoms, state.q[atoms], cost)
    if x is None:
        return state
    # keep the new pattern only if it leaves every market exactly cleared
    new_x = state.x.copy()
    new_x[candidates] = x
    trial = system.evaluate_exact(state.u, new_x)
    scale_rows = system.row_scale(exact=True)
    if np.abs(system.exact_residual(trial) / scale_rows).max(initial=0.0) > 1e-10:
        return state
    return trial


def frozen_qp(system: System, frozen) -> tuple[np.ndarray, np.ndarray, bool] | None:
    """The frozen system as the welfare QP HiGHS solves: one variable per atom (a supplier's
    output, a buyer's purchase, a refinery's output, a route's flow, a reserve's purchase)
    within [0, capacity]; minimise Σ φ(q) − o·q, with φ the integral of each atom's inverse
    response (q²/2β − αq/β on a curve, θ·q for a complementarity atom), subject to market
    clearing C·q + c = 0 (and licence rows C·q + c >= 0). By Fenchel duality this is the
    dual of minimising Φ; its row duals are the prices. Returns (prices u, vertical
    quantities, certified): certified False where HiGHS stopped at its iteration or time
    limit with a primal and dual iterate (a degenerate QP it cycles on, usually at the
    optimal objective already); None where it has no iterate to give.

    A route under a tariff-rate quota pays its out-of-quota rate here, and a licensed flow
    y ≤ the route's flow, counted by the quota, earns the rate gap back (cost −cap·y): the
    licence price is the quota row's dual, and a route whose gap equals it splits between
    in and out of quota, which the frozen Φ (each route wholly in or out) cannot. Its
    licensed share y/flow is returned in the share unknowns."""
    import highspy

    n_atoms = system.n_atoms
    alpha, beta, hi = system.alpha, system.beta, system.hi
    o = frozen.offset.copy()
    e = system.share_pair
    route_atom = system.atoms("route")[system.pair_route[e]]
    C = frozen.C.tolil() if len(e) else frozen.C
    if len(e):
        ex = frozen.extra
        lam0 = frozen.u0[system.pair_col[e]]
        for k, a in enumerate(route_atom):     # the route no longer counts in the quota row itself
            C[system.pair_col[e[k]], a] = 0.0
        np.add.at(o, route_atom, -ex["pair_slope"][e] * lam0 + ex["pair_charge"][e] - ex["pair_cap"][e])
        C = sp.hstack([C.tocsr(), sp.csr_matrix((np.concatenate([-np.ones(len(e)), -np.ones(len(e))]),
                                                 (np.concatenate([system.pair_col[e], system.share_col]),
                                                  np.concatenate([np.arange(len(e)), np.arange(len(e))]))),
                                                shape=(system.n_u, len(e)))]).tolil()
        for k, a in enumerate(route_atom):     # licensed flow ≤ the route's flow
            C[system.share_col[k], a] = 1.0
    C = C.tocsc()
    vertical = system.vertical
    curve = (beta > 0) & ~vertical
    fixed = (beta <= 0) & ~vertical
    qscale = system.atom_quantity_scale                      # variables in units of the product's market
    priced = system.n_u - len(e)                             # unknowns that are prices (shares are fractions)
    V = float(np.max(system.price_scale[:priced] * system.quantity_scale[:priced]))    # one value unit for the objective
    safe_beta = np.where(curve, beta, 1.0)
    linear = np.where(vertical, system.theta - o, np.where(curve, -alpha / safe_beta - o, -o))
    y_scale = qscale[route_atom]
    cost = np.concatenate([linear * qscale, -frozen.extra["pair_cap"][e] * y_scale if len(e) else np.zeros(0)]) / V
    # a licensed flow carries a tiny curvature: without it HiGHS's QP method cycled to its time
    # limit on a one-route quota (measured); this answer is only Newton's start, so the
    # perturbation never reaches a reported number
    hessian = np.concatenate([np.where(curve, qscale**2 / safe_beta / V, 0.0), np.full(len(e), 1e-8)])
    lower = np.concatenate([np.where(fixed, np.clip(alpha, 0.0, hi), 0.0) / qscale, np.zeros(len(e))])
    upper = np.concatenate([np.where(fixed, np.clip(alpha, 0.0, hi), hi) / qscale, np.full(len(e), np.inf)])
    upper = np.where(np.isfinite(upper), upper, highspy.kHighsInf)
    rows_scale = system.quantity_scale.copy()
    rows_scale[system.share_col] = y_scale                  # a licensed-flow row is in the route's units
    A = (sp.diags(1.0 / rows_scale) @ C @ sp.diags(np.concatenate([qscale, y_scale]))).tocsc()
    rhs = -frozen.c / rows_scale
    row_lower = rhs.copy()
    row_upper = rhs.copy()
    row_upper[system.bounded] = highspy.kHighsInf        # licence and budget rows: C·q + c >= 0
    row_upper[system.share_col] = highspy.kHighsInf      # licensed flow ≤ flow
    h = _highs()
    h.setOptionValue("time_limit", qp_time_limit(n_atoms + len(e)))
    h.setOptionValue("qp_iteration_limit", qp_iteration_limit(n_atoms + len(e)))
    _pass_lp(h, cost, lower, upper, A, row_lower, row_upper)
    n_cols = n_atoms + len(e)
    diag = np.flatnonzero(hessian > 0)
    if len(diag):
        start = np.zeros(n_cols + 1, dtype=np.int32)
        counts = np.zeros(n_cols, dtype=np.int32)
        counts[diag] = 1
        start[1:] = np.cumsum(counts)
        h.passHessian(n_cols, len(diag), highspy.HessianFormat.kTriangular, start, diag.astype(np.int32), hessian[diag])
    h.run()
    certified = _optimal(h)
    solution = h.getSolution()
    if not certified and not (_stopped_at_limit(h) and solution.value_valid and solution.dual_valid):
        return None
    values = np.asarray(solution.col_value)
    q = values[:n_atoms] * qscale
    # row duals are in objective units per scaled row: u = V·λ / row scale (HiGHS's sign: minimisation)
    u = np.asarray(solution.row_dual) * V / rows_scale
    if len(e):
        flow, licensed = q[route_atom], values[n_atoms:] * y_scale
        below = u[system.pair_col[e]] < frozen.extra["pair_cap"][e]
        u[system.share_col] = np.where(flow > 1e-12 * y_scale, np.clip(licensed / np.where(flow > 0, flow, 1.0), 0.0, 1.0),
                                       below.astype(float))
    return u, q[system.vertical_atoms], certified


def vertex_flows(system: System, frozen, x: np.ndarray) -> np.ndarray | None:
    """The vertical quantities `x` (routes, constant-cost refineries) re-chosen at a vertex of
    the frozen problem: with every curve atom held where it is, HiGHS's simplex picks the
    cheapest pattern (frozen costs θ − o) that carries the same total into and out of every
    market. A degenerate QP answer (tied routes carrying flow around a cycle) becomes a
    forest, on which Newton's system is regular. None where the chain has licence, budget or
    quota-share rows (their totals are not fixed by the markets alone) or HiGHS fails."""
    if not system.n_vertical or len(system.share_pair) or len(system.bounded):
        return None
    v = system.vertical_atoms
    cost = system.theta[v] - frozen.offset[v]
    return _same_totals(system, frozen.C[:, v], v, x, cost / max(float(np.abs(cost).max(initial=0.0)), 1e-300))


def _same_totals(system: System, C: sp.spmatrix, atoms: np.ndarray, current: np.ndarray, cost: np.ndarray) -> np.ndarray | None:
    """New quantities for `atoms` (the columns `C` of the market rows) that carry the same
    totals C·current into and out of every market they touch, within [0, capacity], at the
    least `cost`: HiGHS's simplex, so a vertex. None if HiGHS does not reach the optimum."""
    C = C.tocsc()
    used_rows = np.flatnonzero(np.asarray(abs(C).sum(axis=1)).ravel() > 0)
    C = C[used_rows]
    totals = C @ current
    rows_scale = system.quantity_scale[used_rows]
    h = _highs()
    _pass_lp(h, cost, np.zeros(len(atoms)), system.hi[atoms], sp.diags(1.0 / rows_scale) @ C, totals / rows_scale, totals / rows_scale)
    h.run()
    if not _optimal(h):
        return None
    return np.clip(np.asarray(h.getSolution().col_value), 0.0, system.hi[atoms])


def elastic_lp(A: sp.csc_matrix, cost, lower, upper, row_lower, row_upper):
    """Solve an LP; returns (optimal, column values, row duals)."""
    h = _highs()
    _pass_lp(h, cost, lower, upper, A, row_lower, row_upper)
    h.run()
    if not _optimal(h):
        return False, None, None
    solution = h.getSolution()
    return True, np.asarray(solution.col_value), np.asarray(solution.row_dual)
