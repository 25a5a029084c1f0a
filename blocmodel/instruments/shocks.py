"""Supply shocks: a region's producers (mines or refineries) lose or gain output, capacity
or cost, or receive a production subsidy.

`quantity_change` shifts the curve horizontally by a share of reference output (−0.3: 30%
less at every price); `capacity_factor` multiplies capacity (or, where none is given,
caps output at that share of reference output) and binds in every horizon; `cost_change`
raises marginal cost per unit; `production_subsidy` is paid per unit by the region's
treasury (see also `[[dumping]] kind = "production_subsidy"`).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from .base import Entry, Family, Price


class SupplyShock(Entry):
    """A shift of a region's supply (or refining) curve."""

    region: str = Field(description="Region or group whose producers are hit.")
    product: str = Field("*", description="Product, mineral name, or '*'; a refined product made by refining shifts the refineries.")
    quantity_change: float = Field(0.0, ge=-1, description="Horizontal shift as a fraction of reference output (−0.3: 30% less at every price).")
    capacity_factor: float | None = Field(None, ge=0, description="Multiplies capacity (or caps output at this fraction of reference output where no capacity is given); 0 shuts it. Binds in both horizons.")
    cost_change: Price = Field(0.0, description="Change of marginal cost, USD per unit (positive: dearer), or e.g. '2 USD/kg'.")
    production_subsidy: Price = Field(0.0, description="Subsidy per unit paid by the region's treasury to its producers.")
    unit: str | None = Field(None, description="Unit of cost_change and production_subsidy if not the product's unit.")


def apply(ctx) -> None:
    data = ctx.data
    tables = ((ctx.market.supply, "product", data.supply, ctx.imposed_supply_capacity),
              (ctx.market.refining, "output", data.processing, ctx.imposed_refining_capacity))
    for i, s in enumerate(ctx.scenario.supply_shocks):
        key = f"supply_shocks[{i}]"
        regions = ctx.regions_of(s.region, f"{key}.region")
        products = ctx.products_of(s.product, f"{key}.product")
        cost = ctx.specific(s.cost_change, s.unit, products, f"{key}.cost_change") if s.cost_change else {}
        subsidy = ctx.specific(s.production_subsidy, s.unit, products, f"{key}.production_subsidy") if s.production_subsidy else {}
        hit = 0
        for table, column, frame, imposed in tables:
            made = getattr(table, column)
            sel = np.isin(table.region, list(regions)) & np.isin(made, list(products))
            hit += int(sel.sum())
            reference = frame["ref_quantity"].astype(float).to_numpy()
            table.intercept[sel] += s.quantity_change * np.nan_to_num(reference[sel])
            for product in products:
                on = sel & (made == product)
                change = (cost or {}).get(product, 0.0)
                table.intercept[on] -= table.slope[on] * change
                if table is ctx.market.refining:       # a refinery at a constant unit cost: the cost itself
                    table.unit_cost[on & table.constant_cost] += change
                table.subsidy[on] += (subsidy or {}).get(product, 0.0)
            if s.capacity_factor is not None:
                capacity = frame["capacity"].astype(float).to_numpy()
                base = np.where(np.isfinite(capacity) & ~np.isnan(capacity), capacity, reference)
                unscalable = np.isnan(base)
                if (sel & unscalable).any() and s.capacity_factor > 0:
                    where = ", ".join(sorted(set(table.region[sel & unscalable])))
                    ctx.notes.append(f"{key}: refining in {where} has neither a capacity nor a ref_quantity; capacity_factor leaves it unlimited")
                cap = np.where(unscalable, 0.0 if s.capacity_factor == 0 else np.inf, base * s.capacity_factor)
                imposed[sel] = np.minimum(imposed[sel], cap[sel])
        if hit == 0:
            ctx.notes.append(f"{key}: no producer of {s.product} in {s.region}; the shock changes nothing")


def describe(scenario, data) -> list[str]:
    out = []
    for s in scenario.supply_shocks:
        parts = []
        if s.quantity_change:
            parts.append(f"output {s.quantity_change:+.0%} at every price")
        if s.capacity_factor is not None:
            parts.append("shut" if s.capacity_factor == 0 else f"capacity × {s.capacity_factor:g}")
        if s.cost_change:
            parts.append(f"cost {s.cost_change:+} {s.unit or 'USD per unit'}")
        if s.production_subsidy:
            parts.append(f"a production subsidy of {s.production_subsidy} {s.unit or 'USD per unit'}")
        out.append(f"Producers of {s.product} in {s.region}: {', '.join(parts) or 'no change'}.")
    return out


FAMILY = Family(
    name="supply shocks",
    fields={"supply_shocks": (list[SupplyShock], Field(default_factory=list, description="Shifts of supply and refining curves, capacity cuts, subsidies."))},
    apply=apply, describe=describe, doc=__doc__,
    examples={"supply_shocks": '[[supply_shocks]]\nregion = "COD"\nproduct = "cobalt_mined"\nquantity_change = -0.3'},
)
