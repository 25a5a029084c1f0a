"""The same equilibrium written the obvious way: one monolithic Pyomo QP, solved by HiGHS.

This is the reference blocmodel is measured against (benchmarks) and checked against
(tests): every supply, demand and refinery row and every route of the market (home routes
included) in one Pyomo model, the welfare objective written as textbook integrals of the
linear curves, market clearing at every producers' and buyers' node, solved once by HiGHS
with its defaults. Border charges that depend on prices (ad valorem duties, levies) are
given per unit — at blocmodel's equilibrium — so both solve the same problem. It shares
no code with `system.py`; its prices are the duals of market clearing.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.contrib.solver.common.results import TerminationCondition
from pyomo.contrib.solver.solvers.highs import Highs


def charges_at(results) -> np.ndarray:
    """Each route's border charges per unit at `results`' equilibrium (ad valorem duties and
    levies evaluated there), in the order of the market's route table."""
    charge = results.route_detail.set_index("row")
    per_unit = (charge["tariff"] + charge["anti_dumping"] + charge["levy"] - charge["export_subsidy"] - charge["dumping_discount"])
    return per_unit.reindex(np.arange(len(results.policy.market.routes))).fillna(0.0).to_numpy()


def specific_charges(market) -> np.ndarray:
    """Each route's border charges per unit where none depends on a price (specific tariffs,
    duties and export subsidies only), so the reference needs nothing from blocmodel's solve."""
    t = market.routes.terms
    if np.any(t.tariff_rate) or np.any(t.duty_rate) or np.any(t.subsidy_rate) or np.any(t.dumping_margin) \
            or np.any(t.duty_matches_margin) or not np.all(np.isnan(t.levy_floor)):
        raise NotImplementedError("charges that depend on prices: give them at an equilibrium (charges_at)")
    return t.tariff_specific + t.duty_specific - t.subsidy_specific


def monolithic_model(market, per_unit: np.ndarray, price: dict[str, float], quantity: dict[str, float]) -> pyo.ConcreteModel:
    """The welfare QP of `market` with border charges `per_unit` (USD per unit, per route);
    `price` and `quantity` scale each product's numbers near 1 for HiGHS."""
    s, d, r, e = market.supply, market.demand, market.refining, market.routes
    if market.reserves or market.couplings or market.purchases or market.releases:
        raise NotImplementedError("the reference covers tariffs, duties, levies (as given charges), bans, floors by payment, shocks")
    value = max(price[p] * quantity[p] for p in price)

    m = pyo.ConcreteModel(name="monolithic reference")
    m.S, m.D, m.R, m.E = (pyo.RangeSet(0, len(x) - 1) for x in (s.region, d.region, r.region, e.origin))
    # variables in units of each product's world market (so HiGHS sees numbers near 1)
    qs = lambda p: quantity[p]  # noqa: E731
    m.supply = pyo.Var(m.S, bounds=lambda m, i: (0, s.capacity[i] / qs(s.product[i]) if np.isfinite(s.capacity[i]) else None))
    m.demand = pyo.Var(m.D, bounds=(0, None))
    m.refine = pyo.Var(m.R, bounds=lambda m, i: (0, r.capacity[i] / qs(r.output[i]) if np.isfinite(r.capacity[i]) else None))
    m.flow = pyo.Var(m.E, bounds=lambda m, i: (0, e.capacity[i] / qs(e.product[i]) if np.isfinite(e.capacity[i]) else None))

    terms = []
    for i in m.D:     # utility: ∫ inverse demand, p(q) = (a − q)/b̄ with b̄ = −slope
        a, b = d.intercept[i], -d.slope[i]
        u = qs(d.product[i])
        terms.append(((a * u * m.demand[i] - 0.5 * (u * m.demand[i]) ** 2) / b) / value)
    for i in m.S:     # cost: ∫ inverse supply (q − a)/b less what producers are paid on top (subsidy, floor)
        a, b = s.intercept[i], s.slope[i]
        u = qs(s.product[i])
        if b > 0:
            terms.append(-((0.5 * (u * m.supply[i]) ** 2 - a * u * m.supply[i]) / b) / value)
        terms.append(s.subsidy[i] * u * m.supply[i] / value)
    for i in m.R:
        u = qs(r.output[i])
        if r.constant_cost[i]:
            terms.append(-(r.unit_cost[i] - r.subsidy[i]) * u * m.refine[i] / value)
        elif r.slope[i] > 0:
            terms.append(-((0.5 * (u * m.refine[i]) ** 2 - r.intercept[i] * u * m.refine[i]) / r.slope[i] - r.subsidy[i] * u * m.refine[i]) / value)
    for i in m.E:     # trade cost: transport + calibrated a + g·x, plus the charges (given)
        u = qs(e.product[i])
        linear = e.terms.transport[i] + e.intercept[i] + per_unit[i]
        terms.append(-(linear * u * m.flow[i] + 0.5 * e.curvature[i] * (u * m.flow[i]) ** 2) / value)
    m.welfare = pyo.Objective(expr=pyo.quicksum(terms), sense=pyo.maximize)

    # market clearing at every producers' and buyers' node (one constraint per node)
    producers: dict[tuple[str, str], list] = {}
    buyers: dict[tuple[str, str], list] = {}
    for i in m.S:
        producers.setdefault((s.region[i], s.product[i]), []).append(m.supply[i])
    for i in m.R:
        producers.setdefault((r.region[i], r.output[i]), []).append(m.refine[i])
        buyers.setdefault((r.region[i], r.input[i]), []).append(m.refine[i] * qs(r.output[i]) / (r.yield_[i] * qs(r.input[i])))
    for i in m.D:
        buyers.setdefault((d.region[i], d.product[i]), []).append(m.demand[i])
    out_of: dict[tuple[str, str], list] = {}
    into: dict[tuple[str, str], list] = {}
    for i in m.E:
        key_o, key_d = (e.origin[i], e.product[i]), (e.destination[i], e.product[i])
        if key_o in producers and key_d in buyers:
            out_of.setdefault(key_o, []).append(m.flow[i])
            into.setdefault(key_d, []).append(m.flow[i])
        else:
            m.flow[i].fix(0.0)
    m.P = pyo.Set(initialize=sorted(producers), dimen=2)
    m.B = pyo.Set(initialize=sorted(buyers), dimen=2)
    m.producers = pyo.Constraint(m.P, rule=lambda m, rg, p: pyo.quicksum(producers[(rg, p)]) == pyo.quicksum(out_of.get((rg, p), [])))
    m.buyers = pyo.Constraint(m.B, rule=lambda m, rg, p: pyo.quicksum(into.get((rg, p), [])) == pyo.quicksum(buyers[(rg, p)]))
    m._value, m._quantity = value, quantity
    return m


