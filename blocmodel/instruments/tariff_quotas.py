"""Tariff-rate quotas: a low in-quota rate up to a quantity, a higher rate beyond it.

The importer's tariff on the covered routes becomes the in-quota rate. The quota is held
by licences whose price λ is common to every covered route; a route pays in-quota rate +
min(λ, out-of-quota rate − in-quota rate), so:
- quota not filled: λ = 0, every unit pays the in-quota rate;
- quota filled: 0 < λ ≤ rate gap, imports equal the quota, λ × quota is the quota rent
  (held by `rent_to`);
- over-quota imports: λ reaches the rate gap on the marginal route, which pays the
  out-of-quota rate on what it brings beyond the quota.
Rates apply to the customs (CIF) value (ad valorem) or per unit (specific).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from ..problem import Coupling
from .base import AdValorem, Entry, Family, Price
from .export_restrictions import coupling_check


class TariffRateQuota(Entry, AdValorem):
    """An importer's tariff-rate quota on a product from a set of exporters."""

    RATE_FIELDS: ClassVar[tuple[str, ...]] = ("in_quota_ad_valorem", "out_of_quota_ad_valorem")
    importer: str = Field(description="Region or group applying it (a customs-union member: the whole union).")
    exporters: str = Field("*", description="Whose goods it covers (origin): region, group, 'non_members' or '*'.")
    product: str = Field(description="Product or mineral.")
    quota: float = Field(ge=0, description="In-quota quantity, units per year, over all covered routes.")
    in_quota_ad_valorem: float = Field(0.0, ge=0, description="In-quota rate, fraction of the CIF value.")
    in_quota_specific: Price = Field(0.0, description="In-quota rate per unit.")
    out_of_quota_ad_valorem: float = Field(0.0, ge=0, description="Out-of-quota rate, fraction of the CIF value.")
    out_of_quota_specific: Price = Field(0.0, description="Out-of-quota rate per unit.")
    unit: str | None = Field(None, description="Unit of the specific rates if not the product's unit.")
    rent_to: Literal["importer", "exporter"] = Field("importer", description="Who holds the licences and so the quota rent.")
    prohibitive: bool = Field(False, description="Allow an out-of-quota rate above 100%.")

    @model_validator(mode="after")
    def _out_above_in(self):
        if self.out_of_quota_ad_valorem < self.in_quota_ad_valorem:
            raise ValueError("the out-of-quota rate must be at least the in-quota rate")
        return self


def apply(ctx) -> None:
    terms = ctx.market.routes.terms
    for i, q in enumerate(ctx.scenario.tariff_quotas):
        key = f"tariff_quotas[{i}]"
        products = ctx.products_of(q.product, f"{key}.product")
        sel = ctx.routes(ctx.regions_of(q.exporters, f"{key}.exporters"),
                         ctx.regions_of(q.importer, f"{key}.importer", expand_unions=True), products) & ~ctx.same_union
        inside = ctx.specific(q.in_quota_specific, q.unit, products, f"{key}.in_quota_specific") or {}
        outside = ctx.specific(q.out_of_quota_specific, q.unit, products, f"{key}.out_of_quota_specific") or {}
        for product in sorted(products):
            idx = np.flatnonzero(sel & (ctx.route_product == product))
            if not len(idx):
                continue
            gap_specific = outside.get(product, 0.0) - inside.get(product, 0.0)
            if gap_specific < 0:
                ctx.problem("the out-of-quota rate must be at least the in-quota rate", f"{key}.out_of_quota_specific")
                continue
            terms.tariff_rate[idx] = q.in_quota_ad_valorem
            terms.tariff_specific[idx] = inside.get(product, 0.0)
            ctx.market.couplings.append(Coupling(
                routes=idx, limit=float(q.quota), cap_specific=np.full(len(idx), gap_specific),
                cap_rate=np.full(len(idx), q.out_of_quota_ad_valorem - q.in_quota_ad_valorem),
                rent_to=q.rent_to, kind="tariff_quotas", product=product,
                label=f"{key}: tariff-rate quota of {q.importer} on {product}"))


def describe(scenario, data) -> list[str]:
    return [f"{q.importer} admits {q.quota:,.6g} units a year of {q.product} from {q.exporters} at "
            f"{q.in_quota_ad_valorem:.0%}{f' + {q.in_quota_specific}' if q.in_quota_specific else ''}, and more at "
            f"{q.out_of_quota_ad_valorem:.0%}{f' + {q.out_of_quota_specific}' if q.out_of_quota_specific else ''} (rent to the {q.rent_to})."
            for q in scenario.tariff_quotas]


def check(results) -> list[tuple]:
    return coupling_check(results, "tariff_quotas")


FAMILY = Family(
    name="tariff-rate quotas",
    fields={"tariff_quotas": (list[TariffRateQuota], Field(default_factory=list, description="Tariff-rate quotas by importer."))},
    apply=apply, describe=describe, check=check, doc=__doc__,
    examples={"tariff_quotas": '[[tariff_quotas]]\nimporter = "USA"\nexporters = "CHN"\nproduct = "graphite_refined"\nquota = 5000\nin_quota_ad_valorem = 0.0\nout_of_quota_ad_valorem = 0.5'},
)
