"""Key findings of a design in plain sentences, generated from its results.

Three to six sentences a negotiator can act on: who gains and who pays, why the largest
outsider (China in the shipped data) gains or loses, what happens to dependency on it and
on all non-members, what it costs the treasuries, and what each floor holds — the price
buyers pay and producers get, and whether it binds, is prohibitive, cannot bind, or is
limited by its budget. Every number carries its unit; countries and products are named,
not coded. Shared by the comparison report and the app.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .indicators import bloc_dependency

MIN_SHARE_MOVE = 0.005      # a dependency move below half a percentage point is "no change"
MIN_MONEY = 5e4             # below 0.05 m USD a year a welfare change reads as none


# ------------------------------------------------------------------ numbers
def money(usd: float, signed: bool = True) -> str:
    """USD with a sensible scale: '+1.2 bn USD', '−35 m USD', '+0.4 m USD', '0 USD'."""
    if usd is None or not np.isfinite(usd):
        return "n/a"
    value = abs(float(usd))
    if value >= 1e9:
        text = f"{value / 1e9:,.1f} bn USD"
    elif value >= 1e7:
        text = f"{value / 1e6:,.0f} m USD"
    elif value >= MIN_MONEY:
        text = f"{value / 1e6:,.1f} m USD"
    elif value >= 0.5:
        text = f"{value:,.0f} USD"
    else:
        return "0 USD"
    if not signed or text.startswith("0.0 "):
        return text
    return ("+" if usd > 0 else "−") + text


def share(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.0%}"


def _significant(x: float, digits: int = 3) -> str:
    """A number to `digits` significant figures, with thousands separators, no '-0'."""
    if x == 0 or not np.isfinite(x):
        return "0" if x == 0 else "n/a"
    decimals = max(0, digits - 1 - int(np.floor(np.log10(abs(x)))))
    text = f"{x:,.{decimals}f}"
    return "0" if float(text.replace(",", "")) == 0 else text


def unit_price(results, product: str, usd_per_unit: float) -> str:
    """A price in the unit traders quote: USD/kg for products priced at 10,000 USD/t or more
    ('110 USD/kg'), USD/t below ('1,950 USD/t'); other units as the dataset gives them."""
    data = getattr(results, "data", results)
    if usd_per_unit is None or not np.isfinite(usd_per_unit):
        return "n/a"
    unit = str(data.unit[product]).split(" ")[0]
    if unit == "t" and abs(usd_per_unit) >= 10_000:
        return f"{_significant(usd_per_unit / 1000)} USD/kg"
    return f"{_significant(usd_per_unit, 4) if abs(usd_per_unit) >= 1000 else _significant(usd_per_unit)} USD/{unit}"


def price_range(results, product: str, values) -> str:
    values = pd.Series(values, dtype=float).dropna()
    if not len(values):
        return "n/a"
    lo, hi = unit_price(results, product, values.min()), unit_price(results, product, values.max())
    if lo == hi:
        return lo
    return f"{lo.rsplit(' ', 1)[0]}–{hi}" if lo.rsplit(" ", 1)[1] == hi.rsplit(" ", 1)[1] else f"{lo} to {hi}"


# -------------------------------------------------------------------- names
def region_name(data, region: str) -> str:
    """A region's name without its parenthetical ('EU members that did not attend')."""
    if "region_names" not in data.cache:           # once per dataset: every view names tens of regions
        data.cache["region_names"] = {r: re.sub(r"\s*\(.*\)\s*$", "", str(n)) or r
                                      for r, n in zip(data.regions["region"], data.regions["name"])}
    return data.cache["region_names"].get(region, region)


def product_name(data, product: str) -> str:
    """'refined lithium', 'mined rare earths', 'NdPr oxide' (from products.csv)."""
    if "product_names" not in data.cache:          # once per dataset
        data.cache["product_names"] = {p: _product_name(p, str(m), str(s), str(u)) for p, m, s, u in
                                       zip(data.products["product"], data.products["mineral"], data.products["stage"], data.products["unit"])}
    return data.cache["product_names"].get(product) or product.replace("_", " ")


