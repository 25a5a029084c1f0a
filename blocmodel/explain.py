"""Why a chain has no equilibrium, in the model's own terms.

Market clearing can be impossible only where something is fixed: a stockpile purchase
that no supply can meet within capacities, bans and quotas, or — in a system without free
disposal (`System(disposal=False)`, the first the solver tries) — output that a
deficiency-payment floor holds up (producers receive at least the floor, so their output
no longer falls with the market price) where capacities, bans and quotas leave it nowhere
to go, so the market price would fall without bound. (The solver then solves the chain with
free disposal, where the surplus is thrown away at price 0: `solver.ChainSolver`; naming it
here spares the first attempt the slow dual method.) An elastic LP (HiGHS) relaxes each
market's clearing with a shortfall and a surplus and minimises them over every quantity
the model can choose within its bounds (held-up output at least its level at the floor);
the markets left short or over, and the capacities, bans and quotas that bind on them, are
the constraints that conflict.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .backend import elastic_lp
from .newton import Outcome
from .problem import BUYER, ChainProblem
from .system import System


def explain_failure(problem: ChainProblem, system: System, outcome: Outcome) -> tuple[str, str, list[str]]:
    found = conflicts(problem, system)
    if found:
        return "infeasible", "no equilibrium: " + "; ".join(found), found
    if outcome.status == "infeasible":
        return "infeasible", f"no equilibrium: {outcome.message}", []
    return "not_converged", ((outcome.message or "no exact equilibrium found")
                             + " (no conflicting constraint was found, so the scenario is not shown infeasible; no result "
                               "is returned rather than an inexact one)"), []


def conflicts(problem: ChainProblem, system: System) -> list[str]:
    """Markets that cannot clear whatever every producer, refinery and route does within
    its bounds (demand may fall to zero, output to its level at a deficiency-payment floor),
    with the instruments that bind on them."""
    lay = problem.layout
    n, k = system.n_nodes, system.n_atoms
    C = system.C_fixed[:n]
    upper = np.where(np.isfinite(system.hi), system.hi, 1e30)
    lower = np.zeros(k)
    supply = system.slice["supply"]
    held = np.isfinite(problem.supply_floor) & (problem.supply_slope > 0)
    at_floor = problem.supply_intercept + problem.supply_slope * (problem.supply_floor + problem.supply_subsidy)
    lower[supply] = np.where(held, np.clip(at_floor, 0.0, problem.supply_capacity), 0.0)
    # every quantity free within its bounds; slacks: a shortfall at each node, and a surplus
    # where something is forced in (held-up output, a release), so that an excess is named
    # where it arises, not downstream where it got stuck
    sources = np.union1d(lay.supply_node[held], np.flatnonzero(problem.fixed_use < 0)).astype(int)
    # in units of each market's size (rows) and each atom's (columns), a slack costing 1 per
    # market: in raw units the costs are ~1/market size, inside HiGHS's dual tolerance, and it
    # stopped at the first feasible point (measured: a refinery run to capacity into free
    # disposal, its input "short" by 14 Mt)
    qs, aqs = lay.quantity_scale, system.atom_quantity_scale
    identity = sp.identity(n, format="csc")
    A = sp.hstack([sp.diags(1.0 / qs) @ C @ sp.diags(aqs), identity, -identity[:, sources]]).tocsc()
    cost = np.ones(n + len(sources))
    rows = -system.constants(np.concatenate([lay.price_scale, np.zeros(system.n_u - n)]))[:n] / qs
    ok, x, _ = elastic_lp(A, np.concatenate([np.zeros(k), cost]), np.concatenate([lower / aqs, np.zeros(n + len(sources))]),
                          np.concatenate([upper / aqs, np.full(n + len(sources), 1e30)]), rows, rows)
    if not ok:
        return []
    x = np.concatenate([x[:k] * aqs, x[k:k + n] * qs, x[k + n:] * qs[sources]])
    short = x[k:k + n]
    over = np.zeros(n)
    over[sources] = x[k + n:]
    closures = problem.labels.get("closures", {})
    purchases = problem.labels.get("purchases", {})
    route = system.slice["route"].start

    def at_capacity(routes) -> list[str]:
        found = []
        for e in routes:
            if e in closures:
                found.append(closures[e])
            elif np.isfinite(problem.route_capacity[e]) and x[route + e] >= problem.route_capacity[e] * (1 - 1e-9):
                found.append(f"route capacity {lay.node_region[lay.route_origin_node[e]]}->"
                             f"{lay.node_region[lay.route_destination_node[e]]} ({lay.node_product[lay.route_destination_node[e]]})")
        return found

    out = []
    for node in np.flatnonzero(short > 1e-9 * lay.quantity_scale):
        region, product, side = lay.node_region[node], lay.node_product[node], lay.node_side[node]
        fixed = problem.fixed_use[node]
        what = (f"the fixed stockpile purchase of {fixed:,.6g}" + (f" ({purchases[node]})" if node in purchases else "")
                if side == BUYER else f"a fixed use of {fixed:,.6g}")
        into = np.flatnonzero(lay.route_destination_node == node)
        binding = at_capacity(into)
        origins = set(lay.route_origin_node[into])
        for i in np.flatnonzero(np.isin(lay.supply_node, list(origins))):
            if np.isfinite(problem.supply_capacity[i]) and x[supply.start + i] >= problem.supply_capacity[i] * (1 - 1e-9):
                binding.append(f"supply capacity of {lay.node_region[lay.supply_node[i]]} ({product})")
        out.append(f"market {region}/{product} cannot clear: {what} exceeds by {short[node]:,.6g} what can reach it"
                   + (f"; binding: {', '.join(dict.fromkeys(binding))}" if binding else ""))
    for node in np.flatnonzero(over > 1e-9 * lay.quantity_scale):
        region, product = lay.node_region[node], lay.node_product[node]
        floors = np.flatnonzero(held & (lay.supply_node == node))
        if len(floors):
            what = (f"output held at {lower[supply][floors].sum():,.6g} by a deficiency-payment floor of "
                    f"{problem.supply_floor[floors].max():,.6g} (producers receive at least the floor, so it does not fall "
                    f"with the market price; no free disposal)")
        else:
            what = f"a fixed release of {-problem.fixed_use[node]:,.6g}"
        out_of = np.flatnonzero(lay.route_origin_node == node)
        binding = at_capacity(out_of)
        users = set(lay.route_destination_node[out_of])
        for i in np.flatnonzero(np.isin(lay.refining_input_node, list(users))):
            if np.isfinite(problem.refining_capacity[i]) and x[system.slice["refining"].start + i] >= problem.refining_capacity[i] * (1 - 1e-9):
                binding.append(f"refining capacity of {lay.node_region[lay.refining_input_node[i]]} ({product})")
        out.append(f"market {region}/{product} cannot clear: {what} exceeds by {over[node]:,.6g} what can leave it"
                   + (f"; binding: {', '.join(dict.fromkeys(binding))}" if binding else ""))
    return out
