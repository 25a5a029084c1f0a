"""The independent equilibrium check.

From a `Results` alone — the reported prices, quantities, charges, payments, licences and
bids, never the solver's internals — verify every condition of the equilibrium:

- prices: every table reports the same price for the same market;
- market clearing at every producers' and buyers' market, and free disposal: goods are
  thrown away only in a market whose price is zero, and no price is below zero;
- producers on their curves at the price they receive (received = market price +
  deficiency payment + subsidy, capacity binding in the short run), buyers on theirs,
  refineries on theirs in the margin (or, at a constant unit cost, refining only at a
  margin that covers it and at capacity only when it more than covers it);
- trade on every route (goods keep their origin: a route runs from the producers of one
  region to the buyers of another, or to its own): the landed price is the sum of the
  reported charges; the flow is what the calibrated trade cost a + g·x implies at the
  gap between buyers' price and landed price (for a constant-cost route:
  complementarity, flow only where the gap is zero); a route's flow within its capacity;
- each instrument family's own rule (`instruments/*.py`), recomputed from the reported
  prices and compared with what the solver used: border charges, levies, deficiency
  payments, export subsidies and dumping discounts, reserve bids and budgets, quotas,
  bans.

Residuals are relative: prices to the product's reference price, quantities to the
product's world market size. The largest must not exceed `tolerance` (1e-6).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from .errors import EquilibriumCheckError
from .result_pieces import Columns, chain_piece, concatenate

TOLERANCE = 1e-6
COLUMNS = ["condition", "region", "product", "detail", "residual"]


class CheckReport:
    """The residual of every condition checked (relative), kept per chain; `residuals` is
    their DataFrame (condition, region, product, detail, residual), built on first use."""

    def __init__(self, pieces: list[ChainResiduals], tolerance: float):
        self.pieces = [p for p in pieces if len(p)]
        self.tolerance = tolerance

    @cached_property
    def residuals(self) -> pd.DataFrame:
        return concatenate([p.table() for p in self.pieces]) if self.pieces else pd.DataFrame(columns=COLUMNS)

    @cached_property
    def max_residual(self) -> float:
        return max((float(p.residual.max()) for p in self.pieces), default=0.0)

    @property
    def passed(self) -> bool:
        return self.max_residual <= self.tolerance

    def worst(self, n: int = 5) -> pd.DataFrame:
        return self.residuals.nlargest(n, "residual")

    def condition(self, name: str) -> float:
        """Largest residual of one condition."""
        sel = self.residuals[self.residuals["condition"] == name]
        return float(sel["residual"].max()) if len(sel) else 0.0

    def raise_if_failed(self) -> None:
        if not self.passed:
            worst = [f"{r.condition} {r.region}/{r.product} {r.detail}: {r.residual:.2e}" for r in self.worst().itertuples()]
            raise EquilibriumCheckError(
                f"the solution fails the equilibrium check (largest relative residual {self.max_residual:.2e} > {self.tolerance:.0e}): "
                + "; ".join(worst), worst)


def check_equilibrium(results, tolerance: float = TOLERANCE, reuse: bool = False) -> CheckReport:
    """Every condition of every solved chain, from the results' tables. With `reuse` (a
    Session's re-solve), a chain whose solution is the same object as at its last check
    (same equilibrium, same levers) keeps the residuals computed then."""
    pieces = []
    for k, (_layout, solution) in enumerate(results.solved):
        if reuse and "check" in solution.derived:
            pieces.append(solution.derived["check"])
            continue
        piece = _check_chain(_ChainView(results, k, own_pieces=reuse))
        solution.derived["check"] = piece
        pieces.append(piece)
    return CheckReport(pieces, tolerance)


def _check_chain(view) -> ChainResiduals:
    from .instruments import REGISTRY

    rows: list[tuple] = []
    rows += _prices_agree(view)
    rows += _clearing(view)
    rows += _curves(view)
    rows += _routes(view)
    for family in REGISTRY:
        if family.check is not None:
            rows += family.check(view)
    return ChainResiduals(rows)


class ChainResiduals:
    """One chain's checked conditions: the residuals at once (the verdict needs only them),
    the table naming each row (condition, region, product, detail) built when asked for."""

    __slots__ = ("_labels", "residual")

    def __init__(self, rows: list[tuple]):
        self._labels, residuals = [], []
        for condition, region, product, detail, residual in rows:
            residual = np.atleast_1d(np.asarray(residual, dtype=float))
            if len(residual):
                self._labels.append((condition, region, product, detail, len(residual)))
                residuals.append(np.where(np.isnan(residual), np.inf, residual))
        self.residual = np.concatenate(residuals) if residuals else np.zeros(0)

    def __len__(self) -> int:
        return len(self.residual)

    def table(self) -> Columns:
        parts: dict[str, list] = {c: [] for c in COLUMNS[:-1]}
        for condition, region, product, detail, n in self._labels:
            parts["condition"].append(np.full(n, condition, dtype=object))
            parts["region"].append(_broadcast(region, n))
            parts["product"].append(_broadcast(product, n))
            parts["detail"].append(_broadcast(detail, n))
        return Columns({**{c: np.concatenate(v) for c, v in parts.items()}, "residual": self.residual})


class _ChainView:
    """One solved chain's slice of a Results: the same table names, only its rows, as numpy
    columns. From the Results' tables (which a user may have changed: the check reads what
    is reported), or, in a session, straight from the chain's own table pieces (what those
    tables are made of)."""

    def __init__(self, results, k: int, own_pieces: bool = False):
        layout, solution = results.solved[k]
        self.policy, self.data = results.policy, results.data
        self.price_scale, self.quantity_scale = results.price_scale, results.quantity_scale
        self.products = set(layout.products)
        couplings = any(c.product in self.products for c in results.policy.market.couplings)
        if own_pieces:
            def piece(name):
                return chain_piece(results, layout, solution, name)

            lo, hi = 0, layout.n_nodes
            nodes = piece("nodes")
            self.supply_detail, self.demand_detail = piece("supply"), piece("demand")
            self.refining_detail, self.route_detail, self.reserve_detail = piece("refining"), piece("route"), piece("reserve")
            self.route_terms = results.policy.market.routes.terms.take(layout.route_rows)
        else:
            lo, hi = results.node_offsets[k], results.node_offsets[k + 1]
            nodes = Columns.of(results.nodes)
            solved = results.solved
            counts = {name: [len(getattr(lay, name)) for lay, _ in solved] for name in ("supply_rows", "demand_rows", "refining_rows", "route_rows")}
            start = {name: sum(c[:k]) for name, c in counts.items()}

            def rows(frame, name):
                return Columns.of(frame.iloc[start[name]: start[name] + counts[name][k]])

            self.supply_detail = rows(results.supply_detail, "supply_rows")
            self.demand_detail = rows(results.demand_detail, "demand_rows")
            self.refining_detail = rows(results.refining_detail, "refining_rows")
            self.route_detail = rows(results.route_detail, "route_rows")
            self.route_terms = results.route_terms.take(slice(start["route_rows"], start["route_rows"] + counts["route_rows"][k]))
            reserves = results.reserve_detail
            self.reserve_detail = Columns.of(reserves[reserves["product"].isin(self.products)] if len(reserves) else reserves)
        self.coupling_detail = [c for c in results.coupling_detail if c["product"] in self.products] if couplings else []
        self.node_range = (lo, hi)
        self.node_price = nodes["price"]
        self.node_disposed = nodes["disposed"]
        self.node_region = nodes["region"]
        self.node_product = nodes["product"]
        self.node_side = nodes["side"]
        self.purchases = {key: q for key, q in results.policy.market.purchases.items() if key[1] in self.products}
        self.releases = {key: q for key, q in results.policy.market.releases.items() if key[1] in self.products}
        self.node_of = {(r, p, side): lo + i for i, (r, p, side) in enumerate(layout.node_of)} if self.purchases or self.releases else {}

    @cached_property
    def route_label(self) -> np.ndarray:
        """"origin->destination" per route row, the detail of route conditions."""
        a = self.route_detail
        return np.array([f"{o}->{d}" for o, d in zip(a["origin"], a["destination"])], dtype=object)


def _broadcast(value, n):
    value = np.asarray(value, dtype=object)
    return np.broadcast_to(value, (n,)) if value.ndim == 0 or len(value) != n else value


# ------------------------------------------------------------------------ prices
def _prices_agree(view) -> list[tuple]:
    """One price per market: every table that reports a market's price agrees with the node table."""
    rows = []
    checks = [(view.supply_detail, "node", "market_price", "product"), (view.demand_detail, "node", "price", "product"),
              (view.refining_detail, "output_node", "market_price", "output"), (view.refining_detail, "input_node", "input_price", "input"),
              (view.route_detail, "origin_node", "exporter_price", "product"),
              (view.route_detail, "destination_node", "importer_price", "product")]
    for frame, node, column, product in checks:
        if not len(frame):
            continue
        index = frame[node].astype(int)
        gap = np.abs(frame[column] - view.node_price[index]) / frame["price_scale"]
        rows.append(("one price per market", view.node_region[index], frame[product], column, gap))
    return rows


