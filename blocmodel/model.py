"""The Pyomo model of one mineral chain.

The equilibrium separates by mineral chain (products linked by refining), so each chain
is its own model. With per-unit border charges fixed, a spatial price equilibrium is the
solution of one convex QP (Samuelson 1952; Takayama & Judge 1971): maximise consumers'
utility less production, refining and transport costs and border charges, subject to
market clearing; the duals of market clearing are the prices. Charges that depend on
prices (ad valorem duties, variable levies, deficiency payments to refiners, a reserve's
budget) are mutable parameters that `solve.py` iterates to their fixed point.

How each curve enters, per unit of the product (all convex):
- supply: Q(p) = min(cap, max(0, a + b·max(p, floor))) is split into a segment of zero
  marginal cost up to Q at the threshold T = max(0, floor, −a/b), then a rising segment
  with marginal cost T + q/b — a deficiency payment is exact in this form;
- demand: utility with marginal value choke − q/|b| up to the quantity at price 0;
- refining: output z follows the same construction in the refining margin
  (output price − input price / yield), or a constant unit cost up to capacity;
- a stockpile floor's reserve values each unit at the floor price.

Variables are scaled per product so the QP is well conditioned: a quantity of product k
is measured in units of V/P_k (V a value scale of the chain, P_k the product's reference
price), so prices come out in units of P_k.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import pyomo.environ as pyo

from .curves import intercept_slope
from .dataset import Dataset
from .policy import Floor, Policy, Quota


def mineral_chains(data: Dataset) -> list[tuple[str, ...]]:
    """Products grouped into independent chains: connected by refining."""
    graph = nx.Graph()
    graph.add_nodes_from(data.product_codes)
    graph.add_edges_from(zip(data.processing["input"], data.processing["output"]))
    order = {p: i for i, p in enumerate(data.product_codes)}
    chains = [tuple(sorted(c, key=order.get)) for c in nx.connected_components(graph)]
    return sorted(chains, key=lambda c: order[c[0]])


@dataclass
class Chain:
    """Index maps and coefficients (real units) of one chain under one policy."""

    products: tuple[str, ...]
    nodes: list[tuple[str, str]]
    node_of: dict[tuple[str, str], int]
    price_scale: dict[str, float]          # P_k, USD per unit
    value_scale: float                     # V, USD
    supply_rows: np.ndarray
    demand_rows: np.ndarray
    refining_rows: np.ndarray
    arc_rows: np.ndarray
    reserves: list[tuple[Floor, int]]      # (floor, node)
    quotas: list[tuple[Quota, np.ndarray]]  # (quota, positions in arc_rows)
    fixed_purchase: np.ndarray             # per node, units
    coef: dict[str, np.ndarray] = field(default_factory=dict)

    def node_scale(self) -> np.ndarray:
        """Quantity scale of each node's product (V / P_k)."""
        return np.array([self.value_scale / self.price_scale[p] for _, p in self.nodes])


