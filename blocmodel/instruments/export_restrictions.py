"""Export restrictions: an exporter's ban or quota on goods it makes, to named destinations.

A ban closes every route from the exporter's producers to the destinations (regions,
groups, 'bloc', 'non_members' or '*'; never the exporter's own market). Because goods keep
their origin, a ban cannot be undone by re-export: a third country can pass on only what
it makes (refining confers origin). A quota caps the total the exporter ships to the
destinations, per product; the licences to export are worth the gap between the
importers' and the exporter's prices (the quota rent), held by `rent_to`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from ..problem import Coupling
from .base import Entry, Family, Names


class ExportRestriction(Entry):
    """An exporter's ban, or quota over a set of destinations."""

    exporter: str = Field(description="Region or group restricting exports of what it makes.")
    destinations: Names = Field(default_factory=lambda: ["*"], description="Regions, groups, 'bloc', 'non_members' or '*'.")
    product: str = Field("*", description="Product, mineral name, or '*'.")
    ban: bool = Field(False, description="No exports at all to the destinations.")
    quota: float | None = Field(None, ge=0, description="Most that may be exported to all the destinations together, units per year (per product).")
    rent_to: Literal["exporter", "importer"] = Field("exporter", description="Who holds the licences and so the quota rent.")

    @model_validator(mode="after")
    def _ban_or_quota(self):
        if self.ban == (self.quota is not None):
            raise ValueError("give exactly one of ban = true or quota")
        return self


def apply(ctx) -> None:
    routes = ctx.market.routes
    n = len(routes)
    restricted_by = np.full(n, -1)
    banned = np.zeros(n, dtype=bool)
    for i, r in enumerate(ctx.scenario.export_restrictions):
        key = f"export_restrictions[{i}]"
        exporters = ctx.regions_of(r.exporter, f"{key}.exporter")
        products = ctx.products_of(r.product, f"{key}.product")
        sel = ctx.routes(exporters, ctx.many(r.destinations, f"{key}.destinations"), products)
        clash = np.flatnonzero(sel & (restricted_by >= 0) & ~(banned & r.ban))
        if len(clash):
            j = clash[0]
            what = ("a ban on a route already under a quota" if r.ban else
                    "a quota on a route already banned" if banned[j] else "a quota on a route already under another quota")
            more = f" and {len(clash) - 1} more" if len(clash) > 1 else ""
            ctx.problem(f"{what} by {ctx.where(f'export_restrictions[{int(restricted_by[j])}]', key)}: "
                        f"{routes.origin[j]}->{routes.destination[j]} ({routes.product[j]}){more}",
                        f"{key}.{'ban' if r.ban else 'quota'}", "give each route at most one ban or quota")
        restricted_by[sel & (restricted_by < 0)] = i
        if r.ban:
            banned |= sel
            for j in np.flatnonzero(sel):
                ctx.market.closures.setdefault(int(j), f"export ban {routes.origin[j]}->{routes.destination[j]} ({routes.product[j]}) by {key}")
            continue
        for exporter in sorted(exporters):
            for product in sorted(products):
                idx = np.flatnonzero(sel & (routes.origin == exporter) & (routes.product == product))
                if len(idx):
                    ctx.market.couplings.append(Coupling(
                        routes=idx, limit=float(r.quota), cap_specific=np.full(len(idx), np.inf), cap_rate=np.zeros(len(idx)),
                        rent_to=r.rent_to, kind="export_restrictions", product=product,
                        label=f"{key}: export quota of {exporter} on {product}"))
    routes.capacity[banned] = 0.0


def describe(scenario, data) -> list[str]:
    out = []
    for r in scenario.export_restrictions:
        to = ", ".join(r.destinations)
        if r.ban:
            out.append(f"{r.exporter} bans exports of {r.product} it makes to {to}.")
        else:
            out.append(f"{r.exporter} caps its exports of {r.product} to {to} at {r.quota:,.6g} units a year (rent to the {r.rent_to}).")
    return out


def check(results) -> list[tuple]:
    """Banned routes carry nothing; each quota holds, its rent is the same on every licensed
    route and positive only when the quota is full."""
    rows = []
    a = results.route_detail
    banned = a["capacity"] <= 0
    if banned.any():
        rows.append(("export ban", a["destination"][banned], a["product"][banned], results.route_label[banned],
                     a["flow"][banned] / a["quantity_scale"][banned]))
    rows += coupling_check(results, "export_restrictions")
    return rows


def coupling_check(results, kind: str) -> list[tuple]:
    """Quota rules shared by export quotas and tariff-rate quotas, from the reported licence
    prices: licensed flow within the limit; a licence price only where the quota is full;
    every licensed route paying the same licence price (its cap aside)."""
    rows = []
    detail = results.coupling_detail
    for c in detail:
        if c["kind"] != kind:
            continue
        q_scale, p_scale = c["quantity_scale"], c["price_scale"]
        licensed = float(np.sum(c["licensed_flow"]))
        rows.append(("quota limit", [c["holder"]], [c["product"]], [c["label"]], [max(0.0, licensed - c["limit"]) / q_scale]))
        if c["licence_price"] > 1e-9 * p_scale:
            rows.append(("quota rent", [c["holder"]], [c["product"]], [c["label"] + " (full when a rent is paid)"],
                         [abs(licensed - c["limit"]) / q_scale]))
        if np.isfinite(c["cap"]).any():       # a licence is never worth more than the largest rate gap
            rows.append(("quota rent", [c["holder"]], [c["product"]], [c["label"] + " (licence ≤ rate gap)"],
                         [max(0.0, c["licence_price"] - float(np.max(c["cap"]))) / p_scale]))
            # a route takes licences for all its units while they are cheaper than its rate gap and
            # for none once dearer; only at a licence price equal to its gap may it split
            lam, cap, flow = c["licence_price"], np.asarray(c["cap"], dtype=float), np.asarray(c["flow"], dtype=float)
            tol = 1e-9 * p_scale
            whole = np.where(lam < cap - tol, flow, np.where(lam > cap + tol, 0.0, c["licensed_flow"]))
            rows.append(("quota rent", [c["holder"]] * len(flow), [c["product"]] * len(flow),
                         [c["label"] + " (licensed where cheaper than the gap)"] * len(flow),
                         np.abs(np.asarray(c["licensed_flow"]) - whole) / q_scale))
        # each route pays min(licence price, cap): recomputed here from the cap rule
        expected = np.minimum(c["licence_price"], c["cap"])
        rows.append(("quota rent", [c["holder"]] * len(expected), [c["product"]] * len(expected),
                     [c["label"] + " (rent per route)"] * len(expected), np.abs(c["route_licence"] - expected) / p_scale))
    return rows


FAMILY = Family(
    name="export restrictions",
    fields={"export_restrictions": (list[ExportRestriction], Field(default_factory=list, description="Export bans and quotas by origin."))},
    apply=apply, describe=describe, check=check, doc=__doc__,
    examples={"export_restrictions": '[[export_restrictions]]\nexporter = "CHN"\ndestinations = ["ministerial2026"]\nproduct = "rare_earths"\nban = true'},
)
