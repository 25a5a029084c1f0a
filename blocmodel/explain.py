"""Why a scenario has no equilibrium, in the model's own terms.

Infeasible: only fixed quantities can make market clearing impossible (a stockpile
purchase no supply can meet within capacities, bans and quotas; a release no market can
absorb). An elastic LP relaxes market clearing with shortfall/excess slacks and minimises
them; the markets left with slack, and the capacities, bans and quotas binding on their
supply, are the constraints that conflict.

Unbounded: a cycle of routes whose charges net below zero (export subsidies that pay more
than the round trip costs) lets goods circle for profit; the cycle is named.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pyomo.environ as pyo
from pyomo.contrib.solver.common.results import TerminationCondition
from pyomo.contrib.solver.solvers.highs import Highs

from .model import Chain
from .policy import Policy


def explain_failure(chain: Chain, policy: Policy, status: str, arc_charges: np.ndarray) -> tuple[str, str, list[str]]:
    cycle = _negative_cycle(chain, arc_charges)
    if cycle:
        return ("unbounded", "no equilibrium: goods can circle for profit because border charges net below zero on the cycle "
                + " -> ".join(cycle) + " (an export subsidy or a negative tariff larger than the round-trip cost)", [" -> ".join(cycle)])
    conflicts = _elastic(chain, policy)
    if conflicts:
        return "infeasible", "no equilibrium: " + "; ".join(conflicts), conflicts
    if status == "error":     # feasible, but no exact optimum reached: say so rather than return an approximate answer
        return status, ("no exact equilibrium found: the QP solver and the exact polish failed numerically (no "
                        "conflicting constraint was found, so the scenario is not shown infeasible); no result is "
                        "returned rather than an inexact one. Levers far from the reference prices (e.g. a "
                        "deficiency-payment floor several times the market price) can cause this"), []
    if status == "infeasible" and not np.any(chain.fixed_purchase):
        return status, ("the solver reported the chain infeasible, but no fixed stockpile quantity is there to "
                        "conflict: either output forced by a deficiency-payment floor has no market to go to, or "
                        "the solver failed numerically; no result is returned"), []
    return status, f"the solver reported the chain {status} and no conflicting constraint was found", []


def _negative_cycle(chain: Chain, arc_charges: np.ndarray) -> list[str]:
    c = chain.coef
    graph = nx.DiGraph()
    cost = c["arc_transport"] + arc_charges
    for i, (u, v) in enumerate(zip(c["arc_from"], c["arc_to"])):
        if c["arc_capacity"][i] > 0:
            w = cost[i] / chain.price_scale[chain.nodes[u][1]]
            if not graph.has_edge(u, v) or graph[u][v]["weight"] > w:
                graph.add_edge(int(u), int(v), weight=float(w))
    try:
        cycle = nx.find_negative_cycle(graph, next(iter(graph.nodes))) if graph.number_of_nodes() else None
    except (nx.NetworkXError, StopIteration):
        cycle = None
    if not cycle:
        for source in list(graph.nodes):
            try:
                cycle = nx.find_negative_cycle(graph, source)
                break
            except nx.NetworkXError:
                continue
    if not cycle:
        return []
    return [f"{chain.nodes[n][0]}" for n in cycle] + [chain.nodes[cycle[0]][1]]


def _elastic(chain: Chain, policy: Policy) -> list[str]:
    """Markets with fixed quantities that cannot clear, and the limits binding on them."""
    from .model import build_model

    fixed_nodes = [n for n, q in enumerate(chain.fixed_purchase) if q != 0]
    if not fixed_nodes:
        return []
    m = build_model(chain)
    m.welfare_loss.deactivate()
    m.FIXED = pyo.Set(initialize=fixed_nodes)
    m.shortfall = pyo.Var(m.FIXED, bounds=(0, None))
    m.excess = pyo.Var(m.FIXED, bounds=(0, None))
    for n in fixed_nodes:
        con = m.market_clearing[n]
        con.set_value(con.body + m.shortfall[n] - m.excess[n] == m.net_fixed[n])
    m.violation = pyo.Objective(expr=pyo.quicksum(m.shortfall[n] + m.excess[n] for n in fixed_nodes))
    solver = Highs()
    solver.config.load_solutions = False
    solver.config.raise_exception_on_nonoptimal_result = False
    res = solver.solve(m)
    if res.termination_condition != TerminationCondition.convergenceCriteriaSatisfied:
        return []
    values = res.solution_loader.get_vars()
    unit = chain.node_scale()
    conflicts = []
    for n in fixed_nodes:
        short = values[m.shortfall[n]] * unit[n]
        extra = values[m.excess[n]] * unit[n]
        if max(short, extra) <= 1e-9 * unit[n]:
            continue
        region, product = chain.nodes[n]
        fixed = chain.fixed_purchase[n]
        what = f"the fixed stockpile {'purchase' if fixed > 0 else 'release'} of {abs(fixed):,.6g}"
        if short > 0:
            limits = _binding_limits(chain, policy, m, values)
            conflicts.append(f"market {region}/{product} cannot clear: {what} exceeds by {short:,.6g} the most that can reach it"
                             + (f" (binding: {', '.join(limits)})" if limits else ""))
        else:
            conflicts.append(f"market {region}/{product} cannot clear: {what} exceeds by {extra:,.6g} what markets, "
                             "refineries and routes can absorb at any price")
    return conflicts


def _binding_limits(chain: Chain, policy: Policy, m, values, most: int = 8) -> list[str]:
    """Capacities, bans and quotas at their bounds in the elastic solution."""
    c = chain.coef
    unit = chain.node_scale()
    limits = []

    def at(var, bound, node):
        return np.isfinite(bound) and values[var] * unit[node] >= bound * (1 - 1e-9) - 1e-12

    for i in range(len(c["supply_node"])):
        row = policy.supply.iloc[chain.supply_rows[i]]
        total = c["supply_forced"][i] + values[m.supply[i]] * m.scale["supply"][i]
        if np.isfinite(row["capacity"]) and total >= row["capacity"] * (1 - 1e-9):
            limits.append(f"supply capacity of {row['region']} ({row['capacity']:,.6g})")
    for i in range(len(c["refining_output_node"])):
        row = policy.processing.iloc[chain.refining_rows[i]]
        total = c["refining_forced"][i] + values[m.refining[i]] * m.scale["refining"][i]
        if np.isfinite(row["capacity"]) and total >= row["capacity"] * (1 - 1e-9):
            limits.append(f"refining capacity of {row['region']} ({row['capacity']:,.6g})")
    for i in range(len(c["arc_from"])):
        cap = c["arc_capacity"][i]
        origin, product = chain.nodes[c["arc_from"][i]]
        destination = chain.nodes[c["arc_to"][i]][0]
        if cap <= 0:
            limits.append(f"export ban {origin}->{destination} ({product})")
        elif at(m.flow[i], cap, c["arc_from"][i]):
            limits.append(f"route capacity {origin}->{destination} ({cap:,.6g})")
    for k, (q, positions) in enumerate(chain.quotas):
        total = sum(values[m.flow[int(i)]] for i in positions) * unit[c["arc_from"][positions[0]]]
        if total >= q.limit * (1 - 1e-9):
            limits.append(f"{q.label} ({q.limit:,.6g})")
    return limits[:most] + ([f"and {len(limits) - most} more"] if len(limits) > most else [])