# ---------------------------------------------------------------------- clearing
def _clearing(view) -> list[tuple]:
    lo, hi = view.node_range
    net = np.zeros(hi - lo)

    def add(nodes, values, sign):
        np.add.at(net, np.asarray(nodes, dtype=int) - lo, sign * np.asarray(values, dtype=float))

    s, d, r, a, res = view.supply_detail, view.demand_detail, view.refining_detail, view.route_detail, view.reserve_detail
    add(s["node"], s["quantity"], 1.0)
    add(r["output_node"], r["output_quantity"], 1.0)
    add(r["input_node"], r["input_quantity"], -1.0)
    add(d["node"], d["quantity"], -1.0)
    add(a["origin_node"], a["flow"], -1.0)
    add(a["destination_node"], a["flow"], 1.0)
    if len(res):
        add(res["node"], res["quantity"], -1.0)
    add(np.arange(lo, hi), view.node_disposed[lo:hi], -1.0)
    for (region, product), q in view.releases.items():
        if (region, product, 0) in view.node_of:
            add([view.node_of[(region, product, 0)]], [q], 1.0)
    for (region, product), q in view.purchases.items():
        if (region, product, 1) in view.node_of:
            add([view.node_of[(region, product, 1)]], [q], -1.0)
    product = view.node_product[lo:hi]
    scale = np.array([view.quantity_scale[p] for p in product]) if len(product) else np.zeros(0)
    side = np.where(view.node_side[lo:hi] == 0, "producers", "buyers")
    # free disposal: min(thrown away, price) = 0 in every market (each in its scale)
    disposed = view.node_disposed[lo:hi].astype(float) / scale
    price = view.node_price[lo:hi].astype(float) / np.array([view.price_scale[p] for p in product]) if len(product) else np.zeros(0)
    disposal = np.abs(np.minimum(disposed, price))
    return [("market clearing", view.node_region[lo:hi], product, side, np.abs(net) / scale),
            ("free disposal", view.node_region[lo:hi], product, side, disposal)]


