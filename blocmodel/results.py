"""Results of a solve as tidy DataFrames with the contract's column names (DESIGN.md §3).

`Results` holds, for one scenario: `prices`, `flows`, `markets`, `welfare`, and the
row-level detail the equilibrium check reads (`supply_detail`, `demand_detail`,
`refining_detail`, `arc_detail`, `reserve_detail`). Welfare is accounted from prices and
quantities with the contract's curves (`curves.py`), not from the solver's objective.

Welfare of a region (USD per year):
- consumer_surplus: area under its demand curves above the market price;
- producer_surplus: area above its supply curves below the price producers receive
  (market price topped up by a deficiency payment, plus production subsidies);
- refiner_rent: the same for refineries in the refining margin;
- tariff_revenue: every border charge it collects (tariffs, anti-dumping duties, levies);
- quota_rent: export-quota rents it holds;
- stockpile_value: the change in its strategic stocks (fixed purchases and releases, floor
  purchases) valued at the product's 2024 reference price (its median reference price):
  buying above that price costs welfare, releasing stock sold above it gains;
- fiscal_cost: what its treasury pays (deficiency payments, production and export
  subsidies, stockpile purchases net of sales);
- total = CS + PS + refiner_rent + tariff_revenue + quota_rent + stockpile_value − fiscal_cost.
The sum over regions is world welfare net of transport costs, so Δtotal summed over the
world is minus the deadweight loss.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .curves import area_under_demand, area_under_supply, intercept_slope
from .dataset import Dataset
from .model import Chain
from .policy import Policy
from .solve import ChainSolution

WELFARE_COLUMNS = ["region", "consumer_surplus", "producer_surplus", "refiner_rent", "tariff_revenue", "quota_rent",
                   "stockpile_value", "fiscal_cost", "total"]
MARKET_COLUMNS = ["region", "product", "supply", "demand", "price", "producer_price", "processing_in", "processing_out",
                  "imports", "exports", "stockpile"]
# meta keys that change between identical runs: in run.json, not summary.json.
RUN_ONLY = ("solve_seconds",)
FLOW_COLUMNS = ["origin", "destination", "product", "quantity", "transport_cost", "tariff", "anti_dumping", "levy",
                "export_subsidy", "quota_rent", "exporter_price", "landed_price"]


@dataclass
class Results:
    data: Dataset
    policy: Policy
    chains: list[Chain]
    solutions: list[ChainSolution]
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.traces: dict = {}        # origin tracing by product (indicators.py), computed once
        self._build()

    # ----------------------------------------------------------------- status
    @property
    def scenario(self):
        return self.policy.scenario

    @property
    def status(self) -> str:
        bad = [s.status for s in self.solutions if s.status != "optimal"]
        return bad[0] if bad else "optimal"

    @property
    def messages(self) -> list[str]:
        return [f"chain {'/'.join(c.products)}: {s.message}" for c, s in zip(self.chains, self.solutions) if s.message]

    # ------------------------------------------------------------- assembling
    def _build(self) -> None:
        pol = self.policy
        solved = [(c, s) for c, s in zip(self.chains, self.solutions) if len(s.price)]

        def scatter(n, pieces):
            """Values of every row of a table from per-chain (rows, values) pieces (nan elsewhere)."""
            out = np.full(n, np.nan)
            for rows, values in pieces:
                out[rows] = values
            return out

        def node_price(rows: str, node: str):
            """Pieces of the price at each row's node: `rows` names the chain's rows, `node` its node index."""
            return [(getattr(c, rows), x.price[c.coef[node]]) for c, x in solved]

        regions = [r for c, s in solved for r, _ in c.nodes]
        products = [p for c, s in solved for _, p in c.nodes]
        prices = np.concatenate([s.price for _, s in solved]) if solved else np.zeros(0)
        self.prices = pd.DataFrame({"region": regions, "product": products, "price": prices}).sort_values(
            ["product", "region"], kind="stable").reset_index(drop=True)

        s = pol.supply.copy()
        s["quantity"] = np.nan_to_num(scatter(len(s), [(c.supply_rows, x.supply) for c, x in solved]))
        s["price"] = scatter(len(s), node_price("supply_rows", "supply_node"))
        s["deficiency_payment"] = np.maximum(0.0, s["floor_price"] - s["price"])
        s["received_price"] = s["price"] + s["deficiency_payment"] + s["subsidy"]
        a, b = intercept_slope(s["ref_price"], s["ref_quantity"], s["elasticity"])
        s["curve_intercept"] = a + s["quantity_shift"] - b * s["cost_change"]
        s["curve_slope"] = b
        s["producer_surplus"] = area_under_supply(s["curve_intercept"], b, s["capacity"], s["received_price"])
        s["fiscal_cost"] = (s["deficiency_payment"] + s["subsidy"]) * s["quantity"]
        self.supply_detail = s

        d = pol.demand.copy()
        d["quantity"] = np.nan_to_num(scatter(len(d), [(c.demand_rows, x.demand) for c, x in solved]))
        d["price"] = scatter(len(d), node_price("demand_rows", "demand_node"))
        a, b = intercept_slope(d["ref_price"], d["ref_quantity"], d["elasticity"])
        d["curve_intercept"], d["curve_slope"] = a, b
        d["consumer_surplus"] = area_under_demand(a, b, d["price"])
        self.demand_detail = d

        r = pol.processing.copy()
        r["output_quantity"] = np.nan_to_num(scatter(len(r), [(c.refining_rows, x.refining) for c, x in solved]))
        r["support"] = np.nan_to_num(scatter(len(r), [(c.refining_rows, x.refining_support) for c, x in solved]))
        r["input_quantity"] = r["output_quantity"] / r["yield"]
        r["input_price"] = scatter(len(r), node_price("refining_rows", "refining_input_node"))
        r["output_price"] = scatter(len(r), node_price("refining_rows", "refining_output_node"))
        r["deficiency_payment"] = np.maximum(0.0, r["floor_price"] - r["output_price"])
        r["received_price"] = r["output_price"] + r["deficiency_payment"] + r["subsidy"]
        r["margin"] = r["received_price"] - r["input_price"] / r["yield"]
        curve = r["elasticity"].notna()
        za, zb = intercept_slope(r["unit_cost"].where(curve, 1.0), r["ref_quantity"].fillna(0.0), r["elasticity"].fillna(0.0))
        r["curve_intercept"] = np.where(curve, za + r["quantity_shift"] - zb * r["cost_change"], np.nan)
        r["curve_slope"] = np.where(curve, zb, np.nan)
        r["effective_unit_cost"] = r["unit_cost"] + r["cost_change"]
        rent_curve = area_under_supply(np.nan_to_num(r["curve_intercept"]), np.nan_to_num(r["curve_slope"]), r["capacity"], r["margin"])
        rent_flat = (r["margin"] - r["effective_unit_cost"]) * r["output_quantity"]
        r["refiner_rent"] = np.where(curve, rent_curve, rent_flat)
        r["fiscal_cost"] = (r["deficiency_payment"] + r["subsidy"]) * r["output_quantity"]
        self.refining_detail = r

        arcs = pol.arcs.copy()
        n = len(arcs)
        arcs["flow"] = np.nan_to_num(scatter(n, [(c.arc_rows, x.flow) for c, x in solved]))
        for kind in ("tariff", "anti_dumping", "levy", "export_subsidy"):
            arcs[kind] = np.nan_to_num(scatter(n, [(c.arc_rows, x.charges[kind]) for c, x in solved]))
        arcs["solved"] = ~np.isnan(scatter(n, [(c.arc_rows, 1.0) for c, _ in solved]))
        arcs["exporter_price"] = scatter(n, [(c.arc_rows, x.price[c.coef["arc_from"]]) for c, x in solved])
        arcs["importer_price"] = scatter(n, [(c.arc_rows, x.price[c.coef["arc_to"]]) for c, x in solved])
        arcs["landed_price"] = (arcs["exporter_price"] + arcs["transport_cost"] + arcs["tariff"] + arcs["anti_dumping"]
                                + arcs["levy"] - arcs["export_subsidy"])
        rent = np.zeros(n)
        holder = np.full(n, "", dtype=object)
        for q in pol.quotas:
            idx = np.array(q.routes)
            gap = np.maximum(0.0, arcs["importer_price"].to_numpy()[idx] - arcs["landed_price"].to_numpy()[idx])
            flow = arcs["flow"].to_numpy()[idx]
            # a quota that does not bind earns no rent (a gap there is a route capacity's)
            binding = flow.sum() >= q.limit * (1 - 1e-9)
            rent[idx] = np.where((flow > 0) & binding, gap, 0.0)
            holder[idx] = arcs["origin" if q.rent_to == "exporter" else "destination"].to_numpy()[idx]
        arcs["quota_rent"] = rent
        arcs["quota_holder"] = holder
        self.arc_detail = arcs

        reserve_rows = []
        for chain, sol in solved:
            for k, (floor, node) in enumerate(chain.reserves):
                region, product = chain.nodes[node]
                reserve_rows.append((floor.index, region, product, floor.price, floor.budget, sol.reserve[k], sol.price[node]))
        self.reserve_detail = pd.DataFrame(reserve_rows, columns=["floor", "region", "product", "floor_price", "budget", "quantity", "price"])

        fixed = pol.stockpile.copy() if len(pol.stockpile) else pd.DataFrame(columns=["region", "product", "quantity"])
        price_of = dict(zip(zip(self.prices["region"], self.prices["product"]), self.prices["price"]))
        fixed["price"] = [price_of.get(k, np.nan) for k in zip(fixed["region"], fixed["product"])]
        self.fixed_stockpile_detail = fixed

        self._markets(solved)
        self._flows()
        self._welfare()

    def _markets(self, solved) -> None:
        """One row per node: sums over its agents and routes, from each chain's index arrays."""
        pieces = []
        for chain, sol in solved:
            c, n = chain.coef, len(chain.nodes)

            def total(index, values):
                out = np.zeros(n)
                np.add.at(out, index, values)
                return out

            producer = np.full(n, -np.inf)
            received_supply = sol.price[c["supply_node"]] + np.maximum(0.0, self.policy.supply["floor_price"].to_numpy()[chain.supply_rows]
                                                                       - sol.price[c["supply_node"]]) + self.policy.supply["subsidy"].to_numpy()[chain.supply_rows]
            np.maximum.at(producer, c["supply_node"], received_supply)
            out_price = sol.price[c["refining_output_node"]]
            received_refining = out_price + np.maximum(0.0, c["refining_floor"] - out_price) \
                + self.policy.processing["subsidy"].to_numpy()[chain.refining_rows]
            np.maximum.at(producer, c["refining_output_node"], received_refining)
            processing_out = total(c["refining_output_node"], sol.refining)
            pieces.append(pd.DataFrame({
                "region": [r for r, _ in chain.nodes], "product": [p for _, p in chain.nodes],
                "supply": total(c["supply_node"], sol.supply) + processing_out,
                "demand": total(c["demand_node"], sol.demand),
                "price": sol.price,
                "producer_price": np.where(np.isfinite(producer), producer, sol.price),
                "processing_in": total(c["refining_input_node"], sol.refining / c["refining_yield"]),
                "processing_out": processing_out,
                "imports": total(c["arc_to"], sol.flow),
                "exports": total(c["arc_from"], sol.flow),
                "stockpile": total(c["reserve_node"], sol.reserve) + chain.fixed_purchase,
            }))
        frame = pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame(columns=MARKET_COLUMNS)
        self.markets = frame[MARKET_COLUMNS].sort_values(["product", "region"], kind="stable").reset_index(drop=True)

    def _flows(self) -> None:
        arcs = self.arc_detail
        used = arcs[arcs["flow"] > 0].copy()
        used = used.rename(columns={"flow": "quantity"})
        self.flows = used[FLOW_COLUMNS].sort_values(["product", "origin", "destination"], kind="stable").reset_index(drop=True)

    def _welfare(self) -> None:
        regions = pd.Index(self.data.region_codes, name="region")
        w = pd.DataFrame(index=regions)
        w["consumer_surplus"] = self.demand_detail.groupby("region")["consumer_surplus"].sum()
        w["producer_surplus"] = self.supply_detail.groupby("region")["producer_surplus"].sum()
        w["refiner_rent"] = self.refining_detail.groupby("region")["refiner_rent"].sum()
        arcs = self.arc_detail
        collected = (arcs["tariff"] + arcs["anti_dumping"] + arcs["levy"]) * arcs["flow"]
        w["tariff_revenue"] = collected.groupby(arcs["destination"]).sum()
        rents = arcs["quota_rent"] * arcs["flow"]
        w["quota_rent"] = rents[arcs["quota_holder"] != ""].groupby(arcs["quota_holder"]).sum()
        reference = {p: s for c in self.chains for p, s in c.price_scale.items()}
        reserve, fixed = self.reserve_detail, self.fixed_stockpile_detail
        spending = pd.concat([
            (reserve["quantity"] * reserve["price"]).groupby(reserve["region"]).sum(),
            (fixed["quantity"] * fixed["price"]).groupby(fixed["region"]).sum() if len(fixed) else pd.Series(dtype=float),
        ]).groupby(level=0).sum()
        stock_value = pd.concat([
            (reserve["quantity"] * reserve["product"].map(reference)).groupby(reserve["region"]).sum(),
            (fixed["quantity"] * fixed["product"].map(reference)).groupby(fixed["region"]).sum() if len(fixed) else pd.Series(dtype=float),
        ]).groupby(level=0).sum()
        w["stockpile_value"] = stock_value
        w = w.astype(float).fillna(0.0)
        w["deficiency_payments"] = (
            (self.supply_detail["deficiency_payment"] * self.supply_detail["quantity"]).groupby(self.supply_detail["region"]).sum()
            .add((self.refining_detail["deficiency_payment"] * self.refining_detail["output_quantity"]).groupby(self.refining_detail["region"]).sum(), fill_value=0.0)
        ).reindex(regions).fillna(0.0)
        w["production_subsidies"] = (
            (self.supply_detail["subsidy"] * self.supply_detail["quantity"]).groupby(self.supply_detail["region"]).sum()
            .add((self.refining_detail["subsidy"] * self.refining_detail["output_quantity"]).groupby(self.refining_detail["region"]).sum(), fill_value=0.0)
        ).reindex(regions).fillna(0.0)
        w["export_subsidies"] = (arcs["export_subsidy"] * arcs["flow"]).groupby(arcs["origin"]).sum().reindex(regions).fillna(0.0)
        w["stockpile_spending"] = spending.reindex(regions).astype(float).fillna(0.0)
        w["fiscal_cost"] = w["deficiency_payments"] + w["production_subsidies"] + w["export_subsidies"] + w["stockpile_spending"]
        w["total"] = (w["consumer_surplus"] + w["producer_surplus"] + w["refiner_rent"] + w["tariff_revenue"]
                      + w["quota_rent"] + w["stockpile_value"] - w["fiscal_cost"])
        extra = ["deficiency_payments", "production_subsidies", "export_subsidies", "stockpile_spending"]
        self.welfare = w.reset_index()[WELFARE_COLUMNS + extra]

    # --------------------------------------------------------------- queries
    def welfare_of(self, regions) -> pd.Series:
        """Welfare components summed over `regions`."""
        w = self.welfare.set_index("region")
        return w.loc[list(regions)].sum()

    def welfare_change(self, baseline: "Results") -> pd.DataFrame:
        """Per region, each welfare component here minus the same in `baseline`."""
        here = self.welfare.set_index("region")
        there = baseline.welfare.set_index("region").reindex(here.index)
        return (here - there).reset_index()

    def reference_members(self) -> list[str]:
        """Whose dependency to report: the bloc's members, else the `ministerial2026` group."""
        if self.policy.members:
            return sorted(self.policy.members)
        return list(self.data.groups.get("ministerial2026", ()))

    def transport_cost(self) -> float:
        arcs = self.arc_detail
        return float((arcs["transport_cost"] * arcs["flow"]).sum())

    # ---------------------------------------------------------------- output
    def summary(self) -> dict[str, Any]:
        """What was solved and what came out, identical for identical inputs: scenario and its
        hash, data hash, package and solver versions, status, headline welfare. Where and how
        long the run took are in `run_info` (run.json)."""
        w = self.welfare.set_index("region")
        members = sorted(self.policy.members)
        out = {
            "status": self.status,
            "messages": self.messages,
            "scenario": self.scenario.name,
            "scenario_title": self.scenario.title,
            "scenario_hash": self.scenario.hash,
            "scenario_definition": self.scenario.policy_dict(),
            "notes": list(self.policy.notes),
            "data_hash": self.data.data_hash,
            "bloc_members": members,
            "world_welfare": float(w["total"].sum()),
            "bloc_welfare": float(w.loc[members, "total"].sum()) if members else None,
            "chains": [{"products": list(c.products), "status": s.status, "iterations": s.iterations,
                        "qp_solves": s.qp_solves, "warm_solves": s.warm_solves, "fixed_point_change": s.fixed_point_change}
                       for c, s in zip(self.chains, self.solutions)],
        }
        out.update({k: v for k, v in self.meta.items() if k not in RUN_ONLY})
        return out

    def run_info(self) -> dict[str, Any]:
        """Facts of this run that differ between identical runs (data folder, timings, clock)."""
        return {
            "data": str(Path(self.data.path).resolve()) if self.data.path else "",
            "data_hash": self.data.data_hash,
            "scenario_hash": self.scenario.hash,
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **{k: self.meta[k] for k in RUN_ONLY if k in self.meta},
            "chain_seconds": {"/".join(c.products): round(s.seconds, 4) for c, s in zip(self.chains, self.solutions)},
        }

    def to_csv(self, out: str | Path) -> list[Path]:
        """Write prices.csv, flows.csv, markets.csv, welfare.csv and summary.json into `out`
        (identical files for identical inputs), and run.json (where and how long)."""
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, frame in (("prices", self.prices), ("flows", self.flows), ("markets", self.markets), ("welfare", self.welfare)):
            path = folder / f"{name}.csv"
            frame.to_csv(path, index=False, float_format="%.10g")
            written.append(path)
        path = folder / "summary.json"
        path.write_text(json.dumps(self.summary(), indent=2, default=_jsonable) + "\n")
        written.append(path)
        path = folder / "run.json"
        path.write_text(json.dumps(self.run_info(), indent=2, default=_jsonable) + "\n")
        written.append(path)
        return written


def _jsonable(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
