"""The Pyomo model of one mineral chain.

The equilibrium separates by mineral chain (products linked by refining), so each chain
is its own model. With per-unit border charges fixed, a spatial price equilibrium is the
solution of one convex QP (Samuelson 1952; Takayama & Judge 1971): maximise consumers'
utility less production, refining and transport costs and border charges, subject to
market clearing; the duals of market clearing are the prices. Charges that depend on
prices (ad valorem duties, variable levies, deficiency payments to refiners, a reserve's
budget) are mutable parameters that `solve.py` iterates to their fixed point.

How each curve enters (all convex), taking the contract's curves literally
(Q = a + b·P cut only at Q >= 0 and at capacity):
- supply: Q(p) = min(cap, max(0, a + b·max(p, floor))) is a forced quantity (what is
  supplied at the threshold T = max(floor, −a/b), whatever the market price) plus a rising
  segment with marginal cost T + q/b. Without a floor nothing is forced and the marginal
  cost is (Q − a)/b; with a deficiency-payment floor producers supply S(floor) at any market
  price below it, which is exactly this form; a vertical curve is all forced;
- demand: utility with marginal value (a − q)/|b|;
- refining: output follows the same construction in the refining margin (output price −
  input price / yield), or a constant unit cost up to capacity;
- a stockpile floor's reserve values each unit at the floor price.

Scaling, so the QP is well conditioned: objective in units of V (the largest reference
value of a product in the chain); rows of market clearing in units of V/P_k (P_k the
product's median reference price), so their duals are prices in units of P_k; each supply,
demand and refining variable in units of its own reference quantity (bounds O(1)), flows
in their product's unit.
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
    layout: "Layout | None" = None
    _node_scale: np.ndarray | None = None

    def same_structure(self, other: "Chain") -> bool:
        """Whether `other` (the same chain under another policy) fits this chain's model:
        same nodes, rows, routes, reserves, quotas and variable scales."""
        if (self.products != other.products or self.nodes != other.nodes or self.value_scale != other.value_scale
                or [(f.index, f.budget is None, n) for f, n in self.reserves] != [(f.index, f.budget is None, n) for f, n in other.reserves]
                or len(self.quotas) != len(other.quotas)
                or any(not np.array_equal(a, b) for (_, a), (_, b) in zip(self.quotas, other.quotas))):
            return False
        for name in ("supply_rows", "demand_rows", "refining_rows", "arc_rows"):
            if not np.array_equal(getattr(self, name), getattr(other, name)):
                return False
        return all(np.array_equal(self.coef[k], other.coef[k]) for k in ("supply_scale", "demand_scale", "refining_scale",
                                                                            "supply_inverse_slope", "demand_inverse_slope",
                                                                            "refining_inverse_slope", "refining_yield",
                                                                            "arc_transport", "demand_choke", "reserve_price"))

    def same_levers(self, other: "Chain") -> bool:
        """Whether every coefficient is identical too (then so is the equilibrium)."""
        return self.same_structure(other) and all(np.array_equal(self.coef[k], other.coef[k], equal_nan=True) for k in self.coef) \
            and np.array_equal(self.fixed_purchase, other.fixed_purchase) \
            and [q.limit for q, _ in self.quotas] == [q.limit for q, _ in other.quotas] \
            and [f.budget for f, _ in self.reserves] == [f.budget for f, _ in other.reserves]

    def node_scale(self) -> np.ndarray:
        """Quantity scale of each node's product (V / P_k)."""
        if self._node_scale is None:
            self._node_scale = np.array([self.value_scale / self.price_scale[p] for _, p in self.nodes])
        return self._node_scale


@dataclass
class Layout:
    """What a chain's model looks like whatever the policy: its nodes, the dataset rows it
    holds, and each row's node. Built once per dataset (and per extra stockpile node)."""

    products: tuple[str, ...]
    nodes: list[tuple[str, str]]
    node_of: dict[tuple[str, str], int]
    price_scale: dict[str, float]
    value_scale: float
    supply_rows: np.ndarray
    demand_rows: np.ndarray
    refining_rows: np.ndarray
    arc_rows: np.ndarray
    index: dict[str, np.ndarray]            # node of each supply, demand, refining input/output, arc end


