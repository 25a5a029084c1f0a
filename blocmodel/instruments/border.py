"""Border measures: tariffs, the bloc (free internal trade, a common external tariff) and
anti-dumping duties.

Order on a route (documented, fixed):
1. the dataset's MFN tariff (routes.csv);
2. `[[tariffs]]`, in file order, replace the rate(s) they give on the routes they match;
3. `[bloc]`: trade between members is tariff-free; a common external tariff, if given,
   replaces members' tariffs on non-members;
4. trade inside a customs union is always tariff-free, and a measure imposed by one member
   of a customs union applies to the whole union;
5. `[[anti_dumping]]` duties add to the above (a duty `margin = true` equals the exporter's
   dumping discount, `instruments/dumping.py`).
Ad valorem rates apply to the customs (CIF) value, floored at zero (`pricing.py`).
Goods keep their origin: "exporter" is where the goods were made.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field, model_validator

from ..pricing import route_prices
from .base import AdValorem, Entry, Family, Names, Price


class Bloc(AdValorem):
    """The preferential zone: its members and their common external tariff."""

    RATE_FIELDS: ClassVar[tuple[str, ...]] = ("external_tariff_ad_valorem",)
    members: Names = Field(default_factory=list, description="Region codes, country names and/or group names; a customs-union member brings its whole union.")
    external_tariff_ad_valorem: float | None = Field(None, ge=0, description="Common external tariff on imports from non-members, fraction of the CIF value (0.25 for 25%); replaces members' own tariffs.")
    external_tariff_specific: Price | None = Field(None, description="Common external tariff per unit: a number in USD per unit of each product, or e.g. '0.5 USD/kg'.")
    internal_free_trade: bool = Field(True, description="Trade between members is tariff-free.")
    prohibitive: bool = Field(False, description="Allow an external ad valorem rate above 100%.")
    source: str | None = Field(None, description="Where this design comes from.")


class Tariff(Entry, AdValorem):
    """A tariff an importer levies on goods made by an exporter (replaces the MFN rate)."""

    RATE_FIELDS: ClassVar[tuple[str, ...]] = ("ad_valorem",)
    exporter: str = Field("*", description="Where the goods are made: region, country name, group, 'non_members' or '*'.")
    importer: str = Field("*", description="Region, group, 'bloc' or '*' levying it (a customs-union member: the whole union).")
    product: str = Field("*", description="Product, mineral name, or '*'.")
    ad_valorem: float | None = Field(None, gt=-1, description="Fraction of the customs (CIF) value (0.25 for 25%; negative: an import subsidy).")
    specific: Price | None = Field(None, description="Per unit: USD per unit of the product, or e.g. '2 USD/kg'.")
    unit: str | None = Field(None, description="Unit of `specific` if not in the product's unit, e.g. 'USD/kg'.")
    prohibitive: bool = Field(False, description="Allow an ad valorem rate above 100%.")

    @model_validator(mode="after")
    def _some_rate(self):
        if self.ad_valorem is None and self.specific is None:
            raise ValueError("give ad_valorem and/or specific")
        return self


class AntiDumping(Tariff):
    """An anti-dumping duty on goods made by an exporter, on top of the tariff."""

    ad_valorem: float | None = Field(None, ge=0, description="Fraction of the customs (CIF) value (0.935 for 93.5%).")
    margin: bool = Field(False, description="Set the duty to the exporter's dumping margin (the discount of its export price below its home price; see [[dumping]]).")

    @model_validator(mode="after")
    def _some_rate(self):
        if self.ad_valorem is None and self.specific is None and not self.margin:
            raise ValueError("give ad_valorem, specific, or margin = true")
        return self


def apply(ctx) -> None:
    sc = ctx.scenario
    terms = ctx.market.routes.terms
    not_home = ~ctx.home
    for i, t in enumerate(sc.tariffs):
        key = f"tariffs[{i}]"
        products = ctx.products_of(t.product, f"{key}.product")
        sel = ctx.routes(ctx.regions_of(t.exporter, f"{key}.exporter"),
                         ctx.regions_of(t.importer, f"{key}.importer", expand_unions=True), products)
        if t.ad_valorem is not None:
            terms.tariff_rate[sel] = t.ad_valorem
        if t.specific is not None:
            per_product = ctx.specific(t.specific, t.unit, products, f"{key}.specific")
            for product, value in (per_product or {}).items():
                terms.tariff_specific[sel & (ctx.route_product == product)] = value

    members = ctx.members
    if members and sc.bloc is not None:
        bloc = sc.bloc
        origin_member, destination_member = ctx.member_routes(members)
        if bloc.internal_free_trade:
            internal = origin_member & destination_member
            terms.tariff_rate[internal] = 0.0
            terms.tariff_specific[internal] = 0.0
        external = destination_member & ~origin_member & not_home
        if bloc.external_tariff_ad_valorem is not None:
            terms.tariff_rate[external] = bloc.external_tariff_ad_valorem
        if bloc.external_tariff_specific is not None:
            per_product = ctx.specific(bloc.external_tariff_specific, None, set(ctx.data.product_codes), "bloc.external_tariff_specific")
            for product, value in (per_product or {}).items():
                terms.tariff_specific[external & (ctx.route_product == product)] = value

    terms.tariff_rate[ctx.same_union] = 0.0
    terms.tariff_specific[ctx.same_union] = 0.0

    for i, d in enumerate(sc.anti_dumping):
        key = f"anti_dumping[{i}]"
        products = ctx.products_of(d.product, f"{key}.product")
        sel = ctx.routes(ctx.regions_of(d.exporter, f"{key}.exporter"),
                         ctx.regions_of(d.importer, f"{key}.importer", expand_unions=True), products) & ~ctx.same_union
        terms.duty_rate[sel] += d.ad_valorem or 0.0
        if d.specific is not None:
            per_product = ctx.specific(d.specific, d.unit, products, f"{key}.specific")
            for product, value in (per_product or {}).items():
                terms.duty_specific[sel & (ctx.route_product == product)] += value
        if d.margin:
            terms.duty_matches_margin[sel] = True


def describe(scenario, data) -> list[str]:
    out = []
    bloc = scenario.bloc
    if bloc is not None and bloc.members:
        text = f"A bloc of {', '.join(bloc.members)}"
        text += " trades freely inside" if bloc.internal_free_trade else " keeps its internal tariffs"
        if bloc.external_tariff_ad_valorem is not None:
            text += f" and levies a common external tariff of {bloc.external_tariff_ad_valorem:.0%} of the CIF value on non-members"
        if bloc.external_tariff_specific is not None:
            text += f" and a common external tariff of {bloc.external_tariff_specific} per unit"
        out.append(text + ".")
    for t in scenario.tariffs:
        rate = " and ".join(x for x in (f"{t.ad_valorem:.1%} ad valorem" if t.ad_valorem is not None else "",
                                        f"{t.specific} {t.unit or 'USD per unit'} specific" if t.specific is not None else "") if x)
        out.append(f"{t.importer} sets a tariff of {rate} on {t.product} made in {t.exporter}.")
    for d in scenario.anti_dumping:
        rate = "equal to the dumping margin" if d.margin else " and ".join(
            x for x in (f"{d.ad_valorem:.1%}" if d.ad_valorem is not None else "",
                        f"{d.specific} {d.unit or 'USD per unit'}" if d.specific is not None else "") if x)
        out.append(f"{d.importer} levies an anti-dumping duty of {rate} on {d.product} made in {d.exporter}.")
    return out


def check(results) -> list[tuple]:
    """Each route's tariff and duty as the rule computes them from the reported exporter
    price, against what the solver charged."""
    a = results.route_detail
    if not len(a):
        return []
    rule = route_prices(a["exporter_price"], results.route_terms)
    gap = (np.abs(a["tariff"] - rule.tariff) + np.abs(a["anti_dumping"] - rule.anti_dumping)) / a["price_scale"]
    return [("border charges", a["destination"], a["product"], results.route_label, gap)]


FAMILY = Family(
    name="border measures",
    fields={
        "bloc": (Bloc | None, Field(None, description="The preferential zone: members, internal free trade, common external tariff.")),
        "tariffs": (list[Tariff], Field(default_factory=list, description="Tariffs by importer, exporter (origin) and product.")),
        "anti_dumping": (list[AntiDumping], Field(default_factory=list, description="Anti-dumping duties on named exporters.")),
    },
    tables=("bloc",),
    apply=apply, describe=describe, check=check,
    doc=__doc__,
    examples={
        "bloc": '[bloc]\nmembers = ["ministerial2026"]\nexternal_tariff_ad_valorem = 0.25',
        "tariffs": '[[tariffs]]\nexporter = "CHN"\nimporter = "USA"\nproduct = "lithium"\nad_valorem = 0.25\nsource = "USTR Section 301, 2024"',
        "anti_dumping": '[[anti_dumping]]\nexporter = "CHN"\nimporter = "USA"\nproduct = "graphite_refined"\nad_valorem = 0.935',
    },
)