def _product_name(product: str, mineral: str, stage: str, unit: str) -> str:
    if product == f"{mineral}_{stage}":
        return f"{stage} {mineral.replace('_', ' ')}"
    words = unit.split(" ", 1)
    text = re.sub(r"\s*\(.*\)\s*$", "", words[1]) if len(words) > 1 else ""
    return text or product.replace("_", " ")


def listing(items: list[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _markets_text(data, markets: list[str], noun: str = "member market") -> str:
    if len(markets) <= 3:
        return listing([region_name(data, m) for m in markets])
    return f"{len(markets)} {noun}s"


# ------------------------------------------------------------------ findings
def default_focus(results, members) -> str | None:
    """The non-member with the largest reference output value of refined products."""
    from .compare import largest_producer, refined_products

    cache = results.data.cache.setdefault("default_focus", {})
    key = tuple(sorted(members))
    if key not in cache:
        cache[key] = largest_producer(results.data, refined_products(results.data), exclude=members)
    return cache[key]


def key_findings(results, baseline, members=None, products=None, focus: str | None = None) -> list[str]:
    """Three to six sentences on `results` against `baseline` for `members` (default: the
    bloc's, else the ministerial partners), on `products` (default: those whose dependency
    the design moves most), with `focus` the outsider to watch (default: the largest
    non-member producer of refined products)."""
    members = sorted(members or results.reference_members())
    focus = focus if focus is not None else default_focus(results, members)
    bloc_word = "the bloc" if results.policy.members else "the partners"
    welfare = _welfare_sentences(results, baseline, members, focus, bloc_word)
    dependency = _dependency_sentences(results, baseline, members, products, focus, bloc_word)
    fiscal = _fiscal_sentences(results, baseline, members)
    floors, quiet = _floor_sentences(results)
    room = 6 - len(welfare) - len(fiscal) - (1 if quiet else 0)
    dependency = dependency[:max(1, min(2, room - len(floors)))]
    room -= len(dependency)
    if len(floors) > room:
        floors = floors[:max(room, 0)] if room > 0 else []
    out = welfare + dependency + fiscal + floors + ([quiet] if quiet else [])
    return out[:6]


def _welfare_sentences(results, baseline, members, focus, bloc_word) -> list[str]:
    data = results.data
    no_data = set(data.no_data_regions)
    change = results.welfare_change(baseline).set_index("region")
    total = change["total"]
    bloc = float(total.reindex(members).sum())
    world = float(total.sum())
    name = lambda r: region_name(data, r)  # noqa: E731
    verb = lambda v: "gain" if v >= MIN_MONEY else ("lose" if v <= -MIN_MONEY else "")  # noqa: E731
    if verb(bloc):
        text = f"Members {verb(bloc)} {money(bloc, signed=False)} a year in all"
    else:
        text = "Members' welfare barely changes (less than 0.1 m USD a year in all)"
    text += f" and the world {verb(world) + 's ' + money(world, signed=False) if verb(world) else 'is unchanged'}"
    ranked = total.reindex([m for m in members if m not in no_data]).dropna().sort_values()
    gainers = [f"{name(r)} ({money(v)})" for r, v in ranked[::-1].items() if v >= MIN_MONEY][:2]
    losers = [f"{name(r)} ({money(v)})" for r, v in ranked.items() if v <= -MIN_MONEY][:2]
    if gainers:
        text += f"; {listing(gainers)} {'gain' if len(gainers) > 1 else 'gains'} most"
    if losers:
        text += f"{',' if gainers else ';'} {listing(losers)} {'lose' if len(losers) > 1 else 'loses'} most"
    out = [text + "."]
    if focus and focus in total.index and focus not in members and abs(float(total[focus])) >= MIN_MONEY:
        out.append(_focus_sentence(results, baseline, focus, float(total[focus]), bloc_word))
    return out


COMPONENT_TEXT = {
    "consumer_surplus": ("its buyers pay less for {p}", "its buyers pay more for {p}"),
    "producer_surplus": ("its producers of {p} earn more", "its producers of {p} earn less"),
    "capacity_rent": ("its {p} producers at capacity earn more", "its {p} producers at capacity earn less"),
    "refiner_rent": ("its {m} refiners earn wider margins", "its {m} refiners earn narrower margins"),
    "tariff_revenue": ("it collects more duties on {p}", "it collects less in duties on {p}"),
    "quota_rent": ("its export licences for {p} are worth more", "its export licences for {p} are worth less"),
    "trade_rent": ("its importers of {p} gain route rents (calibrated costs, full routes)", "its importers of {p} lose route rents (calibrated costs, full routes)"),
    "stockpile_value": ("its stocks of {p} grow", "its stocks of {p} shrink"),
    "fiscal_cost": ("its treasury spends less on {p}", "its treasury spends more on {p}"),
    "dumping_cost": ("its exporters give smaller discounts on {p}", "its exporters' discounts on {p} cost it"),
}


def _focus_sentence(results, baseline, focus, total, bloc_word) -> str:
    data = results.data
    detail = results.welfare_of_region(focus) - baseline.welfare_of_region(focus)
    parts = [c for c in COMPONENT_TEXT if c in detail]
    signed = detail[parts].copy()
    for c in ("fiscal_cost", "dumping_cost"):
        if c in signed:
            signed[c] = -signed[c]
    stacked = signed.stack()
    stacked = stacked[np.sign(stacked) == np.sign(total)]
    verb = "gains" if total > 0 else "loses"
    text = f"{region_name(data, focus)}, outside {bloc_word}, {verb} {money(total, signed=False)} a year"
    if len(stacked):
        (product, component), value = stacked.abs().idxmax(), stacked[stacked.abs().idxmax()]
        mineral = str(data.mineral_of.get(product, product)).replace("_", " ")
        reason = COMPONENT_TEXT[component][0 if value > 0 else 1].format(p=product_name(data, product), m=mineral)
        text += f", mostly because {reason} ({money(value)}"
        if component in ("consumer_surplus", "producer_surplus", "refiner_rent"):
            column = "price" if component == "consumer_surplus" else "producer_price"
            p1, p0 = (_market_value(r, focus, product, column) for r in (results, baseline))
            if p1 is not None and p0 is not None and np.isfinite(p1) and np.isfinite(p0) and p0 > 0 \
                    and abs(p1 / p0 - 1) >= 0.0005:
                who = "buyers'" if column == "price" else "producers'"
                text += f"; its {who} price {p1 / p0 - 1:+.1%}".replace("-", "−")
        text += ")"
        if component == "consumer_surplus" and value > 0 and results.policy.members:
            text += ": supply kept out of the bloc's markets is sold outside it for less"
    return text + "."


def _market_value(results, region: str, product: str, column: str) -> float | None:
    """`markets`' value in `column` for one region and product (None: no such market)."""
    m = results.market_columns
    row = np.flatnonzero((m["region"] == region) & (m["product"] == product))
    return float(m[column][row[0]]) if len(row) else None


def _dependency_sentences(results, baseline, members, products, focus, bloc_word) -> list[str]:
    data = results.data
    focus_set = (focus,) if focus else ()
    before = bloc_dependency(baseline, members, products, focus=focus_set).set_index("product")
    after = bloc_dependency(results, members, products, focus=focus_set).set_index("product")
    common = [p for p in after.index if p in before.index]
    if not common:
        return []
    moved = ((after.loc[common, "non_member_share"] - before.loc[common, "non_member_share"]).abs()
             .add((after.loc[common, "focus_share"] - before.loc[common, "focus_share"]).abs(), fill_value=0.0)).fillna(0.0)
    moved = moved.sort_values(ascending=False, kind="stable")
    floored = [f.product for f in results.policy.floors if f.product in common]
    chosen = list(products) if products is not None else list(dict.fromkeys(
        floored + [p for p in moved.index if moved[p] >= MIN_SHARE_MOVE]))
    if not chosen:      # nothing moved and no floor: one sentence that says so
        top = moved.index[0]
        return [f"Members' dependency on non-members moves by less than one percentage point on every product "
                f"(largest move: {product_name(data, top)}, {share(before.at[top, 'non_member_share'])} → "
                f"{share(after.at[top, 'non_member_share'])} of their use made outside {bloc_word})."]
    reserve = results.reserve_detail
    out = []
    for product in chosen:
        if product not in common:
            continue
        b, a = before.loc[product], after.loc[product]
        text = (f"Of members' use of {product_name(data, product)}, the share made outside {bloc_word} goes from "
                f"{share(b['non_member_share'])} to {share(a['non_member_share'])}")
        if focus and np.isfinite(a["focus_share"]):
            text += f", the share made in {region_name(data, focus)} from {share(b['focus_share'])} to {share(a['focus_share'])}"
        bought = float(reserve.loc[reserve["product"] == product, "quantity"].sum()) if len(reserve) else 0.0
        if bought > 0 and a["non_member_share"] > b["non_member_share"] + MIN_SHARE_MOVE:
            text += (f" — the reserve buys {_significant(bought)} {_unit_word(data, product)} of members' output, so members' "
                     f"buyers turn to imports (stock purchases are not use)")
        out.append(text + ".")
    return out


def _unit_word(data, product: str) -> str:
    return str(data.unit[product]).split(" ")[0]


def _fiscal_sentences(results, baseline, members) -> list[str]:
    data = results.data
    change = results.welfare_change(baseline).set_index("region").reindex(members).fillna(0.0)
    cost = float(change["fiscal_cost"].sum())
    revenue = float(change["tariff_revenue"].sum())
    parts = []
    if abs(cost) >= MIN_MONEY:
        payers = change["fiscal_cost"].sort_values(ascending=cost < 0)
        top = [f"{region_name(data, r)} {money(abs(v), signed=False)}" for r, v in payers.items() if v * cost > 0 and abs(v) >= MIN_MONEY][:3]
        verb = "pay" if cost > 0 else "save (stock sales and lower outlays)"
        text = f"Members' treasuries {verb} {money(abs(cost), signed=False)} a year"
        if top:
            text += f" ({listing(top)})"
        parts.append(text)
    if abs(revenue) >= MIN_MONEY:
        parts.append(f"{'they collect' if parts else 'Members collect'} {money(abs(revenue), signed=False)} a year "
                     f"{'more' if revenue > 0 else 'less'} in tariffs, duties and levies")
    if not parts:
        return []
    return ["; ".join(parts) + "."]


def _floor_sentences(results) -> tuple[list[str], str | None]:
    """One sentence per floor that does something; the slack ones together in one more."""
    if not results.policy.floors:
        return [], None
    data = results.data
    table = results.floors
    specs = {f.label: f for f in results.policy.floors}
    out, slack = [], []
    for label, g in table.groupby("floor", sort=False):
        spec = specs.get(label)
        product = g["product"].iloc[0]
        mechanism = g["mechanism"].iloc[0]
        floor = unit_price(results, product, g["floor_price"].iloc[0])
        status = g["status"]
        if (status == "slack").all():
            slack.append(f"{floor} on {product_name(data, product)}")
            continue
        how = {"variable_levy": "held by a variable levy", "deficiency_payment": "paid as a deficiency payment",
               "stockpile": "held by a reserve's purchases", "price_support": "held by a levy plus support"}[mechanism]
        text = f"The {floor} floor on {product_name(data, product)} ({how})"
        clauses = []
        rows = {s: g[status == s] for s in ("binds", "prohibitive", "cannot bind", "budget-limited", "slack")}
        binds = rows["binds"]
        if len(binds):
            if mechanism == "deficiency_payment" or mechanism == "price_support" and spec is not None and spec.support == "deficiency_payment" \
                    and binds["levy_collected"].sum() <= 0:
                paid = _payments(results, spec)
                clauses.append(f"binds for producers in {_markets_text(data, list(binds['market']))}: they get "
                               f"{price_range(results, product, binds['producers_price'])} while buyers pay "
                               f"{price_range(results, product, binds['buyers_price'])}"
                               + (f"; treasuries pay the gap, {money(paid, signed=False)} a year" if paid > 0 else ""))
            elif mechanism == "stockpile":
                clauses.append(_reserve_clause(results, spec, binds, product, "binds"))
            elif mechanism == "price_support" and binds["levy_collected"].sum() <= 0:
                clauses.append(f"binds in {_markets_text(data, list(binds['market']))}: the levy shuts non-member goods out, "
                               f"buyers pay {price_range(results, product, binds['buyers_price'])} and members' producers get "
                               f"{price_range(results, product, binds['producers_price'])}")
            else:
                text_binds = (f"binds in {_markets_text(data, list(binds['market']))}: non-member goods enter at the floor "
                              f"and buyers pay {price_range(results, product, binds['buyers_price'])}")
                if mechanism == "price_support" and binds["producers_price"].notna().any():
                    text_binds += f", members' producers get {price_range(results, product, binds['producers_price'])}"
                clauses.append(text_binds)
        if mechanism == "price_support" and spec is not None:
            if spec.support == "deficiency_payment":
                paid = _payments(results, spec)
                if paid > 0:
                    clauses.append(f"tops producers up to the floor with deficiency payments of {money(paid, signed=False)} a year")
            else:
                reserve = results.reserve_detail
                reserve = reserve[reserve["floor_id"] == spec.index] if len(reserve) else reserve
                bought = float(reserve["quantity"].sum()) if len(reserve) else 0.0
                if bought > 0:
                    spent = float((reserve["quantity"] * reserve["producer_price"]).sum())
                    clauses.append(f"holds producers at the floor by buying {_significant(bought)} {_unit_word(data, product)} "
                                   f"a year for {money(spent, signed=False)}")
        if len(rows["budget-limited"]):
            clauses.append(_reserve_clause(results, spec, rows["budget-limited"], product, "budget-limited"))
        if len(rows["prohibitive"]):
            p = rows["prohibitive"]
            clauses.append(f"is prohibitive in {_markets_text(data, list(p['market']))}: the levy shuts non-member goods out "
                           f"and buyers pay {price_range(results, product, p['buyers_price'])}, below the floor, because "
                           f"members' own supply meets demand at that price")
        if len(rows["cannot bind"]):
            c = rows["cannot bind"]
            clauses.append(f"cannot bind in {_markets_text(data, list(c['market']))}, where members are net exporters "
                           f"(buyers pay {price_range(results, product, c['buyers_price'])})")
        if len(rows["slack"]) and len(rows["slack"]) < len(g):
            s = rows["slack"]
            none = mechanism == "deficiency_payment" and s["producers_price"].isna().all()
            clauses.append(f"is slack in {_markets_text(data, list(s['market']))}" + (", which have no producers of it" if none else ""))
        out.append(text + " " + "; it ".join(clauses) + ".")
    quiet = None
    if slack:
        quiet = (f"The floor{'s' if len(slack) > 1 else ''} of {listing(slack)} "
                 f"{'are' if len(slack) > 1 else 'is'} slack: market prices are already at or above "
                 f"{'them' if len(slack) > 1 else 'it'} wherever they apply.")
    return out, quiet


def _payments(results, spec) -> float:
    if spec is None:
        return 0.0
    total = 0.0
    for detail, quantity in ((results.supply_detail, "quantity"), (results.refining_detail, "output_quantity")):
        sel = detail["floor_id"] == spec.index
        total += float((detail.loc[sel, "deficiency_payment"] * detail.loc[sel, quantity]).sum())
    return total


def _reserve_clause(results, spec, rows, product, status) -> str:
    data = results.data
    reserve = results.reserve_detail
    if spec is not None and len(reserve):
        reserve = reserve[reserve["floor_id"] == spec.index]
    bought = float(reserve["quantity"].sum()) if len(reserve) else 0.0
    spent = float((reserve["quantity"] * reserve["producer_price"]).sum()) if len(reserve) else 0.0
    bid = float(reserve["bid"].iloc[0]) if len(reserve) else np.nan
    text = (f"{'is limited by its budget' if status == 'budget-limited' else 'binds'}: the reserve buys "
            f"{_significant(bought)} {_unit_word(data, product)} a year for {money(spent, signed=False)}")
    if status == "budget-limited":
        text += f", and its bid ({unit_price(results, product, bid)}) stays below the floor"
    return text + f"; buyers pay {price_range(results, product, rows['buyers_price'])}"