def build_chain(data: Dataset, policy: Policy, products: tuple[str, ...]) -> Chain:
    in_chain = set(products)
    supply_rows = np.flatnonzero(policy.supply["product"].isin(in_chain).to_numpy())
    demand_rows = np.flatnonzero(policy.demand["product"].isin(in_chain).to_numpy())
    refining_rows = np.flatnonzero(policy.processing["output"].isin(in_chain).to_numpy())
    arc_rows = np.flatnonzero(policy.arcs["product"].isin(in_chain).to_numpy())

    nodes: list[tuple[str, str]] = []
    node_of: dict[tuple[str, str], int] = {}

    def node(region: str, product: str) -> int:
        key = (region, product)
        if key not in node_of:
            node_of[key] = len(nodes)
            nodes.append(key)
        return node_of[key]

    s, d, r, a = policy.supply, policy.demand, policy.processing, policy.arcs
    for i in supply_rows:
        node(s.at[i, "region"], s.at[i, "product"])
    for i in demand_rows:
        node(d.at[i, "region"], d.at[i, "product"])
    for i in refining_rows:
        node(r.at[i, "region"], r.at[i, "input"])
        node(r.at[i, "region"], r.at[i, "output"])
    for i in arc_rows:
        node(a.at[i, "origin"], a.at[i, "product"])
        node(a.at[i, "destination"], a.at[i, "product"])
    stock = policy.stockpile[policy.stockpile["product"].isin(in_chain)] if len(policy.stockpile) else policy.stockpile
    for row in stock.itertuples(index=False):
        node(row.region, row.product)

    # Scales: P_k the median reference price of the product's curves; V the largest
    # reference value of a product in the chain.
    price_scale: dict[str, float] = {}
    world_quantity: dict[str, float] = {}
    for p in products:
        prices = np.concatenate([s.loc[s["product"] == p, "ref_price"].to_numpy(), d.loc[d["product"] == p, "ref_price"].to_numpy()])
        price_scale[p] = float(np.median(prices)) if len(prices) else np.nan
        quantities = [s.loc[s["product"] == p, "ref_quantity"].sum(), d.loc[d["product"] == p, "ref_quantity"].sum(),
                      r.loc[r["output"] == p, "ref_quantity"].sum()]
        world_quantity[p] = float(max(quantities))
    for _ in products:  # products with no curve of their own: price from refining neighbours
        for i in refining_rows:
            pin, pout, y = r.at[i, "input"], r.at[i, "output"], r.at[i, "yield"]
            if np.isnan(price_scale[pin]) and not np.isnan(price_scale[pout]):
                price_scale[pin] = price_scale[pout] * y
            if np.isnan(price_scale[pout]) and not np.isnan(price_scale[pin]):
                price_scale[pout] = price_scale[pin] / y
    for p in products:
        if np.isnan(price_scale[p]):
            price_scale[p] = 1.0
        if world_quantity[p] <= 0:
            world_quantity[p] = 1.0
    value_scale = max(price_scale[p] * world_quantity[p] for p in products)

    reserves = [(f, node_of[(m, f.product)]) for f, m in policy.reserves if (m, f.product) in node_of]
    position = {row: k for k, row in enumerate(arc_rows)}
    quotas = [(q, np.array([position[j] for j in q.routes])) for q in policy.quotas if q.product in in_chain]
    fixed = np.zeros(len(nodes))
    for row in stock.itertuples(index=False):
        fixed[node_of[(row.region, row.product)]] += row.quantity

    chain = Chain(products, nodes, node_of, price_scale, value_scale, supply_rows, demand_rows, refining_rows,
                  arc_rows, reserves, quotas, fixed)
    chain.coef = _coefficients(chain, policy)
    return chain


