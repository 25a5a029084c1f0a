"""The independent equilibrium check.

From a `Results` alone — the reported prices, quantities, charges, payments, licences and
bids, never the solver's internals — verify every condition of the equilibrium:

- prices: every table reports the same price for the same market;
- market clearing at every producers' and buyers' market;
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

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import EquilibriumCheckError

TOLERANCE = 1e-6
COLUMNS = ["condition", "region", "product", "detail", "residual"]


@dataclass
class CheckReport:
    residuals: pd.DataFrame            # condition, region, product, detail, residual (relative)
    tolerance: float

    @property
    def max_residual(self) -> float:
        return float(self.residuals["residual"].max()) if len(self.residuals) else 0.0

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


def check_equilibrium(results, tolerance: float = TOLERANCE) -> CheckReport:
    """Every condition of every solved chain, from the results' tables."""
    from .instruments import REGISTRY

    rows: list[tuple] = []
    rows += _prices_agree(results)
    rows += _clearing(results)
    rows += _curves(results)
    rows += _routes(results)
    for family in REGISTRY:
        if family.check is not None:
            rows += family.check(results)
    frames = []
    for condition, region, product, detail, residual in rows:
        residual = np.atleast_1d(np.asarray(residual, dtype=float))
        if not len(residual):
            continue
        n = len(residual)
        frames.append(pd.DataFrame({"condition": condition, "region": _broadcast(region, n), "product": _broadcast(product, n),
                                    "detail": _broadcast(detail, n), "residual": np.where(np.isnan(residual), np.inf, residual)}))
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    return CheckReport(frame, tolerance)


def _broadcast(value, n):
    value = np.asarray(value, dtype=object)
    return np.broadcast_to(value, (n,)) if value.ndim == 0 or len(value) != n else value


# ------------------------------------------------------------------------ prices
def _prices_agree(results) -> list[tuple]:
    """One price per market: every table that reports a market's price agrees with the node table."""
    nodes = results.nodes
    price = {(r, p, s): v for r, p, s, v in zip(nodes["region"], nodes["product"], nodes["side"], nodes["price"])}
    rows = []
    checks = [
        (results.supply_detail, "region", "product", 0, "market_price"),
        (results.demand_detail, "region", "product", 1, "price"),
        (results.refining_detail, "region", "output", 0, "market_price"),
        (results.refining_detail, "region", "input", 1, "input_price"),
        (results.route_detail, "origin", "product", 0, "exporter_price"),
        (results.route_detail, "destination", "product", 1, "importer_price"),
    ]
    scale = results.price_scale
    for frame, rc, pc, side, col in checks:
        if not len(frame):
            continue
        expected = np.array([price.get((r, p, side), np.nan) for r, p in zip(frame[rc], frame[pc])])
        rows.append(("one price per market", frame[rc].to_numpy(), frame[pc].to_numpy(), col,
                     np.abs(frame[col].to_numpy() - expected) / frame[pc].map(scale).to_numpy()))
    return rows


# ---------------------------------------------------------------------- clearing
def _clearing(results) -> list[tuple]:
    s, d, r, a = results.supply_detail, results.demand_detail, results.refining_detail, results.route_detail
    res = results.reserve_detail
    keys = ["region", "product"]
    made = pd.concat([s[keys + ["quantity"]], r[["region", "output", "output_quantity"]].set_axis(keys + ["quantity"], axis=1),
                      pd.DataFrame([(k[0], k[1], q) for k, q in results.policy.market.releases.items()], columns=keys + ["quantity"])])
    taken = pd.concat([a[["origin", "product", "flow"]].set_axis(keys + ["quantity"], axis=1),
                      res[["origin", "product", "quantity"]].set_axis(keys + ["quantity"], axis=1) if len(res) else None])
    used = pd.concat([d[keys + ["quantity"]], r[["region", "input", "input_quantity"]].set_axis(keys + ["quantity"], axis=1),
                      pd.DataFrame([(k[0], k[1], q) for k, q in results.policy.market.purchases.items()], columns=keys + ["quantity"])])
    brought = a[["destination", "product", "flow"]].set_axis(keys + ["quantity"], axis=1)
    rows = []
    for side, sources, uses in (("producers", made, taken), ("buyers", brought, used)):
        net = sources.groupby(keys)["quantity"].sum().sub(uses.groupby(keys)["quantity"].sum(), fill_value=0.0)
        if not len(net):
            continue
        regions = net.index.get_level_values(0).to_numpy()
        products = net.index.get_level_values(1).to_numpy()
        rows.append(("market clearing", regions, products, side,
                     np.abs(net.to_numpy()) / pd.Series(products).map(results.quantity_scale).to_numpy()))
    return rows


# ------------------------------------------------------------------------ curves
def _clip(a, b, t, hi):
    return np.clip(np.asarray(a) + np.asarray(b) * np.asarray(t), 0.0, np.asarray(hi))