# ------------------------------------------------------------------------ curves
def _clip(a, b, t, hi):
    return np.clip(np.asarray(a) + np.asarray(b) * np.asarray(t), 0.0, np.asarray(hi))


def _curves(view) -> list[tuple]:
    rows = []
    s = view.supply_detail
    if len(s):
        rows.append(("received price", s["region"], s["product"], "supply",
                     np.abs(s["received_price"] - s["market_price"] - s["deficiency_payment"] - s["subsidy"]) / s["price_scale"]))
        expected = _clip(s["intercept"], s["slope"], s["received_price"], s["capacity"])
        rows.append(("supply curve", s["region"], s["product"], "", np.abs(s["quantity"] - expected) / s["quantity_scale"]))
        rows.append(("capacity rent", s["region"], s["product"], "supply",
                     _rent_gap(s["capacity_rent"], s["intercept"], s["slope"], s["capacity"], s["received_price"],
                               s["price_scale"], s["quantity_scale"])))
    d = view.demand_detail
    if len(d):
        expected = np.maximum(0.0, d["intercept"] + d["slope"] * d["price"])
        rows.append(("demand curve", d["region"], d["product"], "", np.abs(d["quantity"] - expected) / d["quantity_scale"]))
    r = view.refining_detail
    if len(r):
        rows.append(("received price", r["region"], r["output"], "refining",
                     np.abs(r["received_price"] - r["market_price"] - r["deficiency_payment"] - r["subsidy"]) / r["price_scale"]))
        margin = r["received_price"] - r["input_price"] / r["yield"]
        flat = r["constant_cost"].astype(bool)
        expected = _clip(r["intercept"], r["slope"], margin, r["capacity"])
        curve_gap = np.abs(r["output_quantity"] - expected) / r["quantity_scale"]
        excess = (margin - r["unit_cost"]) / r["price_scale"]
        z = r["output_quantity"]
        at_cap = z >= r["capacity"] * (1 - 1e-9)
        idle = z <= 1e-12 * r["quantity_scale"]
        flat_gap = np.where(idle & at_cap, 0.0, np.where(idle, np.maximum(excess, 0.0),
                                                          np.where(at_cap, np.maximum(-excess, 0.0), np.abs(excess))))
        rows.append(("refining curve", r["region"], r["output"], "", np.where(flat, flat_gap, curve_gap)))
        curve_rent = _rent_gap(r["capacity_rent"], r["intercept"], r["slope"], r["capacity"], margin, r["price_scale"], r["quantity_scale"])
        flat_rent = np.abs(r["capacity_rent"] - np.where(at_cap & flat, (margin - r["unit_cost"]) * z, 0.0)) \
            / (r["price_scale"] * r["quantity_scale"])
        rows.append(("capacity rent", r["region"], r["output"], "refining", np.where(flat, flat_rent, curve_rent)))
    return rows