def chain_layout(data: Dataset, products: tuple[str, ...], extra_nodes=()) -> Layout:
    in_chain = set(products)
    s, d, r, a = data.supply, data.demand, data.processing, data.routes
    supply_rows = np.flatnonzero(s["product"].isin(in_chain).to_numpy())
    demand_rows = np.flatnonzero(d["product"].isin(in_chain).to_numpy())
    refining_rows = np.flatnonzero(r["output"].isin(in_chain).to_numpy())
    arc_rows = np.flatnonzero(a["product"].isin(in_chain).to_numpy())

    def pairs(frame, rows, region, product):
        return list(zip(frame[region].to_numpy()[rows], frame[product].to_numpy()[rows]))

    ends = {"supply": pairs(s, supply_rows, "region", "product"), "demand": pairs(d, demand_rows, "region", "product"),
            "refining_input": pairs(r, refining_rows, "region", "input"), "refining_output": pairs(r, refining_rows, "region", "output"),
            "arc_from": pairs(a, arc_rows, "origin", "product"), "arc_to": pairs(a, arc_rows, "destination", "product")}
    # Nodes: every (region, product) the chain's supply, demand, refining and routes touch.
    node_of: dict[tuple[str, str], int] = {}
    for keys in list(ends.values()) + [list(extra_nodes)]:
        for key in keys:
            node_of.setdefault(key, len(node_of))
    index = {name: np.array([node_of[k] for k in keys], dtype=int) for name, keys in ends.items()}

    # Scales: P_k the median reference price of the product's curves; V the largest
    # reference value of a product in the chain.
    price_scale: dict[str, float] = {}
    world_quantity: dict[str, float] = {}
    for p in products:
        prices = np.concatenate([s.loc[s["product"] == p, "ref_price"].to_numpy(dtype=float),
                                 d.loc[d["product"] == p, "ref_price"].to_numpy(dtype=float)])
        price_scale[p] = float(np.median(prices)) if len(prices) else np.nan
        quantities = [s.loc[s["product"] == p, "ref_quantity"].sum(), d.loc[d["product"] == p, "ref_quantity"].sum(),
                      r.loc[r["output"] == p, "ref_quantity"].astype(float).sum()]
        world_quantity[p] = float(max(quantities))
    for _ in products:  # products with no curve of their own: price from refining neighbours
        for pin, pout, y in zip(r["input"].to_numpy()[refining_rows], r["output"].to_numpy()[refining_rows],
                                r["yield"].to_numpy(dtype=float)[refining_rows]):
            if np.isnan(price_scale[pin]) and not np.isnan(price_scale[pout]):
                price_scale[pin] = price_scale[pout] * y
            if np.isnan(price_scale[pout]) and not np.isnan(price_scale[pin]):
                price_scale[pout] = price_scale[pin] / y
    for p in products:
        if np.isnan(price_scale[p]):
            price_scale[p] = 1.0
        if not world_quantity[p] > 0:
            world_quantity[p] = 1.0
    value_scale = max(price_scale[p] * world_quantity[p] for p in products)
    return Layout(products, list(node_of), node_of, price_scale, value_scale, supply_rows, demand_rows, refining_rows,
                  arc_rows, index)