def _coefficients(chain: Chain, policy: Policy) -> dict[str, np.ndarray]:
    """Convex-segment data of every curve (real units)."""
    c: dict[str, np.ndarray] = {}
    s = policy.supply.iloc[chain.supply_rows]
    a, b = intercept_slope(s["ref_price"], s["ref_quantity"], s["elasticity"])
    a = a + s["quantity_shift"].to_numpy() + b * (s["subsidy"].to_numpy() - s["cost_change"].to_numpy())
    cap = s["capacity"].to_numpy()
    c["supply_node"] = np.array([chain.node_of[k] for k in zip(s["region"], s["product"])], dtype=int)
    c["supply_threshold"], c["supply_free_max"], c["supply_rising_max"], c["supply_inverse_slope"] = _segments(
        a, b, cap, s["floor_price"].to_numpy())

    d = policy.demand.iloc[chain.demand_rows]
    a, b = intercept_slope(d["ref_price"], d["ref_quantity"], d["elasticity"])
    c["demand_node"] = np.array([chain.node_of[k] for k in zip(d["region"], d["product"])], dtype=int)
    c["demand_max"] = a                  # quantity demanded at price 0
    c["demand_choke"] = a / -b           # price at which demand vanishes
    c["demand_inverse_slope"] = 1.0 / -b

    r = policy.processing.iloc[chain.refining_rows]
    c["refining_input_node"] = np.array([chain.node_of[k] for k in zip(r["region"], r["input"])], dtype=int)
    c["refining_output_node"] = np.array([chain.node_of[k] for k in zip(r["region"], r["output"])], dtype=int)
    c["refining_yield"] = r["yield"].to_numpy(dtype=float)
    has_curve = r["elasticity"].notna().to_numpy()
    unit_cost = r["unit_cost"].to_numpy(dtype=float)
    za, zb = intercept_slope(np.where(has_curve, unit_cost, 1.0), r["ref_quantity"].fillna(0.0), r["elasticity"].fillna(0.0))
    za = za + r["quantity_shift"].to_numpy() + zb * (r["subsidy"].to_numpy() - r["cost_change"].to_numpy())
    threshold, free_max, rising_max, inverse_slope = _segments(za, zb, r["capacity"].to_numpy(), np.zeros(len(r)))
    # Refineries without a curve: a constant unit cost up to capacity.
    constant_cost = unit_cost + r["cost_change"].to_numpy() - r["subsidy"].to_numpy()
    c["refining_threshold"] = np.where(has_curve, threshold, constant_cost)
    c["refining_free_max"] = np.where(has_curve, free_max, 0.0)
    c["refining_rising_max"] = np.where(has_curve, rising_max, r["capacity"].to_numpy())
    c["refining_inverse_slope"] = np.where(has_curve, inverse_slope, 0.0)
    c["refining_floor"] = r["floor_price"].to_numpy()

    arcs = policy.arcs.iloc[chain.arc_rows]
    c["arc_from"] = np.array([chain.node_of[k] for k in zip(arcs["origin"], arcs["product"])], dtype=int)
    c["arc_to"] = np.array([chain.node_of[k] for k in zip(arcs["destination"], arcs["product"])], dtype=int)
    c["arc_transport"] = arcs["transport_cost"].to_numpy(dtype=float)
    c["arc_capacity"] = arcs["capacity"].to_numpy(dtype=float)
    c["reserve_price"] = np.array([f.price for f, _ in chain.reserves], dtype=float)
    c["reserve_node"] = np.array([n for _, n in chain.reserves], dtype=int)
    return c


