"""Dumping, three ways, and export subsidies.

- `price_discrimination` (dumping in the trade-law sense): the exporter sells abroad below
  its home price by `margin` (a fraction of the home price). Its export (FOB) price is
  π·(1 − margin) while its producers get π: the discount is a transfer from the exporting
  region (its `dumping_cost`) to the importers. The home price *rises* (more of its output
  goes abroad), the foreign price falls. An anti-dumping duty with `margin = true` offsets
  it exactly (`border.py`).
- `production_subsidy`: the state pays its producers `subsidy` per unit of output, so they
  supply more at every price; the home price falls too (subsidisation).
- `overcapacity`: output capacity and the supply curve shifted out by `capacity_added`
  (a fraction of reference output): more is offered at every price, and in the short run
  the added capacity is there to use.
- `[[export_subsidies]]`: a subsidy per unit exported, paid by the exporter's treasury.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from ..pricing import route_prices
from .base import Entry, Family, Names, Price


class Dumping(Entry):
    """An exporter's dumping of a product."""

    exporter: str = Field(description="Region dumping (the goods' origin).")
    product: str = Field("*", description="Product, mineral name, or '*'.")
    kind: Literal["price_discrimination", "production_subsidy", "overcapacity"] = Field(
        "price_discrimination", description="Export-price discrimination, a production subsidy, or overcapacity.")
    margin: float | None = Field(None, ge=0, lt=1, description="price_discrimination: the export price's discount below the home price, as a fraction (0.3: 30% below).")
    destinations: Names = Field(default_factory=lambda: ["*"], description="price_discrimination: where it dumps (regions or groups).")
    subsidy: Price | None = Field(None, description="production_subsidy: USD per unit of output (or e.g. '5 USD/kg').")
    unit: str | None = Field(None, description="Unit of `subsidy` if not the product's unit.")
    capacity_added: float | None = Field(None, gt=0, description="overcapacity: capacity and supply added, as a fraction of reference output (0.3: 30% more).")

    @model_validator(mode="after")
    def _what_it_needs(self):
        need = {"price_discrimination": "margin", "production_subsidy": "subsidy", "overcapacity": "capacity_added"}[self.kind]
        if getattr(self, need) is None:
            raise ValueError(f"kind = '{self.kind}' needs {need}")
        return self


class ExportSubsidy(Entry):
    """A subsidy per unit exported, paid by the exporter's treasury."""

    exporter: str = Field(description="Region or group paying the subsidy (the goods' origin).")
    destinations: Names = Field(default_factory=lambda: ["*"], description="Regions or groups it covers.")
    product: str = Field("*", description="Product, mineral name, or '*'.")
    specific: Price = Field(0.0, description="USD per unit (or e.g. '1 USD/kg').")
    unit: str | None = Field(None, description="Unit of `specific` if not the product's unit.")
    ad_valorem: float = Field(0.0, ge=0, lt=1, description="Fraction of the exporter's (FOB) price.")


def apply(ctx) -> None:
    sc = ctx.scenario
    terms = ctx.market.routes.terms
    for i, s in enumerate(sc.export_subsidies):
        key = f"export_subsidies[{i}]"
        products = ctx.products_of(s.product, f"{key}.product")
        sel = ctx.routes(ctx.regions_of(s.exporter, f"{key}.exporter"), ctx.many(s.destinations, f"{key}.destinations"), products)
        terms.subsidy_rate[sel] += s.ad_valorem
        per_product = ctx.specific(s.specific, s.unit, products, f"{key}.specific") if s.specific else {}
        for product, value in (per_product or {}).items():
            terms.subsidy_specific[sel & (ctx.route_product == product)] += value

    supply, refining = ctx.market.supply, ctx.market.refining
    for i, d in enumerate(sc.dumping):
        key = f"dumping[{i}]"
        exporters = ctx.regions_of(d.exporter, f"{key}.exporter")
        products = ctx.products_of(d.product, f"{key}.product")
        if d.kind == "price_discrimination":
            sel = ctx.routes(exporters, ctx.many(d.destinations, f"{key}.destinations"), products)
            terms.dumping_margin[sel] = d.margin
            if not sel.any():
                ctx.notes.append(f"{key}: {d.exporter} has no export route of {d.product}; nothing is dumped")
            continue
        hit = 0
        for table, column in ((supply, "product"), (refining, "output")):
            sel = np.isin(table.region, list(exporters)) & np.isin(getattr(table, column), list(products))
            hit += int(sel.sum())
            if d.kind == "production_subsidy":
                per_product = ctx.specific(d.subsidy, d.unit, products, f"{key}.subsidy") or {}
                for product, value in per_product.items():
                    table.subsidy[sel & (getattr(table, column) == product)] += value
            else:   # overcapacity: the curve and the capacity move out by the added share of reference output
                reference = _reference_output(ctx, table is supply)
                table.intercept[sel] += d.capacity_added * reference[sel]
                added = ctx.supply_capacity_added if table is supply else ctx.refining_capacity_added
                added[sel] += d.capacity_added * reference[sel]
        if hit == 0:
            ctx.notes.append(f"{key}: no producer of {d.product} in {d.exporter}; nothing changes")


def _reference_output(ctx, supply: bool) -> np.ndarray:
    frame = ctx.data.supply if supply else ctx.data.processing
    return frame["ref_quantity"].astype(float).fillna(0.0).to_numpy()


def describe(scenario, data) -> list[str]:
    out = []
    for d in scenario.dumping:
        if d.kind == "price_discrimination":
            out.append(f"{d.exporter} dumps {d.product}: it sells to {', '.join(d.destinations)} at {d.margin:.0%} below its home price.")
        elif d.kind == "production_subsidy":
            out.append(f"{d.exporter} subsidises its {d.product} output by {d.subsidy} {d.unit or 'USD per unit'}.")
        else:
            out.append(f"{d.exporter} adds {d.capacity_added:.0%} of reference output to its {d.product} capacity (overcapacity).")
    for s in scenario.export_subsidies:
        out.append(f"{s.exporter} subsidises its exports of {s.product} to {', '.join(s.destinations)}"
                   + (f" by {s.specific} {s.unit or 'USD per unit'}" if s.specific else "")
                   + (f" by {s.ad_valorem:.0%} of the FOB price" if s.ad_valorem else "") + ".")
    return out


def check(results) -> list[tuple]:
    """Export subsidies and dumping discounts as the rule computes them from the reported
    exporter price, against what the solver used."""
    a = results.route_detail
    if not len(a):
        return []
    rule = route_prices(a["exporter_price"], results.route_terms)
    gap = (np.abs(a["export_subsidy"] - rule.export_subsidy) + np.abs(a["dumping_discount"] - rule.dumping_discount)) / a["price_scale"]
    return [("export subsidy and dumping", a["destination"], a["product"], results.route_label, gap)]


FAMILY = Family(
    name="dumping and export subsidies",
    fields={
        "export_subsidies": (list[ExportSubsidy], Field(default_factory=list, description="Subsidies per unit exported.")),
        "dumping": (list[Dumping], Field(default_factory=list, description="Dumping: export-price discrimination, production subsidy or overcapacity.")),
    },
    apply=apply, describe=describe, check=check, doc=__doc__,
    examples={"dumping": '[[dumping]]\nexporter = "CHN"\nproduct = "graphite_refined"\nkind = "price_discrimination"\nmargin = 0.3'},
)