def solve_monolithic(results=None, time_limit: float | None = None, *, market=None, per_unit=None,
                     price: dict | None = None, quantity: dict | None = None) -> tuple[pd.DataFrame, dict]:
    """Build and solve the reference of `results` (its market, its charges at equilibrium) or
    of a `market` with `per_unit` charges; returns node prices (region, product, side, price)
    and timings. Raises RuntimeError if HiGHS does not reach the optimum."""
    start = time.perf_counter()
    if results is not None:
        market, per_unit = results.policy.market, charges_at(results)
        price, quantity = results.price_scale, results.quantity_scale
    m = monolithic_model(market, per_unit, price, quantity)
    built = time.perf_counter()
    solver = Highs()
    solver.config.load_solutions = False
    solver.config.raise_exception_on_nonoptimal_result = False
    solver.config.time_limit = time_limit
    res = solver.solve(m)
    done = time.perf_counter()
    if res.termination_condition != TerminationCondition.convergenceCriteriaSatisfied:
        raise RuntimeError(f"reference model stopped after {done - start:.0f} s: {res.termination_condition.name}")
    duals = res.solution_loader.get_duals()
    rows = []
    for side, constraint in ((0, m.producers), (1, m.buyers)):
        for (region, product), con in constraint.items():
            # maximisation with clearing written sources == uses: the dual is minus the value of
            # one more unit there, in units of the objective per unit of the product's market
            rows.append((region, product, side, -duals[con] * m._value / m._quantity[product]))
    prices = pd.DataFrame(rows, columns=["region", "product", "side", "price"])
    return prices, {"build_seconds": built - start, "solve_seconds": done - built, "seconds": done - start}


def main(argv: list[str] | None = None) -> None:
    """`python -m blocmodel.reference DATA --out prices.csv`: the whole obvious process, the
    benchmark's opponent: read the dataset, calibrate, build the QP, solve, write prices."""
    import argparse

    from .dataset import load_dataset
    from .policy import resolve
    from .scenario import Scenario

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("data", nargs="?", default=None)
    parser.add_argument("--out", default="reference_prices.csv")
    parser.add_argument("--time-limit", type=float, default=None)
    args = parser.parse_args(argv)
    policy = resolve(load_dataset(args.data), Scenario(name="baseline"))
    market = policy.market
    prices, timing = solve_monolithic(market=market, per_unit=specific_charges(market), time_limit=args.time_limit,
                                      price=policy.reference.product_price, quantity=policy.reference.product_quantity)
    prices.to_csv(args.out, index=False)
    print(f"{len(prices)} prices; model built in {timing['build_seconds']:.2f} s, solved in {timing['solve_seconds']:.2f} s -> {args.out}")


if __name__ == "__main__":
    main()
