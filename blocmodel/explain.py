"""Why a chain has no equilibrium, in the model's own terms.

Market clearing can be impossible only where something is fixed: a stockpile purchase
that no supply can meet within capacities, bans and quotas (a release no market can take
goes to the producers' side, which can always sell it at some price). An elastic LP
(HiGHS) relaxes each market's clearing with a shortfall and minimises it over every
quantity the model can choose within its bounds; the markets left short, and the
capacities, bans and quotas that bind on their supply, are the constraints that conflict.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .backend import elastic_lp
from .newton import Outcome
from .problem import BUYER, ChainProblem
from .system import System


def explain_failure(problem: ChainProblem, system: System, outcome: Outcome) -> tuple[str, str, list[str]]:
    conflicts = _shortfalls(problem, system)
    if conflicts:
        return "infeasible", "no equilibrium: " + "; ".join(conflicts), conflicts
    if outcome.status == "infeasible":
        return "infeasible", f"no equilibrium: {outcome.message}", []
    return "not_converged", ((outcome.message or "no exact equilibrium found")
                             + " (no conflicting constraint was found, so the scenario is not shown infeasible; no result "
                               "is returned rather than an inexact one)"), []


def _shortfalls(problem: ChainProblem, system: System) -> list[str]:
    """Markets that cannot clear whatever every producer, refinery and route does within
    its bounds (demand may fall to zero), with the instruments that bind on their supply."""
    lay = problem.layout
    n, k = system.n_nodes, system.n_atoms
    C = system.C_fixed[:n]
    upper = np.where(np.isfinite(system.hi), system.hi, 1e30)
    # every quantity free within its bounds; slack: shortfall at each node
    A = sp.hstack([C, sp.identity(n, format="csc")]).tocsc()
    cost = np.concatenate([np.zeros(k), 1.0 / lay.quantity_scale])
    rows = -system.constants(np.concatenate([lay.price_scale, np.zeros(system.n_u - n)]))[:n]
    ok, x, _ = elastic_lp(A, cost, np.zeros(k + n), np.concatenate([upper, np.full(n, 1e30)]), rows, rows)
    if not ok:
        return []
    short = x[k:]
    closures = problem.labels.get("closures", {})
    purchases = problem.labels.get("purchases", {})
    out = []
    for node in np.flatnonzero(short > 1e-9 * lay.quantity_scale):
        region, product, side = lay.node_region[node], lay.node_product[node], lay.node_side[node]
        fixed = problem.fixed_use[node]
        what = (f"the fixed stockpile purchase of {fixed:,.6g}" + (f" ({purchases[node]})" if node in purchases else "")
                if side == BUYER else f"a fixed use of {fixed:,.6g}")
        binding = []
        into = np.flatnonzero(lay.route_destination_node == node)
        for e in into:
            if e in closures:
                binding.append(closures[e])
            elif np.isfinite(problem.route_capacity[e]) and x[system.slice["route"].start + e] >= problem.route_capacity[e] * (1 - 1e-9):
                binding.append(f"route capacity {lay.node_region[lay.route_origin_node[e]]}->{region} ({product})")
        origins = set(lay.route_origin_node[into])
        for i in np.flatnonzero(np.isin(lay.supply_node, list(origins))):
            if np.isfinite(problem.supply_capacity[i]) and x[system.slice["supply"].start + i] >= problem.supply_capacity[i] * (1 - 1e-9):
                binding.append(f"supply capacity of {lay.node_region[lay.supply_node[i]]} ({product})")
        out.append(f"market {region}/{product} cannot clear: {what} exceeds by {short[node]:,.6g} what can reach it"
                   + (f"; binding: {', '.join(dict.fromkeys(binding))}" if binding else ""))
    return out