def build_chain(data: Dataset, policy: Policy, products: tuple[str, ...], layout: Layout | None = None) -> Chain:
    """The chain under `policy`; `layout` (from `chain_layout`) saves rebuilding the static part."""
    in_chain = set(products)
    stock = policy.stockpile[policy.stockpile["product"].isin(in_chain)] if len(policy.stockpile) else policy.stockpile
    stock_nodes = list(zip(stock["region"], stock["product"]))
    if layout is None or any(k not in layout.node_of for k in stock_nodes):
        layout = chain_layout(data, products, stock_nodes)
    node_of = layout.node_of
    reserves = [(f, node_of[(m, f.product)]) for f, m in policy.reserves if (m, f.product) in node_of]
    position = {row: k for k, row in enumerate(layout.arc_rows)}
    quotas = [(q, np.array([position[j] for j in q.routes])) for q in policy.quotas if q.product in in_chain]
    fixed = np.zeros(len(layout.nodes))
    for region, product, quantity in zip(stock["region"], stock["product"], stock["quantity"]):
        fixed[node_of[(region, product)]] += quantity
    chain = Chain(products, layout.nodes, node_of, layout.price_scale, layout.value_scale, layout.supply_rows,
                  layout.demand_rows, layout.refining_rows, layout.arc_rows, reserves, quotas, fixed)
    chain.layout = layout
    chain.coef = _coefficients(chain, policy)
    return chain


def _columns(frame, rows, *names) -> list[np.ndarray]:
    return [frame[name].to_numpy()[rows] for name in names]


def _coefficients(chain: Chain, policy: Policy) -> dict[str, np.ndarray]:
    """Curve data of every agent (real units) and each variable's scale."""
    c: dict[str, np.ndarray] = {}
    index = chain.layout.index
    unit = chain.node_scale()
    ref_price, ref_quantity, elasticity, shift, subsidy, cost_change, capacity, floor = _columns(
        policy.supply, chain.supply_rows, "ref_price", "ref_quantity", "elasticity", "quantity_shift", "subsidy",
        "cost_change", "capacity", "floor_price")
    a, b = intercept_slope(ref_price, ref_quantity, elasticity)
    a = a + shift + b * (subsidy - cost_change)
    c["supply_node"] = index["supply"]
    (c["supply_forced"], c["supply_threshold"], c["supply_rising_max"],
     c["supply_inverse_slope"]) = curve_parts(a, b, capacity, floor)
    c["supply_scale"] = _variable_scale(c["supply_inverse_slope"], ref_quantity.astype(float), chain.value_scale)

    ref_price, ref_quantity, elasticity = _columns(policy.demand, chain.demand_rows, "ref_price", "ref_quantity", "elasticity")
    a, b = intercept_slope(ref_price, ref_quantity, elasticity)
    c["demand_node"] = index["demand"]
    c["demand_choke"] = a / -b           # price at which demand vanishes
    c["demand_inverse_slope"] = 1.0 / -b
    c["demand_scale"] = _variable_scale(c["demand_inverse_slope"], ref_quantity.astype(float), chain.value_scale)

    (yield_, unit_cost, capacity, ref_quantity, elasticity, shift, subsidy, cost_change, floor) = (
        np.asarray(v, dtype=float) for v in _columns(
            policy.processing, chain.refining_rows, "yield", "unit_cost", "capacity", "ref_quantity", "elasticity",
            "quantity_shift", "subsidy", "cost_change", "floor_price"))
    c["refining_input_node"] = index["refining_input"]
    c["refining_output_node"] = index["refining_output"]
    c["refining_yield"] = yield_
    has_curve = ~np.isnan(elasticity)
    za, zb = intercept_slope(np.where(has_curve, unit_cost, 1.0), np.nan_to_num(ref_quantity), np.nan_to_num(elasticity))
    za = za + shift + zb * (subsidy - cost_change)
    forced, threshold, rising_max, inverse_slope = curve_parts(za, zb, capacity, np.full(len(za), -np.inf))
    # Refineries without a curve: a constant unit cost up to capacity.
    c["refining_forced"] = np.where(has_curve, forced, 0.0)
    c["refining_threshold"] = np.where(has_curve, threshold, unit_cost + cost_change - subsidy)
    c["refining_rising_max"] = np.where(has_curve, rising_max, capacity)
    c["refining_inverse_slope"] = np.where(has_curve, inverse_slope, 0.0)
    c["refining_floor"] = floor
    # (scales never depend on policy, so a re-solve can keep the model)
    fallback = np.where(has_curve, np.nan_to_num(ref_quantity), unit[c["refining_output_node"]] if len(za) else 0.0)
    c["refining_scale"] = _variable_scale(c["refining_inverse_slope"], fallback, chain.value_scale)

    arcs = policy.arcs
    rows = chain.arc_rows
    c["arc_from"] = index["arc_from"]
    c["arc_to"] = index["arc_to"]
    transport, capacity, tariff_sp, ad_sp, sub_sp, tariff_av, ad_av, sub_av, levy_floor = _columns(
        arcs, rows, "transport_cost", "capacity", "tariff_specific", "anti_dumping_specific", "subsidy_specific",
        "tariff_ad_valorem", "anti_dumping_ad_valorem", "subsidy_ad_valorem", "levy_floor")
    c["arc_transport"] = transport.astype(float)
    c["arc_capacity"] = capacity.astype(float)
    # Border charges (per unit, and rates for the price-dependent ones; see solve.py)
    c["arc_specific"] = (tariff_sp + ad_sp - sub_sp).astype(float)
    c["arc_import_rate"] = (tariff_av + ad_av).astype(float)
    c["arc_export_subsidy_rate"] = sub_av.astype(float)
    c["arc_levy_floor"] = levy_floor.astype(int)
    floor_price = np.array([f.price for f in policy.floors] + [np.nan])
    c["arc_levy_price"] = floor_price[np.where(c["arc_levy_floor"] >= 0, c["arc_levy_floor"], -1)]
    c["reserve_price"] = np.array([f.price for f, _ in chain.reserves], dtype=float)
    c["reserve_node"] = np.array([n for _, n in chain.reserves], dtype=int)

    # What is fixed at each node: purchases less forced supply and refining output, plus
    # the input that forced refining consumes.
    net = chain.fixed_purchase.copy()
    np.add.at(net, c["supply_node"], -c["supply_forced"])
    np.add.at(net, c["refining_output_node"], -c["refining_forced"])
    np.add.at(net, c["refining_input_node"], c["refining_forced"] / c["refining_yield"])
    c["net_fixed"] = net
    return c


