"""Hypothesis strategies: small random datasets and scenarios that the contract calls valid.

Datasets span the extremes the model must survive (issue 9): reference prices from 1e-2 to
1e6, elasticities from 0.01 to 10 (either sign as the curve needs), quantities over six
orders of magnitude, capacities that bind everywhere, one or two stages, a customs union.
Numbers are rounded to 6 significant digits so that the CSV holds exactly what was drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st


def _round(x: float) -> float:
    return float(f"{x:.6g}")


# Numbers on a fine grid rather than any float: hypothesis would otherwise favour
# subnormal oddities (a transport cost of 5e-324) that no dataset holds.
def log_uniform(low: float, high: float):
    """A number whose logarithm is uniform between log10(low) and log10(high)."""
    import math
    a, b = math.log10(low), math.log10(high)
    return st.integers(0, 1000).map(lambda i: _round(10.0 ** (a + (b - a) * i / 1000)))


def factor(low: float, high: float):
    """A number between low and high."""
    return st.integers(0, 1000).map(lambda i: _round(low + (high - low) * i / 1000))


@dataclass
class DatasetSpec:
    """The rows of a dataset (for `blocmodel.testing.write_dataset`) and facts to build scenarios on."""

    tables: dict[str, list[dict]]
    regions: list[str]
    products: list[str]
    price: dict[str, float]                       # a typical reference price per product
    quantity: dict[str, float]                    # world reference output per product
    has_mfn_tariffs: bool
    notes: list[str] = field(default_factory=list)


@st.composite
def datasets(draw, max_regions: int = 4, max_minerals: int = 2, mfn_tariffs: bool | None = None) -> DatasetSpec:
    n = draw(st.integers(2, max_regions))
    regions = [f"R{i}" for i in range(n)]
    union = draw(st.booleans()) and n >= 3         # R0 and R1 form a customs union
    region_rows = [{"region": r, "groups": "even" if i % 2 == 0 else "odd", "customs_union": "CU" if union and i < 2 else ""}
                   for i, r in enumerate(regions)]
    binding = draw(st.booleans())                   # capacities binding everywhere (well below reference output)
    tariffs = draw(st.booleans()) if mfn_tariffs is None else mfn_tariffs
    products, supply, demand, routes, processing = [], [], [], [], []
    price_of: dict[str, float] = {}
    quantity_of: dict[str, float] = {}

    def capacity(quantity: float) -> float | None:
        if binding:
            return _round(quantity * draw(factor(0.2, 0.8)))
        return _round(quantity * draw(factor(0.5, 2.0))) if draw(st.booleans()) else None

    for k in range(draw(st.integers(1, max_minerals))):
        mineral = f"m{k}"
        price = draw(log_uniform(1e-2, 1e6))
        scale = draw(log_uniform(1.0, 1e6))
        two_stage = draw(st.booleans())
        yield_ = draw(factor(0.5, 1.0))
        metal, ore = f"{mineral}_metal", f"{mineral}_ore"
        # ore worth half the metal it makes, so refining at cost below that margin pays
        stages = [(ore, "mined", price * yield_ / 2), (metal, "refined", price)] if two_stage else [(metal, "refined", price)]
        for product, stage, p in stages:
            products.append({"product": product, "mineral": mineral, "stage": stage})
            price_of[product] = _round(p)
            quantity_of[product] = scale
        first = stages[0][0]
        # Reference quantities balance (as in real data: the reference point is an
        # equilibrium), so prices stay near the reference; unbalanced curves would push
        # prices below zero (see test_known_limits.py).
        producers = draw(st.lists(st.sampled_from(regions), min_size=1, max_size=n, unique=True))
        shares = [draw(factor(0.1, 2.0)) for _ in producers]
        for r, share in zip(producers, shares):
            q = _round(scale * share / sum(shares))
            supply.append({"region": r, "product": first, "ref_price": _round(price_of[first] * draw(factor(0.7, 1.3))),
                           "ref_quantity": q, "elasticity": draw(log_uniform(0.01, 10.0)), "capacity": capacity(q)})
        refiners: list[str] = []
        if two_stage:
            refiners = draw(st.lists(st.sampled_from(regions), min_size=1, max_size=2, unique=True))
            for r in refiners:
                q = _round(scale * yield_ / len(refiners) * draw(factor(0.5, 2.0)))
                curve = draw(st.booleans())
                processing.append({"region": r, "input": ore, "output": metal, "yield": yield_,
                                   "unit_cost": _round(price * draw(factor(0.05, 0.45))), "capacity": capacity(q),
                                   "ref_quantity": q if curve else None,
                                   "elasticity": draw(log_uniform(0.01, 10.0)) if curve else None})
        buyers = draw(st.lists(st.sampled_from(regions), min_size=1, max_size=n, unique=True))
        weights = [draw(factor(0.1, 2.0)) for _ in buyers]
        for r, weight in zip(buyers, weights):
            demand.append({"region": r, "product": metal, "ref_price": _round(price * draw(factor(0.7, 1.3))),
                           "ref_quantity": _round(scale * (yield_ if two_stage else 1.0) * weight / sum(weights)),
                           "elasticity": -draw(log_uniform(0.01, 10.0))})
        for product, _, p in stages:
            needs = set(refiners) if product == ore else set(buyers)
            for o in regions:
                for d in regions:
                    # every market that uses the product can buy from everywhere; other routes at random
                    if o != d and (d in needs or draw(st.integers(0, 3)) > 0):
                        routes.append({"origin": o, "destination": d, "product": product,
                                       "transport_cost": _round(p * draw(factor(0.0, 0.3))),
                                       "tariff_ad_valorem": draw(factor(0.0, 0.5)) if tariffs else 0.0,
                                       "tariff_specific": 0.0,
                                       "capacity": _round(scale * draw(factor(0.05, 1.0))) if draw(st.integers(0, 4)) == 0 else None})
    tables = {"regions": region_rows, "products": products, "supply": supply, "demand": demand, "routes": routes}
    if processing:
        tables["processing"] = processing
    return DatasetSpec(tables, regions, [p["product"] for p in products], price_of, quantity_of, tariffs)


@st.composite
def scenarios(draw, spec: DatasetSpec, fixed_quantities: bool = True, subsidies: bool = True,
              reserves: bool = True, shifts: bool = True) -> dict:
    """A scenario (as the TOML's content) over `spec`'s names, each instrument at a level
    near the reference prices. `fixed_quantities`: fixed stockpile purchases and releases,
    which can make a scenario infeasible; `subsidies`: export subsidies and import
    subsidies (negative tariffs), which can make goods circle for profit; `reserves`:
    stockpile floors; `shifts`: supply shocks that move curves (else only production
    subsidies), which change the economy rather than redistribute within it."""
    regions, products = spec.regions, spec.products
    region = st.sampled_from(regions)
    region_or_all = st.sampled_from(regions + ["*", "even", "odd"])
    product_or_all = st.sampled_from(products + ["*"])
    scenario: dict = {"name": "drawn"}
    members = draw(st.lists(region, max_size=len(regions), unique=True))
    if members:
        scenario["bloc"] = {"members": members}
        if draw(st.booleans()):
            scenario["bloc"]["external_tariff_ad_valorem"] = draw(factor(0.0, 0.6))
    if draw(st.booleans()):
        scenario["tariffs"] = [{"exporter": draw(region_or_all), "importer": draw(region_or_all), "product": draw(product_or_all),
                                "ad_valorem": draw(factor(-0.5 if subsidies else 0.0, 1.0))}]
    if draw(st.booleans()):
        product = draw(st.sampled_from(products))
        mechanism = draw(st.sampled_from(["variable_levy", "deficiency_payment"] + (["stockpile"] if reserves else [])))
        floor = {"product": product, "price": _round(spec.price[product] * draw(factor(0.8, 1.5))), "mechanism": mechanism,
                 "markets": ["bloc"] if members else [draw(region)]}
        if mechanism == "stockpile" and draw(st.booleans()):
            floor["budget"] = _round(spec.price[product] * draw(log_uniform(1.0, 1e6)))
        scenario["price_floors"] = [floor]
    if draw(st.booleans()):
        scenario["anti_dumping"] = [{"exporter": draw(region), "importer": draw(region_or_all), "product": draw(product_or_all),
                                     "ad_valorem": draw(factor(0.0, 1.0))}]
    if draw(st.booleans()):
        restriction = {"exporter": draw(region), "destinations": [draw(region_or_all)], "product": draw(product_or_all)}
        if draw(st.booleans()):
            restriction["ban"] = True
        else:
            restriction["quota"] = _round(min(spec.quantity.values()) * draw(factor(0.0, 1.0)))
            restriction["rent_to"] = draw(st.sampled_from(["exporter", "importer"]))
        scenario["export_restrictions"] = [restriction]
    if draw(st.booleans()):
        shock = {"region": draw(region_or_all), "product": draw(product_or_all)}
        if shifts:
            shock["quantity_change"] = draw(factor(-0.5, 0.3))
            if draw(st.booleans()):
                shock["capacity_factor"] = draw(factor(0.0, 1.5))
        if not shifts or draw(st.booleans()):
            shock["production_subsidy"] = _round(min(spec.price.values()) * draw(factor(0.0, 0.3)))
        scenario["supply_shocks"] = [shock]
    if subsidies and draw(st.booleans()):
        scenario["export_subsidies"] = [{"exporter": draw(region), "destinations": [draw(region_or_all)],
                                         "product": draw(product_or_all), "ad_valorem": draw(factor(0.0, 0.3))}]
    if fixed_quantities and draw(st.booleans()):
        product = draw(st.sampled_from(products))
        users = sorted({row["region"] for row in spec.tables["demand"] if row["product"] == product}
                       | {row["region"] for row in spec.tables.get("processing", []) if row["input"] == product})
        if users:                  # a stock is held where the product is used (scenario rule)
            scenario["stockpile"] = [{"region": draw(st.sampled_from(users)), "product": product,      # up to twice world output
                                      "quantity": _round(spec.quantity[product] * draw(factor(-2.0, 2.0)))}]
    return scenario


@st.composite
def calibrated_datasets(draw, max_regions: int = 4, max_minerals: int = 2) -> DatasetSpec:
    """A dataset whose routes carry observed flows that balance (calibrated trade costs):
    each product's producers ship a drawn share of their output on each route, home flows
    close the balance, and every user's reference quantity is what reaches it (apparent
    consumption), through refineries in a two-stage chain."""
    n = draw(st.integers(2, max_regions))
    regions = [f"R{i}" for i in range(n)]
    region_rows = [{"region": r, "groups": "even" if i % 2 == 0 else "odd"} for i, r in enumerate(regions)]
    products, supply, demand, routes, processing = [], [], [], [], []
    price_of, quantity_of = {}, {}

    def ship(product, made: dict[str, float], users: list[str], price: float) -> dict[str, float]:
        """Observed routes from each maker to each user; returns what each user gets."""
        got = {u: 0.0 for u in users}
        for o, q in made.items():
            targets = [u for u in users if u != o]
            weights = [draw(factor(0.0, 1.0)) for _ in targets]
            keep_home = o in users
            home = draw(factor(0.1, 1.0)) if keep_home else 0.0
            total = sum(weights) + home
            if total <= 0:
                weights, total = [1.0] + [0.0] * (len(targets) - 1), 1.0
            for u, w in zip(targets, weights):
                flow = q * w / total
                routes.append({"origin": o, "destination": u, "product": product, "transport_cost": _round(price * draw(factor(0.0, 0.2))),
                               "tariff_ad_valorem": draw(factor(0.0, 0.2)), "tariff_specific": 0.0,
                               "ref_quantity": flow if flow > 0 else None})
                got[u] += flow
            if keep_home:
                got[o] += q - sum(q * w / total for w in weights)
        return got

    for k in range(draw(st.integers(1, max_minerals))):
        mineral = f"m{k}"
        price = draw(log_uniform(1e-2, 1e6))
        scale = draw(log_uniform(1.0, 1e6))
        sigma = draw(factor(0.5, 10.0))
        two_stage = draw(st.booleans())
        metal, ore = f"{mineral}_metal", f"{mineral}_ore"
        yield_ = draw(factor(0.5, 1.0))
        ore_price = _round(price * yield_ / 2)
        miners = draw(st.lists(st.sampled_from(regions), min_size=1, max_size=n, unique=True))
        mined = {}
        first = ore if two_stage else metal
        first_price = ore_price if two_stage else price
        for r in miners:
            q = _round(scale * draw(factor(0.1, 1.0)))
            mined[r] = q
            supply.append({"region": r, "product": first, "ref_price": first_price, "ref_quantity": q,
                           "elasticity": draw(log_uniform(0.05, 5.0))})
        products.append({"product": first, "mineral": mineral, "stage": "mined" if two_stage else "refined",
                         "substitution_elasticity": sigma})
        price_of[first], quantity_of[first] = first_price, sum(mined.values())
        if two_stage:
            refiners = draw(st.lists(st.sampled_from(regions), min_size=1, max_size=n, unique=True))
            fed = ship(ore, mined, refiners, ore_price)
            made = {}
            for r in refiners:
                if fed[r] <= 0:
                    continue
                out = fed[r] * yield_
                made[r] = out
                processing.append({"region": r, "input": ore, "output": metal, "yield": yield_,
                                   "unit_cost": _round(price - ore_price / yield_), "ref_quantity": out,
                                   "elasticity": draw(log_uniform(0.05, 5.0))})
            products.append({"product": metal, "mineral": mineral, "stage": "refined", "substitution_elasticity": sigma})
            price_of[metal], quantity_of[metal] = price, sum(made.values())
        else:
            made = mined
        buyers = draw(st.lists(st.sampled_from(regions), min_size=1, max_size=n, unique=True))
        got = ship(metal, made, buyers, price)
        for r, q in got.items():
            if q > 0:
                demand.append({"region": r, "product": metal, "ref_price": price, "ref_quantity": q,
                               "elasticity": -draw(log_uniform(0.05, 5.0))})
    tables = {"regions": region_rows, "products": products, "supply": supply, "demand": demand, "routes": routes}
    if processing:
        tables["processing"] = processing
    return DatasetSpec(tables, regions, [p["product"] for p in products], price_of, quantity_of, True)
