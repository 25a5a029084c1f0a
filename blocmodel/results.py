"""Results of a solve as tidy DataFrames with the contract's column names (DESIGN.md §3).

Every table is built from what the solver reported (its prices, quantities, charges,
payments, licences and bids) on first use. The detail tables (`supply_detail`,
`demand_detail`, `refining_detail`, `route_detail`, `reserve_detail`, `coupling_detail`)
hold row-level facts the independent check reads; `prices`, `flows`, `markets`,
`welfare` are the contract's outputs, declared with units in `schema.OUTPUTS`.

Welfare of a region (USD per year). Only *changes* between two runs mean anything:
levels of surplus under linear curves are integrals down to arbitrary prices.
- consumer_surplus: area under its demand curves above the buyers' price;
- producer_surplus: area above its supply curves below the price producers receive
  (market price topped up by a deficiency payment, plus production subsidies), excluding
- capacity_rent: what producers and refiners at capacity earn above their marginal cost;
- refiner_rent: the same as producer surplus for refineries, in the refining margin;
- tariff_revenue: every border charge it collects as importer (tariffs, duties, levies);
- quota_rent: quota licences it holds (export quotas, tariff-rate quotas);
- trade_rent: importers' rent on routes, ½·g·x² per calibrated route (buyers pay the
  marginal trade cost a + g·x on every unit, the units cost a·x + ½·g·x² in all), plus, on a
  route at its capacity, the flow times the price gap above that marginal cost;
- stockpile_value: stock bought (sold) by its reserves, valued at STOCK_VALUATION × the
  product's reference price, and held in the shares the reserve's cost is funded;
- fiscal_cost: what its treasury pays (deficiency payments and reserve purchases in the
  shares of the burden-sharing rule, production and export subsidies, fixed stockpile
  purchases net of sales);
- dumping_cost: the discount its exporters give below their home price;
- total = CS + PS + capacity_rent + refiner_rent + tariff_revenue + quota_rent + trade_rent
  + stockpile_value − fiscal_cost − dumping_cost.
The sum over regions is world surplus net of transport and calibrated trade costs, so
Δtotal summed over the world is minus the deadweight loss.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .dataset import Dataset, codes_of
from .policy import Policy
from .pricing import RouteTerms
from .problem import BUYER, PRODUCER, ChainLayout
from .result_pieces import DETAIL_PIECES, Columns, cached_piece, chain_piece, concatenate_columns
from .solver import ChainSolution

# assumption: stock is an asset worth the product's 2024 reference price a unit (a reserve
# that buys dear books the difference as a loss); 0 would count purchases as pure cost.
STOCK_VALUATION = 1.0

# A region's welfare change smaller than this (USD per year) is no change when regions are
# counted as gaining or losing: regions a design does not touch get a change of 0 or of
# ±1e-10 USD, depending on the path the solves took (sums of ~1e9 USD round at ~1e-7), and
# the counts must not turn on that. The report's smallest figure is 0.1 m USD.
NO_CHANGE = 1.0

WELFARE_COMPONENTS = ["consumer_surplus", "producer_surplus", "capacity_rent", "refiner_rent", "tariff_revenue", "quota_rent",
                      "trade_rent", "stockpile_value", "fiscal_cost", "dumping_cost"]
WELFARE_COLUMNS = ["region"] + WELFARE_COMPONENTS + ["total"]
FISCAL_PARTS = ["deficiency_payments", "reserve_purchases", "production_subsidies", "export_subsidies", "stockpile_spending"]
WELFARE_BY_REGION = WELFARE_COMPONENTS + ["total"] + FISCAL_PARTS     # the columns of `Results.welfare_by_region`
MARKET_COLUMNS = ["region", "product", "supply", "demand", "price", "producer_price", "market_producer_price", "processing_in",
                  "processing_out", "imports", "exports", "home_flow", "stockpile", "stock_purchases", "use", "production",
                  "capacity", "capacity_rent", "disposed"]
FLOW_COLUMNS = ["origin", "destination", "product", "quantity", "home", "transport_cost", "tariff", "anti_dumping", "levy",
                "export_subsidy", "dumping_discount", "quota_rent", "trade_cost", "exporter_price", "landed_price", "importer_price"]
RUN_ONLY = ("solve_seconds",)


class Results:
    def __init__(self, data: Dataset, policy: Policy, layouts: list[ChainLayout], solutions: list[ChainSolution],
                 meta: dict[str, Any] | None = None):
        self.data = data
        self.policy = policy
        self.layouts = layouts
        self.solutions = solutions
        self.meta = dict(meta or {})
        self.check_report = None
        self.traces: dict = {}

    # ------------------------------------------------------------------ status
    @property
    def scenario(self):
        return self.policy.scenario

    @property
    def status(self) -> str:
        bad = [s.status for s in self.solutions if s.status != "optimal"]
        return bad[0] if bad else "optimal"

    @property
    def messages(self) -> list[str]:
        return [f"chain {'/'.join(lay.products)}: {s.message}" for lay, s in zip(self.layouts, self.solutions) if s.message]

    @property
    def solved(self) -> list[tuple[ChainLayout, ChainSolution]]:
        return [(lay, s) for lay, s in zip(self.layouts, self.solutions) if s.status == "optimal"]

    @cached_property
    def price_scale(self) -> dict[str, float]:
        return dict(self.policy.reference.product_price)

    @cached_property
    def quantity_scale(self) -> dict[str, float]:
        return dict(self.policy.reference.product_quantity)

    def _nameplate(self, table: str) -> np.ndarray:
        """Capacities as the dataset gives them (whatever the horizon)."""
        if table not in self.data.cache.setdefault("nameplate", {}):
            frame = self.data.supply if table == "supply" else self.data.processing
            self.data.cache["nameplate"][table] = pd.to_numeric(frame["capacity"], errors="coerce").to_numpy(dtype=float)
        return self.data.cache["nameplate"][table]

    def __repr__(self) -> str:
        members = len(self.policy.members)
        return (f"<Results '{self.scenario.name}' ({self.status}, {self.scenario.horizon.replace('_', ' ')}): "
                f"{len(self.data.regions)} regions, {len(self.data.products)} products"
                + (f", bloc of {members}" if members else "")
                + (f", largest residual {self.check_report.max_residual:.1e}" if self.check_report is not None else "") + ">")

    def _repr_html_(self) -> str:
        """A compact summary for notebooks: status, horizon, bloc, what trades, use-weighted
        prices by product and each floor's outcome. No welfare: it means something only as a
        change against a baseline (`welfare_change(base, unit="USD m")`)."""
        import html

        esc = html.escape
        scenario = self.scenario
        members = sorted(self.policy.members)
        head = (f"<b>Results '{esc(scenario.name)}'</b>: {esc(self.status)} · {esc(scenario.horizon.replace('_', ' '))} · "
                + (f"bloc of {len(members)} · " if members else "no bloc · ")
                + f"{len(self.data.regions)} regions, {len(self.data.products)} products"
                + (f" · largest residual {self.check_report.max_residual:.1e}" if self.check_report is not None else ""))
        parts = [f"<div style='font-size:.9em;max-width:60em'><p style='margin:.2em 0'>{head}</p>"]
        if scenario.title:
            parts.append(f"<p style='margin:.2em 0'>{esc(scenario.title)}</p>")
        if self.status != "optimal":
            parts.append("<p>" + "<br>".join(esc(m) for m in self.messages) + "</p></div>")
            return "".join(parts)
        flows = self.flows
        parts.append(f"<p style='margin:.2em 0'>{int((~flows['home']).sum()):,} trade routes and {int(flows['home'].sum()):,} "
                     f"home routes carry goods · welfare: only changes mean anything — "
                     f"<code>r.welfare_change(base, unit='USD m')</code></p>")
        m = self.markets
        rows = []
        for product, g in m.groupby("product", sort=False):
            use = g["use"].sum()
            if use <= 0:
                continue
            unit = str(self.data.unit.get(product, "unit")).split(" ")[0]
            price = float((g["price"] * g["use"]).sum() / use)
            rows.append(f"<tr><td style='text-align:left'>{esc(product)}</td><td>{price:,.0f} USD/{esc(unit)}</td>"
                        f"<td>{use:,.0f} {esc(unit)}</td><td>{float(g['imports'].sum()) / use:.0%}</td></tr>")
        parts.append("<details><summary>Prices by product (use-weighted buyers' price, world use, share imported)</summary>"
                     "<table><tr><th>product</th><th>price</th><th>use</th><th>imported</th></tr>" + "".join(rows) + "</table></details>")
        if self.policy.floors:
            f = self.floors
            rows = []
            for (label, status), g in f.groupby(["floor", "status"], sort=False):
                unit = str(self.data.unit.get(g["product"].iloc[0], "unit")).split(" ")[0]
                span = lambda s: "–" if s.dropna().empty else (  # noqa: E731
                    f"{s.min():,.0f}" + (f"–{s.max():,.0f}" if s.max() > s.min() * (1 + 1e-6) else "") + f" USD/{unit}")
                rows.append(f"<tr><td style='text-align:left'>{esc(label)}</td><td>{esc(status)}</td><td>{len(g)}</td>"
                            f"<td>{span(g['buyers_price'])}</td><td>{span(g['producers_price'])}</td></tr>")
            parts.append("<table><tr><th>floor</th><th>status</th><th>markets</th><th>buyers pay</th><th>producers get</th></tr>"
                         + "".join(rows) + "</table>")
        if self.policy.notes:
            parts.append("<p style='margin:.2em 0'>" + "<br>".join(f"note: {esc(n)}" for n in self.policy.notes) + "</p>")
        parts.append("</div>")
        return "".join(parts)

    # ------------------------------------------------------------- node prices
    @cached_property
    def node_offsets(self) -> np.ndarray:
        """Where each solved chain's nodes start in `nodes` (node columns of the detail tables
        are indices into it)."""
        counts = [lay.n_nodes for lay, _ in self.solved]
        return np.concatenate([[0], np.cumsum(counts)]).astype(int)

    def chain_pieces(self, name: str, build) -> list[Columns]:
        """Each solved chain's piece of a detail table, built once per chain solution (a
        session that re-solves one chain rebuilds one piece)."""
        return [cached_piece(self, layout, solution, name, build) for layout, solution in self.solved]

    def detail_columns(self, name: str) -> Columns:
        """A detail table ('nodes', 'supply', 'demand', 'refining', 'route', 'reserve') as numpy
        columns: the chains' pieces in order, node columns made global, no DataFrame built
        (what the indicators read; the `*_detail` DataFrames are made from the same)."""
        cache = self.__dict__.setdefault("_detail_columns", {})
        if name not in cache:
            build, node_columns = DETAIL_PIECES[name]
            pieces = self.chain_pieces(name, build)
            cache[name] = concatenate_columns(pieces, {column: self.node_offsets[:-1] for column in node_columns}) \
                if pieces else build(self, None, None)
        return cache[name]

    def _pieces(self, name: str) -> pd.DataFrame:
        """A detail table as a DataFrame (its own copy of the columns)."""
        return self.detail_columns(name).frame()

    @cached_property
    def nodes(self) -> pd.DataFrame:
        """Every node: region, product, side (producers / buyers), its price, and what is
        thrown away there (free disposal, at price 0)."""
        return self._pieces("nodes")

    # ----------------------------------------------------------- detail tables
    @cached_property
    def supply_detail(self) -> pd.DataFrame:
        return self._pieces("supply")

    @cached_property
    def demand_detail(self) -> pd.DataFrame:
        return self._pieces("demand")

    @cached_property
    def refining_detail(self) -> pd.DataFrame:
        return self._pieces("refining")

    @cached_property
    def route_detail(self) -> pd.DataFrame:
        return self._pieces("route")

    @cached_property
    def route_terms(self) -> RouteTerms:
        """The landed-price parameters of each row of `route_detail`, as the policy set them."""
        return self.policy.market.routes.terms.take(self.route_detail["row"].to_numpy())

    @cached_property
    def reserve_detail(self) -> pd.DataFrame:
        return self._pieces("reserve")

    @cached_property
    def coupling_detail(self) -> list[dict]:
        """Per quota: its routes' flows split into in-quota units (which hold licences, worth
        the licence price each: the quota rent) and over-quota units (which pay the rate gap,
        `cap`, as tariff), the licence price and each route's licence charge per unit."""
        out = []
        couplings = self.policy.market.couplings
        if not couplings:
            return out
        rd = self.route_detail
        position = {int(r): k for k, r in enumerate(rd["row"])}
        for lay, s in self.solved:
            chain = [c for c in couplings if c.product in lay.products]
            licence = s.licence
            for j, c in enumerate(chain):
                keep = [k for k, r in enumerate(c.routes) if int(r) in position]
                idx = np.array([position[int(c.routes[k])] for k in keep], dtype=int)
                cif = np.maximum(rd["cif"].to_numpy()[idx], 0.0)
                cap = np.asarray(c.cap_specific, dtype=float)[keep] + np.asarray(c.cap_rate, dtype=float)[keep] * cif
                flow = rd["flow"].to_numpy()[idx]
                lam = float(licence[j])
                top = cap >= cap.max() if len(cap) and np.isfinite(cap).any() else np.ones(len(cap), dtype=bool)
                # below the largest gap a route's licensed share is solved for: 1 while the licence is
                # cheaper than its gap, 0 once dearer, and in between where they are equal
                share = s.licensed_shares(j)     # the chain's routes of this quota, in the same order as `keep`
                below = np.where(np.isnan(share), cap > lam, np.clip(share, 0.0, 1.0))
                in_quota = np.where(top, 0.0, below * flow)
                # at the largest gap (to rounding: the cap is recomputed here from the reported CIF)
                at_top = np.isfinite(cap).any() and lam >= cap.max() - 1e-9 * self.price_scale[c.product]
                if len(cap) and not at_top:
                    in_quota = np.where(top, flow, in_quota)
                else:      # the licence price is at the largest gap: over-quota units enter on the top routes
                    room = max(c.limit - float(in_quota.sum()), 0.0)
                    top_flow = float(flow[top].sum())
                    in_quota = np.where(top, flow * (min(room, top_flow) / top_flow if top_flow > 0 else 0.0), in_quota)
                holder = rd["origin" if c.rent_to == "exporter" else "destination"].to_numpy()[idx]
                out.append({"label": c.label, "kind": c.kind, "product": c.product, "limit": c.limit, "licence_price": lam,
                            "cap": cap, "rows": idx, "flow": flow, "licensed_flow": in_quota, "over_quota": flow - in_quota,
                            "route_licence": rd["licence"].to_numpy()[idx] if len(chain) == 1 else np.minimum(lam, cap),
                            "holder": holder[0] if len(holder) else "", "holders": holder,
                            "importers": rd["destination"].to_numpy()[idx], "rent_to": c.rent_to,
                            "price_scale": self.price_scale[c.product], "quantity_scale": self.quantity_scale[c.product]})
        return out

    # ------------------------------------------------------------- contract
    @cached_property
    def prices(self) -> pd.DataFrame:
        """region, product, price (what buyers there pay; where the region buys none of the
        product, its producers' price), producer_price (the producers' market price)."""
        pieces = self.chain_pieces("prices", _prices_piece)
        if not pieces:
            return pd.DataFrame(columns=["region", "product", "price", "producer_price"])
        columns = concatenate_columns(pieces)
        # each product lies in one chain and each piece is in (product, region) order
        columns = columns[np.argsort(columns["_order"], kind="stable")]
        del columns.data["_order"]
        return columns.frame()

    @cached_property
    def flows(self) -> pd.DataFrame:
        pieces = self.chain_pieces("flows", _flows_piece)
        if not pieces:
            return pd.DataFrame(columns=FLOW_COLUMNS)
        columns = concatenate_columns(pieces)
        # each product lies in one chain and each piece is sorted by product, origin, destination
        return columns[np.argsort(columns["product"], kind="stable")].frame()

    @cached_property
    def name_codes(self) -> dict[str, np.ndarray]:
        """Integer codes (positions in the dataset's region and product lists) of the detail
        tables' region and product columns, for summing by region and product with numpy:
        looked up by each row's position in the market's tables (codes kept per dataset)."""
        from .policy import _route_codes, table_codes

        codes = table_codes(self.data)
        _, origin, destination, product = _route_codes(self.data, self.policy.market.routes)
        s, d, r, a = (self.detail_columns(name)["row"].astype(np.int64) for name in ("supply", "demand", "refining", "route"))
        regions, products = self.data.region_index, self.data.product_index
        nodes = self.detail_columns("nodes")
        return {"supply_region": codes["supply_region"][s], "supply_product": codes["supply_product"][s],
                "demand_region": codes["demand_region"][d], "demand_product": codes["demand_product"][d],
                "refining_region": codes["refining_region"][r], "refining_output": codes["refining_output"][r],
                "refining_input": codes["refining_input"][r], "route_origin": origin[a], "route_destination": destination[a],
                "route_product": product[a],
                "node_region": codes_of(nodes["region"], regions), "node_product": codes_of(nodes["product"], products)}

    @cached_property
    def markets(self) -> pd.DataFrame:
        """Per region and product that has a market: supply, demand, prices, processing, trade,
        stockpiles, use, production, capacity, capacity rent, and output thrown away at price 0
        (`disposed`: free disposal)."""
        return self.market_columns.frame()

    @cached_property
    def market_columns(self) -> Columns:
        """`markets` as numpy columns (read by every indicator of every scenario, with no
        DataFrame); summed on a region × product grid by integer codes."""
        data = self.data
        n_regions, n_products = len(data.region_codes), len(data.product_codes)
        cells = n_regions * n_products
        region_code, product_code = data.region_index, data.product_index
        code = self.name_codes

        def cell(regions, products) -> np.ndarray:
            return np.fromiter((region_code[r] * n_products + product_code[p] for r, p in zip(regions, products)),
                               dtype=np.int64, count=len(regions))

        present = np.zeros(cells, dtype=bool)

        def total(at: np.ndarray, values, mark: bool = True) -> np.ndarray:
            """Sum of `values` per cell (NaN counted as 0, as pandas sums); marks the cells as markets."""
            if mark:
                present[at] = True
            return np.bincount(at, weights=np.nan_to_num(np.asarray(values, dtype=float), nan=0.0), minlength=cells)

        n, s, d, r, a = (self.detail_columns(name) for name in ("nodes", "supply", "demand", "refining", "route"))
        node_cell = code["node_region"] * n_products + code["node_product"]
        side, node_price = n["side"], n["price"].astype(float)
        buyers_price, producers_price = np.full(cells, np.nan), np.full(cells, np.nan)
        buyers_price[node_cell[side == BUYER]] = node_price[side == BUYER]
        producers_price[node_cell[side == PRODUCER]] = node_price[side == PRODUCER]
        present[node_cell] = True

        s_cell = code["supply_region"] * n_products + code["supply_product"]
        d_cell = code["demand_region"] * n_products + code["demand_product"]
        out_cell = code["refining_region"] * n_products + code["refining_output"]
        in_cell = code["refining_region"] * n_products + code["refining_input"]
        home = a["home"].astype(bool)
        flow = a["flow"].astype(float)
        destination_cell = code["route_destination"] * n_products + code["route_product"]
        origin_cell = code["route_origin"] * n_products + code["route_product"]
        col = {
            "mined_supply": total(s_cell, s["quantity"]),
            "processing_out": total(out_cell, r["output_quantity"]),
            "demand": total(d_cell, d["quantity"]),
            "processing_in": total(in_cell, r["input_quantity"]),
            "imports": total(destination_cell[~home], flow[~home]),
            "exports": total(origin_cell[~home], flow[~home]),
            "home_flow": total(origin_cell[home], flow[home]),
            "capacity_rent": total(s_cell, s["capacity_rent"]) + total(out_cell, r["capacity_rent"]),
            "received": total(s_cell, s["received_price"] * s["quantity"]) + total(out_cell, r["received_price"] * r["output_quantity"]),
        }
        # a capacity is NaN where the cell has no such rows (0 where its rows give none)
        supply_capacity = np.where(np.bincount(s_cell, minlength=cells) > 0, total(s_cell, s["nameplate_capacity"]), np.nan)
        refining_capacity = np.where(np.bincount(out_cell, minlength=cells) > 0, total(out_cell, r["nameplate_capacity"]), np.nan)

        def by_cell(amounts: dict) -> np.ndarray:
            grid = np.zeros(cells)
            for (region, product), q in amounts.items():
                if region in region_code and product in product_code:
                    grid[region_code[region] * n_products + product_code[product]] += q
            return grid

        releases = by_cell(self.policy.market.releases)
        res = self.detail_columns("reserve")
        col["stockpile"] = by_cell(self.policy.market.purchases) - releases
        col["stock_purchases"] = total(cell(res["origin"], res["product"]), res["quantity"], mark=False) \
            if len(res) else np.zeros(cells)
        col["disposed"] = total(node_cell, n["disposed"], mark=False)

        # rows: products in the dataset's order, regions alphabetically within each
        alphabetical = np.argsort(np.array(data.region_codes, dtype=object), kind="stable")
        order = (np.arange(n_products)[:, None] + n_products * alphabetical[None, :]).ravel()
        order = order[present[order]]
        pick = {name: values[order] for name, values in col.items()}
        supply = pick["mined_supply"] + pick["processing_out"]
        market_producer_price = producers_price[order]
        with np.errstate(invalid="ignore", divide="ignore"):
            average = pick["received"] / supply          # what producers receive on average (with deficiency payments)
        capacity_s, capacity_r = supply_capacity[order], refining_capacity[order]
        columns = Columns({
            "region": np.array(data.region_codes, dtype=object)[order // n_products],
            "product": np.array(data.product_codes, dtype=object)[order % n_products],
            "supply": supply, "demand": pick["demand"],
            # a region that buys none: its producers' price
            "price": np.where(np.isnan(buyers_price[order]), market_producer_price, buyers_price[order]),
            "producer_price": np.where(supply > 0, average, market_producer_price),
            "market_producer_price": market_producer_price,
            "processing_in": pick["processing_in"], "processing_out": pick["processing_out"],
            "imports": pick["imports"], "exports": pick["exports"], "home_flow": pick["home_flow"],
            "stockpile": pick["stockpile"], "stock_purchases": pick["stock_purchases"],
            "use": pick["demand"] + pick["processing_in"], "production": supply + releases[order],
            "capacity": np.where(np.isnan(capacity_s) & np.isnan(capacity_r), np.nan,
                                 np.nan_to_num(capacity_s, nan=0.0) + np.nan_to_num(capacity_r, nan=0.0)),
            "capacity_rent": pick["capacity_rent"], "disposed": pick["disposed"]})
        assert columns.columns == MARKET_COLUMNS
        return columns

    @cached_property
    def floors(self) -> pd.DataFrame:
        """Per floor and market: floor, buyers' and producers' prices, status (`instruments/floors.py`)."""
        from .instruments.floors import floor_report

        return floor_report(self)

    # ----------------------------------------------------------------- welfare
    @cached_property
    def welfare_detail(self) -> pd.DataFrame:
        """Welfare components by region and product (USD per year), in (region, product,
        component) order: one row per key that occurs."""
        return self._welfare_sums.frame()

    @cached_property
    def _welfare_sums(self) -> WelfareSums:
        """The welfare components summed by integer codes with numpy (every scenario of a sweep asks)."""
        s, d, r, a = (self.detail_columns(name) for name in ("supply", "demand", "refining", "route"))
        code = self.name_codes
        regions, products = self.data.region_index, self.data.product_index
        parts: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []

        def add_codes(component, region, product, value):
            value = np.atleast_1d(np.asarray(value, dtype=float))
            parts.append((component, np.broadcast_to(region, value.shape), np.broadcast_to(product, value.shape), value))

        def add(component, region, product, value):
            add_codes(component, codes_of(region, regions), codes_of(product, products), value)

        tariff = (a["tariff"] + a["anti_dumping"] + a["levy"]) * a["flow"]
        add_codes("consumer_surplus", code["demand_region"], code["demand_product"], d["consumer_surplus"])
        add_codes("producer_surplus", code["supply_region"], code["supply_product"], s["producer_surplus"])
        add_codes("capacity_rent", code["supply_region"], code["supply_product"], s["capacity_rent"])
        add_codes("capacity_rent", code["refining_region"], code["refining_output"], r["capacity_rent"])
        add_codes("refiner_rent", code["refining_region"], code["refining_output"], r["refiner_rent"])
        add_codes("tariff_revenue", code["route_destination"], code["route_product"], tariff)
        add_codes("trade_rent", code["route_destination"], code["route_product"], a["trade_rent"])
        add_codes("dumping_cost", code["route_origin"], code["route_product"], a["dumping_discount"] * a["flow"])
        add_codes("export_subsidies", code["route_origin"], code["route_product"], a["export_subsidy"] * a["flow"])
        add_codes("production_subsidies", code["supply_region"], code["supply_product"], s["subsidy"] * s["quantity"])
        add_codes("production_subsidies", code["refining_region"], code["refining_output"], r["subsidy"] * r["output_quantity"])
        for c in self.coupling_detail:
            n = len(c["holders"])
            add("quota_rent", c["holders"], [c["product"]] * n, c["licence_price"] * c["licensed_flow"])
            # over-quota units pay the rate gap to the importer as tariff
            add("tariff_revenue", c["importers"], [c["product"]] * n, np.minimum(c["licence_price"], c["cap"]) * c["over_quota"])
        self._funded_costs(add)
        return WelfareSums(parts, self.data.region_codes, self.data.product_codes)

    def _funded_costs(self, add) -> None:
        """Deficiency payments and reserve purchases, charged to their funders; stock held."""
        reference = self.price_scale
        payers = {f.index: (f.payers, f.burden_sharing) for f in self.policy.floors}
        for name, quantity in (("supply", "quantity"), ("refining", "output_quantity")):
            columns = self.detail_columns(name)
            paid = columns["deficiency_payment"] * columns[quantity] > 0
            if not paid.any():
                continue
            rows = columns[paid]
            amounts = rows["deficiency_payment"] * rows[quantity]
            for floor_id in np.unique(rows["floor_id"]):          # each floor's payments, floors in order
                group = rows["floor_id"] == floor_id
                shares, how = payers.get(int(floor_id), ((), "own"))
                amount = amounts[group]
                if not shares:
                    add("deficiency_payments", rows["region"][group], rows["product"][group], amount)
                else:
                    total, product = float(amount.sum()), rows["product"][group][0]
                    add("deficiency_payments", [r for r, _ in shares], [product] * len(shares), [total * w for _, w in shares])
        res = self.reserve_detail if len(self.detail_columns("reserve")) else None
        for floor_id, group in res.groupby("floor_id") if res is not None else []:
            shares, how = payers.get(int(floor_id), ((), "own"))
            spend = group["quantity"] * group["producer_price"]
            value = group["quantity"] * STOCK_VALUATION * reference[group["product"].iloc[0]]
            product = group["product"].iloc[0]
            if not shares:
                add("reserve_purchases", group["origin"], group["product"], spend)
                add("stockpile_value", group["origin"], group["product"], value)
            else:
                add("reserve_purchases", [r for r, _ in shares], [product] * len(shares), [float(spend.sum()) * w for _, w in shares])
                add("stockpile_value", [r for r, _ in shares], [product] * len(shares), [float(value.sum()) * w for _, w in shares])
        market = self.policy.market
        price_of = self.nodes.set_index(["region", "product", "side"])["price"] if market.purchases or market.releases else {}
        for (region, product), q in self.policy.market.purchases.items():
            p = price_of.get((region, product, BUYER), np.nan)
            add("stockpile_spending", [region], [product], [q * p])
            add("stockpile_value", [region], [product], [q * STOCK_VALUATION * reference[product]])
        for (region, product), q in self.policy.market.releases.items():
            p = price_of.get((region, product, PRODUCER), np.nan)
            add("stockpile_spending", [region], [product], [-q * p])
            add("stockpile_value", [region], [product], [-q * STOCK_VALUATION * reference[product]])

    @cached_property
    def welfare(self) -> pd.DataFrame:
        """Per region: each welfare component, its total, and the parts of fiscal_cost (USD per year)."""
        return self._welfare_by(["region"])

    def _welfare_by(self, by: list[str]) -> pd.DataFrame:
        if by == ["region"]:
            return self._region_frame(self.welfare_by_region)
        wide = self.welfare_detail.pivot_table(index=by, columns="component", values="value", aggfunc="sum", fill_value=0.0)
        for c in WELFARE_COMPONENTS + FISCAL_PARTS:
            if c not in wide:
                wide[c] = 0.0
        _add_totals(wide)
        return wide.reset_index()[by + WELFARE_BY_REGION]

    @cached_property
    def welfare_by_region(self) -> np.ndarray:
        """`welfare` as an array: every region of the dataset in its order (rows) ×
        WELFARE_COMPONENTS, total, FISCAL_PARTS (columns, `WELFARE_BY_REGION`); what a sweep
        reads on every scenario, with no DataFrame."""
        table = _add_totals(self._welfare_sums.by_region())
        grid = np.column_stack([table[c] for c in WELFARE_BY_REGION])
        grid.flags.writeable = False                # shared by every reader: results never change once solved
        return grid

    def welfare_of_region(self, region: str) -> pd.DataFrame:
        """One region's welfare components by product (`welfare_by("region_product")`'s rows
        for it, every product listed, in name order), from the integer-coded sums: what the
        findings ask of the outsider they watch, with no pivot of every region."""
        sums = self._welfare_sums
        table = _add_totals(sums.of_region(self.data.region_index[region]))
        products = pd.Index(np.array(sums.product_names, dtype=object)[sums.product_order], name="product")
        return pd.DataFrame({c: table[c] for c in WELFARE_BY_REGION}, index=products)

    def _region_frame(self, grid: np.ndarray) -> pd.DataFrame:
        frame = pd.DataFrame(grid, columns=WELFARE_BY_REGION)
        frame.insert(0, "region", np.array(self.data.region_codes, dtype=object))
        frame.columns.name = "component"           # as the pivot table names them
        return frame

    def welfare_by(self, by: str = "region") -> pd.DataFrame:
        """Welfare components by 'region', 'product' or 'region_product'."""
        keys = {"region": ["region"], "product": ["product"], "region_product": ["region", "product"]}[by]
        cache = self.traces.setdefault("welfare_by", {})      # results never change once solved
        if by not in cache:
            cache[by] = self._welfare_by(keys)
        return cache[by].copy()

    def welfare_change(self, baseline: Results, by: str = "region", unit: str = "USD") -> pd.DataFrame:
        """Each welfare component here minus the same in `baseline`, by 'region', 'product' or
        'region_product'; `unit` 'USD' or 'USD m'."""
        if by == "region":                          # both list every region in the dataset's order
            change = self.welfare_by_region - baseline.welfare_by_region
            return self._region_frame(change / 1e6 if unit == "USD m" else change)
        keys = {"product": ["product"], "region_product": ["region", "product"]}[by]
        here = self.welfare_by(by).set_index(keys)
        there = baseline.welfare_by(by).set_index(keys)
        index = here.index.union(there.index)
        change = here.reindex(index, fill_value=0.0) - there.reindex(index, fill_value=0.0)
        if unit == "USD m":
            change = change / 1e6
        return change.reset_index()

    def reference_members(self) -> list[str]:
        """Whose dependency to report: the bloc's members, else the `ministerial2026` group."""
        if self.policy.members:
            return sorted(self.policy.members)
        return list(self.data.groups.get("ministerial2026", ()))

    def transport_cost(self) -> float:
        a = self.route_detail
        return float((a["transport_cost"] * a["flow"]).sum())

    # ------------------------------------------------------------------ output
    def summary(self) -> dict[str, Any]:
        """What was solved, identical for identical inputs: scenario and its hash, data hash,
        versions, status. Welfare appears as changes against the no-policy baseline only
        (`welfare_change.csv`); levels have no meaning of their own."""
        members = sorted(self.policy.members)
        out = {
            "status": self.status,
            "messages": self.messages,
            "scenario": self.scenario.name,
            "scenario_title": self.scenario.title,
            "scenario_hash": self.scenario.hash,
            "scenario_definition": self.scenario.policy_dict(),
            "horizon": self.scenario.horizon,
            "notes": list(self.policy.notes),
            "data_hash": self.data.data_hash,
            "bloc_members": members,
            "no_data_regions": self.data.no_data_regions,
            "chains": [{"products": list(lay.products), "status": s.status, "exact_steps": s.exact_steps, "dual_steps": s.dual_steps,
                        "outer_steps": s.outer_steps, "residual": s.residual}
                       for lay, s in zip(self.layouts, self.solutions)],
        }
        out.update({k: v for k, v in self.meta.items() if k not in RUN_ONLY})
        return out

    def run_info(self) -> dict[str, Any]:
        """Facts of this run that differ between identical runs (data folder, timings, clock)."""
        return {
            "data": str(Path(self.data.path).resolve()) if self.data.path else "",
            "data_hash": self.data.data_hash,
            "scenario_hash": self.scenario.hash,
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **{k: self.meta[k] for k in RUN_ONLY if k in self.meta},
            "chain_seconds": {"/".join(lay.products): round(s.seconds, 4) for lay, s in zip(self.layouts, self.solutions)},
        }

    def to_csv(self, out: str | Path, baseline: Results | None = None) -> list[Path]:
        """Write prices, flows, markets, welfare (levels, with a note), floors, summary.json and
        run.json into `out`; with `baseline`, welfare_change.csv and welfare_change_by_product.csv."""
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        tables = [("prices", self.prices), ("flows", self.flows), ("markets", self.markets), ("welfare", self.welfare)]
        if self.policy.floors:
            tables.append(("floors", self.floors))
        if baseline is not None:
            tables += [("welfare_change", self.welfare_change(baseline)), ("welfare_change_by_product", self.welfare_change(baseline, by="product"))]
        for name, frame in tables:
            path = folder / f"{name}.csv"
            frame.to_csv(path, index=False, float_format="%.10g")
            written.append(path)
        for name, payload in (("summary", self.summary()), ("run", self.run_info())):
            path = folder / f"{name}.json"
            path.write_text(json.dumps(payload, indent=2, default=_jsonable) + "\n")
            written.append(path)
        return written


def _add_totals(table):
    """fiscal_cost (the sum of FISCAL_PARTS) and total (every component a region gains, less
    fiscal_cost and dumping_cost) added to `table`: a DataFrame or a dict of arrays."""
    table["fiscal_cost"] = sum(table[c] for c in FISCAL_PARTS)
    table["total"] = sum(table[c] for c in WELFARE_COMPONENTS if c not in ("fiscal_cost", "dumping_cost")) \
        - table["fiscal_cost"] - table["dumping_cost"]
    return table


class WelfareSums:
    """Σ value per (region, product, component) over `parts` (component, region codes, product
    codes, values), by integer codes with numpy; NaN counts as 0 (as pandas sums). Regions and
    products are ranked by name, so that the flat key sorts as the names do."""

    def __init__(self, parts, region_names, product_names):
        self.components = sorted({component for component, *_ in parts})
        component_code = {c: k for k, c in enumerate(self.components)}
        self.region_order = np.argsort(np.array(region_names, dtype=object), kind="stable")
        self.product_order = np.argsort(np.array(product_names, dtype=object), kind="stable")
        region_rank, product_rank = np.empty(len(self.region_order), dtype=np.int64), np.empty(len(self.product_order), dtype=np.int64)
        region_rank[self.region_order] = np.arange(len(self.region_order))
        product_rank[self.product_order] = np.arange(len(self.product_order))
        self.region_rank, self.region_names, self.product_names = region_rank, region_names, product_names
        n_regions, n_products, n_components = len(region_rank), len(product_rank), len(self.components)
        key = np.concatenate([(region_rank[region] * n_products + product_rank[product]) * n_components + component_code[component]
                              for component, region, product, _ in parts]) if parts else np.zeros(0, dtype=np.int64)
        value = np.concatenate([v for *_, v in parts]) if parts else np.zeros(0)
        size = n_regions * n_products * n_components
        self.total = np.bincount(key, weights=np.where(np.isnan(value), 0.0, value), minlength=size)
        self.present = np.flatnonzero(np.bincount(key, minlength=size))
        self.shape = (n_regions, n_products, n_components)

    def frame(self) -> pd.DataFrame:
        """One row per key that occurs, sorted by region, product and component names."""
        _, n_products, n_components = self.shape
        present = self.present
        return pd.DataFrame({"region": np.array(self.region_names, dtype=object)[self.region_order][present // (n_products * n_components)],
                             "product": np.array(self.product_names, dtype=object)[self.product_order][(present // n_components) % n_products],
                             "component": np.array(self.components, dtype=object)[present % n_components],
                             "value": self.total[present]})

    def by_region(self) -> dict[str, np.ndarray]:
        """Each component summed over products (in name order, one after another), per region
        in the dataset's order; components that never occur are zero."""
        by_rank = self.total.reshape(self.shape).sum(axis=1)
        return self._named(by_rank[self.region_rank])  # rank of each region in the dataset's order

    def of_region(self, position: int) -> dict[str, np.ndarray]:
        """Each component of the region at `position` in the dataset's order, per product in
        name order; components that never occur are zero."""
        return self._named(self.total.reshape(self.shape)[self.region_rank[position]])

    def _named(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Columns of `rows` (one per component that occurs) by name, and zeros for the others."""
        zero = np.zeros(len(rows))
        table = {c: zero for c in WELFARE_COMPONENTS + FISCAL_PARTS}
        table.update({c: rows[:, k] for k, c in enumerate(self.components)})
        return table


def _jsonable(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _prices_piece(results, layout, solution) -> Columns:
    """One chain's rows of `prices`, in (product as the dataset orders them, region) order;
    `_order` is the product's position, for ordering across chains."""
    order = results.data.product_index
    keys = [(order.get(p, len(order)), r) for r, p in zip(layout.node_region, layout.node_product)]
    unique = sorted(set(keys))
    position = {key: k for k, key in enumerate(unique)}
    row = np.array([position[key] for key in keys], dtype=int)
    buyer = layout.node_side == BUYER
    buyers, producers = np.full(len(unique), np.nan), np.full(len(unique), np.nan)
    buyers[row[buyer]] = solution.price[buyer]
    producers[row[~buyer]] = solution.price[~buyer]
    products = np.empty(len(unique), dtype=object)
    products[row] = layout.node_product
    return Columns({"region": np.array([r for _, r in unique], dtype=object), "product": products,
                    "price": np.where(np.isnan(buyers), producers, buyers), "producer_price": producers,
                    "_order": np.array([o for o, _ in unique], dtype=int)})


def _flows_piece(results, layout, solution) -> Columns:
    """One chain's rows of `flows` (routes that carry something), sorted by product, origin, destination."""
    route = chain_piece(results, layout, solution, "route")
    used = np.flatnonzero(route["flow"] > 0)
    used = used[np.argsort(_name_rank(results, layout, route)[used], kind="stable")]
    return Columns({new: route[old][used] for new, old in _FLOW_SOURCE.items()})


def _name_rank(results, layout, route: Columns) -> np.ndarray:
    """Each of the chain's routes' place in (product, origin, destination) order: the same for
    every solve of the dataset, so worked out once (sorting names costs more than the rest of
    a re-solve's flow table)."""
    cache = results.data.cache.setdefault("route_name_rank", {})
    if layout.products not in cache:
        order = np.lexsort((route["destination"], route["origin"], route["product"]))
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        cache[layout.products] = rank
    return cache[layout.products]


_FLOW_SOURCE = {column: {"quantity": "flow", "quota_rent": "licence"}.get(column, column) for column in FLOW_COLUMNS}