def _segments(a, b, capacity, floor):
    """Split Q(p) = min(cap, max(0, a + b·max(p, floor))) into a free segment and a rising one.

    Returns threshold T, free-segment length, rising-segment length, 1/b (0 for vertical curves).
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    capacity = np.asarray(capacity, dtype=float)
    floor = np.asarray(floor, dtype=float)
    sloped = b > 0
    start = np.where(sloped, -a / np.where(sloped, b, 1.0), 0.0)
    threshold = np.maximum.reduce([np.zeros_like(a), floor, start])
    free_max = np.clip(np.where(sloped, a + b * threshold, a), 0.0, capacity)
    rising_max = np.where(sloped, capacity - free_max, 0.0)
    inverse_slope = np.where(sloped, 1.0 / np.where(sloped, b, 1.0), 0.0)
    return threshold, free_max, rising_max, inverse_slope


def build_model(chain: Chain) -> pyo.ConcreteModel:
    """The scaled Pyomo QP of one chain; levers are mutable parameters (see `set_levers`)."""
    c = chain.coef
    P = np.array([chain.price_scale[p] for _, p in chain.nodes])
    unit = chain.node_scale()              # real units per scaled unit, by node
    V = chain.value_scale

    m = pyo.ConcreteModel(name="chain " + "/".join(chain.products))
    m.NODES = pyo.RangeSet(0, len(chain.nodes) - 1)
    m.SUPPLY = pyo.RangeSet(0, len(chain.supply_rows) - 1)
    m.DEMAND = pyo.RangeSet(0, len(chain.demand_rows) - 1)
    m.REFINING = pyo.RangeSet(0, len(chain.refining_rows) - 1)
    m.ARCS = pyo.RangeSet(0, len(chain.arc_rows) - 1)
    m.RESERVES = pyo.RangeSet(0, len(chain.reserves) - 1)
    m.QUOTAS = pyo.RangeSet(0, len(chain.quotas) - 1)
    budget_of = {f.index: f.budget for f, _ in chain.reserves if f.budget is not None}
    budget_floors = sorted(budget_of)
    m.BUDGETS = pyo.Set(initialize=budget_floors)

    sn, dn = c["supply_node"], c["demand_node"]
    rin, rout = c["refining_input_node"], c["refining_output_node"]
    afrom, ato = c["arc_from"], c["arc_to"]

    def scaled(values, nodes):
        return {i: float(v) for i, v in enumerate(np.asarray(values, dtype=float) / unit[nodes])}

    bound_param = scaled   # infinite bounds stay inf, which HiGHS reads as 'no bound'

    # Bounds and linear costs are mutable: scenarios and re-solves change only them.
    m.supply_free_max = pyo.Param(m.SUPPLY, initialize=scaled(c["supply_free_max"], sn), mutable=True)
    m.supply_rising_max = pyo.Param(m.SUPPLY, initialize=bound_param(c["supply_rising_max"], sn), mutable=True)
    m.supply_threshold = pyo.Param(m.SUPPLY, initialize={i: float(v) for i, v in enumerate(c["supply_threshold"] / P[sn])}, mutable=True)
    m.demand_max = pyo.Param(m.DEMAND, initialize=scaled(c["demand_max"], dn), mutable=True)
    m.refining_free_max = pyo.Param(m.REFINING, initialize=scaled(c["refining_free_max"], rout), mutable=True)
    m.refining_rising_max = pyo.Param(m.REFINING, initialize=bound_param(c["refining_rising_max"], rout), mutable=True)
    m.refining_threshold = pyo.Param(m.REFINING, initialize={i: float(v) for i, v in enumerate(c["refining_threshold"] / P[rout])}, mutable=True)
    m.refining_support = pyo.Param(m.REFINING, initialize=0.0, mutable=True)   # deficiency payment per unit (scaled)
    m.flow_max = pyo.Param(m.ARCS, initialize=bound_param(c["arc_capacity"], afrom), mutable=True)
    m.arc_charge = pyo.Param(m.ARCS, initialize=0.0, mutable=True)             # all border charges per unit (scaled)
    m.reserve_unit_value = pyo.Param(m.RESERVES, initialize=1.0, mutable=True)  # price a budgeted reserve pays (scaled)
    m.reserve_budget = pyo.Param(m.BUDGETS, initialize={f: budget_of[f] / V for f in budget_floors}, mutable=True)
    m.quota_limit = pyo.Param(m.QUOTAS, initialize={k: q.limit / unit[afrom[pos[0]]] for k, (q, pos) in enumerate(chain.quotas)}, mutable=True)
    m.fixed_purchase = pyo.Param(m.NODES, initialize=scaled(chain.fixed_purchase, np.arange(len(chain.nodes))), mutable=True)

    m.supply_free = pyo.Var(m.SUPPLY, bounds=lambda m, i: (0, m.supply_free_max[i]))
    m.supply_rising = pyo.Var(m.SUPPLY, bounds=lambda m, i: (0, m.supply_rising_max[i]))
    m.demand = pyo.Var(m.DEMAND, bounds=lambda m, i: (0, m.demand_max[i]))
    m.refining_free = pyo.Var(m.REFINING, bounds=lambda m, i: (0, m.refining_free_max[i]))
    m.refining_rising = pyo.Var(m.REFINING, bounds=lambda m, i: (0, m.refining_rising_max[i]))
    m.flow = pyo.Var(m.ARCS, bounds=lambda m, i: (0, m.flow_max[i]))
    m.reserve = pyo.Var(m.RESERVES, bounds=(0, None))

    # Proximal centres: HiGHS's QP solver adds a small multiple of the identity to the
    # Hessian (qp_regularization_value); subtracting the same multiple of the previous
    # solution from the linear costs makes the converged answer exact.
    m.regularization = pyo.Param(initialize=0.0, mutable=True)
    for name in ("supply_free", "supply_rising", "demand", "refining_free", "refining_rising", "flow", "reserve"):
        var = getattr(m, name)
        m.add_component(f"{name}_centre", pyo.Param(var.index_set(), initialize=0.0, mutable=True))

    into: list[list] = [[] for _ in chain.nodes]
    for i, n in enumerate(sn):
        into[n] += [(1.0, m.supply_free[i]), (1.0, m.supply_rising[i])]
    for i, n in enumerate(dn):
        into[n].append((-1.0, m.demand[i]))
    for i in range(len(rin)):
        ratio = unit[rout[i]] / (unit[rin[i]] * c["refining_yield"][i])
        into[rout[i]] += [(1.0, m.refining_free[i]), (1.0, m.refining_rising[i])]
        into[rin[i]] += [(-ratio, m.refining_free[i]), (-ratio, m.refining_rising[i])]
    for i in range(len(afrom)):
        into[ato[i]].append((1.0, m.flow[i]))
        into[afrom[i]].append((-1.0, m.flow[i]))
    for i, n in enumerate(c["reserve_node"]):
        into[n].append((-1.0, m.reserve[i]))

    m.market_clearing = pyo.Constraint(
        m.NODES, rule=lambda m, n: pyo.quicksum(k * v for k, v in into[n]) == m.fixed_purchase[n])
    m.quota = pyo.Constraint(m.QUOTAS, rule=lambda m, k: pyo.quicksum(m.flow[i] for i in chain.quotas[k][1]) <= m.quota_limit[k])
    reserves_of = {f: [i for i, (fl, _) in enumerate(chain.reserves) if fl.index == f] for f in budget_floors}
    m.budget = pyo.Constraint(m.BUDGETS, rule=lambda m, f: pyo.quicksum(m.reserve_unit_value[i] * m.reserve[i] for i in reserves_of[f]) <= m.reserve_budget[f])

    # Objective, scaled by 1/V: costs less utility (minimised).
    half = 0.5
    supply_quadratic = c["supply_inverse_slope"] * unit[sn] ** 2 / V
    demand_quadratic = c["demand_inverse_slope"] * unit[dn] ** 2 / V
    refining_quadratic = c["refining_inverse_slope"] * unit[rout] ** 2 / V
    choke = c["demand_choke"] / P[dn]
    transport = c["arc_transport"] / P[afrom]
    reserve_value = c["reserve_price"] / P[c["reserve_node"]] if len(chain.reserves) else np.zeros(0)
    eps = m.regularization
    terms = []
    for i in m.SUPPLY:
        terms.append(m.supply_threshold[i] * m.supply_rising[i] + half * supply_quadratic[i] * m.supply_rising[i] ** 2)
    for i in m.DEMAND:
        terms.append(-choke[i] * m.demand[i] + half * demand_quadratic[i] * m.demand[i] ** 2)
    for i in m.REFINING:
        terms.append((m.refining_threshold[i] - m.refining_support[i]) * m.refining_rising[i]
                     - m.refining_support[i] * m.refining_free[i]
                     + half * refining_quadratic[i] * m.refining_rising[i] ** 2)
    for i in m.ARCS:
        terms.append((transport[i] + m.arc_charge[i]) * m.flow[i])
    for i in m.RESERVES:
        terms.append(-reserve_value[i] * m.reserve[i])
    for name in ("supply_free", "supply_rising", "demand", "refining_free", "refining_rising", "flow", "reserve"):
        var, centre = getattr(m, name), getattr(m, f"{name}_centre")
        terms.extend(-eps * centre[i] * var[i] for i in var)
    m.welfare_loss = pyo.Objective(expr=pyo.quicksum(terms), sense=pyo.minimize)
    return m


VARIABLE_GROUPS = ("supply_free", "supply_rising", "demand", "refining_free", "refining_rising", "flow", "reserve")