def _rent_gap(reported, intercept, slope, capacity, price, price_scale, quantity_scale):
    """Reported capacity rent against the rule: at capacity, capacity × (price − the marginal
    cost at capacity); nothing below it. Relative to the product's market value."""
    a, b, cap, p = (np.asarray(v, dtype=float) for v in (intercept, slope, capacity, price))
    safe = np.where(b > 0, b, 1.0)
    marginal = np.where(np.isfinite(cap), (cap - a) / safe, np.inf)
    start = -a / safe
    rule = np.where((b > 0) & np.isfinite(cap), np.where(np.isfinite(cap), cap, 0.0) * np.maximum(p - np.maximum(marginal, start), 0.0), 0.0)
    return np.abs(np.asarray(reported, dtype=float) - rule) / (np.asarray(price_scale) * np.asarray(quantity_scale))


# ------------------------------------------------------------------------ routes
def _routes(view) -> list[tuple]:
    a = view.route_detail
    if not len(a):
        return []
    detail = view.route_label
    ps, qs = a["price_scale"], a["quantity_scale"]
    landed = (a["exporter_price"] - a["dumping_discount"] - a["export_subsidy"] + a["transport_cost"] + a["tariff"]
              + a["anti_dumping"] + a["levy"])
    rows = [("landed price", a["destination"], a["product"], detail, np.abs(a["landed_price"] - landed) / ps)]
    gap = a["importer_price"] - a["landed_price"] - a["intercept"] - a["licence"]
    g = a["curvature"]
    x = a["flow"]
    cap = a["capacity"]
    calibrated = g > 0
    expected = np.clip(gap / np.where(calibrated, g, 1.0), 0.0, cap)
    curve = np.abs(x - expected) / qs
    # constant cost: no gain left unexploited below capacity, no flow at a loss
    full = x >= cap * (1 - 1e-9)
    unexploited = np.where(full, 0.0, np.maximum(gap, 0.0)) / ps
    loss = np.minimum(np.maximum(-gap, 0.0) / ps, x / qs)
    rows.append(("trade on route", a["destination"], a["product"], detail, np.where(calibrated, curve, np.maximum(unexploited, loss))))
    rows.append(("route capacity", a["destination"], a["product"], detail, np.maximum(x - cap, 0.0) / qs))
    return rows
