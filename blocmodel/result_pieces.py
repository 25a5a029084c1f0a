"""The row-level tables of one solved chain (supply, demand, refining, routes, reserves, nodes),
built from its solution's arrays as numpy columns (`Columns`). The check reads them as they
are; `Results` concatenates them over chains into its DataFrames. Kept per chain solution, so
a session that re-solves one chain rebuilds one chain's pieces, and no pandas work is done per
condition checked."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .curves import area_under_demand
from .pricing import CHARGE_KINDS


class Columns:
    """A table as named numpy columns of equal length: `c["name"]` is an array, `c[mask]`
    the rows selected, `len(c)` the number of rows."""

    __slots__ = ("data", "n")

    def __init__(self, data: dict):
        self.data = {name: np.asarray(values) for name, values in data.items()}
        self.n = len(next(iter(self.data.values()))) if self.data else 0

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Columns:
        return cls({name: frame[name].to_numpy() for name in frame.columns})

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key):
        if isinstance(key, str):
            return self.data[key]
        return Columns({name: values[key] for name, values in self.data.items()})

    def __setitem__(self, name: str, values) -> None:
        self.data[name] = np.asarray(values)

    def __contains__(self, name: str) -> bool:
        return name in self.data

    @property
    def columns(self) -> list[str]:
        return list(self.data)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.data)


def cached_piece(results, layout, solution, name: str, build) -> Columns:
    """A chain's piece `name`, built by `build` once per chain solution."""
    tables = solution.derived.setdefault("tables", {})
    if name not in tables:
        tables[name] = build(results, layout, solution)
    return tables[name]


def concatenate_columns(pieces: list[Columns], offsets: dict[str, np.ndarray] | None = None) -> Columns:
    """The pieces' rows in order, as new arrays; `offsets` adds a per-piece offset to the
    named columns (a chain's node indices made global)."""
    data = {}
    for name in pieces[0].columns:
        parts = [p[name] for p in pieces]
        if offsets and name in offsets:
            parts = [part + shift for part, shift in zip(parts, offsets[name])]
        data[name] = np.concatenate(parts) if len(parts) > 1 else parts[0].copy()
    return Columns(data)


