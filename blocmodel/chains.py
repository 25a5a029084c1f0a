"""Cut a `Market` into mineral chains, each a `ChainProblem`.

The equilibrium separates by mineral chain (products linked by refining): no price or
quantity of one chain enters another's conditions. A chain's layout — its nodes and
which rows of the market's tables it holds — depends on the dataset only and is built
once; its levers are sliced from each policy's market.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from .calibration import Reference
from .dataset import Dataset
from .problem import BUYER, PRODUCER, ChainLayout, ChainProblem, Market


def mineral_chains(data: Dataset) -> list[tuple[str, ...]]:
    """Products grouped into independent chains: connected by refining. Each chain's products
    and the chains themselves in the dataset's product order. (SciPy's connected components:
    NetworkX would add a fifth of a second to every process that solves.)"""
    order = data.product_index
    n = len(order)
    links = sp.coo_matrix((np.ones(len(data.processing)), ([order[p] for p in data.processing["input"]],
                                                           [order[p] for p in data.processing["output"]])), shape=(n, n))
    _, label = connected_components(links, directed=False)
    chains: dict[int, list[str]] = {}
    for product in data.product_codes:             # in order, so each chain is too, and the chains by their first product
        chains.setdefault(int(label[order[product]]), []).append(product)
    return [tuple(products) for products in chains.values()]


def chain_layout(market: Market, reference: Reference, products: tuple[str, ...]) -> ChainLayout:
    in_chain = set(products)
    s, d, r, e = market.supply, market.demand, market.refining, market.routes
    supply_rows = np.flatnonzero(np.isin(s.product, list(in_chain)))
    demand_rows = np.flatnonzero(np.isin(d.product, list(in_chain)))
    refining_rows = np.flatnonzero(np.isin(r.output, list(in_chain)))
    node_of: dict = {}

    def node(region, product, side):
        return node_of.setdefault((region, product, side), len(node_of))

    # producers' nodes first, then buyers', each in dataset order
    supply_node = np.array([node(s.region[i], s.product[i], PRODUCER) for i in supply_rows], dtype=int)
    out_node = np.array([node(r.region[i], r.output[i], PRODUCER) for i in refining_rows], dtype=int)
    demand_node = np.array([node(d.region[i], d.product[i], BUYER) for i in demand_rows], dtype=int)
    in_node = np.array([node(r.region[i], r.input[i], BUYER) for i in refining_rows], dtype=int)
    candidates = np.flatnonzero(np.isin(e.product, list(in_chain)))
    origin_node = _nodes_at(node_of, PRODUCER, e.origin[candidates], e.product[candidates])
    destination_node = _nodes_at(node_of, BUYER, e.destination[candidates], e.product[candidates])
    keep = (origin_node >= 0) & (destination_node >= 0)        # a route between two markets of the chain
    route_rows, origin_node, destination_node = candidates[keep], origin_node[keep], destination_node[keep]
    keys = list(node_of)
    region = np.array([k[0] for k in keys], dtype=object)
    product = np.array([k[1] for k in keys], dtype=object)
    side = np.array([k[2] for k in keys], dtype=int)
    price_scale = np.array([reference.product_price[p] for p in product], dtype=float)
    quantity_scale = np.array([reference.product_quantity[p] for p in product], dtype=float)
    return ChainLayout(products=products, node_region=region, node_product=product, node_side=side, node_of=node_of,
                       price_scale=price_scale, quantity_scale=quantity_scale,
                       supply_rows=supply_rows, supply_node=supply_node, demand_rows=demand_rows, demand_node=demand_node,
                       refining_rows=refining_rows, refining_input_node=in_node, refining_output_node=out_node,
                       route_rows=route_rows, route_origin_node=origin_node, route_destination_node=destination_node)


def _nodes_at(node_of: dict, side: int, regions: np.ndarray, products: np.ndarray) -> np.ndarray:
    """The node of each (region, product) on `side`, -1 where the chain has none: looked up
    once per distinct pair (a chain of the 250 x 30 bench has some 20,000 routes)."""
    if not len(regions):
        return np.full(0, -1, dtype=int)
    region_code, region_names = pd.factorize(regions)
    product_code, product_names = pd.factorize(products)
    table = np.array([[node_of.get((r, p, side), -1) for p in product_names] for r in region_names], dtype=int)
    return table[region_code, product_code]


def chain_problem(market: Market, layout: ChainLayout) -> ChainProblem:
    s, d, r, e = market.supply, market.demand, market.refining, market.routes
    S, D, R, E = layout.supply_rows, layout.demand_rows, layout.refining_rows, layout.route_rows
    in_chain = set(layout.products)
    position = np.full(len(e.intercept), -1)         # market route row -> position in the chain, or -1
    position[E] = np.arange(len(E))
    coupling_routes, limits, caps_specific, caps_rate = [], [], [], []
    for c in market.couplings:
        if c.product not in in_chain:
            continue
        at = position[np.asarray(c.routes, dtype=int)]
        inside = at >= 0
        coupling_routes.append(at[inside])
        limits.append(c.limit)
        caps_specific.append(np.asarray(c.cap_specific, dtype=float)[inside])
        caps_rate.append(np.asarray(c.cap_rate, dtype=float)[inside])
    reserve_nodes, budgeted, floors, budgets = [], [], [], []
    for res in market.reserves:
        if res.product not in in_chain:
            continue
        nodes = tuple(layout.node_of[(o, res.product, PRODUCER)] for o in res.origins if (o, res.product, PRODUCER) in layout.node_of)
        reserve_nodes.append(nodes)
        budgeted.append(bool(np.isfinite(res.budget)))
        floors.append(res.floor)
        budgets.append(res.budget)
    fixed = np.zeros(layout.n_nodes)
    for (region, product), q in market.purchases.items():
        k = layout.node_of.get((region, product, BUYER))
        if k is not None:
            fixed[k] += q
    for (region, product), q in market.releases.items():
        k = layout.node_of.get((region, product, PRODUCER))
        if k is not None:
            fixed[k] -= q
    return ChainProblem(
        layout=layout,
        supply_intercept=s.intercept[S], supply_slope=s.slope[S], supply_capacity=s.capacity[S],
        supply_subsidy=s.subsidy[S], supply_floor=s.floor[S],
        demand_intercept=d.intercept[D], demand_slope=d.slope[D],
        refining_yield=r.yield_[R], refining_intercept=r.intercept[R], refining_slope=r.slope[R],
        refining_constant_cost=r.constant_cost[R], refining_unit_cost=r.unit_cost[R], refining_capacity=r.capacity[R],
        refining_subsidy=r.subsidy[R], refining_floor=r.floor[R],
        route_intercept=e.intercept[E], route_curvature=e.curvature[E], route_capacity=e.capacity[E], route_terms=e.terms.take(E),
        coupling_routes=tuple(coupling_routes), coupling_limit=np.array(limits, dtype=float),
        coupling_cap_specific=tuple(caps_specific), coupling_cap_rate=tuple(caps_rate),
        reserve_nodes=tuple(reserve_nodes), reserve_budgeted=tuple(budgeted),
        reserve_floor=np.array(floors, dtype=float), reserve_budget=np.array(budgets, dtype=float),
        fixed_use=fixed,
        # what results report besides the levers (so a solution reused for equal labels reports right)
        labels={"closures": {int(position[j]): text for j, text in market.closures.items() if position[j] >= 0},
                "purchases": {layout.node_of[(r, p, BUYER)]: key for (r, p), key in market.purchase_keys.items()
                              if (r, p, BUYER) in layout.node_of},
                "supply_floor_id": tuple(s.floor_id[S].tolist()), "refining_floor_id": tuple(r.floor_id[R].tolist()),
                "reserves": tuple((res.floor_id, res.label, res.budget, tuple(sorted(res.payers.items())))
                                  for res in market.reserves if res.product in in_chain),
                "couplings": tuple((c.label, c.kind, c.rent_to) for c in market.couplings if c.product in in_chain)},
    )
