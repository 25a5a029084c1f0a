"""Resolve a scenario against a dataset into the numbers the model needs.

Names (regions, groups, 'bloc', products, minerals) become sets of routes, supply rows and
refineries; every instrument becomes columns on those tables. The order of border
charges on a route is fixed and documented:

1. the dataset's MFN tariff (routes.csv);
2. `[[tariffs]]`, in file order, replace the rate(s) they give on the routes they match;
3. `[bloc]`: trade between members is tariff-free; a common external tariff, if given,
   replaces members' tariffs on non-members;
4. trade inside a customs union is always tariff-free, and a border measure imposed by one
   member of a customs union applies to the whole union;
5. `[[anti_dumping]]` duties add to the above; export subsidies are negative charges paid
   by the exporter; a `variable_levy` floor adds the levy that lifts the cheapest
   non-member import to the floor (computed in equilibrium, see `solve.py`).

Ad valorem import charges apply to the CIF value (exporter price + transport); ad valorem
export subsidies to the FOB value (exporter price); both values are floored at zero
(`curves.customs_value`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .dataset import Dataset
from .errors import InputError, Problem, suggest
from .scenario import Scenario

SPECIAL = ("*", "bloc", "non_members")


@dataclass(frozen=True)
class Floor:
    index: int
    product: str
    price: float
    mechanism: str
    markets: tuple[str, ...]
    budget: float | None
    non_members: frozenset[str]


@dataclass(frozen=True)
class Quota:
    routes: tuple[int, ...]
    limit: float
    rent_to: str
    exporter: str
    product: str
    label: str


@dataclass
class Policy:
    """A scenario resolved against a dataset. Tables align with the dataset's rows."""

    scenario: Scenario
    members: frozenset[str]
    arcs: pd.DataFrame
    supply: pd.DataFrame
    demand: pd.DataFrame
    processing: pd.DataFrame
    floors: list[Floor]
    quotas: list[Quota]
    stockpile: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def reserves(self) -> list[tuple[Floor, str]]:
        """(floor, market region) pairs where a stockpile floor's reserve buys."""
        return [(f, m) for f in self.floors if f.mechanism == "stockpile" for m in f.markets]


class _Resolver:
    def __init__(self, data: Dataset, scenario: Scenario, source: str):
        self.data = data
        self.scenario = scenario
        self.source = source
        self.problems: list[Problem] = []
        self.notes: list[str] = []
        self.regions = set(data.region_codes)
        self.members: frozenset[str] = frozenset()

    def problem(self, message: str, key: str, hint: str | None = None) -> None:
        """Record a problem at `key`, named by the file and key where the user wrote it."""
        file, local = self.scenario.origin(key)
        self.problems.append(Problem(file or self.source, message, field=local, hint=hint))

    def where(self, key: str, seen_from: str) -> str:
        """`key` as the user wrote it, with its file if not the file of `seen_from`."""
        file, local = self.scenario.origin(key)
        return f"{local} in {file}" if file and file != self.scenario.origin(seen_from)[0] else local

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
        elif name in self.regions:
            found = {name}
        elif name in data.groups:
            found = set(data.groups[name])
        elif name in data.customs_unions:
            found = set(data.customs_unions[name])
        else:
            known = list(self.regions) + list(data.groups) + list(data.customs_unions) + list(SPECIAL)
            self.problem(f"unknown region or group '{name}'", key, suggest(name, known))
            return set()
        if expand_unions:
            found = self.expand_unions(found, key)
        return found

    def expand_unions(self, regions: set[str], key: str) -> set[str]:
        out = set(regions)
        for r in regions:
            union = self.data.customs_union_of.get(r)
            if union:
                whole = set(self.data.customs_unions[union])
                if not whole <= regions:
                    self.notes.append(f"{key}: {r} is in customs union {union}; the measure applies to the whole union "
                                      f"({', '.join(sorted(whole - regions))} added)")
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
        if name in data.product_codes:
            return {name}
        if name in data.minerals:
            return set(data.minerals[name])
        known = list(data.product_codes) + list(data.minerals) + ["*"]
        self.problem(f"unknown product or mineral '{name}'", key, suggest(name, known))
        return set()


