"""Many scenarios side by side: a collection of results, comparisons against a baseline,
and the tidy report tables (`designs`, `members`, `floors`, `markets`, `flows`).

    >>> designs = Collection.solve(["bloc_msp+cet25", "full_bloc"])     # against no policy
    >>> designs = Collection.solve(["full_bloc"], baseline="status_quo_2025")   # on top of the 2025 status quo
    >>> designs.compare("welfare", how="abs_diff")                     # members × designs
    >>> designs.compare("prices", how="pct_diff")
    >>> tables = designs.tables()                                      # long tables for batch use

Two baselines: no policy (2024 trade at MFN tariffs, the default) or a library scenario
such as `status_quo_2025`. Against a scenario baseline each design is applied *on top of*
it (a diff against the baseline, as Tax-Calculator measures a reform against current law):
the baseline's measures stay in force unless the design restricts the same exporter's
product to the same destinations, in which case the design's restriction takes those
destinations over (`on_baseline`). Each design is measured against the baseline solved at
its own horizon.

Tables are long and tidy (one value per row, `design, ..., variable, value, unit`) and
sorted the same way every run, so the same inputs give identical files. Welfare is in USD
per year and always a *change* against the baseline; shares are fractions (0–1); prices
are in USD per unit of the product (`products.csv` `unit`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .api import Session, as_dataset
from .dataset import Dataset
from .indicators import bloc_dependency_rows
from .library import load_design
from .results import NO_CHANGE, WELFARE_BY_REGION, WELFARE_COMPONENTS, Results
from .scenario import Scenario, compose

BASELINE = "baseline"
NO_POLICY = ("baseline", "no_policy", "none", "")
DEPENDENCY_INDICATORS = ("non_member_share", "non_member_content_share", "focus_share", "focus_content_share", "self_sufficiency")


def refined_products(data: Dataset) -> list[str]:
    """The dataset's refined products, in its order (the default key products)."""
    return [p for p in data.product_codes if data.stage.get(p) == "refined"] or list(data.product_codes)


def largest_producer(data: Dataset, products: list[str], exclude=()) -> str | None:
    """The region with the largest reference output value of `products` (outside `exclude`):
    the default 'focus' of dependency (China in the shipped data)."""
    out = data.supply[["region", "product", "ref_quantity", "ref_price"]].copy()
    refining = data.processing.dropna(subset=["ref_quantity"]) if "ref_quantity" in data.processing else data.processing.iloc[0:0]
    if len(refining):
        price = data.supply.groupby("product")["ref_price"].mean()
        demand_price = data.demand.groupby("product")["ref_price"].mean()
        prices = refining["output"].map(demand_price).fillna(refining["output"].map(price))
        out = pd.concat([out, pd.DataFrame({"region": refining["region"], "product": refining["output"],
                                            "ref_quantity": refining["ref_quantity"], "ref_price": prices})], ignore_index=True)
    out = out[out["product"].isin(products) & ~out["region"].isin(list(exclude))]
    if not len(out):
        return None
    value = (out["ref_quantity"] * out["ref_price"]).groupby(out["region"]).sum()
    return str(value.idxmax())


