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


def elastic_lp(A: sp.csc_matrix, cost, lower, upper, row_lower, row_upper):
    """Solve an LP; returns (optimal, column values, row duals)."""
    h = _highs()
    _pass_lp(h, cost, lower, upper, A, row_lower, row_upper)
    h.run()
    if not _optimal(h):
        return False, None, None
    solution = h.getSolution()
    return True, np.asarray(solution.col_value), np.asarray(solution.row_dual)
