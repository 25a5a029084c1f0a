"""Stockpile purchases and releases of a fixed quantity.

A purchase (positive `quantity`) is bought by a region's reserve in its own market, from
whoever supplies that market; a release (negative) is offered by the region's producers'
side (so it can be sold at home or exported, with the region as origin), or, where the
region makes none of the product, straight to its own buyers. Stock purchases are
reported apart from use: they do not count as consumption in dependency indicators.
Price-holding reserves are floors (`floors.py`).
"""

from __future__ import annotations

from pydantic import Field

from .base import Entry, Family


class Stockpile(Entry):
    """A fixed purchase (positive) or release (negative) by a strategic reserve."""

    region: str = Field(description="Region whose reserve trades.")
    product: str = Field(description="Product.")
    quantity: float = Field(description="Units per year: positive buys, negative releases.")


def apply(ctx) -> None:
    if not ctx.scenario.stockpile:
        return
    market = ctx.market
    producers = set(zip(market.supply.region, market.supply.product)) | set(zip(market.refining.region, market.refining.output))
    buyers = set(zip(market.demand.region, market.demand.product)) | set(zip(market.refining.region, market.refining.input))
    for i, s in enumerate(ctx.scenario.stockpile):
        key = f"stockpile[{i}]"
        regions = ctx.regions_of(s.region, f"{key}.region")
        if len(regions) > 1:
            ctx.problem(f"'{s.region}' names {len(regions)} regions; a stockpile trades in one region's market", f"{key}.region")
            continue
        product = ctx.product(s.product, f"{key}.product")
        if not regions or product is None:
            continue
        region = next(iter(regions))
        node = (region, product)
        if s.quantity >= 0:
            if node not in buyers:
                ctx.problem(f"{region} does not buy {product}, so its reserve cannot buy there", f"{key}.region",
                            "buy where the product is used")
                continue
            market.purchases[node] = market.purchases.get(node, 0.0) + s.quantity
            market.purchase_keys[node] = key
        elif node in producers:
            market.releases[node] = market.releases.get(node, 0.0) - s.quantity
        elif node in buyers:
            market.purchases[node] = market.purchases.get(node, 0.0) + s.quantity
            ctx.notes.append(f"{key}: {region} makes no {product}; the release goes straight to its own buyers")
        else:
            ctx.problem(f"{region} neither makes nor uses {product}", f"{key}.region")


def describe(scenario, data) -> list[str]:
    return [f"{s.region}'s reserve {'buys' if s.quantity > 0 else 'releases'} {abs(s.quantity):,.6g} units of {s.product} a year."
            for s in scenario.stockpile]


FAMILY = Family(
    name="stockpile",
    fields={"stockpile": (list[Stockpile], Field(default_factory=list, description="Fixed stockpile purchases and releases."))},
    apply=apply, describe=describe, doc=__doc__,
    examples={"stockpile": '[[stockpile]]\nregion = "USA"\nproduct = "ndpr_oxide"\nquantity = -500'},
)
