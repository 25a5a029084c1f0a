"""What the negotiation table shows of one solved design: plain tables of numbers and text.

`design_view(results, baseline, ...)` reads a design's results against the no-policy
baseline of the same horizon and returns a `View`: headline changes, members' gains and
losses, dependency before and after, prices, fiscal cost and who pays, floor status and the
plain-language findings. A view holds no DataFrame and no Results: it is small, so views
are cached and pinned designs keep theirs. Every number keeps its exact value beside its
text (`value`), which the page carries in a data attribute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..findings import key_findings, money, unit_price
from ..indicators import bloc_dependency

FOCUS = "CHN"
KEY_PRODUCTS = ("ndpr_oxide", "graphite_refined", "lithium_refined", "cobalt_refined", "nickel_refined", "gallium_refined",
                "germanium_refined")
STATUS_WORDS = {"binds": "holds", "prohibitive": "prohibitive: non-member supply shut out, price below the floor",
                "cannot bind": "cannot bind: the markets export it, so its price is set abroad", "budget-limited": "budget-limited",
                "slack": "slack: not needed", "no producers": "no producers: no one to pay"}


@dataclass
class View:
    title: str
    horizon: str
    members: list[str]                      # the bloc's regions as resolved (customs unions whole)
    reference_members: list[str]            # whose dependency is shown (the bloc, else the ministerial partners)
    headline: dict[str, Any]
    findings: list[str]
    member_rows: list[dict[str, Any]]
    other_rows: list[dict[str, Any]]
    dependency_rows: list[dict[str, Any]]
    price_rows: list[dict[str, Any]]
    payer_rows: list[dict[str, Any]]
    recipient_rows: list[dict[str, Any]]
    floor_rows: list[dict[str, Any]]
    notes: list[str]
    solve_seconds: float
    max_residual: float | None
    summary: dict[str, Any] = field(default_factory=dict)


def short_name(name: str) -> str:
    """'EU members that did not attend (AUT, BGR, ...)' -> 'EU members that did not attend'."""
    return name.split(" (")[0] if len(name) > 32 and " (" in name else name


def product_label(product: str, stage: str | None = None, mineral: str | None = None) -> str:
    """As the findings name products: 'NdPr oxide', 'refined lithium', 'mined rare earths'."""
    if product == "ndpr_oxide":
        return "NdPr oxide"
    if mineral and stage and product == f"{mineral}_{stage}":
        return f"{stage} {mineral.replace('_', ' ')}"
    return product.replace("_", " ")


def pct(x: float | None) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.0%}"


def usd_m(usd: float) -> str:
    """USD per year in USD m with a sign, never '-0'."""
    value = usd / 1e6
    if abs(value) < 0.05:
        return "0.0"
    return f"{value:+,.1f}".replace("-", "−")


def _finite(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _weighted(frame: pd.DataFrame, value: str, weight: str) -> dict[str, float]:
    """Per product, the `weight`-weighted mean of `value` over the rows with a positive weight."""
    w = frame[weight].to_numpy(dtype=float)
    v = frame[value].to_numpy(dtype=float)
    ok = np.isfinite(v) & (w > 0)
    sums = pd.DataFrame({"product": frame["product"].to_numpy()[ok], "vw": v[ok] * w[ok], "w": w[ok]}).groupby("product").sum()
    return (sums["vw"] / sums["w"]).to_dict()


def _parts(amounts: dict[str, float]) -> str:
    """'reserve purchases' for one kind of cost; each with its amount when there are several."""
    kinds = {k: v for k, v in amounts.items() if abs(v) >= 1.0}
    if len(kinds) == 1:
        return next(iter(kinds))
    return ", ".join(f"{k} {money(v).lstrip('+')}" for k, v in kinds.items())


def _pair(before: float | None, after: float | None, scale: float) -> dict[str, Any]:
    """A price before and after in the quoted unit, with its change."""
    digits = lambda v: "–" if v is None else (f"{v / scale:,.1f}" if v / scale < 10_000 else f"{v / scale:,.0f}")  # noqa: E731
    change = None if before is None or after is None or before == 0 else (after - before) / before
    return {"text": f"{digits(before)} → {digits(after)}", "change": change, "moved": change is not None and abs(change) >= 0.0005}


def design_view(results, baseline, title: str = "") -> View:
    """The view of `results` against `baseline` (no policy, same horizon)."""
    data = results.data
    name = {r: short_name(str(n)) for r, n in zip(data.regions["region"], data.regions["name"])}
    full_name = dict(zip(data.regions["region"], data.regions["name"]))
    stage, mineral = data.stage, data.mineral_of
    label = {p: product_label(p, stage.get(p), mineral.get(p)) for p in data.product_codes}
    no_data = set(data.no_data_regions)
    members = sorted(results.policy.members)
    reference = results.reference_members()

    change = results.welfare_change(baseline).set_index("region")
    total = change["total"]
    bloc_change = float(total.reindex(members).sum()) if members else None
    world_change = float(total.sum())
    fiscal = change["fiscal_cost"]
    members_fiscal = float(fiscal.reindex(members).sum()) if members else float(fiscal.sum())

    # --------------------------------------------------- who gains, who pays
    grid = change.to_numpy()                     # one row per region, as `change` (no pandas per row)
    position, column = {r: k for k, r in enumerate(change.index)}, {c: k for k, c in enumerate(change.columns)}

    def row(region: str) -> dict[str, Any]:
        values = grid[position[region]]
        c = {name: float(values[k]) for name, k in column.items()}
        producers = float(c["producer_surplus"] + c["capacity_rent"] + c["refiner_rent"])
        other = float(c["total"] - c["consumer_surplus"] - producers - c["tariff_revenue"] + c["fiscal_cost"])
        return {"region": region, "name": name[region], "full_name": full_name[region], "no_data": region in no_data,
                "value": float(c["total"]), "text": usd_m(float(c["total"])),
                "consumers": usd_m(float(c["consumer_surplus"])), "producers": usd_m(producers),
                "border": usd_m(float(c["tariff_revenue"])), "treasury": usd_m(-float(c["fiscal_cost"])), "other": usd_m(other)}

    member_rows = sorted((row(r) for r in members), key=lambda x: (x["no_data"], -x["value"], x["name"]))
    others = [r for r in change.index if r not in set(members)]
    other_rows = sorted((row(r) for r in others if abs(float(total[r])) >= 5e4), key=lambda x: -abs(x["value"]))[:8]

    # --------------------------------------------------- dependency
    before = bloc_dependency(baseline, reference).set_index("product")
    after = bloc_dependency(results, reference).set_index("product")
    dependency_rows = []
    for product in data.product_codes:
        if product not in after.index or not (after.at[product, "use"] > 0):
            continue
        b = before.loc[product] if product in before.index else None
        a = after.loc[product]
        get = lambda frame, col: None if frame is None else _finite(frame[col])  # noqa: E731
        rowd = {"product": product, "label": label[product], "key": product in KEY_PRODUCTS,
                "focus_before": get(b, "focus_share"), "focus_after": get(a, "focus_share"),
                "non_member_before": get(b, "non_member_share"), "non_member_after": get(a, "non_member_share")}
        for k in ("focus", "non_member"):
            x, y = rowd[f"{k}_before"], rowd[f"{k}_after"]
            rowd[f"{k}_text"] = f"{pct(x)} → {pct(y)}"
            rowd[f"{k}_moved"] = x is not None and y is not None and abs(y - x) >= 0.005
        rowd["shown"] = rowd["key"] or rowd["focus_moved"] or rowd["non_member_moved"]
        dependency_rows.append(rowd)

    # --------------------------------------------------- prices
    m1 = results.markets
    m0 = baseline.markets
    in_bloc1 = m1[m1["region"].isin(reference)]
    in_bloc0 = m0[m0["region"].isin(reference)]
    buyers_after, buyers_before = _weighted(in_bloc1, "price", "use"), _weighted(in_bloc0, "price", "use")
    producers_after, producers_before = _weighted(in_bloc1, "producer_price", "production"), _weighted(in_bloc0, "producer_price", "production")
    focus1 = m1[m1["region"] == FOCUS].set_index("product")["price"].to_dict()
    focus0 = m0[m0["region"] == FOCUS].set_index("product")["price"].to_dict()
    price_rows = []
    reference_price = results.policy.reference.product_price
    for product in data.product_codes:
        buyers1, buyers0 = buyers_after.get(product), buyers_before.get(product)
        producers1, producers0 = producers_after.get(product), producers_before.get(product)
        if buyers1 is None and producers1 is None:
            continue
        china = _finite(focus1[product]) if product in focus1 else None
        china0 = _finite(focus0[product]) if product in focus0 else None
        mass = data.unit[product].split(" ")[0]
        per_kg = mass == "t" and reference_price[product] >= 1000       # quoted as negotiators quote it
        scale, unit = (1000.0, "USD/kg") if per_kg else (1.0, f"USD/{mass}")
        price_rows.append({"product": product, "label": label[product], "key": product in KEY_PRODUCTS, "unit": unit,
                           "buyers": _pair(buyers0, buyers1, scale), "producers": _pair(producers0, producers1, scale),
                           "china": _pair(china0, china, scale), "buyers_value": buyers1, "producers_value": producers1})
        price_rows[-1]["shown"] = product in KEY_PRODUCTS or price_rows[-1]["buyers"]["moved"] or price_rows[-1]["producers"]["moved"]

    # --------------------------------------------------- fiscal cost: who pays, who receives
    parts = ["deficiency_payments", "reserve_purchases", "production_subsidies", "export_subsidies", "stockpile_spending"]
    payer_rows = []
    for region in change.index:
        cost = float(fiscal[region])
        if abs(cost) < 1.0:
            continue
        payer_rows.append({"region": region, "name": name[region], "member": region in set(members), "value": cost,
                           "text": money(cost).lstrip("+"),
                           "parts": _parts({p.replace("_", " "): float(change.at[region, p]) for p in parts})})
    payer_rows.sort(key=lambda x: -x["value"])
    received: dict[str, float] = {}
    for detail, quantity in ((results.supply_detail, "quantity"), (results.refining_detail, "output_quantity")):
        paid = (detail["deficiency_payment"] * detail[quantity]).groupby(detail["region"]).sum()
        for region, v in paid.items():
            if v > 0:
                received[region] = received.get(region, 0.0) + float(v)
    reserve = results.reserve_detail
    sold: dict[str, float] = {}
    if len(reserve):
        for region, v in (reserve["quantity"] * reserve["producer_price"]).groupby(reserve["origin"]).sum().items():
            if v > 0:
                sold[region] = float(v)
    recipient_rows = sorted(
        ({"region": r, "name": name[r], "value": received.get(r, 0.0) + sold.get(r, 0.0),
          "text": money(received.get(r, 0.0) + sold.get(r, 0.0)).lstrip("+"),
          "how": " and ".join(x for x in ("deficiency payments" if r in received else "", "sales to the reserve" if r in sold else "") if x)}
         for r in set(received) | set(sold)), key=lambda x: -x["value"])

    # --------------------------------------------------- floors
    floor_rows = []
    floors = results.floors if results.policy.floors else pd.DataFrame()
    for spec in results.policy.floors:
        g = floors[floors["floor"] == spec.label] if len(floors) else floors
        counts = g["status"].value_counts() if len(g) else pd.Series(dtype=int)
        buyers, producers = g["buyers_price"].dropna() if len(g) else [], g["producers_price"].dropna() if len(g) else []
        span = lambda s: ("–" if not len(s) else unit_price(results, spec.product, float(s.min())) + (  # noqa: E731
            "" if float(s.max()) <= float(s.min()) * (1 + 1e-6) else f" – {unit_price(results, spec.product, float(s.max()))}"))
        status = "binds" if counts.get("binds", 0) else (counts.index[0] if len(counts) else "slack")
        floor_rows.append({
            "product": spec.product, "label": label[spec.product], "mechanism": spec.mechanism.replace("_", " "),
            "floor": unit_price(results, spec.product, spec.price), "status": status,
            "states": ", ".join(f"{STATUS_WORDS.get(k, k).split(':')[0]} in {v}" for k, v in counts.items()),
            "explain": STATUS_WORDS.get(status, status), "buyers": span(buyers), "producers": span(producers),
            "levy": money(float(g["levy_collected"].sum())).lstrip("+") if len(g) else "–",
            "budget": money(spec.budget).lstrip("+") if spec.budget else "",
            "markets": [{"name": name.get(r["market"], r["market"]), "status": r["status"],
                         "buyers": unit_price(results, spec.product, r["buyers_price"]) if np.isfinite(r["buyers_price"]) else "–",
                         "producers": unit_price(results, spec.product, r["producers_price"]) if np.isfinite(r["producers_price"]) else "–"}
                        for r in g.to_dict("records")]})

    findings = key_findings(results, baseline)
    headline = {
        "bloc": bloc_change, "bloc_text": money(bloc_change) if bloc_change is not None else "no bloc",
        "world": world_change, "world_text": money(world_change),
        "focus": float(total.get(FOCUS, 0.0)), "focus_text": money(float(total.get(FOCUS, 0.0))),
        "fiscal": members_fiscal, "fiscal_text": money(members_fiscal).lstrip("+") if abs(members_fiscal) >= 1 else "none",
        "members": len(members)}
    view = View(title=title or results.scenario.title or "", horizon=results.scenario.horizon, members=members,
                reference_members=reference, headline=headline, findings=findings, member_rows=member_rows,
                other_rows=other_rows, dependency_rows=dependency_rows, price_rows=price_rows, payer_rows=payer_rows,
                recipient_rows=recipient_rows, floor_rows=floor_rows, notes=list(results.policy.notes),
                solve_seconds=float(results.meta.get("solve_seconds", float("nan"))),
                max_residual=results.meta.get("max_residual"))
    view.summary = _summary(view, results)
    return view


def _summary(view: View, results) -> dict[str, Any]:
    """What a comparison of designs shows, one line each: the design, then its consequences."""
    scenario = results.scenario
    top = [r for r in view.member_rows if not r["no_data"]]
    dep = {r["product"]: r for r in view.dependency_rows}
    bloc = scenario.bloc
    tariff = bloc.external_tariff_ad_valorem if bloc is not None else None
    out = {
        "Members": (f"{len(view.members)} regions" if view.members else "none"),
        "Horizon": view.horizon.replace("_", " "),
        "External tariff": "members' own" if tariff is None else f"{tariff:.1%}".replace(".0%", "%"),
        "Price floors": "; ".join(f"{f['label']} {f['floor']} by {f['mechanism']}: {f['status']}, buyers pay {f['buyers']}"
                                  for f in view.floor_rows) or "none",
        "Anti-dumping duties": "; ".join(f"{d.ad_valorem:.1%} on {d.product} from {d.exporter}" if d.ad_valorem is not None
                                         else f"on {d.product} from {d.exporter}" for d in scenario.anti_dumping) or "none",
        "China's export restrictions": "; ".join(f"ban on {r.product.replace('_', ' ')} to {', '.join(r.destinations)}"
                                                 for r in scenario.export_restrictions if r.exporter == "CHN") or "none",
        "Bloc welfare change": view.headline["bloc_text"],
        "World welfare change": view.headline["world_text"],
        "China's welfare change": view.headline["focus_text"],
        "Members' fiscal cost": view.headline["fiscal_text"],
        "Gains most": f"{top[0]['name']} ({money(top[0]['value'])})" if top and top[0]["value"] > 0 else "–",
        "Loses most": f"{top[-1]['name']} ({money(top[-1]['value'])})" if top and top[-1]["value"] < 0 else "–",
    }
    for product in ("ndpr_oxide", "graphite_refined", "lithium_refined", "gallium_refined"):
        if product in dep:
            name = dep[product]["label"][:1].upper() + dep[product]["label"][1:]
            out[f"{name}: made outside the bloc"] = dep[product]["non_member_text"]
            out[f"{name}: made in China"] = dep[product]["focus_text"]
    return out