def _variable_scale(inverse_slope: np.ndarray, fallback: np.ndarray, value_scale: float) -> np.ndarray:
    """Units in which to measure a curve's variable: those that make its Hessian entry 1
    (so a consumer of a millionth of the market is as well conditioned as the largest);
    for a flat or vertical curve, `fallback`."""
    inverse_slope = np.asarray(inverse_slope, dtype=float)
    safe = np.where(inverse_slope > 0, inverse_slope, 1.0)
    return np.where(inverse_slope > 0, np.sqrt(value_scale / safe), fallback)


def curve_parts(a, b, capacity, floor):
    """Q(p) = min(cap, max(0, a + b·max(p, floor))) as a forced quantity (supplied whatever
    the price) plus a rising segment with marginal cost threshold + q/b.

    Returns forced quantity, threshold, rising-segment length, 1/b (0 for a vertical curve,
    which is all forced). `floor` is −inf where there is none.
    """
    a, b, capacity, floor = (np.asarray(v, dtype=float) for v in (a, b, capacity, floor))
    sloped = b > 0
    safe_b = np.where(sloped, b, 1.0)
    start = -a / safe_b                       # price at which the curve leaves zero
    binding = sloped & (floor > start)        # a deficiency-payment floor above that price
    threshold = np.where(binding, floor, np.where(sloped, start, 0.0))
    forced = np.where(binding, np.clip(a + b * threshold, 0.0, capacity), np.where(sloped, 0.0, np.clip(a, 0.0, capacity)))
    rising_max = np.where(sloped, capacity - forced, 0.0)
    inverse_slope = np.where(sloped, 1.0 / safe_b, 0.0)
    return forced, threshold, rising_max, inverse_slope


VARIABLE_GROUPS = ("supply", "demand", "refining", "flow", "reserve")