def _curves(results) -> list[tuple]:
    rows = []
    s = results.supply_detail
    if len(s):
        rows.append(("received price", s["region"].to_numpy(), s["product"].to_numpy(), "supply",
                     np.abs(s["received_price"] - s["market_price"] - s["deficiency_payment"] - s["subsidy"]).to_numpy()
                     / s["price_scale"].to_numpy()))
        expected = _clip(s["intercept"], s["slope"], s["received_price"], s["capacity"])
        rows.append(("supply curve", s["region"].to_numpy(), s["product"].to_numpy(), "",
                     np.abs(s["quantity"].to_numpy() - expected) / s["quantity_scale"].to_numpy()))
        rows.append(("capacity rent", s["region"].to_numpy(), s["product"].to_numpy(), "supply",
                     _rent_gap(s["capacity_rent"], s["intercept"], s["slope"], s["capacity"], s["received_price"],
                               s["price_scale"], s["quantity_scale"])))
    d = results.demand_detail
    if len(d):
        expected = np.maximum(0.0, d["intercept"] + d["slope"] * d["price"])
        rows.append(("demand curve", d["region"].to_numpy(), d["product"].to_numpy(), "",
                     np.abs(d["quantity"].to_numpy() - expected) / d["quantity_scale"].to_numpy()))
    r = results.refining_detail
    if len(r):
        rows.append(("received price", r["region"].to_numpy(), r["output"].to_numpy(), "refining",
                     np.abs(r["received_price"] - r["market_price"] - r["deficiency_payment"] - r["subsidy"]).to_numpy()
                     / r["price_scale"].to_numpy()))
        margin = r["received_price"] - r["input_price"] / r["yield"]
        flat = r["constant_cost"].to_numpy()
        expected = _clip(r["intercept"], r["slope"], margin, r["capacity"])
        curve_gap = np.abs(r["output_quantity"].to_numpy() - expected) / r["quantity_scale"].to_numpy()
        excess = (margin - r["unit_cost"]).to_numpy() / r["price_scale"].to_numpy()
        z = r["output_quantity"].to_numpy()
        at_cap = z >= r["capacity"].to_numpy() * (1 - 1e-9)
        idle = z <= 1e-12 * r["quantity_scale"].to_numpy()
        flat_gap = np.where(idle & at_cap, 0.0, np.where(idle, np.maximum(excess, 0.0),
                                                          np.where(at_cap, np.maximum(-excess, 0.0), np.abs(excess))))
        rows.append(("refining curve", r["region"].to_numpy(), r["output"].to_numpy(), "", np.where(flat, flat_gap, curve_gap)))
        curve_rent = _rent_gap(r["capacity_rent"], r["intercept"], r["slope"], r["capacity"], margin, r["price_scale"], r["quantity_scale"])
        flat_rent = np.abs(r["capacity_rent"].to_numpy() - np.where(at_cap & flat, (margin - r["unit_cost"]).to_numpy() * z, 0.0)) \
            / (r["price_scale"] * r["quantity_scale"]).to_numpy()
        rows.append(("capacity rent", r["region"].to_numpy(), r["output"].to_numpy(), "refining", np.where(flat, flat_rent, curve_rent)))
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
def _routes(results) -> list[tuple]:
    a = results.route_detail
    if not len(a):
        return []
    detail = (a["origin"] + "->" + a["destination"]).to_numpy()
    ps, qs = a["price_scale"].to_numpy(), a["quantity_scale"].to_numpy()
    landed = (a["exporter_price"] - a["dumping_discount"] - a["export_subsidy"] + a["transport_cost"] + a["tariff"]
              + a["anti_dumping"] + a["levy"]).to_numpy()
    rows = [("landed price", a["destination"].to_numpy(), a["product"].to_numpy(), detail, np.abs(a["landed_price"].to_numpy() - landed) / ps)]
    gap = (a["importer_price"] - a["landed_price"] - a["intercept"] - a["licence"]).to_numpy()
    g = a["curvature"].to_numpy()
    x = a["flow"].to_numpy()
    cap = a["capacity"].to_numpy()
    calibrated = g > 0
    expected = np.clip(gap / np.where(calibrated, g, 1.0), 0.0, cap)
    curve = np.abs(x - expected) / qs
    # constant cost: no gain left unexploited below capacity, no flow at a loss
    full = x >= cap * (1 - 1e-9)
    unexploited = np.where(full, 0.0, np.maximum(gap, 0.0)) / ps
    loss = np.minimum(np.maximum(-gap, 0.0) / ps, x / qs)
    rows.append(("trade on route", a["destination"].to_numpy(), a["product"].to_numpy(), detail,
                 np.where(calibrated, curve, np.maximum(unexploited, loss))))
    rows.append(("route capacity", a["destination"].to_numpy(), a["product"].to_numpy(), detail, np.maximum(x - cap, 0.0) / qs))
    return rows