def resolve(data: Dataset, scenario: Scenario, source: str = "scenario") -> Policy:
    """Resolve `scenario` against `data`; raises InputError naming every bad key."""
    rs = _Resolver(data, scenario, source)

    # Bloc membership, whole customs unions.
    if scenario.bloc is not None and scenario.bloc.members:
        rs.members = frozenset(rs.many(scenario.bloc.members, "bloc.members", expand_unions=True))
    members = rs.members

    routes = data.routes
    origin = routes["origin"].to_numpy()
    destination = routes["destination"].to_numpy()
    product = routes["product"].to_numpy()
    n = len(routes)
    tariff_av = routes["tariff_ad_valorem"].to_numpy(dtype=float).copy()
    tariff_sp = routes["tariff_specific"].to_numpy(dtype=float).copy()
    capacity = routes["capacity"].to_numpy(dtype=float, na_value=np.inf).copy()

    def match(exporters: set[str], importers: set[str], products: set[str]) -> np.ndarray:
        return np.isin(origin, list(exporters)) & np.isin(destination, list(importers)) & np.isin(product, list(products))

    for i, t in enumerate(scenario.tariffs):
        key = f"tariffs[{i}]"
        sel = match(rs.regions_of(t.exporter, f"{key}.exporter"),
                    rs.regions_of(t.importer, f"{key}.importer", expand_unions=True),
                    rs.products_of(t.product, f"{key}.product"))
        if t.ad_valorem is not None:
            tariff_av[sel] = t.ad_valorem
        if t.specific is not None:
            tariff_sp[sel] = t.specific

    if members and scenario.bloc is not None:
        bloc = scenario.bloc
        origin_member = np.isin(origin, list(members))
        destination_member = np.isin(destination, list(members))
        if bloc.internal_free_trade:
            internal = origin_member & destination_member
            tariff_av[internal] = 0.0
            tariff_sp[internal] = 0.0
        external = destination_member & ~origin_member
        if bloc.external_tariff_ad_valorem is not None:
            tariff_av[external] = bloc.external_tariff_ad_valorem
        if bloc.external_tariff_specific is not None:
            tariff_sp[external] = bloc.external_tariff_specific

    union_of = data.customs_union_of
    same_union = np.array([bool(union_of[o]) and union_of[o] == union_of[d] for o, d in zip(origin, destination)], dtype=bool)
    tariff_av[same_union] = 0.0
    tariff_sp[same_union] = 0.0

    ad_av = np.zeros(n)
    ad_sp = np.zeros(n)
    for i, d in enumerate(scenario.anti_dumping):
        key = f"anti_dumping[{i}]"
        sel = match(rs.regions_of(d.exporter, f"{key}.exporter"),
                    rs.regions_of(d.importer, f"{key}.importer", expand_unions=True),
                    rs.products_of(d.product, f"{key}.product")) & ~same_union
        ad_av[sel] += d.ad_valorem or 0.0
        ad_sp[sel] += d.specific or 0.0

    sub_av = np.zeros(n)
    sub_sp = np.zeros(n)
    for i, s in enumerate(scenario.export_subsidies):
        key = f"export_subsidies[{i}]"
        sel = match(rs.regions_of(s.exporter, f"{key}.exporter"), rs.many(s.destinations, f"{key}.destinations"),
                    rs.products_of(s.product, f"{key}.product"))
        sub_av[sel] += s.ad_valorem
        sub_sp[sel] += s.specific

    # Which restriction holds each route (-1: none), so a contradiction names both.
    restricted_by = np.full(n, -1)
    banned = np.zeros(n, dtype=bool)
    quotas: list[Quota] = []
    for i, r in enumerate(scenario.export_restrictions):
        key = f"export_restrictions[{i}]"
        exporters = rs.regions_of(r.exporter, f"{key}.exporter")
        destinations = rs.many(r.destinations, f"{key}.destinations")
        products = rs.products_of(r.product, f"{key}.product")
        sel = match(exporters, destinations, products)
        clash = np.flatnonzero(sel & (restricted_by >= 0) & ~(banned & r.ban))
        if len(clash):
            j = clash[0]
            other = int(restricted_by[j])
            what = ("a ban on a route already under a quota" if r.ban else
                    "a quota on a route already banned" if banned[j] else "a quota on a route already under another quota")
            more = f" and {len(clash) - 1} more" if len(clash) > 1 else ""
            rs.problem(f"{what} by {rs.where(f'export_restrictions[{other}]', key)}: {origin[j]}->{destination[j]} ({product[j]}){more}",
                       f"{key}.{'ban' if r.ban else 'quota'}", "give each route at most one ban or quota")
        restricted_by[sel & (restricted_by < 0)] = i
        if r.ban:
            banned |= sel
        else:
            for exporter in sorted(exporters):
                for p in sorted(products):
                    idx = np.flatnonzero(sel & (origin == exporter) & (product == p))
                    if len(idx):
                        quotas.append(Quota(tuple(int(j) for j in idx), float(r.quota), r.rent_to, exporter, p,
                                            f"{key}: export quota of {exporter} on {p}"))
    capacity[banned] = 0.0

    # Price floors.
    floors: list[Floor] = []
    levy_floor = np.full(n, -1)
    taken: dict[tuple[str, str, str], int] = {}
    for i, f in enumerate(scenario.price_floors):
        key = f"price_floors[{i}]"
        if f.product not in data.product_codes:
            rs.problem(f"unknown product '{f.product}' (a floor is set on one product, i.e. one stage)",
                       f"{key}.product", suggest(f.product, data.product_codes))
            continue
        markets = rs.many(f.markets, f"{key}.markets", expand_unions=f.mechanism == "variable_levy")
        non_members = frozenset(rs.regions - (set(members) if members else markets))
        for m in sorted(markets):
            slot = (f.product, m, f.mechanism)
            if slot in taken:
                rs.problem(f"two {f.mechanism} floors on {f.product} in {m} (also {rs.where(f'price_floors[{taken[slot]}]', key)})",
                           f"{key}.markets")
            taken[slot] = i
        floor = Floor(len(floors), f.product, f.price, f.mechanism, tuple(sorted(markets)), f.budget, non_members)
        floors.append(floor)
        if f.mechanism == "variable_levy":
            sel = (product == f.product) & np.isin(destination, list(markets)) & np.isin(origin, list(non_members))
            levy_floor[sel] = floor.index

    arcs = pd.DataFrame({
        "origin": origin, "destination": destination, "product": product,
        "transport_cost": routes["transport_cost"].to_numpy(dtype=float),
        "capacity": capacity,
        "tariff_ad_valorem": tariff_av, "tariff_specific": tariff_sp,
        "anti_dumping_ad_valorem": ad_av, "anti_dumping_specific": ad_sp,
        "subsidy_ad_valorem": sub_av, "subsidy_specific": sub_sp,
        "levy_floor": levy_floor,
    })

    supply = _supply_curves(data)
    processing = _processing_curves(data)
    for i, s in enumerate(scenario.supply_shocks):
        key = f"supply_shocks[{i}]"
        regions = rs.regions_of(s.region, f"{key}.region")
        products = rs.products_of(s.product, f"{key}.product")
        hit = 0
        for table in (supply, processing):
            column = "product" if table is supply else "output"
            sel = table["region"].isin(regions) & table[column].isin(products)
            hit += int(sel.sum())
            table.loc[sel, "quantity_shift"] += s.quantity_change * table.loc[sel, "ref_quantity"].fillna(0.0)
            table.loc[sel, "cost_change"] += s.cost_change
            table.loc[sel, "subsidy"] += s.production_subsidy
            if s.capacity_factor is not None:
                base = table.loc[sel, "capacity"].where(np.isfinite(table.loc[sel, "capacity"]), table.loc[sel, "ref_quantity"])
                # a refinery at a constant unit cost with no capacity has no reference output to
                # scale: it stays unlimited (a factor of 0 still shuts it)
                unscalable = base.isna()
                if unscalable.any() and s.capacity_factor > 0:
                    where = ", ".join(sorted(set(table.loc[sel].loc[unscalable, "region"])))
                    rs.notes.append(f"{key}: refining in {where} has neither a capacity nor a ref_quantity; "
                                    "capacity_factor leaves it unlimited")
                table.loc[sel, "capacity"] = (base * s.capacity_factor).where(~unscalable, 0.0 if s.capacity_factor == 0 else np.inf)
        if hit == 0:
            rs.notes.append(f"{key}: no producer of {s.product} in {s.region}; the shock changes nothing")

    for floor in floors:
        if floor.mechanism != "deficiency_payment":
            continue
        for table, column in ((supply, "product"), (processing, "output")):
            sel = table["region"].isin(floor.markets) & (table[column] == floor.product)
            table.loc[sel, "floor_price"] = np.maximum(table.loc[sel, "floor_price"], floor.price)
            table.loc[sel, "floor_index"] = floor.index

    stockpile = pd.DataFrame([{"region": s.region, "product": s.product, "quantity": s.quantity}
                              for s in scenario.stockpile], columns=["region", "product", "quantity"])
    for i, s in enumerate(scenario.stockpile):
        if s.region not in rs.regions:
            rs.problem(f"unknown region '{s.region}' (a stockpile trades in one region's market)",
                       f"stockpile[{i}].region", suggest(s.region, rs.regions))
        if s.product not in data.product_codes:
            rs.problem(f"unknown product '{s.product}'", f"stockpile[{i}].product", suggest(s.product, data.product_codes))
    if len(stockpile):
        stockpile = stockpile.groupby(["region", "product"], as_index=False, sort=True)["quantity"].sum()

    if rs.problems:
        raise InputError(rs.problems)
    return Policy(scenario, members, arcs, supply, _demand_curves(data), processing, floors, quotas, stockpile, rs.notes)


