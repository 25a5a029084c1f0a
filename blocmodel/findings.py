"""Key findings of a design in plain sentences, generated from its results.

Three to six sentences a negotiator can act on: who gains and who pays, what happens to
dependency on China and on all non-members, what it costs the treasuries, and whether
each floor holds. Every number carries its unit; countries are named, not coded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .indicators import bloc_dependency


def money(usd: float) -> str:
    """USD with a sensible scale: '+1.2 bn USD', '−35 m USD', '+0.4 m USD'."""
    sign = "+" if usd > 0 else ("−" if usd < 0 else "")
    value = abs(usd)
    if value >= 1e9:
        return f"{sign}{value / 1e9:,.1f} bn USD"
    if value >= 1e5:
        return f"{sign}{value / 1e6:,.0f} m USD" if value >= 1e7 else f"{sign}{value / 1e6:,.1f} m USD"
    return f"{sign}{value:,.0f} USD"


def share(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.0%}"


def unit_price(results, product: str, usd_per_unit: float) -> str:
    """A price in the unit negotiators quote: USD/kg for products priced above 1,000 USD/t."""
    unit = results.data.unit[product].split(" ")[0]
    if unit == "t" and usd_per_unit >= 1000:
        return f"{usd_per_unit / 1000:,.1f} USD/kg"
    return f"{usd_per_unit:,.0f} USD/{unit}"


def product_name(results, product: str) -> str:
    """'ndpr_oxide' -> 'NdPr oxide', 'graphite_refined' -> 'refined graphite', 'rare_earths_mined' -> 'mined rare earths'."""
    if product == "ndpr_oxide":
        return "NdPr oxide"
    mineral = results.data.mineral_of.get(product, "").replace("_", " ")
    stage = results.data.stage.get(product, "")
    return f"{stage} {mineral}" if mineral and stage and product == f"{mineral.replace(' ', '_')}_{stage}" else product.replace("_", " ")


def key_findings(results, baseline, members=None, products=None, focus: str = "CHN") -> list[str]:
    """Findings of `results` against `baseline` for `members` (default: the bloc's, else the
    ministerial partners), on `products` (default: those where the design changes dependency most)."""
    data = results.data
    name = dict(zip(data.regions["region"], data.regions["name"]))
    members = sorted(members or results.reference_members())
    no_data = set(data.no_data_regions)
    out = []
    change = results.welfare_change(baseline).set_index("region")
    total = change["total"]
    bloc = float(total.reindex(members).sum())
    world = float(total.sum())
    ranked = total.reindex([m for m in members if m not in no_data]).dropna().sort_values()
    gainers = [f"{name[r]} ({money(v)})" for r, v in ranked[::-1].items() if v >= 0.5][:2]     # never "gains +0 USD"
    losers = [f"{name[r]} ({money(v)})" for r, v in ranked.items() if v <= -0.5][:2]
    text = f"The members' welfare changes by {money(bloc)} a year and the world's by {money(world)}"
    if gainers:
        text += f"; {' and '.join(gainers)} gain most"
    if losers:
        text += f", {' and '.join(losers)} lose most"
    if focus in total.index and focus not in members:
        text += f"; {name.get(focus, focus)} changes by {money(float(total[focus]))}"
    out.append(text + ".")

    before = bloc_dependency(baseline, members, products).set_index("product")
    after = bloc_dependency(results, members, products).set_index("product")
    moved = (after["non_member_share"] - before["non_member_share"]).abs().add(
        (after["focus_share"] - before["focus_share"]).abs(), fill_value=0.0).dropna().sort_values(ascending=False)
    for product in list(moved.index[:2]) if products is None else list(products):
        if product not in after.index or product not in before.index:
            continue
        b, a = before.loc[product], after.loc[product]
        out.append(f"Members' supply of {product_name(results, product)} made outside the bloc goes from {share(b['non_member_share'])} "
                   f"to {share(a['non_member_share'])}; from {name.get(focus, focus)} from {share(b['focus_share'])} to "
                   f"{share(a['focus_share'])}.")

    fiscal = change["fiscal_cost"]
    cost = float(fiscal.reindex(members).sum())
    if abs(cost) > 1.0:
        payers = fiscal.reindex(members).dropna().sort_values(ascending=False)
        top = [f"{name[r]} {money(v)}" for r, v in payers.items() if v > 0][:3]
        out.append(f"Members' treasuries pay {money(cost).lstrip('+')} a year" + (f", most of it {', '.join(top)}" if top else "") + ".")

    floors = results.floors if results.policy.floors else pd.DataFrame()
    for label, g in floors.groupby("floor", sort=False) if len(floors) else []:
        product = g["product"].iloc[0]
        counts = g["status"].value_counts()
        states = ", ".join(f"{k} in {v} market{'s' * (v > 1)}" for k, v in counts.items())
        buyers = g["buyers_price"].dropna()
        producers = g["producers_price"].dropna()
        price_text = ""
        if len(buyers):
            lo, hi = unit_price(results, product, buyers.min()), unit_price(results, product, buyers.max())
            price_text = f"; buyers pay {lo}" + (f" to {hi}" if hi != lo else "")
        if len(producers):
            price_text += f", members' producers get {unit_price(results, product, producers.min())}" + (
                f" to {unit_price(results, product, producers.max())}" if producers.max() > producers.min() * (1 + 1e-6) else "")
        out.append(f"The {g['mechanism'].iloc[0].replace('_', ' ')} floor of {unit_price(results, product, g['floor_price'].iloc[0])} "
                   f"on {product_name(results, product)}: {states}{price_text}.")
    return out[:6] if len(out) > 6 else out
