"""Calibrated trade costs: the observed flows are the no-policy equilibrium.

Homogeneous goods at constant unit trade costs never trade a product both ways and switch
suppliers all at once. blocmodel instead gives each route a unit trade cost that rises
with the flow on it (positive mathematical programming, Howitt 1995; applied to spatial
trade by Jansson & Heckelei and others):

    cost of the last unit on route o→d = transport + a + g·x     (+ border charges)

calibrated so that, at the reference prices and with the dataset's MFN tariffs, every
observed 2024 flow x⁰ is exactly what buyers choose:

    g = P / (σ·x⁰)          σ: the product's `substitution_elasticity`
    a = p⁰_d − landed⁰ − g·x⁰

so a route's flow changes by σ% per 1% change (of the product's price P) in its delivered
cost, other prices held — the meaning of an Armington elasticity among sources for small
shares. The intercept a (usually negative: established supply relations are worth a
premium) reproduces cross-hauling. A region's own market is a route too (the home route,
transport 0), calibrated on the home flow: production − exports = use − imports.

A route with no observed flow gets a = max(0, p⁰_d − landed⁰) (it is closed, at the
margin at most, in the baseline) and the curvature of a route carrying NEW_ROUTE_SCALE of
the smaller of its two markets, so a route that opens under policy grows smoothly.

A product without observed flows (no `ref_quantity` in routes.csv) keeps the classic
constant unit cost (a = g = 0): the textbook equilibria hold exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .pricing import RouteTerms, route_prices
from .problem import RouteTable

# assumption: a route with no trade in the reference year responds, once it opens, like an
# observed route carrying 5% of the smaller of its origin's output and its destination's
# use: a new supplier can reach a few percent of a market within a year, not all of it.
NEW_ROUTE_SCALE = 0.05
BALANCE_TOLERANCE = 1e-6     # relative to the product's world market


def calibrated_products(products: pd.DataFrame, routes: pd.DataFrame) -> list[str]:
    """Products whose routes carry observed flows."""
    if "ref_quantity" not in routes or routes.empty:
        return []
    observed = routes[pd.to_numeric(routes["ref_quantity"], errors="coerce").fillna(0) > 0]
    wanted = set(observed["product"])
    return [p for p in products["product"] if p in wanted]


def node_sides(supply: pd.DataFrame, demand: pd.DataFrame, processing: pd.DataFrame) -> tuple[set, set]:
    """(producers' nodes, buyers' nodes) as sets of (region, product)."""
    producers = set(zip(supply["region"], supply["product"])) | set(zip(processing["region"], processing["output"]))
    buyers = set(zip(demand["region"], demand["product"])) | set(zip(processing["region"], processing["input"]))
    return producers, buyers


def reference_balances(supply: pd.DataFrame, demand: pd.DataFrame, processing: pd.DataFrame, routes: pd.DataFrame) -> pd.DataFrame:
    """Per (product, region), at the reference: production, use, exports, imports, and the
    home flow computed both ways (production − exports, use − imports)."""
    def total(frame, product, region, value, divide=None):
        if frame.empty:
            return pd.Series(dtype=float)
        values = pd.to_numeric(frame[value], errors="coerce").fillna(0.0)
        if divide is not None:
            values = values / pd.to_numeric(frame[divide], errors="coerce")
        return values.groupby([frame[product].to_numpy(), frame[region].to_numpy()]).sum()

    observed = routes.assign(ref_quantity=pd.to_numeric(routes["ref_quantity"], errors="coerce") if "ref_quantity" in routes else 0.0)
    parts = {
        "production": total(supply, "product", "region", "ref_quantity").add(total(processing, "output", "region", "ref_quantity"), fill_value=0.0),
        "use": total(demand, "product", "region", "ref_quantity").add(total(processing, "input", "region", "ref_quantity", "yield"), fill_value=0.0),
        "exports": total(observed, "product", "origin", "ref_quantity"),
        "imports": total(observed, "product", "destination", "ref_quantity"),
    }
    frame = pd.concat(parts, axis=1).fillna(0.0)
    frame.index.names = ["product", "region"]
    frame["home_from_production"] = frame["production"] - frame["exports"]
    frame["home_from_use"] = frame["use"] - frame["imports"]
    return frame


def reference_balance(supply: pd.DataFrame, demand: pd.DataFrame, processing: pd.DataFrame, routes: pd.DataFrame,
                      product: str) -> pd.DataFrame:
    """`reference_balances` of one product, indexed by region."""
    frame = reference_balances(supply, demand, processing, routes)
    if product not in frame.index.get_level_values(0):
        return pd.DataFrame(columns=frame.columns, index=pd.Index([], name="region"))
    return frame.xs(product, level="product")


def world_sizes(supply, demand, processing) -> dict[str, float]:
    """Each product's market size in units: the largest of its supply, demand and refined
    output at the reference (each product's rows found once, not filtered for each)."""
    totals: list[dict[str, float]] = []
    for frame, column in ((supply, "product"), (demand, "product"), (processing, "output")):
        quantity = pd.to_numeric(frame["ref_quantity"], errors="coerce").fillna(0).to_numpy(dtype=float)
        totals.append({product: float(quantity[rows].sum()) for product, rows in _rows_by(frame[column]).items()})
    products = set().union(*totals)
    return {p: float(max(max(t.get(p, 0.0) for t in totals), 1e-300)) for p in products}


def _rows_by(keys: pd.Series) -> dict[str, np.ndarray]:
    """Positions of the rows with each value of `keys`, in row order."""
    return {key: np.asarray(rows) for key, rows in keys.groupby(keys, sort=False).indices.items()} if len(keys) else {}


# --------------------------------------------------------------------- the table
@dataclass
class Reference:
    """Reference prices: per product (its median reference price) and per node."""

    product_price: dict[str, float]
    producer_price: dict[tuple[str, str], float]
    buyer_price: dict[tuple[str, str], float]
    product_quantity: dict[str, float]


def reference_prices(data) -> Reference:
    s, d, r = data.supply, data.demand, data.processing
    # each product's rows, found once (a filter per product is ~10 ms a product on 60 x 10)
    supply_rows, demand_rows = _rows_by(s["product"]), _rows_by(d["product"])
    none = np.zeros(0, dtype=int)
    s_price, d_price = s["ref_price"].to_numpy(dtype=float), d["ref_price"].to_numpy(dtype=float)
    product_price: dict[str, float] = {}
    for p in data.product_codes:
        prices = np.concatenate([s_price[supply_rows.get(p, none)], d_price[demand_rows.get(p, none)]])
        product_price[p] = float(np.median(prices)) if len(prices) else np.nan
    for _ in data.product_codes:     # products with no curve of their own: from refining neighbours
        for pin, pout, y in zip(r["input"], r["output"], r["yield"].astype(float)):
            if np.isnan(product_price[pin]) and not np.isnan(product_price[pout]):
                product_price[pin] = product_price[pout] * y
            if np.isnan(product_price[pout]) and not np.isnan(product_price[pin]):
                product_price[pout] = product_price[pin] / y
    product_price = {p: (v if np.isfinite(v) and v > 0 else 1.0) for p, v in product_price.items()}
    producer = s.groupby(["region", "product"])["ref_price"].mean().to_dict()
    buyer = d.groupby(["region", "product"])["ref_price"].mean().to_dict()
    sizes = world_sizes(s, d, r)
    quantity = {p: sizes.get(p, 1e-300) for p in data.product_codes}
    return Reference(product_price, producer, buyer, quantity)


def route_table(data, reference: Reference | None = None) -> RouteTable:
    """Every dataset route plus the home routes, with MFN charges and calibrated costs."""
    reference = reference or reference_prices(data)
    routes = data.routes
    producers, buyers = node_sides(data.supply, data.demand, data.processing)
    # routes can only leave a region that makes the product and reach one that uses it
    home = sorted(producers & buyers, key=lambda k: (data.product_codes.index(k[1]), k[0]))
    n_data, n_home = len(routes), len(home)
    origin = np.concatenate([routes["origin"].to_numpy(dtype=object), np.array([h[0] for h in home], dtype=object)])
    destination = np.concatenate([routes["destination"].to_numpy(dtype=object), np.array([h[0] for h in home], dtype=object)])
    product = np.concatenate([routes["product"].to_numpy(dtype=object), np.array([h[1] for h in home], dtype=object)])
    transport = np.concatenate([routes["transport_cost"].to_numpy(dtype=float), np.zeros(n_home)])
    capacity = np.concatenate([pd.to_numeric(routes["capacity"], errors="coerce").fillna(np.inf).to_numpy(dtype=float),
                               np.full(n_home, np.inf)])
    terms = RouteTerms.free(transport)
    terms.tariff_rate[:n_data] = routes["tariff_ad_valorem"].to_numpy(dtype=float)
    terms.tariff_specific[:n_data] = routes["tariff_specific"].to_numpy(dtype=float)
    observed = np.full(n_data + n_home, np.nan)
    if "ref_quantity" in routes:
        observed[:n_data] = pd.to_numeric(routes["ref_quantity"], errors="coerce").to_numpy(dtype=float)

    intercept = np.zeros(n_data + n_home)
    curvature = np.zeros(n_data + n_home)
    calibrated = calibrated_products(data.products, routes)
    sigma = dict(zip(data.products["product"], data.products["substitution_elasticity"])) if "substitution_elasticity" in data.products else {}
    balances = reference_balances(data.supply, data.demand, data.processing, routes) if calibrated else None
    for p in calibrated:
        balance = balances.xs(p, level="product")
        sel = np.flatnonzero(product == p)
        is_home = sel >= n_data
        home_regions = origin[sel[is_home]]
        observed[sel[is_home]] = balance["home_from_production"].reindex(home_regions).fillna(0.0).to_numpy()
        x0 = np.nan_to_num(observed[sel])
        price_scale = reference.product_price[p]
        p_buyer = np.array([reference.buyer_price.get((d_, p), price_scale) for d_ in destination[sel]])
        p_producer = np.array([reference.producer_price.get((o_, p), price_scale) for o_ in origin[sel]])
        landed = route_prices(p_producer, terms.take(sel)).landed
        s = float(sigma[p])
        production = balance["production"].reindex(origin[sel]).fillna(0.0).to_numpy()
        use = balance["use"].reindex(destination[sel]).fillna(0.0).to_numpy()
        scale_flow = np.where(x0 > 0, x0, NEW_ROUTE_SCALE * np.maximum(np.minimum(production, use), 1e-12 * reference.product_quantity[p]))
        g = price_scale / (s * scale_flow)
        curvature[sel] = g
        intercept[sel] = np.where(x0 > 0, p_buyer - landed - g * x0, np.maximum(0.0, p_buyer - landed))
    return RouteTable(origin=origin, destination=destination, product=product,
                      home=np.concatenate([np.zeros(n_data, dtype=bool), np.ones(n_home, dtype=bool)]),
                      dataset_row=np.concatenate([np.arange(n_data), np.full(n_home, -1)]),
                      intercept=intercept, curvature=curvature, capacity=capacity, observed=observed, terms=terms)
