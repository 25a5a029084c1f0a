"""The independent equilibrium check.

From a `Results` (prices, quantities, flows) and the resolved policy alone — never the
solver's internals — verify every condition of a spatial price equilibrium with its
instruments:

- market clearing at every node and product;
- spatial arbitrage on every route: importer price ≤ exporter price + transport + border
  charges, with equality on every route that carries flow below its capacity; border
  charges recomputed here from prices and the policy (ad valorem on the CIF value);
- producers on their curves at the price they receive (or at capacity), consumers on
  theirs, refineries on their curve in the margin (or at capacity / shut);
- instrument rules: a variable levy equals max(0, floor − cheapest landed non-member
  offer) and flowing non-member imports land at or above the floor; a deficiency payment
  pays exactly max(0, floor − price) per unit; a stockpile reserve buys only at the floor
  (or spends its whole budget below it); bans carry nothing; quotas hold, and rents arise
  only where a quota binds.

Residuals are relative: prices to the product's reference price, quantities to the
product's world market size. The largest must not exceed `tolerance` (1e-6).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .curves import clipped, customs_value
from .errors import EquilibriumCheckError
from .results import Results

TOLERANCE = 1e-6


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

    def by_condition(self) -> pd.Series:
        return self.residuals.groupby("condition")["residual"].max().sort_values(ascending=False)

    def raise_if_failed(self) -> None:
        if not self.passed:
            worst = [f"{r.condition} {r.region}/{r.product} {r.detail}: {r.residual:.2e}" for r in self.worst().itertuples()]
            raise EquilibriumCheckError(
                f"the solution fails the equilibrium check (largest relative residual {self.max_residual:.2e} > {self.tolerance:.0e}): "
                + "; ".join(worst), worst)


def check_equilibrium(results: Results, tolerance: float = TOLERANCE) -> CheckReport:
    """Every condition of every solved chain. A chain whose equilibrium was checked before
    (a session hands back the same solution while its levers stay put, so the same prices,
    quantities and policy) keeps the residuals computed then; the others are checked now."""
    optimal = [(c, s) for c, s in zip(results.chains, results.solutions) if s.status == "optimal"]
    known = [s.derived["check"] for _, s in optimal if "check" in s.derived]
    fresh = [(c, s) for c, s in optimal if "check" not in s.derived]
    frame = _check(results, {p for c, _ in fresh for p in c.products}) if fresh else _empty_residuals()
    for chain, solution in fresh:
        solution.derived["check"] = frame[frame["product"].isin(chain.products)].reset_index(drop=True)
    frame = pd.concat(known + [frame], ignore_index=True) if known else frame
    return CheckReport(frame, tolerance)


def _empty_residuals() -> pd.DataFrame:
    return pd.DataFrame({"condition": [], "region": [], "product": [], "detail": [], "residual": np.zeros(0)})


def _check(results: Results, solved: set[str]) -> pd.DataFrame:
    """The residual of every condition of the products in `solved`."""
    rows: list[tuple[str, str, str, str, float]] = []     # single conditions
    frames: list[pd.DataFrame] = []                          # vectorised conditions
    price_scale, quantity_scale = _scales(results)

    def add(condition, regions, products, details, residual):
        residual = np.asarray(residual, dtype=float)
        frames.append(pd.DataFrame({"condition": condition, "region": np.asarray(regions), "product": np.asarray(products),
                                    "detail": np.asarray(details), "residual": np.where(np.isnan(residual), np.inf, residual)}))

    s = results.supply_detail[results.supply_detail["product"].isin(solved)]
    d = results.demand_detail[results.demand_detail["product"].isin(solved)]
    r = results.refining_detail[results.refining_detail["output"].isin(solved)]
    arcs = results.arc_detail[results.arc_detail["product"].isin(solved)]
    reserves = results.reserve_detail
    qs = lambda products: pd.Series(products).map(quantity_scale).to_numpy()  # noqa: E731
    ps = lambda products: pd.Series(products).map(price_scale).to_numpy()     # noqa: E731

    # Market clearing.
    m = results.markets[results.markets["product"].isin(solved)]
    imbalance = m["supply"] + m["imports"] - m["exports"] - m["demand"] - m["processing_in"] - m["stockpile"]
    add("market clearing", m["region"], m["product"], [""] * len(m), np.abs(imbalance) / qs(m["product"]))

    # Supply on its curve at the price received.
    expected = clipped(s["curve_intercept"], s["curve_slope"], s["received_price"], s["capacity"])
    gap = s["quantity"] - expected
    add("supply curve", s["region"], s["product"], [""] * len(s), np.abs(gap) / qs(s["product"]))
    # A deficiency payment tops the market price up to the floor exactly.
    paid = s["received_price"] - s["price"] - s["subsidy"]
    rule = np.maximum(0.0, s["floor_price"] - s["price"])
    add("deficiency payment", s["region"], s["product"], ["supply"] * len(s), np.abs(paid - rule) / ps(s["product"]))

    # Demand on its curve.
    expected = clipped(d["curve_intercept"], d["curve_slope"], d["price"])
    add("demand curve", d["region"], d["product"], [""] * len(d), np.abs(d["quantity"] - expected) / qs(d["product"]))

    # Refineries: on their margin curve, or for a constant unit cost, running only at a
    # margin that covers it and at capacity only when it more than covers it.
    curve = r["curve_slope"].notna()
    rc = r[curve]
    expected = clipped(rc["curve_intercept"], rc["curve_slope"], rc["margin"], rc["capacity"])
    gap = rc["output_quantity"] - expected
    add("refining curve", rc["region"], rc["output"], [""] * len(rc), np.abs(gap) / qs(rc["output"]))
    rf = r[~curve]
    excess = (rf["margin"] - rf["effective_unit_cost"]) / ps(rf["output"])
    at_cap = rf["output_quantity"] >= rf["capacity"] * (1 - 1e-9)
    idle = rf["output_quantity"] <= 1e-12 * qs(rf["output"])
    flat_residual = np.where(idle, np.maximum(excess, 0.0), np.where(at_cap, np.maximum(-excess, 0.0), np.abs(excess)))
    flat_residual = np.where(idle & at_cap, 0.0, flat_residual)
    add("refining cost", rf["region"], rf["output"], [""] * len(rf), flat_residual)
    rule = np.maximum(0.0, r["floor_price"] - r["output_price"])
    add("deficiency payment", r["region"], r["output"], ["refining"] * len(r),
        np.abs(r["received_price"] - r["output_price"] - r["subsidy"] - rule) / ps(r["output"]))

    # Spatial arbitrage, charges recomputed from prices and the policy.
    cif = customs_value(arcs["exporter_price"] + arcs["transport_cost"])
    tariff = arcs["tariff_specific"] + arcs["tariff_ad_valorem"] * cif
    duty = arcs["anti_dumping_specific"] + arcs["anti_dumping_ad_valorem"] * cif
    subsidy = arcs["subsidy_specific"] + arcs["subsidy_ad_valorem"] * customs_value(arcs["exporter_price"])
    levy = _levy_rule(results, arcs, tariff, duty, subsidy, rows, price_scale)
    cost = arcs["exporter_price"] + arcs["transport_cost"] + tariff + duty + levy - subsidy
    gain = (arcs["importer_price"] - cost) / ps(arcs["product"])
    capped = arcs["flow"] >= arcs["capacity"] * (1 - 1e-9)
    quota_arc = arcs["quota_holder"] != ""
    # Complementarity in its natural-residual form: an importer must not gain by shipping
    # more (unless the route is full or under a binding quota, where the gain is a rent),
    # and goods must not flow at a loss: min(loss, flow) = 0.
    unexploited = np.where(capped | quota_arc, 0.0, np.maximum(gain, 0.0))
    loss_making = np.minimum(np.maximum(-gain, 0.0), arcs["flow"] / qs(arcs["product"]))
    residual = np.maximum(unexploited, loss_making)
    details = (arcs["origin"] + "->" + arcs["destination"]).to_numpy()
    add("arbitrage", arcs["destination"], arcs["product"], details, residual)
    add("border charges", arcs["destination"], arcs["product"], details,
        (np.abs(arcs["tariff"] - tariff) + np.abs(arcs["anti_dumping"] - duty) + np.abs(arcs["export_subsidy"] - subsidy))
        / ps(arcs["product"]))
    banned = arcs["capacity"] <= 0
    add("export ban", arcs.loc[banned, "destination"], arcs.loc[banned, "product"], details[banned.to_numpy()],
        arcs.loc[banned, "flow"] / qs(arcs.loc[banned, "product"]))

    # Quotas: within the limit; rents only where binding, equal on every flowing route.
    for q in results.policy.quotas:
        if q.product not in solved:
            continue
        sel = results.arc_detail.loc[list(q.routes)]
        total = sel["flow"].sum()
        scale = quantity_scale[q.product]
        rows.append(("quota limit", q.exporter, q.product, q.label, max(0.0, total - q.limit) / scale))
        rent = sel.loc[sel["flow"] > 0, "quota_rent"]
        if len(rent) and rent.max() > 1e-9 * price_scale[q.product]:
            rows.append(("quota rent", q.exporter, q.product, q.label, abs(total - q.limit) / scale))
            rows.append(("quota rent", q.exporter, q.product, q.label + " (equal rents)", (rent.max() - rent.min()) / price_scale[q.product]))

    # Stockpile floors: the reserve buys only at the floor, or spends its whole budget.
    for floor_index, group in reserves.groupby("floor"):
        product = group["product"].iloc[0]
        if product not in solved:
            continue
        F = group["floor_price"].iloc[0]
        budget = group["budget"].iloc[0]
        buying = group["quantity"] > 1e-12 * quantity_scale[product]
        spent = float((group["quantity"] * group["price"]).sum())
        exhausted = budget is not None and np.isfinite(budget) and spent >= budget * (1 - 1e-9)
        p = group["price"].to_numpy()
        if exhausted:
            level = p[buying.to_numpy()].max() if buying.any() else F
            res = np.where(buying, np.abs(p - level), np.maximum(level - p, 0.0)) / price_scale[product]
            res = np.maximum(res, np.maximum(p - F, 0.0) * buying / price_scale[product])
        else:
            res = np.where(buying, np.abs(p - F), np.maximum(F - p, 0.0)) / price_scale[product]
            if budget is not None and np.isfinite(budget):
                rows.append(("stockpile budget", "", product, f"floor {floor_index}", max(0.0, spent - budget) / (budget or 1.0)))
        add("stockpile floor", group["region"], group["product"], [f"floor {floor_index}"] * len(group), res)

    frame = pd.concat(frames + [pd.DataFrame(rows, columns=["condition", "region", "product", "detail", "residual"])],
                      ignore_index=True)
    frame["residual"] = frame["residual"].astype(float)
    return frame


def _levy_rule(results: Results, arcs, tariff, duty, subsidy, rows, price_scale) -> pd.Series:
    """Check each variable levy against its rule; return the levy per route as reported.

    The levy on non-member imports of a product into a floor market is max(0, floor −
    the cheapest landed price before levy among non-member suppliers that are active), the
    same on every such route; flowing non-member imports land at or above the floor."""
    levy = arcs["levy"]
    on = arcs["levy_floor"].to_numpy() >= 0
    if not on.any():
        return levy
    floors = {f.index: f for f in results.policy.floors}
    sel = arcs[on]
    markets = results.markets
    active_nodes = set(zip(markets["region"][(markets["supply"] + markets["imports"] + markets["demand"]) > 0],
                           markets["product"][(markets["supply"] + markets["imports"] + markets["demand"]) > 0]))
    pre = (arcs["exporter_price"] + arcs["transport_cost"] + tariff + duty - subsidy)[on]
    live = np.array([(o, p) in active_nodes for o, p in zip(sel["origin"], sel["product"])])
    floor_price = sel["levy_floor"].map(lambda f: floors[int(f)].price)
    scale = sel["product"].map(price_scale)
    keys = [sel["levy_floor"], sel["destination"]]
    cheapest = pre.where(live).groupby(keys).transform("min")
    expected = np.maximum(0.0, floor_price - cheapest)
    expected = expected.where(cheapest.notna(), sel["levy"])      # no active non-member supplier: nothing to check
    gap = ((sel["levy"] - expected).abs() / scale).groupby(keys).max()
    spread = ((sel["levy"].groupby(keys).transform("max") - sel["levy"]) / scale).groupby(keys).max()
    short = (np.maximum(floor_price - (pre + sel["levy"]), 0.0) / scale).where(sel["flow"] > 0, 0.0).groupby(keys).max()
    for (floor_index, destination), value in gap.items():
        product = floors[int(floor_index)].product
        rows.append(("variable levy", destination, product, f"floor {floor_index}", float(max(value, spread[(floor_index, destination)]))))
        rows.append(("levy floor", destination, product, f"floor {floor_index} landed", float(short[(floor_index, destination)])))
    return levy


def _scales(results: Results) -> tuple[dict[str, float], dict[str, float]]:
    prices, quantities = {}, {}
    for chain in results.chains:
        for product in chain.products:
            prices[product] = chain.price_scale[product]
            quantities[product] = chain.value_scale / chain.price_scale[product]
    return prices, quantities


def assert_equilibrium(results: Results, tolerance: float = TOLERANCE) -> CheckReport:
    report = check_equilibrium(results, tolerance)
    report.raise_if_failed()
    return report