def concatenate(pieces: list[Columns], offsets: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """One DataFrame of the pieces' rows in order (see `concatenate_columns`)."""
    return concatenate_columns(pieces, offsets).frame()


def _scales(layout, nodes: str) -> tuple[np.ndarray, np.ndarray]:
    """Each row's product's reference price and market size, read off its node (`nodes`, a
    layout field): the layout's scales come from the reference that `Results.price_scale` gives."""
    if layout is None:
        return np.zeros(0), np.zeros(0)
    node = getattr(layout, nodes)
    return layout.price_scale[node], layout.quantity_scale[node]


def _nodes_piece(results, layout, solution) -> Columns:
    if layout is None:
        return Columns({"region": np.zeros(0, dtype=object), "product": np.zeros(0, dtype=object),
                        "side": np.zeros(0, dtype=int), "price": np.zeros(0), "disposed": np.zeros(0)})
    disposed = np.zeros(layout.n_nodes)
    disposed[solution.system.disposal_node] = solution.group("disposal")
    return Columns({"region": layout.node_region, "product": layout.node_product, "side": layout.node_side, "price": solution.price,
                    "disposed": disposed})


def _supply_piece(results, layout, solution) -> Columns:
    m = results.policy.market.supply
    rows = layout.supply_rows if layout is not None else np.zeros(0, dtype=int)
    extra = solution.state.extra if solution is not None else {"supply_received": np.zeros(0), "supply_payment": np.zeros(0)}
    price = solution.price[layout.supply_node] if solution is not None else np.zeros(0)
    q = solution.group("supply") if solution is not None else np.zeros(0)
    product = m.product[rows]
    price_scale, quantity_scale = _scales(layout, "supply_node")
    piece = Columns({
        "row": rows, "node": layout.supply_node if layout is not None else rows, "region": m.region[rows], "product": product,
        "quantity": q, "market_price": price, "received_price": extra["supply_received"], "deficiency_payment": extra["supply_payment"],
        "subsidy": m.subsidy[rows], "floor_price": m.floor[rows], "floor_id": m.floor_id[rows], "capacity": m.capacity[rows],
        "nameplate_capacity": results._nameplate("supply")[rows], "intercept": m.intercept[rows], "slope": m.slope[rows],
        "price_scale": price_scale, "quantity_scale": quantity_scale})
    piece["producer_surplus"], piece["capacity_rent"] = _surplus(piece["intercept"], piece["slope"], piece["capacity"],
                                                                 piece["received_price"])
    return piece


def _demand_piece(results, layout, solution) -> Columns:
    m = results.policy.market.demand
    rows = layout.demand_rows if layout is not None else np.zeros(0, dtype=int)
    product = m.product[rows]
    price_scale, quantity_scale = _scales(layout, "demand_node")
    piece = Columns({"row": rows, "node": layout.demand_node if layout is not None else rows, "region": m.region[rows],
                     "product": product, "quantity": solution.group("demand") if solution is not None else np.zeros(0),
                     "price": solution.price[layout.demand_node] if solution is not None else np.zeros(0),
                     "intercept": m.intercept[rows], "slope": m.slope[rows],
                     "price_scale": price_scale, "quantity_scale": quantity_scale})
    piece["consumer_surplus"] = area_under_demand(piece["intercept"], piece["slope"], piece["price"])
    return piece


def _refining_piece(results, layout, solution) -> Columns:
    m = results.policy.market.refining
    rows = layout.refining_rows if layout is not None else np.zeros(0, dtype=int)
    empty = np.zeros(0)
    z = solution.group("refining") if solution is not None else empty
    extra = solution.state.extra if solution is not None else {"refining_received": empty, "refining_payment": empty}
    output = m.output[rows]
    price_scale, quantity_scale = _scales(layout, "refining_output_node")
    piece = Columns({
        "row": rows, "input_node": layout.refining_input_node if layout is not None else rows,
        "output_node": layout.refining_output_node if layout is not None else rows,
        "region": m.region[rows], "input": m.input[rows], "output": output, "product": output,
        "output_quantity": z, "input_quantity": z / m.yield_[rows], "yield": m.yield_[rows],
        "input_price": solution.price[layout.refining_input_node] if solution is not None else empty,
        "market_price": solution.price[layout.refining_output_node] if solution is not None else empty,
        "received_price": extra["refining_received"], "deficiency_payment": extra["refining_payment"],
        "subsidy": m.subsidy[rows], "floor_price": m.floor[rows], "floor_id": m.floor_id[rows],
        "intercept": m.intercept[rows], "slope": m.slope[rows], "constant_cost": m.constant_cost[rows],
        "unit_cost": m.unit_cost[rows], "capacity": m.capacity[rows], "nameplate_capacity": results._nameplate("processing")[rows],
        "price_scale": price_scale, "quantity_scale": quantity_scale})
    piece["margin"] = piece["received_price"] - piece["input_price"] / piece["yield"]
    curve_rent, curve_cap = _surplus(piece["intercept"], piece["slope"], piece["capacity"], piece["margin"])
    flat = piece["constant_cost"].astype(bool)
    at_cap = flat & (piece["output_quantity"] >= piece["capacity"] * (1 - 1e-12))
    flat_rent = (piece["margin"] - piece["unit_cost"]) * piece["output_quantity"]
    piece["refiner_rent"] = np.where(flat, np.where(at_cap, 0.0, flat_rent), curve_rent)
    piece["capacity_rent"] = np.where(flat, np.where(at_cap, flat_rent, 0.0), curve_cap)
    return piece


def _route_piece(results, layout, solution) -> Columns:
    e = results.policy.market.routes
    rows = layout.route_rows if layout is not None else np.zeros(0, dtype=int)
    empty = np.zeros(0)
    prices = solution.state.extra["route_prices"] if solution is not None else None
    get = (lambda name: getattr(prices, name)) if prices is not None else (lambda name: empty)  # noqa: E731
    product = e.product[rows]
    price_scale, quantity_scale = _scales(layout, "route_destination_node")
    piece = Columns({
        "row": rows, "origin_node": layout.route_origin_node if layout is not None else rows,
        "destination_node": layout.route_destination_node if layout is not None else rows,
        "origin": e.origin[rows], "destination": e.destination[rows], "product": product, "home": e.home[rows],
        "flow": solution.group("route") if solution is not None else empty, "transport_cost": e.terms.transport[rows],
        "intercept": e.intercept[rows], "curvature": e.curvature[rows], "capacity": e.capacity[rows], "observed": e.observed[rows],
        "exporter_price": solution.price[layout.route_origin_node] if solution is not None else empty,
        "importer_price": solution.price[layout.route_destination_node] if solution is not None else empty,
        "fob": get("fob"), "cif": get("cif"), **{kind: get(kind) for kind in CHARGE_KINDS},
        "licence": solution.state.extra["licence"] if solution is not None else empty, "landed_price": get("landed"),
        "levy_floor": e.terms.levy_floor[rows], "price_scale": price_scale, "quantity_scale": quantity_scale})
    piece["trade_cost"] = piece["intercept"] + piece["curvature"] * piece["flow"]
    # what the route earns its importers over its cost: ½·g·x² on a calibrated route, and on
    # a route at its capacity the price gap above its marginal cost too (the capacity's
    # scarcity rent: without it a free-trade equilibrium with a binding route looked
    # inefficient, found by the property suite)
    flow, rent = piece["flow"], 0.5 * piece["curvature"] * piece["flow"] ** 2
    full = np.isfinite(piece["capacity"]) & (flow > 0) & (flow >= piece["capacity"])
    if full.any():
        gap = piece["importer_price"] - piece["landed_price"] - piece["licence"] - piece["trade_cost"]
        rent = rent + np.where(full, flow * np.maximum(gap, 0.0), 0.0)
    piece["trade_rent"] = rent
    return piece


RESERVE_COLUMNS = ["label", "floor_id", "product", "origin", "node", "quantity", "producer_price", "bid", "floor", "budget",
                   "price_scale", "quantity_scale"]
_RESERVE_TEXT = {"label", "product", "origin"}
_RESERVE_INTEGER = {"floor_id", "node"}


def _reserve_piece(results, layout, solution) -> Columns:
    rows = []
    if solution is not None and solution.problem.n_reserves:
        quantities = solution.group("reserve")
        bids = solution.bids
        chain_reserves = [r for r in results.policy.market.reserves if r.product in layout.products]
        k = 0
        for r, nodes in enumerate(solution.problem.reserve_nodes):
            res = chain_reserves[r]
            for node in nodes:
                rows.append((res.label, res.floor_id, res.product, layout.node_region[node], int(node), quantities[k],
                             solution.price[node], bids[r], res.floor, res.budget, results.price_scale[res.product],
                             results.quantity_scale[res.product]))
                k += 1
    values = list(zip(*rows)) if rows else [[] for _ in RESERVE_COLUMNS]
    return Columns({name: np.array(v, dtype=object if name in _RESERVE_TEXT else int if name in _RESERVE_INTEGER else float)
                    for name, v in zip(RESERVE_COLUMNS, values)})


# Each detail table's piece builder and its columns of node indices (made global when the
# chains' pieces are put together): what `Results` and the check both read.
DETAIL_PIECES = {"nodes": (_nodes_piece, ()), "supply": (_supply_piece, ("node",)), "demand": (_demand_piece, ("node",)),
                 "refining": (_refining_piece, ("input_node", "output_node")),
                 "route": (_route_piece, ("origin_node", "destination_node")), "reserve": (_reserve_piece, ("node",))}


def chain_piece(results, layout, solution, name: str) -> Columns:
    """A chain's piece of the detail table `name`, built once per chain solution."""
    return cached_piece(results, layout, solution, name, DETAIL_PIECES[name][0])


def _surplus(intercept, slope, capacity, price) -> tuple[np.ndarray, np.ndarray]:
    """(surplus on the rising part of Q = a + b·p, rent at capacity) at `price`. A vertical
    curve (b = 0) earns price × quantity, all of it on the rising part."""
    a, b, cap, p = (np.asarray(v, dtype=float) for v in (intercept, slope, capacity, price))
    flat = b <= 0
    safe = np.where(flat, 1.0, b)
    start = -a / safe
    full = np.where(np.isfinite(cap), (cap - a) / safe, np.inf)
    hi = np.clip(p, start, full)
    rising = 0.5 * safe * (hi - start) ** 2
    rent = np.where(np.isfinite(cap), cap, 0.0) * np.maximum(p - np.maximum(full, start), 0.0)
    vertical = p * np.clip(a, 0.0, cap)
    return np.where(flat, vertical, rising), np.where(flat, 0.0, rent)
