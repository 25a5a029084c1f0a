"""Resolve a scenario against a dataset into the `Market` the solver takes.

The no-policy market (every curve, every route with its MFN tariff and calibrated cost,
home routes included) is built once per dataset (`base_market`). A scenario then copies
it and each instrument family (`blocmodel/instruments/`, in registry order) writes its
levers through a `PolicyContext`, which resolves names — region codes, country names,
groups, customs unions, 'bloc', 'non_members', '*', products, minerals — and collects
every problem with the file and key where it was written.

Goods keep their origin: an instrument on "exports of CHN" matches routes whose origin is
CHN, i.e. goods made in China, wherever they go; no route re-exports an import. The
`horizon` sets which capacities bind: `short_run` holds output at or below the dataset's
capacities (what a one-year disruption allows); `medium_run` (the default) lets output
follow the supply curves. Capacities a scenario imposes (a `capacity_factor`) bind in both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .calibration import Reference, reference_prices, route_table
from .curves import intercept_slope
from .dataset import Dataset, codes_of
from .errors import InputError, Problem
from .instruments.base import convert_price, parse_price
from .problem import DemandTable, Market, RefiningTable, SupplyTable, freeze_names
from .scenario import Scenario

SPECIAL = ("*", "bloc", "non_members")


@dataclass(frozen=True)
class FloorSpec:
    """A price floor as resolved: where it holds, how, who pays."""

    index: int
    product: str
    price: float                       # USD per unit of the product
    mechanism: str                     # variable_levy, deficiency_payment, stockpile, price_support
    markets: tuple[str, ...]
    support: str | None                # price_support: "purchase" or "deficiency_payment"
    budget: float | None               # reserve budget, USD per year (None: no reserve)
    origins: tuple[str, ...]           # whose producers a reserve buys from
    payers: tuple[tuple[str, float], ...]   # who funds payments or purchases (region, share)
    burden_sharing: str
    label: str


@dataclass
class Policy:
    """A scenario resolved against a dataset."""

    scenario: Scenario
    data: Dataset
    members: frozenset[str]
    market: Market
    reference: Reference
    horizon: str
    floors: list[FloorSpec] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # per supply/refining row, which floor pays its deficiency payment and who funds it
    payers: dict[int, tuple[tuple[str, float], ...]] = field(default_factory=dict)


# --------------------------------------------------------------------- the base
def base_market(data: Dataset) -> tuple[Market, Reference]:
    """The no-policy market of a dataset (built once; scenarios copy it)."""
    if "base_market" not in data.cache:
        reference = reference_prices(data)
        s, d, r = data.supply, data.demand, data.processing
        a, b = intercept_slope(s["ref_price"], s["ref_quantity"], s["elasticity"])
        supply = SupplyTable(
            region=s["region"].to_numpy(dtype=object), product=s["product"].to_numpy(dtype=object),
            intercept=np.asarray(a, dtype=float), slope=np.asarray(b, dtype=float),
            capacity=pd.to_numeric(s["capacity"], errors="coerce").fillna(np.inf).to_numpy(dtype=float),
            subsidy=np.zeros(len(s)), floor=np.full(len(s), -np.inf), floor_id=np.full(len(s), -1))
        a, b = intercept_slope(d["ref_price"], d["ref_quantity"], d["elasticity"])
        demand = DemandTable(region=d["region"].to_numpy(dtype=object), product=d["product"].to_numpy(dtype=object),
                             intercept=np.asarray(a, dtype=float), slope=np.asarray(b, dtype=float))
        ref_q = pd.to_numeric(r["ref_quantity"], errors="coerce").to_numpy(dtype=float)
        elasticity = pd.to_numeric(r["elasticity"], errors="coerce").to_numpy(dtype=float)
        unit_cost = r["unit_cost"].to_numpy(dtype=float)
        curve = ~np.isnan(elasticity)
        za, zb = intercept_slope(np.where(curve, unit_cost, 1.0), np.nan_to_num(ref_q), np.nan_to_num(elasticity))
        refining = RefiningTable(
            region=r["region"].to_numpy(dtype=object), input=r["input"].to_numpy(dtype=object), output=r["output"].to_numpy(dtype=object),
            yield_=r["yield"].to_numpy(dtype=float),
            # a refinery's curve in the margin m: z = za + zb·m (elasticity 0: a vertical curve at ref_quantity)
            intercept=np.where(curve, np.asarray(za, dtype=float), 0.0), slope=np.where(curve, np.asarray(zb, dtype=float), 0.0),
            constant_cost=~curve, unit_cost=np.where(curve, 0.0, unit_cost),
            capacity=pd.to_numeric(r["capacity"], errors="coerce").fillna(np.inf).to_numpy(dtype=float),
            subsidy=np.zeros(len(r)), floor=np.full(len(r), -np.inf), floor_id=np.full(len(r), -1))
        market = Market(supply=supply, demand=demand, refining=refining, routes=route_table(data, reference))
        for table in (market.supply, market.demand, market.refining, market.routes):
            freeze_names(table)                      # every scenario's market shares them
        data.cache["base_market"] = (market, reference)
    return data.cache["base_market"]


# ------------------------------------------------------------------ the context
class PolicyContext:
    """What an instrument family sees while it applies: the dataset, the scenario, the
    market being built, name resolution and problem collection."""

    def __init__(self, data: Dataset, scenario: Scenario, source: str):
        self.data = data
        self.scenario = scenario
        self.source = source
        self.problems: list[Problem] = []
        self.notes: list[str] = []
        base, self.reference = base_market(data)
        self.market = base.copy()
        self.regions = set(data.region_codes)
        self.members: frozenset[str] = frozenset()
        self.floors: list[FloorSpec] = []
        self.payers: dict[int, tuple[tuple[str, float], ...]] = {}
        routes = self.market.routes
        self.route_origin, self.route_destination, self.route_product = routes.origin, routes.destination, routes.product
        self.home = routes.home
        codes = _route_codes(data, routes)
        self.same_union, self._origin_code, self._destination_code, self._product_code = codes
        self._region_index, self._product_index = data.region_index, data.product_index
        # capacities a scenario imposes (bind in every horizon); the dataset's bind in the short run
        self.imposed_supply_capacity = np.full(len(self.market.supply.region), np.inf)
        self.imposed_refining_capacity = np.full(len(self.market.refining.region), np.inf)
        self.supply_capacity_added = np.zeros(len(self.market.supply.region))       # overcapacity
        self.refining_capacity_added = np.zeros(len(self.market.refining.region))
        if scenario.bloc is not None and scenario.bloc.members:
            self.members = frozenset(self.many(scenario.bloc.members, "bloc.members", expand_unions=True))

    # ------------------------------------------------------------ problems
    def problem(self, message: str, key: str, hint: str | None = None) -> None:
        """Record a problem at `key`, named by the file and key where the user wrote it."""
        file, local = self.scenario.origin(key)
        self.problems.append(Problem(file or self.source, message, field=local, hint=hint))

    def where(self, key: str, seen_from: str) -> str:
        file, local = self.scenario.origin(key)
        return f"{local} in {file}" if file and file != self.scenario.origin(seen_from)[0] else local

    # --------------------------------------------------------------- names
    def regions_of(self, name: str, key: str, expand_unions: bool = False) -> set[str]:
        data = self.data
        if name == "*":
            found = set(self.regions)
        elif name == "bloc":
            found = set(self.members)
            if not found:
                self.problem("'bloc' is used but the scenario has no [bloc] members", key)
        elif name == "non_members":
            found = self.regions - set(self.members)
        else:
            resolved = data.resolve_region_name(name)
            if resolved is None:
                self.problem(f"unknown region or group '{name}'", key, data.region_hint(name))
                return set()
            found = resolved
        if expand_unions:
            found = self.expand_unions(found, key)
        return found

    def expand_unions(self, regions: set[str], key: str) -> set[str]:
        """`regions` with every customs union one of them is in; one note per union partly
        named, its members in order (the same note whatever the order of a set)."""
        out = set(regions)
        named: dict[str, list[str]] = {}
        for r in sorted(regions):
            union = self.data.customs_union_of.get(r)
            if union:
                named.setdefault(union, []).append(r)
        for union, inside in sorted(named.items()):
            whole = set(self.data.customs_unions[union])
            if not whole <= regions:
                self.notes.append(f"{key}: {', '.join(inside)} {'is' if len(inside) == 1 else 'are'} in customs union {union}; "
                                  f"the measure applies to the whole union ({', '.join(sorted(whole - regions))} added)")
            out |= whole
        return out

    def many(self, names: list[str], key: str, expand_unions: bool = False) -> set[str]:
        out: set[str] = set()
        for i, n in enumerate(names):
            out |= self.regions_of(n, f"{key}[{i}]", expand_unions)
        return out

    def products_of(self, name: str, key: str) -> set[str]:
        data = self.data
        if name == "*":
            return set(data.product_codes)
        found = data.resolve_product_name(name)
        if found is None:
            self.problem(f"unknown product or mineral '{name}'", key, data.product_hint(name))
            return set()
        return found

    def product(self, name: str, key: str) -> str | None:
        """A single product (a floor is set on one product, i.e. one stage)."""
        data = self.data
        found = data.resolve_product_name(name)
        if found is None or len(found) != 1 or name in data.minerals and len(data.minerals[name]) > 1:
            hint = data.product_hint(name) if found is None else f"a floor is on one stage: one of {', '.join(sorted(found))}"
            self.problem(f"'{name}' is not one product", key, hint)
            return None
        return next(iter(found))

    # -------------------------------------------------------------- matching
    def routes(self, exporters: set[str], importers: set[str], products: set[str], *, home: bool = False) -> np.ndarray:
        """Routes from producers in `exporters` to buyers in `importers` of `products`
        (a region's own market only with `home`)."""
        def member(names, index):
            mask = np.zeros(len(index), dtype=bool)
            mask[[index[n] for n in names if n in index]] = True
            return mask

        sel = (member(exporters, self._region_index)[self._origin_code] & member(importers, self._region_index)[self._destination_code]
               & member(products, self._product_index)[self._product_code])
        return sel if home else sel & ~self.home

    def member_routes(self, regions: set[str]) -> tuple[np.ndarray, np.ndarray]:
        """(origin in `regions`, destination in `regions`) per route."""
        mask = np.zeros(len(self._region_index), dtype=bool)
        mask[[self._region_index[r] for r in regions if r in self._region_index]] = True
        return mask[self._origin_code], mask[self._destination_code]

    # ---------------------------------------------------------------- prices
    def price(self, value, unit: str | None, product: str, key: str, what: str = "price") -> float | None:
        """A price as written (a number in the product's unit, '110 USD/kg', or a number with
        `unit`), in USD per unit of the product; a bare number far from the product's
        reference price is an error saying what was probably meant."""
        try:
            number, per = parse_price(value, unit)
            converted = convert_price(number, per, self.data.unit[product])
        except ValueError as exc:
            self.problem(str(exc), key)
            return None
        reference = self.reference.product_price[product]
        if per is None and number != 0 and not (0.05 * reference <= abs(number) <= 20 * reference):
            guesses = [f"{number:g} USD/{u} = {convert_price(number, u, self.data.unit[product]):,.6g} per {self.data.unit[product].split(' ')[0]}"
                       for u in ("kg", "lb") if 0.05 * reference <= convert_price(number, u, self.data.unit[product]) <= 20 * reference]
            self.problem(f"{what} {number:g} is {number / reference:.3g} times the reference price of {product} "
                         f"({reference:,.6g} USD per {self.data.unit[product].split(' (')[0]})", key,
                         ("did you mean '" + guesses[0].split(" = ")[0] + f"' ({guesses[0]})?") if guesses
                         else f"give the unit, e.g. '{number:g} USD/kg', or a number in USD per {self.data.unit[product].split(' (')[0]}")
            return None
        return converted

    def specific(self, value, unit: str | None, products: set[str], key: str) -> dict[str, float] | None:
        """A specific charge per product (converted where a unit is given); a charge is checked
        against 20× the reference price only."""
        out = {}
        for product in sorted(products):
            try:
                number, per = parse_price(value, unit)
                out[product] = convert_price(number, per, self.data.unit[product])
            except ValueError as exc:
                self.problem(str(exc), key)
                return None
            reference = self.reference.product_price[product]
            if per is None and abs(number) > 20 * reference:
                self.problem(f"a specific charge of {number:g} is {number / reference:.3g} times the reference price of {product}", key,
                             "give the unit, e.g. '5 USD/kg'")
                return None
        return out

    # ------------------------------------------------------------------ money
    def shares(self, how, members: set[str], product: str, key: str) -> tuple[tuple[str, float], ...]:
        """Who pays a common cost: 'own' (empty: each pays its own), 'gdp', 'consumption' (use
        of the product at reference), or explicit shares {region: share}."""
        members = sorted(members)
        if how == "own":
            return ()
        if isinstance(how, dict):
            shares = {}
            for name, share in how.items():
                regions = self.regions_of(name, f"{key}.{name}")
                for r in regions:
                    shares[r] = shares.get(r, 0.0) + share / len(regions)
            total = sum(shares.values())
            if abs(total - 1.0) > 1e-9:
                self.problem(f"shares sum to {total:g}, not 1", key, "give shares that add up to 1")
                return ()
            return tuple(sorted(shares.items()))
        if how == "gdp":
            gdp = _gdp(self.data)
            missing = [r for r in members if gdp.get(r) is None]
            if missing:
                self.problem(f"burden sharing by GDP needs regions.csv's gdp for {', '.join(missing[:6])}"
                             + (" ..." if len(missing) > 6 else ""), key, "use 'consumption' or explicit shares")
                return ()
            weights = {r: gdp[r] for r in members}
        else:   # consumption
            use = _use(self.data, product)
            weights = {r: use.get(r, 0.0) for r in members}
            if sum(weights.values()) <= 0:
                weights = dict.fromkeys(members, 1.0)
        total = sum(weights.values())
        return tuple((r, w / total) for r, w in weights.items() if w / total > 0)


def _gdp(data: Dataset) -> dict[str, float]:
    """GDP by region where regions.csv gives it (once per dataset)."""
    if "gdp" not in data.cache:
        regions = data.regions
        gdp = pd.to_numeric(regions["gdp"], errors="coerce") if "gdp" in regions else pd.Series(dtype=float)
        data.cache["gdp"] = {r: float(g) for r, g in zip(regions["region"], gdp) if pd.notna(g)} if len(gdp) else {}
    return data.cache["gdp"]


def _use(data: Dataset, product: str) -> dict[str, float]:
    """Each region's use of `product` at reference: its buyers' demand plus its refineries'
    input (once per dataset and product)."""
    cache = data.cache.setdefault("use", {})
    if product not in cache:
        d = data.demand
        use = d[d["product"] == product].groupby("region")["ref_quantity"].sum()
        r = data.processing
        inputs = r[r["input"] == product]
        use = use.add((inputs["ref_quantity"].astype(float) / inputs["yield"]).groupby(inputs["region"]).sum(), fill_value=0.0)
        cache[product] = {region: float(q) for region, q in use.items() if pd.notna(q)}
    return cache[product]


def _route_codes(data: Dataset, routes):
    """Per route (once per dataset): whether both ends are in one customs union, and integer
    codes of origin, destination and product (so matching a scenario's names is indexing)."""
    if "route_codes" not in data.cache:
        region, product = data.region_index, data.product_index
        origin, destination = codes_of(routes.origin, region), codes_of(routes.destination, region)
        union = np.array([data.customs_union_of.get(r) or "" for r in region], dtype=object)     # by region code
        same_union = (union[origin] != "") & (union[origin] == union[destination])
        data.cache["route_codes"] = (same_union, origin, destination, codes_of(routes.product, product))
    return data.cache["route_codes"]


def table_codes(data: Dataset) -> dict[str, np.ndarray]:
    """Integer codes of the region and product of every supply, demand and refining row (once
    per dataset: the market's tables have the dataset's rows, which no scenario changes)."""
    if "table_codes" not in data.cache:
        region, product = data.region_index, data.product_index
        columns = {"supply": (data.supply, ("region", "product")), "demand": (data.demand, ("region", "product")),
                   "refining": (data.processing, ("region", "output", "input"))}
        data.cache["table_codes"] = {f"{table}_{column}": codes_of(frame[column].tolist(), region if column == "region" else product)
                                     for table, (frame, names) in columns.items() for column in names}
    return data.cache["table_codes"]


def resolve(data: Dataset, scenario: Scenario, source: str = "scenario") -> Policy:
    """Resolve `scenario` against `data`; raises InputError naming every bad key."""
    from .instruments import REGISTRY

    ctx = PolicyContext(data, scenario, source)
    for family in REGISTRY:
        family.apply(ctx)
    if ctx.problems:
        raise InputError(ctx.problems)
    _finish_capacities(ctx, scenario.horizon)
    return Policy(scenario=scenario, data=data, members=ctx.members, market=ctx.market, reference=ctx.reference,
                  horizon=scenario.horizon, floors=ctx.floors, notes=ctx.notes, payers=ctx.payers)


def _finish_capacities(ctx: PolicyContext, horizon: str) -> None:
    """Capacities that bind: the dataset's in the short run, the scenario's in both."""
    data = ctx.data
    s = ctx.market.supply
    if "binding_capacity" not in data.cache:          # once per dataset; a blank capacity is none
        data.cache["binding_capacity"] = tuple(pd.to_numeric(frame["capacity"], errors="coerce").fillna(np.inf).to_numpy(dtype=float)
                                               for frame in (data.supply, data.processing))
    dataset_supply, dataset_refining = data.cache["binding_capacity"]
    dataset_supply = dataset_supply + ctx.supply_capacity_added
    dataset_refining = dataset_refining + ctx.refining_capacity_added
    if horizon == "medium_run":
        dataset_supply = np.full(len(dataset_supply), np.inf)
        dataset_refining = np.full(len(dataset_refining), np.inf)
    s.capacity = np.minimum(dataset_supply, ctx.imposed_supply_capacity)
    ctx.market.refining.capacity = np.minimum(dataset_refining, ctx.imposed_refining_capacity)
