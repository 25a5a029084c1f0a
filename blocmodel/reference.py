"""The same equilibrium written the obvious way: one monolithic Pyomo QP.

This is the reference that blocmodel is measured against (benchmarks) and checked against
(tests): every product, route and refinery of the dataset in one Pyomo model, solved
once by HiGHS, with the per-unit border charges given (for price-dependent charges, the
values at blocmodel's equilibrium, so both models solve the same problem). It shares no
model code with `model.py`: curves are written as textbook integrals of the inverse
curves. Price floors by deficiency payment or stockpile are not written here.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.contrib.solver.common.results import TerminationCondition
from pyomo.contrib.solver.solvers.highs import Highs

from .dataset import Dataset
from .policy import Policy


def monolithic_model(data: Dataset, policy: Policy, charges: np.ndarray) -> pyo.ConcreteModel:
    """`charges`: every border charge per unit on each route (aligned with data.routes)."""
    if any(f.mechanism != "variable_levy" for f in policy.floors) or len(policy.stockpile):
        raise NotImplementedError("the reference model covers tariffs, levies (as given charges), bans, quotas and supply shifts")
    s, d, r, a = policy.supply, policy.demand, policy.processing, policy.arcs
    # Quantities in thousands of the world reference quantity of the product, prices in its
    # median reference price: without some scaling HiGHS cannot hold 1e-7 on this data.
    price_unit, quantity_unit = {}, {}
    for product in data.product_codes:
        prices = pd.concat([s.loc[s["product"] == product, "ref_price"], d.loc[d["product"] == product, "ref_price"]])
        price_unit[product] = float(prices.median()) if len(prices) else 1.0
        quantity_unit[product] = max(s.loc[s["product"] == product, "ref_quantity"].sum(),
                                     d.loc[d["product"] == product, "ref_quantity"].sum(),
                                     r.loc[r["output"] == product, "ref_quantity"].fillna(0).sum(), 1.0)
    scale = max(price_unit[p] * quantity_unit[p] for p in data.product_codes)   # one value unit for the objective
    value = {p: scale for p in data.product_codes}

    m = pyo.ConcreteModel(name="monolithic reference")
    m.S = pyo.Set(initialize=range(len(s)))
    m.D = pyo.Set(initialize=range(len(d)))
    m.R = pyo.Set(initialize=range(len(r)))
    m.A = pyo.Set(initialize=range(len(a)))
    nodes = sorted(set(zip(s["region"], s["product"])) | set(zip(d["region"], d["product"]))
                   | set(zip(r["region"], r["input"])) | set(zip(r["region"], r["output"]))
                   | set(zip(a["origin"], a["product"])) | set(zip(a["destination"], a["product"])))
    m.N = pyo.Set(initialize=nodes, dimen=2)

    def qu(product):
        return quantity_unit[product]

    sa = s["ref_quantity"] * (1 - s["elasticity"]) + s["quantity_shift"]
    sb = s["elasticity"] * s["ref_quantity"] / s["ref_price"]
    sa = sa + sb * (s["subsidy"] - s["cost_change"])
    m.supply = pyo.Var(m.S, bounds=lambda m, i: (0, s["capacity"].iat[i] / qu(s["product"].iat[i])
                                                 if np.isfinite(s["capacity"].iat[i]) else
                                                 (sa.iat[i] / qu(s["product"].iat[i]) if sb.iat[i] == 0 else None)))
    da = d["ref_quantity"] * (1 - d["elasticity"])
    db = -d["elasticity"] * d["ref_quantity"] / d["ref_price"]
    m.demand = pyo.Var(m.D, bounds=(0, None))
    curve = r["elasticity"].notna()
    za = r["ref_quantity"].fillna(0) * (1 - r["elasticity"].fillna(0)) + r["quantity_shift"]
    zb = (r["elasticity"] * r["ref_quantity"] / r["unit_cost"]).fillna(0)
    za = za + zb * (r["subsidy"] - r["cost_change"])
    m.refining = pyo.Var(m.R, bounds=lambda m, i: (0, r["capacity"].iat[i] / qu(r["output"].iat[i]) if np.isfinite(r["capacity"].iat[i]) else None))
    m.flow = pyo.Var(m.A, bounds=lambda m, i: (0, a["capacity"].iat[i] / qu(a["product"].iat[i]) if np.isfinite(a["capacity"].iat[i]) else None))

    welfare = []
    for i in m.D:   # ∫ inverse demand (a − q)/b
        p, u = d["product"].iat[i], qu(d["product"].iat[i])
        welfare.append((da.iat[i] * u * m.demand[i] - 0.5 * (u * m.demand[i]) ** 2) / db.iat[i] / value[p])
    for i in m.S:   # − ∫ inverse supply (q − a)/b
        p, u = s["product"].iat[i], qu(s["product"].iat[i])
        if sb.iat[i] > 0:
            welfare.append(-(0.5 * (u * m.supply[i]) ** 2 - sa.iat[i] * u * m.supply[i]) / sb.iat[i] / value[p])
    for i in m.R:
        p, u = r["output"].iat[i], qu(r["output"].iat[i])
        if curve.iat[i] and zb.iat[i] > 0:
            welfare.append(-(0.5 * (u * m.refining[i]) ** 2 - za.iat[i] * u * m.refining[i]) / zb.iat[i] / value[p])
        else:
            welfare.append(-(r["unit_cost"].iat[i] + r["cost_change"].iat[i] - r["subsidy"].iat[i]) * u * m.refining[i] / value[p])
    for i in m.A:
        p, u = a["product"].iat[i], qu(a["product"].iat[i])
        welfare.append(-(a["transport_cost"].iat[i] + charges[i]) * u * m.flow[i] / value[p])
    m.welfare = pyo.Objective(expr=pyo.quicksum(welfare), sense=pyo.maximize)

    def balance(m, region, product):
        u = qu(product)
        terms = [u * m.supply[i] for i in np.flatnonzero((s["region"] == region) & (s["product"] == product))]
        terms += [-u * m.demand[i] for i in np.flatnonzero((d["region"] == region) & (d["product"] == product))]
        terms += [qu(r["output"].iat[i]) * m.refining[i] for i in np.flatnonzero((r["region"] == region) & (r["output"] == product))]
        terms += [-qu(r["output"].iat[i]) * m.refining[i] / r["yield"].iat[i] for i in np.flatnonzero((r["region"] == region) & (r["input"] == product))]
        terms += [u * m.flow[i] for i in np.flatnonzero((a["destination"] == region) & (a["product"] == product))]
        terms += [-u * m.flow[i] for i in np.flatnonzero((a["origin"] == region) & (a["product"] == product))]
        return pyo.quicksum(terms) / u == 0
    m.balance = pyo.Constraint(m.N, rule=balance)
    for q in policy.quotas:
        m.add_component(f"quota_{len(list(m.component_objects(pyo.Constraint)))}",
                        pyo.Constraint(expr=pyo.quicksum(m.flow[i] for i in q.routes) <= q.limit / qu(q.product)))
    m._value = value
    m._quantity_unit = quantity_unit
    return m


def solve_monolithic(data: Dataset, policy: Policy, charges: np.ndarray, time_limit: float | None = None) -> tuple[pd.DataFrame, dict]:
    """Build and solve the reference with HiGHS's defaults; returns prices (region, product,
    price) and timings. Raises RuntimeError if HiGHS does not reach the optimum."""
    start = time.perf_counter()
    m = monolithic_model(data, policy, charges)
    built = time.perf_counter()
    solver = Highs()
    solver.config.load_solutions = False
    solver.config.raise_exception_on_nonoptimal_result = False
    solver.config.time_limit = time_limit
    res = solver.solve(m)
    done = time.perf_counter()
    if res.termination_condition != TerminationCondition.convergenceCriteriaSatisfied:
        raise RuntimeError(f"reference model stopped after {time.perf_counter() - start:.0f} s: {res.termination_condition.name}")
    duals = res.solution_loader.get_duals()
    rows = []
    for (region, product) in m.N:
        # maximisation: the row dual is minus the marginal value of one more unit
        dual = duals[m.balance[region, product]]
        rows.append((region, product, -dual * m._value[product] / m._quantity_unit[product]))
    prices = pd.DataFrame(rows, columns=["region", "product", "price"])
    return prices, {"build_seconds": built - start, "solve_seconds": done - built, "seconds": done - start}
