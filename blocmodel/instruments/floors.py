"""Price floors: a reference price for one product (one stage) over a set of member markets.

Four mechanisms, each with what it holds and who pays:

- `variable_levy`: an adjustable tariff on imports made by non-members lifts their landed
  price (CIF + tariffs + duties) to the floor; the importer collects it. It holds the
  price at which *non-member* goods enter. When members' own supply is cheap enough, the
  levy shuts non-member goods out and the member price settles *below* the floor (the
  floor is prohibitive); where the members are net exporters it cannot bind at all.
- `deficiency_payment`: members' producers receive max(floor, market price); the gap is
  paid per unit by a treasury (DoD–MP Materials type). Buyers pay the market price.
- `stockpile`: a reserve buys, at the producers' price, from producers in `origins`
  (default: the bloc's members, else the floor's markets) whatever keeps that price at the
  floor, within a yearly `budget` (default: DEFAULT_BUDGET_SHARE of the product's world
  market at reference prices — printed as a note). When the budget runs out, its bid falls
  below the floor until it spends exactly the budget.
- `price_support` (the mechanism negotiators ask for: a floor that holds the members'
  price itself): the variable levy, plus — where the levy alone leaves members' producers
  below the floor — a reserve purchase (`support = "purchase"`, default) or a deficiency
  payment (`support = "deficiency_payment"`). It costs the levy's price wedge to buyers,
  plus the purchases or payments to the funders.

Payments and purchases are funded by `burden_sharing`: "own" (each member pays for its own
producers), "gdp" (regions.csv gdp), "consumption" (each member's use of the product at
reference), or explicit shares {region = share}. Defaults: "own" for a deficiency payment,
"consumption" for a reserve.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from ..pricing import received_price, route_prices
from ..problem import Reserve
from .base import Entry, Family, Names, Price, positive_price

MECHANISMS = ("variable_levy", "deficiency_payment", "stockpile", "price_support")
# assumption: a reserve with no budget given may spend at most this share of the product's
# world market at reference prices a year (Project Vault's ~US$12bn is ~3% of the modelled
# minerals' world market; 10% leaves room for a single product).
DEFAULT_BUDGET_SHARE = 0.10
# Under price support the members' price sits at the floor and non-member goods land at it
# too; with constant trade costs importers are then indifferent and any import volume is an
# equilibrium (each unit imported the reserve buys back from members). The levy lands
# non-member goods this fraction above the floor, so the reserve never buys room for
# imports: the equilibrium with the fewest imports (prices move by at most 1e-9 of the floor).
SUPPORT_LEVY_MARGIN = 1e-9


class PriceFloor(Entry):
    """A reference price held as a floor in member markets."""

    product: str = Field(description="The product (one stage), e.g. 'ndpr_oxide'.")
    price: Price = Field(description="The floor: a number in USD per unit of the product, or with its unit, e.g. '110 USD/kg'.")
    unit: str | None = Field(None, description="Unit of `price` if not the product's unit, e.g. 'USD/kg'.")
    markets: Names = Field(default_factory=lambda: ["bloc"], description="Member markets where it holds: 'bloc', groups or regions.")
    mechanism: Literal["variable_levy", "deficiency_payment", "stockpile", "price_support"] = Field(
        "variable_levy", description="How it is held.")
    support: Literal["purchase", "deficiency_payment"] = Field("purchase", description="price_support: what holds the price where the levy alone does not.")
    budget: float | None = Field(None, gt=0, description="Reserve (stockpile, price_support with purchase): most it may spend, USD per year.")
    origins: Names | None = Field(None, description="Reserve: whose producers it buys from (default: the bloc, else the markets).")
    burden_sharing: Literal["own", "gdp", "consumption"] | dict[str, float] | None = Field(
        None, description="Who funds payments and purchases: 'own', 'gdp', 'consumption', or shares {region = share}.")

    @field_validator("price")
    @classmethod
    def _positive(cls, value):
        return positive_price(value)

    @model_validator(mode="after")
    def _fits_mechanism(self):
        if self.budget is not None and self.mechanism not in ("stockpile", "price_support"):
            raise ValueError(f"budget applies to a reserve (stockpile or price_support), not to {self.mechanism}")
        return self


def apply(ctx) -> None:
    routes = ctx.market.routes
    terms = routes.terms
    levied_by = np.full(len(routes), -1)
    for i, f in enumerate(ctx.scenario.price_floors):
        key = f"price_floors[{i}]"
        product = ctx.product(f.product, f"{key}.product")
        if product is None:
            continue
        price = ctx.price(f.price, f.unit, product, f"{key}.price", what="floor")
        levy = f.mechanism in ("variable_levy", "price_support")
        markets = ctx.many(f.markets, f"{key}.markets", expand_unions=levy)
        if price is None or not markets:
            continue
        members = set(ctx.members) if ctx.members else set(markets)
        support = f.support if f.mechanism == "price_support" else None
        payment = f.mechanism == "deficiency_payment" or support == "deficiency_payment"
        reserve = f.mechanism == "stockpile" or support == "purchase"
        how = f.burden_sharing or ("own" if payment else "consumption")
        payers = ctx.shares(how, markets & members if reserve else markets, product, f"{key}.burden_sharing")
        budget = None
        origins: set[str] = set()
        if reserve:
            origins = ctx.many(f.origins, f"{key}.origins") if f.origins else (set(ctx.members) if ctx.members else set(markets))
            if f.mechanism == "price_support" and not f.origins:
                origins = origins & markets
            budget = f.budget
            if budget is None:
                world = ctx.reference.product_quantity[product] * ctx.reference.product_price[product]
                budget = DEFAULT_BUDGET_SHARE * world
                ctx.notes.append(f"{key}: no budget given; the reserve may spend at most {budget:,.0f} USD a year "
                                 f"({DEFAULT_BUDGET_SHARE:.0%} of the world {product} market at reference prices; set budget to change it)")
        spec = _spec(ctx, len(ctx.floors), product, price, f, markets, support, budget, origins, payers, how, key)
        ctx.floors.append(spec)
        if levy:
            non_members = ctx.regions - members
            sel = ctx.routes(non_members, markets, {product})
            clash = np.flatnonzero(sel & (levied_by >= 0))
            if len(clash):
                ctx.problem(f"two levy floors on {product} imports into {routes.destination[clash[0]]} "
                            f"(also {ctx.where(f'price_floors[{levied_by[clash[0]]}]', key)})", f"{key}.markets")
            levied_by[sel] = i
            terms.levy_floor[sel] = price * (1.0 + SUPPORT_LEVY_MARGIN) if f.mechanism == "price_support" else price
        if payment:
            for table, column in ((ctx.market.supply, "product"), (ctx.market.refining, "output")):
                sel = np.isin(table.region, list(markets & members)) & (getattr(table, column) == product)
                table.floor[sel] = np.maximum(table.floor[sel], price)
                table.floor_id[sel] = spec.index
        if reserve:
            ctx.market.reserves.append(Reserve(floor_id=spec.index, product=product, floor=price, budget=budget,
                                               origins=tuple(sorted(origins)), payers=dict(payers), label=spec.label))


def _spec(ctx, index, product, price, f, markets, support, budget, origins, payers, how, key):
    from ..policy import FloorSpec

    unit = ctx.data.unit[product].split(" ")[0]
    label = f"{key}: {f.mechanism.replace('_', ' ')} floor of {price:,.6g} USD/{unit} on {product}"
    return FloorSpec(index=index, product=product, price=price, mechanism=f.mechanism, markets=tuple(sorted(markets)),
                     support=support, budget=budget, origins=tuple(sorted(origins)), payers=tuple(payers),
                     burden_sharing=how if isinstance(how, str) else "shares", label=label)


def describe(scenario, data) -> list[str]:
    out = []
    for f in scenario.price_floors:
        price = f"{f.price}{' ' + f.unit if f.unit else ''}"
        where = ", ".join(f.markets)
        text = {
            "variable_levy": f"A floor of {price} on {f.product} in {where}, held by a variable levy on imports made outside the bloc",
            "deficiency_payment": f"A floor of {price} on {f.product} for producers in {where}, paid as a deficiency payment",
            "stockpile": f"A floor of {price} on {f.product} held by a reserve buying from {', '.join(f.origins or ['the bloc'])}"
                         + (f" with {f.budget:,.0f} USD a year" if f.budget else ""),
            "price_support": f"A floor of {price} on {f.product} in {where}: a variable levy on non-member imports plus "
                             + ("reserve purchases" if f.support == "purchase" else "deficiency payments")
                             + " where the levy alone leaves members' producers below it",
        }[f.mechanism]
        if f.burden_sharing and f.mechanism != "variable_levy":
            text += f"; funded by {f.burden_sharing if isinstance(f.burden_sharing, str) else 'agreed shares'}"
        out.append(text + ".")
    return out


# ------------------------------------------------------------------------ check
def check(results) -> list[tuple]:
    """Each floor's rule from reported prices against what the solver used: levies lift
    non-member goods exactly to the floor; deficiency payments are max(0, floor − price);
    a reserve buys only at its bid, the bid is the floor unless the budget is spent, and it
    never spends more than the budget."""
    rows = []
    a = results.route_detail
    levied = ~np.isnan(results.route_terms.levy_floor)
    if levied.any():
        rule = route_prices(a["exporter_price"], results.route_terms)
        gap = np.abs(a["levy"] - rule.levy)[levied] / a["price_scale"][levied]
        rows.append(("variable levy", a["destination"][levied], a["product"][levied], results.route_label[levied], gap))
    for detail, name in ((results.supply_detail, "supply"), (results.refining_detail, "refining")):
        floored = np.isfinite(np.asarray(detail["floor_price"], dtype=float))
        if not floored.any():
            continue
        d = detail[floored]
        _, rule, _ = received_price(d["market_price"], d["floor_price"], 0.0)
        rows.append(("deficiency payment", d["region"], d["product"], np.full(len(d), name),
                     np.abs(d["deficiency_payment"] - rule) / d["price_scale"]))
    r = results.reserve_detail
    if len(r):
        scale = r["price_scale"].astype(float)
        quantity, price, bid = (r[name].astype(float) for name in ("quantity", "producer_price", "bid"))
        buying = quantity > 1e-12 * r["quantity_scale"].astype(float)
        # buys only at its bid; never leaves a producer below the bid unbought
        rows.append(("reserve bid", r["origin"], r["product"], r["label"],
                     np.where(buying, np.abs(price - bid), np.maximum(bid - price, 0.0)) / scale))
        labels = r["label"]
        for label in dict.fromkeys(labels):          # each reserve once, in order of appearance
            on = labels == label
            k = int(np.flatnonzero(on)[0])
            spent = float(np.sum(quantity[on] * price[on]))
            budget, floor, b, ps = float(r["budget"][k]), float(r["floor"][k]), float(bid[k]), float(scale[k])
            over = max(0.0, spent - budget) / max(budget, 1.0)
            shaded = abs(spent - budget) / max(budget, 1.0) if floor - b > 1e-9 * ps else 0.0
            rows.append(("reserve budget", [""], [r["product"][k]], [label], [max(over, shaded)]))
            rows.append(("reserve bid", [""], [r["product"][k]], [label + " (bid ≤ floor)"], [max(0.0, b - floor) / ps]))
    return rows


# ----------------------------------------------------------------------- report
def floor_report(results) -> pd.DataFrame:
    """Per floor and market: the floor, what buyers pay, what members' producers get, and
    its status for the price it promises to hold:
    - levies hold the landed price of non-member goods: `binds` (they enter at the floor),
      `prohibitive` (shut out, the member price below the floor), `cannot bind` (the markets
      export the product, so their price is set abroad), `slack` (they land above it anyway);
    - deficiency payments hold what producers get: `binds` (a payment is made) or `slack`;
    - reserves (stockpile, price support by purchase) hold the producers' price of their
      origins: `binds` (buying at the floor), `budget-limited` (the budget is spent and the
      bid has fallen below the floor) or `slack`;
    - price support holds members' producers at the floor: `binds` (the support pays or
      buys), `budget-limited`, or `slack`; its levy's own status is `levy_status`.
    A market with no producers of the product shows producers' price as blank."""
    m = results.market_columns
    price, use, supply, production, producer_price = (m[c] for c in ("price", "use", "supply", "production", "producer_price"))
    a = results.detail_columns("route")
    a_product, a_destination = a["product"], a["destination"]
    a_levy, a_flow = a["levy"].astype(float), a["flow"].astype(float)
    has_levy = ~np.isnan(a["levy_floor"].astype(float)) & ~a["home"].astype(bool)
    reserves = results.detail_columns("reserve")
    s, z = results.detail_columns("supply"), results.detail_columns("refining")
    out: dict[str, list] = {c: [] for c in FLOOR_REPORT_COLUMNS}
    for f in results.policy.floors:
        here = np.flatnonzero(m["product"] == f.product)
        row_of = dict(zip(m["region"][here], here))          # the product's market rows, by region
        markets = [r for r in f.markets if r in row_of]
        rows_of = np.array([row_of[r] for r in markets], dtype=int)
        # the non-member routes levied into each market (k: the market's position in `markets`)
        position = {r: i for i, r in enumerate(markets)}
        levied = np.flatnonzero(has_levy & (a_product == f.product))
        k = np.fromiter((position.get(d, -1) for d in a_destination[levied]), dtype=int, count=len(levied))
        levied, k = levied[k >= 0], k[k >= 0]
        levy_on = np.zeros(len(markets), dtype=bool)
        levy_on[k[a_levy[levied] > 1e-9 * f.price]] = True
        enter = np.zeros(len(markets), dtype=bool)
        enter[k[a_flow[levied] > 0]] = True
        # per market, summed as numpy sums one market's routes (pairwise), so every bit stays as it was
        order = np.argsort(k, kind="stable")
        bounds = np.searchsorted(k[order], np.arange(len(markets) + 1))
        levy_paid, flow_in = (a_levy[levied] * a_flow[levied])[order], a_flow[levied][order]
        collected = [float(levy_paid[i:j].sum()) for i, j in zip(bounds[:-1], bounds[1:])]
        imported = [float(flow_in[i:j].sum()) for i, j in zip(bounds[:-1], bounds[1:])]
        # the markets are net exporters (even with non-member goods shut out; at autarky, production = use: prohibitive)
        exporter = bool(len(rows_of)) and float(production[rows_of].sum()) > float(use[rows_of].sum()) * (1 + 1e-9)
        reserve = reserves["floor_id"] == f.index if len(reserves) else np.zeros(0, dtype=bool)
        bid = float(reserves["bid"][reserve][0]) if reserve.any() else f.price
        bought = float(reserves["quantity"][reserve].sum()) if reserve.any() else 0.0
        paid = set(s["region"][(s["product"] == f.product) & (s["deficiency_payment"] > 0)]) | set(
            z["region"][(z["output"] == f.product) & (z["deficiency_payment"] > 0)])      # regions whose producers get a payment
        for i, (region, row) in enumerate(zip(markets, rows_of)):
            below = price[row] < f.price * (1 - 1e-9)
            levy_status = ("binds" if levy_on[i] and enter[i] else "cannot bind" if exporter and below else
                           "prohibitive" if levy_on[i] else "slack") if f.mechanism in ("variable_levy", "price_support") else ""
            makes = supply[row] > 0
            if f.mechanism == "variable_levy":
                status = levy_status
            elif f.mechanism == "deficiency_payment" or f.support == "deficiency_payment":
                status = "binds" if region in paid else ("slack" if makes else "no producers")
            else:
                status = "budget-limited" if bid < f.price * (1 - 1e-9) else ("binds" if bought > 0 else "slack")
            out["status"].append(status)
            out["levy_status"].append(levy_status)
            out["buyers_price"].append(price[row] if use[row] > 0 else np.nan)
            out["producers_price"].append(producer_price[row] if makes else np.nan)
        n = len(markets)
        out["floor"] += [f.label] * n
        out["product"] += [f.product] * n
        out["mechanism"] += [f.mechanism] * n
        out["market"] += markets
        out["floor_price"] += [f.price] * n
        out["levy_collected"] += collected
        out["non_member_imports"] += imported
    return pd.DataFrame({c: np.array(values, dtype=object if c in _FLOOR_TEXT else float) for c, values in out.items()})


FLOOR_REPORT_COLUMNS = ["floor", "product", "mechanism", "market", "floor_price", "buyers_price", "producers_price", "status",
                        "levy_status", "levy_collected", "non_member_imports"]
_FLOOR_TEXT = {"floor", "product", "mechanism", "market", "status", "levy_status"}


FAMILY = Family(
    name="price floors",
    fields={"price_floors": (list[PriceFloor], Field(default_factory=list, description="Reference prices held as floors."))},
    apply=apply, describe=describe, check=check, doc=__doc__,
    examples={"price_floors": '[[price_floors]]\nproduct = "ndpr_oxide"\nprice = "110 USD/kg"\nmarkets = ["bloc"]\nmechanism = "price_support"\nsupport = "purchase"\nbudget = 2e9\nburden_sharing = "consumption"'},
)
