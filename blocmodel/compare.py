"""Many scenarios side by side: a collection of results, comparisons against a baseline,
and the tidy report tables (`designs`, `members`, `markets`, `flows`).

    >>> designs = Collection.solve(["bloc_msp+cet25", "full_bloc"])     # library designs
    >>> designs.compare("welfare", how="abs_diff")                     # members × designs
    >>> designs.compare("prices", how="pct_diff")
    >>> tables = designs.tables()                                      # long tables for batch use

Tables are long and tidy (one value per row, `design, ..., variable, value, unit`) and
sorted the same way every run, so the same inputs give identical files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .api import Session, as_dataset
from .dataset import Dataset
from .indicators import bloc_dependency
from .library import load_design
from .results import Results
from .scenario import Scenario

BASELINE = "baseline"
KEY_PRODUCTS = ["ndpr_oxide", "graphite_refined", "lithium_refined", "cobalt_refined", "nickel_refined", "gallium_refined",
                "germanium_refined"]


@dataclass
class Collection:
    """Results of several designs on one dataset, with the no-policy baseline."""

    results: dict[str, Results]
    baseline: str = BASELINE
    data: Dataset | None = None
    _cache: dict = field(default_factory=dict)

    @classmethod
    def solve(cls, designs: list[str | Scenario], data: Dataset | str | Path | None = None,
              session: Session | None = None) -> "Collection":
        """Solve every design (library specs, paths or Scenarios) and the baseline."""
        dataset = session.data if session is not None else as_dataset(data)
        session = session or Session(dataset)
        results = {BASELINE: session.solve(None)}
        for design in designs:
            scenario = design if isinstance(design, Scenario) else load_design(design)
            results[scenario.name] = session.solve(scenario)
        return cls(results, BASELINE, dataset)

    @property
    def designs(self) -> list[str]:
        return [name for name in self.results if name != self.baseline]

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
        """Each design against `baseline` (default: no policy): how = 'abs_diff' | 'pct_diff' | 'values'."""
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

    # ------------------------------------------------------------------ tables
    def tables(self) -> dict[str, pd.DataFrame]:
        """The report's long tables: designs, members, markets, flows."""
        return {"designs": self.design_table(), "members": self.member_table(),
                "markets": self.market_table(), "flows": self.flow_table()}

    def design_table(self) -> pd.DataFrame:
        if "design_table" not in self._cache:
            self._cache["design_table"] = self._design_table()
        return self._cache["design_table"]

    def _design_table(self) -> pd.DataFrame:
        rows = [row for design in self.designs for row in self.design_rows(design)]
        return _tidy(pd.DataFrame(rows, columns=["design", "variable", "value", "unit"]), ["design", "variable"])

    def design_rows(self, design: str) -> list[tuple[str, str, float, str]]:
        """The key outcomes of one design against the baseline: (design, variable, value, unit)."""
        base = self.results[self.baseline]
        rows: list[tuple[str, str, float, str]] = []
        r = self.results[design]
        members = self.members(design)
        change = r.welfare_change(base).set_index("region")
        world = change.sum()
        bloc = change.loc[members].sum() if members else change.iloc[:0].sum()
        add = lambda variable, value, unit: rows.append((design, variable, value, unit))  # noqa: E731
        add("members", len(members), "regions")
        add("welfare|bloc|change", bloc["total"], "USD/yr")
        add("welfare|world|change", world["total"], "USD/yr")
        add("welfare|non_members|change", world["total"] - bloc["total"], "USD/yr")
        for component in ("consumer_surplus", "producer_surplus", "refiner_rent", "tariff_revenue", "quota_rent"):
            add(f"welfare|bloc|{component}|change", bloc[component], "USD/yr")
        add("fiscal_cost|bloc", r.welfare.set_index("region").loc[members, "fiscal_cost"].sum() if members else 0.0, "USD/yr")
        add("members|gaining", int((change.loc[members, "total"] > 0).sum()) if members else 0, "regions")
        add("members|losing", int((change.loc[members, "total"] < 0).sum()) if members else 0, "regions")
        after = bloc_dependency(r, members).set_index("product") if members else pd.DataFrame()
        before = self._baseline_dependency(tuple(members)) if members else pd.DataFrame()
        for product in after.index:
            for indicator in ("non_member_share", "non_member_content_share", "self_sufficiency"):
                add(f"{indicator}|{product}", after.at[product, indicator], "share")
                add(f"{indicator}|{product}|baseline", before.at[product, indicator], "share")
        for product in KEY_PRODUCTS:
            inside, outside = _average_prices(r, members, product)
            add(f"price|{product}|members", inside, "USD/unit")
            add(f"price|{product}|non_members", outside, "USD/unit")
            key = ("baseline_prices", product, *members)
            if key not in self._cache:
                self._cache[key] = _average_prices(base, members, product)
            inside0, outside0 = self._cache[key]
            add(f"price|{product}|members|baseline", inside0, "USD/unit")
            add(f"price|{product}|non_members|baseline", outside0, "USD/unit")
        return rows

    def _baseline_dependency(self, members: tuple[str, ...]) -> pd.DataFrame:
        key = ("baseline_dependency",) + members
        if key not in self._cache:
            self._cache[key] = bloc_dependency(self.results[self.baseline], members).set_index("product")
        return self._cache[key]

    def member_table(self) -> pd.DataFrame:
        change = self.compare("welfare", "abs_diff")
        frame = change.stack().rename("value").reset_index().rename(columns={"level_2": "design"})
        frame.columns = ["region", "variable", "design", "value"]
        membership = {(d, m) for d in self.designs for m in self.members(d)}
        frame["member"] = [(d, r) in membership for d, r in zip(frame["design"], frame["region"])]
        frame["variable"] = frame["variable"] + "|change"
        frame["unit"] = "USD/yr"
        return _tidy(frame[["design", "region", "member", "variable", "value", "unit"]], ["design", "region", "variable"])

    def market_table(self) -> pd.DataFrame:
        values = self.values("markets")
        frame = values.stack().rename("value").reset_index()
        frame.columns = ["region", "product", "variable", "design", "value"]
        return _tidy(frame[["design", "region", "product", "variable", "value"]], ["design", "product", "region", "variable"])

    def flow_table(self) -> pd.DataFrame:
        frames = []
        for name, r in self.results.items():
            f = r.flows[["origin", "destination", "product", "quantity", "landed_price"]].copy()
            f.insert(0, "design", name)
            frames.append(f)
        return _tidy(pd.concat(frames, ignore_index=True), ["design", "product", "origin", "destination"])


def _average_prices(r: Results, members: list[str], product: str) -> tuple[float, float]:
    """Demand-weighted average market price of a product inside and outside the bloc."""
    m = r.markets[r.markets["product"].to_numpy() == product]
    use = (m["demand"] + m["processing_in"]).to_numpy()
    price = m["price"].to_numpy()
    inside = m["region"].isin(members).to_numpy()

    def mean(sel):
        w = use[sel]
        return float((price[sel] * w).sum() / w.sum()) if w.sum() > 0 else np.nan
    return mean(inside), mean(~inside)


def _tidy(frame: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Sorted the same way every run (files are written with 10 significant digits)."""
    return frame.sort_values(order, kind="stable").reset_index(drop=True)