@dataclass
class Collection:
    """Results of several designs on one dataset, with their baseline.

    `results` maps names to results, the baseline's among them (`baseline` names it);
    `baselines` holds the baseline solved at other horizons, by horizon."""

    results: dict[str, Results]
    baseline: str = BASELINE
    data: Dataset | None = None
    key_products: list[str] | None = None
    focus: str | None = None
    baselines: dict[str, Results] = field(default_factory=dict)
    own: dict[str, Scenario] = field(default_factory=dict)     # each design as given, before its baseline is added
    _cache: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.data is None and self.results:
            self.data = next(iter(self.results.values())).data
        if self.key_products is None and self.data is not None:
            self.key_products = refined_products(self.data)
        if self.focus is None and self.data is not None:
            self.focus = largest_producer(self.data, self.key_products or [])

    @classmethod
    def solve(cls, designs: list[str | Scenario], data: Dataset | str | Path | None = None,
              session: Session | None = None, baseline: str | Scenario | None = None,
              key_products: list[str] | None = None, focus: str | None = None) -> Collection:
        """Solve every design (library specs, paths or Scenarios) and the baseline: no policy
        (None, the default) or a scenario (`"status_quo_2025"`), which every design is then
        applied on top of."""
        dataset = session.data if session is not None else as_dataset(data)
        session = session or Session(dataset)
        base_scenario = _baseline_scenario(baseline)
        base_name = BASELINE if base_scenario is None else base_scenario.name
        scenarios, own = [], {}
        for design in designs:
            scenario = design if isinstance(design, Scenario) else load_design(design)
            own[scenario.name] = scenario
            if base_scenario is not None:
                scenario = on_baseline(base_scenario, scenario, dataset)
            scenarios.append(scenario)
        horizons = [s.horizon for s in scenarios] or ["medium_run"]
        main_horizon = max(set(horizons), key=horizons.count)

        def base_at(horizon: str) -> Scenario:
            if base_scenario is None:
                return Scenario(name=BASELINE, horizon=horizon)
            return base_scenario.model_copy(update={"horizon": horizon})

        results = {base_name: session.solve(base_at(main_horizon))}
        baselines = {main_horizon: results[base_name]}
        for scenario in scenarios:
            if scenario.horizon not in baselines:
                baselines[scenario.horizon] = session.solve(base_at(scenario.horizon))
            results[scenario.name] = session.solve(scenario)
        return cls(results, base_name, dataset, key_products=key_products, focus=focus, baselines=baselines, own=own)

    # ------------------------------------------------------------------ naming
    @property
    def designs(self) -> list[str]:
        return [name for name in self.results if name != self.baseline]

    def base_of(self, design: str) -> Results:
        """The baseline `design` is measured against: the baseline at the design's horizon."""
        base = self.results[self.baseline]
        horizon = self.results[design].scenario.horizon
        return self.baselines.get(horizon, base) if horizon != base.scenario.horizon else base

    def title(self, design: str) -> str:
        """A design's title as its scenario gives it, in words ('by variable levy'); its name if it has none."""
        scenario = self.results[design].scenario
        return scenario.title.replace("_", " ") if scenario.title else design

    @property
    def baseline_title(self) -> str:
        r = self.results[self.baseline]
        if r.scenario.is_baseline:
            return "no policy (2024 trade at MFN tariffs)"
        return r.scenario.title or r.scenario.name

    def members(self, design: str) -> list[str]:
        """The design's bloc members (the `ministerial2026` group for a design without a bloc)."""
        return self.results[design].reference_members()

    # ------------------------------------------------------------ comparisons
    def values(self, table: str) -> pd.DataFrame:
        """A table of every run side by side: rows by key, one column per run.

        table: 'welfare' (region × component), 'prices' (region, product), 'markets'
        (region, product × quantity), 'flows' (origin, destination, product)."""
        frames = {}
        for name, r in self.results.items():
            if table == "welfare":
                frames[name] = r.welfare.set_index("region").stack().rename_axis(["region", "variable"])
            elif table == "prices":
                frames[name] = r.prices.set_index(["region", "product"])["price"]
            elif table == "markets":
                frames[name] = r.markets.set_index(["region", "product"]).stack().rename_axis(["region", "product", "variable"])
            elif table == "flows":
                frames[name] = r.flows.set_index(["origin", "destination", "product"])["quantity"]
            else:
                raise ValueError(f"unknown table '{table}' (welfare, prices, markets, flows)")
        out = pd.DataFrame(frames)
        return out.fillna(0.0) if table == "flows" else out

    def compare(self, table: str = "welfare", how: str = "abs_diff", baseline: str | None = None) -> pd.DataFrame:
        """Each design against `baseline` (default: the collection's): how = 'abs_diff' | 'pct_diff' | 'values'."""
        base = baseline or self.baseline
        values = self.values(table)
        if how == "values":
            return values
        designs = [c for c in values.columns if c != base]
        if how == "abs_diff":
            return values[designs].sub(values[base], axis=0)
        if how == "pct_diff":
            return values[designs].sub(values[base], axis=0).div(values[base].abs(), axis=0) * 100.0
        raise ValueError(f"unknown comparison '{how}' (abs_diff, pct_diff, values)")

    def welfare_change(self, design: str, by: str = "region", unit: str = "USD") -> pd.DataFrame:
        """`design`'s welfare change against its baseline (see `Results.welfare_change`)."""
        return self.results[design].welfare_change(self.base_of(design), by=by, unit=unit)

    # ------------------------------------------------------------------ tables
    def tables(self) -> dict[str, pd.DataFrame]:
        """The report's long tables: designs, members, floors, markets, flows."""
        return {"designs": self.design_table(), "members": self.member_table(), "floors": self.floor_table(),
                "markets": self.market_table(), "flows": self.flow_table()}

    def design_table(self) -> pd.DataFrame:
        if "design_table" not in self._cache:
            rows = [row for design in self.designs for row in self.design_rows(design)]
            frame = pd.DataFrame(rows, columns=["design", "variable", "value", "unit"])
            order = {d: i for i, d in enumerate(self.designs)}
            frame = frame.assign(_o=frame["design"].map(order)).sort_values(["_o", "variable"], kind="stable").drop(columns="_o")
            self._cache["design_table"] = frame.reset_index(drop=True)
        return self._cache["design_table"]

    def design_rows(self, design: str) -> list[tuple[str, str, float, str]]:
        """The key outcomes of one design against its baseline: (design, variable, value, unit).

        welfare|…|change and fiscal_cost|bloc are changes in USD per year; members counts
        regions (those with no published data are neither gaining nor losing); shares are
        fractions of members' use; prices are use-weighted buyers' prices in USD per unit."""
        base = self.base_of(design)
        rows: list[tuple[str, str, float, str]] = []
        r = self.results[design]
        members = self.members(design)
        no_data = set(r.data.no_data_regions)
        # regions (the dataset's order) × WELFARE_BY_REGION, read as arrays: every scenario of a sweep asks
        change = r.welfare_by_region - base.welfare_by_region
        column = {c: k for k, c in enumerate(WELFARE_BY_REGION)}
        position = r.data.region_index
        world, bloc = _column_sums(change), _column_sums(change[[position[m] for m in members]])
        add = lambda variable, value, unit: rows.append((design, variable, value, unit))  # noqa: E731
        add("members", len(members), "regions")
        add("welfare|bloc|change", bloc[column["total"]], "USD/yr")
        add("welfare|world|change", world[column["total"]], "USD/yr")
        add("welfare|non_members|change", world[column["total"]] - bloc[column["total"]], "USD/yr")
        focus = self.focus
        if focus and focus in position and focus not in members:
            add("welfare|focus|change", change[position[focus], column["total"]], "USD/yr")
        for component in WELFARE_COMPONENTS:
            if component != "fiscal_cost":
                add(f"welfare|bloc|{component}|change", bloc[column[component]], "USD/yr")
        add("fiscal_cost|bloc", bloc[column["fiscal_cost"]], "USD/yr")
        with_data = [m for m in members if m not in no_data]
        totals = change[[position[m] for m in with_data], column["total"]]
        add("members|gaining", int((totals > NO_CHANGE).sum()), "regions")
        add("members|losing", int((totals < -NO_CHANGE).sum()), "regions")
        add("members|no_data", len(members) - len(with_data), "regions")
        if members:
            after = bloc_dependency_rows(r, members, focus=(focus,) if focus else ())
            before = self._dependency(base, tuple(members))
            for product, values in after.items():
                for indicator in DEPENDENCY_INDICATORS:
                    add(f"{indicator}|{product}", values[indicator], "share")
                    add(f"{indicator}|{product}|baseline", before[product][indicator] if product in before else np.nan, "share")
        for product in self.key_products or []:
            unit = f"USD/{_unit(r.data, product)}"
            inside, outside = _average_prices(r, members, product)
            add(f"price|{product}|members", inside, unit)
            add(f"price|{product}|non_members", outside, unit)
            key = ("baseline_prices", base.scenario.horizon, product, *members)
            if key not in self._cache:
                self._cache[key] = _average_prices(base, members, product)
            inside0, outside0 = self._cache[key]
            add(f"price|{product}|members|baseline", inside0, unit)
            add(f"price|{product}|non_members|baseline", outside0, unit)
        return rows

    def _dependency(self, base: Results, members: tuple[str, ...]) -> dict[str, dict[str, float]]:
        key = ("baseline_dependency", base.scenario.horizon, self.focus) + members
        if key not in self._cache:
            self._cache[key] = bloc_dependency_rows(base, members, focus=(self.focus,) if self.focus else ())
        return self._cache[key]

    def member_table(self) -> pd.DataFrame:
        """Every region's welfare change by component, per design (USD per year)."""
        frames = []
        no_data = set(self.data.no_data_regions) if self.data is not None else set()
        for design in self.designs:
            change = self.welfare_change(design).set_index("region")
            frame = change.stack().rename("value").reset_index()
            frame.columns = ["region", "variable", "value"]
            members = set(self.members(design))
            frame.insert(0, "design", design)
            frame.insert(2, "member", frame["region"].isin(members))
            frame.insert(3, "no_data", frame["region"].isin(no_data))
            frame["variable"] = frame["variable"] + "|change"
            frame["unit"] = "USD/yr"
            frames.append(frame)
        if not frames:
            return pd.DataFrame(columns=["design", "region", "member", "no_data", "variable", "value", "unit"])
        return self._in_design_order(pd.concat(frames, ignore_index=True), ["region", "variable"])

    def floor_table(self) -> pd.DataFrame:
        """Every floor of every design, per market: floor, buyers' and producers' prices, status."""
        frames = []
        for design in self.designs:
            r = self.results[design]
            if r.policy.floors:
                f = r.floors.copy()
                f.insert(0, "design", design)
                f["unit"] = [f"USD/{_unit(r.data, p)}" for p in f["product"]]
                frames.append(f)
        if not frames:
            return pd.DataFrame(columns=["design", "floor", "product", "mechanism", "market", "floor_price", "buyers_price",
                                         "producers_price", "status", "levy_collected", "non_member_imports", "unit"])
        return self._in_design_order(pd.concat(frames, ignore_index=True), ["floor", "market"])

    def market_table(self) -> pd.DataFrame:
        """Every run's markets, long; quantities that are zero are left out (prices never are)."""
        values = self.values("markets")
        frame = values.stack().rename("value").reset_index()
        frame.columns = ["region", "product", "variable", "design", "value"]
        prices = frame["variable"].isin(["price", "producer_price", "market_producer_price"])
        frame = frame[prices | (frame["value"] != 0)]
        order = {d: i for i, d in enumerate(self.results)}
        frame = frame[["design", "region", "product", "variable", "value"]]
        frame = frame.assign(_o=frame["design"].map(order)).sort_values(["_o", "product", "region", "variable"], kind="stable")
        return frame.drop(columns="_o").reset_index(drop=True)

    def flow_table(self) -> pd.DataFrame:
        frames = []
        for name, r in self.results.items():
            f = r.flows.loc[r.flows["quantity"] > 0, ["origin", "destination", "product", "quantity", "home", "landed_price"]].copy()
            f.insert(0, "design", name)
            frames.append(f)
        order = {d: i for i, d in enumerate(self.results)}
        frame = pd.concat(frames, ignore_index=True)
        frame = frame.assign(_o=frame["design"].map(order)).sort_values(["_o", "product", "origin", "destination"], kind="stable")
        return frame.drop(columns="_o").reset_index(drop=True)

    def _in_design_order(self, frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        order = {d: i for i, d in enumerate(self.designs)}
        frame = frame.assign(_o=frame["design"].map(order)).sort_values(["_o"] + keys, kind="stable")
        return frame.drop(columns="_o").reset_index(drop=True)


def _baseline_scenario(baseline: str | Scenario | None) -> Scenario | None:
    if baseline is None or isinstance(baseline, str) and baseline.strip().lower() in NO_POLICY:
        return None
    scenario = baseline if isinstance(baseline, Scenario) else load_design(baseline)
    return None if scenario.is_baseline and scenario.horizon == "medium_run" else scenario


def on_baseline(base: Scenario, design: Scenario, data: Dataset) -> Scenario:
    """`design` applied on top of the scenario `base`, keeping the design's name and title.

    Both stay in force, except that where the design bans or caps an exporter's product to
    some destinations, the base's restrictions of the same exporter and product no longer
    cover those destinations (a route takes one ban or one quota): the base's entry is kept
    for the other destinations, and its `source` says what was left to the design."""
    kept = []
    for entry in base.export_restrictions:
        pieces = _uncovered(entry, design, data)
        if pieces is None:
            kept.append(entry)
            continue
        for product, destinations in pieces:
            if destinations:
                note = f" [destinations restricted by '{design.name}' left to it]"
                kept.append(entry.model_copy(update={"product": product, "destinations": sorted(destinations),
                                                     "source": (entry.source or "") + note}))
    trimmed = base.model_copy(update={"export_restrictions": kept})
    composed = compose([trimmed, design], name=design.name)
    return composed.model_copy(update={"title": design.title or design.name, "description": design.description,
                                       "reference": design.reference, "baseline": base.name})


def _regions(names: list[str], data: Dataset, scenario: Scenario) -> set[str] | None:
    """Region codes of scenario names ('*', codes, groups, country names, 'bloc'); None if one is unknown."""
    out: set[str] = set()
    for name in names:
        if name == "*":
            out |= set(data.region_codes)
        elif name in ("bloc", "non_members"):
            members = _regions(list(scenario.bloc.members), data, scenario) if scenario.bloc is not None else set()
            if members is None:
                return None
            out |= members if name == "bloc" else set(data.region_codes) - members
        else:
            found = data.resolve_region_name(name)
            if found is None:
                return None
            out |= found
    return out


def _products(name: str, data: Dataset) -> set[str] | None:
    return set(data.product_codes) if name == "*" else data.resolve_product_name(name)


def _uncovered(entry, design: Scenario, data: Dataset) -> list[tuple[str, set[str]]] | None:
    """The (product, destinations) the base entry still covers once the design's restrictions
    take theirs; None if the design restricts none of them."""
    exporters, products = _regions([entry.exporter], data, design), _products(entry.product, data)
    destinations = _regions(list(entry.destinations), data, design)
    if exporters is None or products is None or destinations is None:
        return None
    pieces = {p: set(destinations) for p in products}
    touched = False
    for other in design.export_restrictions:
        their_exporters = _regions([other.exporter], data, design)
        their_products = _products(other.product, data)
        their_destinations = _regions(list(other.destinations), data, design)
        if not (their_exporters and their_products and their_destinations) or not exporters & their_exporters:
            continue
        for p in products & their_products:
            if pieces[p] & their_destinations:
                pieces[p] -= their_destinations
                touched = True
    if not touched:
        return None
    return [(p, pieces[p]) for p in data.product_codes if p in pieces]


def _unit(data: Dataset, product: str) -> str:
    """The mass unit a product is priced per: the first word of products.csv `unit`."""
    return str(data.unit.get(product, "unit")).split(" ")[0] or "unit"


def _column_sums(rows: np.ndarray) -> np.ndarray:
    """Each column's sum, added as pandas adds a DataFrame's column (pairwise, along a
    contiguous column), so that the figures keep every bit they had."""
    return np.ascontiguousarray(rows.T).sum(axis=1)


def _average_prices(r: Results, members: list[str], product: str) -> tuple[float, float]:
    """Use-weighted average buyers' price of a product inside and outside the bloc (every
    product's at once, kept on the results per set of members)."""
    cache = r.traces.setdefault("average_prices", {})
    key = frozenset(members)
    if key not in cache:
        m = r.market_columns
        names, group = np.unique(m["product"], return_inverse=True)
        use, price = m["use"], m["price"]
        inside = np.fromiter((region in key for region in m["region"]), dtype=bool, count=len(m))

        def mean(sel):
            weight = np.bincount(group[sel], weights=use[sel], minlength=len(names))
            paid = np.bincount(group[sel], weights=(price * use)[sel], minlength=len(names))
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(weight > 0, paid / weight, np.nan)
        cache[key] = dict(zip(names, zip(mean(inside), mean(~inside))))
        if len(cache) > 64:                                      # bounded, as bloc_dependency's
            cache.pop(next(iter(cache)))
    return tuple(float(v) for v in cache[key].get(product, (np.nan, np.nan)))