def _supply_curves(data: Dataset) -> pd.DataFrame:
    s = data.supply
    frame = pd.DataFrame({
        "region": s["region"].to_numpy(), "product": s["product"].to_numpy(),
        "ref_price": s["ref_price"].to_numpy(dtype=float), "ref_quantity": s["ref_quantity"].to_numpy(dtype=float),
        "elasticity": s["elasticity"].to_numpy(dtype=float),
        "capacity": s["capacity"].to_numpy(dtype=float, na_value=np.inf),
    })
    return _add_shift_columns(frame)


def _processing_curves(data: Dataset) -> pd.DataFrame:
    p = data.processing
    frame = pd.DataFrame({
        "region": p["region"].to_numpy(), "input": p["input"].to_numpy(), "output": p["output"].to_numpy(),
        "yield": p["yield"].to_numpy(dtype=float), "unit_cost": p["unit_cost"].to_numpy(dtype=float),
        "capacity": p["capacity"].to_numpy(dtype=float, na_value=np.inf),
        "ref_quantity": p["ref_quantity"].to_numpy(dtype=float, na_value=np.nan),
        "elasticity": p["elasticity"].to_numpy(dtype=float, na_value=np.nan),
    })
    return _add_shift_columns(frame)


def _add_shift_columns(frame: pd.DataFrame) -> pd.DataFrame:
    frame["quantity_shift"] = 0.0
    frame["cost_change"] = 0.0
    frame["subsidy"] = 0.0
    frame["floor_price"] = -np.inf      # a deficiency-payment floor, where there is one
    frame["floor_index"] = -1
    return frame


def _demand_curves(data: Dataset) -> pd.DataFrame:
    d = data.demand
    return pd.DataFrame({
        "region": d["region"].to_numpy(), "product": d["product"].to_numpy(),
        "ref_price": d["ref_price"].to_numpy(dtype=float), "ref_quantity": d["ref_quantity"].to_numpy(dtype=float),
        "elasticity": d["elasticity"].to_numpy(dtype=float),
    })