def build_model(chain: Chain, arcs: np.ndarray | None = None) -> pyo.ConcreteModel:
    """The scaled Pyomo QP of one chain; levers are mutable parameters (`set_levers`).

    `arcs`: positions (in `chain.arc_rows`) of the routes the model carries; default all.
    Routes left out carry nothing, which `solve.py` verifies by pricing them out."""
    c = chain.coef
    P = np.array([chain.price_scale[p] for _, p in chain.nodes])
    unit = chain.node_scale()              # real units per scaled unit of a node's product
    V = chain.value_scale
    sn, dn = c["supply_node"], c["demand_node"]
    rin, rout = c["refining_input_node"], c["refining_output_node"]
    arcs = np.arange(len(c["arc_from"])) if arcs is None else np.asarray(arcs, dtype=int)
    afrom, ato = c["arc_from"][arcs], c["arc_to"][arcs]
    model_index = {int(pos): i for i, pos in enumerate(arcs)}
    quotas = [[model_index[int(pos)] for pos in positions if int(pos) in model_index] for _, positions in chain.quotas]

    m = pyo.ConcreteModel(name="chain " + "/".join(chain.products))
    m.arc_positions = arcs
    m.NODES = pyo.RangeSet(0, len(chain.nodes) - 1)
    m.SUPPLY = pyo.RangeSet(0, len(sn) - 1)
    m.DEMAND = pyo.RangeSet(0, len(dn) - 1)
    m.REFINING = pyo.RangeSet(0, len(rout) - 1)
    m.ARCS = pyo.RangeSet(0, len(afrom) - 1)
    m.RESERVES = pyo.RangeSet(0, len(chain.reserves) - 1)
    m.QUOTAS = pyo.RangeSet(0, len(chain.quotas) - 1)
    budget_of = {f.index: f.budget for f, _ in chain.reserves if f.budget is not None}
    m.BUDGETS = pyo.Set(initialize=sorted(budget_of))

    # Each variable is measured in its own scale (a supplier's or consumer's reference
    # quantity, a product's quantity unit for flows), so bounds are O(1) and market
    # clearing rows carry the ratios.
    scale = {"supply": c["supply_scale"], "demand": c["demand_scale"], "refining": c["refining_scale"],
             "flow": unit[afrom], "reserve": unit[c["reserve_node"]] if len(chain.reserves) else np.zeros(0)}
    m.scale = scale

    # Levers: mutable parameters, so scenarios and re-solves change only them.
    m.supply_max = pyo.Param(m.SUPPLY, initialize=0.0, mutable=True)
    m.supply_threshold = pyo.Param(m.SUPPLY, initialize=0.0, mutable=True)
    m.refining_max = pyo.Param(m.REFINING, initialize=0.0, mutable=True)
    m.refining_threshold = pyo.Param(m.REFINING, initialize=0.0, mutable=True)
    m.refining_support = pyo.Param(m.REFINING, initialize=0.0, mutable=True)   # deficiency payment per unit
    m.flow_max = pyo.Param(m.ARCS, initialize=0.0, mutable=True)
    m.arc_charge = pyo.Param(m.ARCS, initialize=0.0, mutable=True)             # all border charges per unit
    m.reserve_unit_value = pyo.Param(m.RESERVES, initialize=1.0, mutable=True)  # price a budgeted reserve pays
    m.reserve_budget = pyo.Param(m.BUDGETS, initialize=0.0, mutable=True)
    m.quota_limit = pyo.Param(m.QUOTAS, initialize=0.0, mutable=True)
    m.net_fixed = pyo.Param(m.NODES, initialize=0.0, mutable=True)

    m.supply = pyo.Var(m.SUPPLY, bounds=lambda m, i: (0, m.supply_max[i]))       # beyond any forced quantity
    m.demand = pyo.Var(m.DEMAND, bounds=(0, None))
    m.refining = pyo.Var(m.REFINING, bounds=lambda m, i: (0, m.refining_max[i]))
    m.flow = pyo.Var(m.ARCS, bounds=lambda m, i: (0, m.flow_max[i]))
    m.reserve = pyo.Var(m.RESERVES, bounds=(0, None))

    into: list[list] = [[] for _ in chain.nodes]
    for i, n in enumerate(sn):
        into[n].append((scale["supply"][i] / unit[n], m.supply[i]))
    for i, n in enumerate(dn):
        into[n].append((-scale["demand"][i] / unit[n], m.demand[i]))
    for i in range(len(rout)):
        into[rout[i]].append((scale["refining"][i] / unit[rout[i]], m.refining[i]))
        into[rin[i]].append((-scale["refining"][i] / (c["refining_yield"][i] * unit[rin[i]]), m.refining[i]))
    for i in range(len(afrom)):
        into[ato[i]].append((1.0, m.flow[i]))
        into[afrom[i]].append((-1.0, m.flow[i]))
    for i, n in enumerate(c["reserve_node"]):
        into[n].append((-1.0, m.reserve[i]))
    m.market_clearing = pyo.Constraint(
        m.NODES, rule=lambda m, n: pyo.quicksum(k * v for k, v in into[n]) == m.net_fixed[n])
    m.quota = pyo.Constraint(m.QUOTAS, rule=lambda m, k: pyo.quicksum(m.flow[i] for i in quotas[k]) <= m.quota_limit[k])
    reserves_of = {f: [i for i, (fl, _) in enumerate(chain.reserves) if fl.index == f] for f in budget_of}
    m.budget = pyo.Constraint(m.BUDGETS, rule=lambda m, f: pyo.quicksum(
        m.reserve_unit_value[i] * m.reserve[i] for i in reserves_of[f]) <= m.reserve_budget[f])

    # Objective, in units of V: costs less consumers' utility (minimised).
    quadratic = {
        "supply": c["supply_inverse_slope"] * scale["supply"] ** 2 / V,
        "demand": c["demand_inverse_slope"] * scale["demand"] ** 2 / V,
        "refining": c["refining_inverse_slope"] * scale["refining"] ** 2 / V,
    }
    choke = c["demand_choke"] * scale["demand"] / V
    transport = c["arc_transport"][arcs] / P[afrom]
    reserve_value = c["reserve_price"] / P[c["reserve_node"]] if len(chain.reserves) else np.zeros(0)
    terms = [m.supply_threshold[i] * m.supply[i] + 0.5 * quadratic["supply"][i] * m.supply[i] ** 2 for i in m.SUPPLY]
    terms += [-choke[i] * m.demand[i] + 0.5 * quadratic["demand"][i] * m.demand[i] ** 2 for i in m.DEMAND]
    terms += [(m.refining_threshold[i] - m.refining_support[i]) * m.refining[i]
              + 0.5 * quadratic["refining"][i] * m.refining[i] ** 2 for i in m.REFINING]
    terms += [(transport[i] + m.arc_charge[i]) * m.flow[i] for i in m.ARCS]
    terms += [-reserve_value[i] * m.reserve[i] for i in m.RESERVES]
    m.welfare_loss = pyo.Objective(expr=pyo.quicksum(terms), sense=pyo.minimize)
    set_levers(m, chain)
    return m


def set_levers(m: pyo.ConcreteModel, chain: Chain) -> None:
    """Copy the chain's policy-dependent coefficients into the model's mutable parameters."""
    c = chain.coef
    unit = chain.node_scale()
    V = chain.value_scale
    scale = m.scale

    def put(param, values):
        for i, v in enumerate(np.asarray(values, dtype=float)):
            param[i].set_value(float(v))

    put(m.supply_max, c["supply_rising_max"] / scale["supply"])
    put(m.supply_threshold, c["supply_threshold"] * scale["supply"] / V)
    put(m.refining_max, c["refining_rising_max"] / np.where(scale["refining"] > 0, scale["refining"], 1.0))
    put(m.refining_threshold, c["refining_threshold"] * scale["refining"] / V)
    arcs = m.arc_positions
    put(m.flow_max, c["arc_capacity"][arcs] / unit[c["arc_from"][arcs]])
    put(m.net_fixed, c["net_fixed"] / unit)
    for k, (q, positions) in enumerate(chain.quotas):
        m.quota_limit[k].set_value(q.limit / unit[c["arc_from"][positions[0]]])
    for f, _ in chain.reserves:
        if f.budget is not None:
            m.reserve_budget[f.index].set_value(f.budget / V)
