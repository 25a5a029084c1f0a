"""The comparison report a negotiator reads in five minutes, and its tables for batch use.

`write_report(collection, folder)` writes:
- `report.html` — self-contained (inline CSS, figures as embedded PNG), opens offline and
  fits a 800 px window: key findings per design first, then the designs side by side,
  what each floor holds, who gains and who pays, dependency on non-members (each design
  against the baseline with its own members), where the key product comes from (per
  member set), a glossary, and the assumptions the results hinge on;
- `report.xlsx` — the same tables for people: units in headers, number formats, frozen
  headers, filters, one design order on every sheet, scenario definitions as rows;
- `designs.csv`, `members.csv`, `floors.csv`, `markets.csv`, `flows.csv` — the long tidy tables;
- `manifest.json` — what was run.

Welfare is shown as changes only (USD m a year); levels of surplus mean nothing.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # figures without pyplot: no global backend switched under a notebook
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.path import Path as MplPath

from .api import versions
from .compare import Collection, _unit
from .dataset import _display
from .findings import key_findings, listing, money, price_range, product_name, region_name, unit_price
from .indicators import content_shares, origin_shares
from .results import STOCK_VALUATION, Results

MILLION = 1e6
SUMMARY_PRODUCTS = 4      # key products in the side-by-side table (all of them in the dependency table)

# What the results hinge on (data/README.md has every assumption, its value and reason).
ASSUMPTIONS = [
    "Every supply and demand elasticity is an assumption (no published value was readable): mined supply 0.2–0.4, "
    "gallium and germanium 0.1, refining 0.5, demand −0.2 to −0.4 (A20). Welfare changes scale roughly with them; the "
    "Monte Carlo batch gives bands.",
    "How readily buyers switch suppliers (σ, the curvature of each route's calibrated cost) is taken from GTAP's "
    "import-source elasticities as recalled, 1.8 for ores to 8.4 for refined metals (A34): it sets how far trade "
    "diverts under a bloc's tariff or floor.",
    "For 9 products without bilateral trade data (e.g. NdPr oxide, cobalt chemicals, battery graphite) the 2024 flows "
    "are constructed: each region's surplus goes to deficit regions in proportion to their deficits (A24). Members' "
    "import sources and non-member shares for these products are indicative.",
    "Consumption of cobalt, NdPr oxide and manganese alloys outside China follows refined-copper or steel use (A17, "
    "A18); members' dependency on these products depends on that allocation.",
    "Capacities bind only in the short run; where none is published, capacity is output ÷ an assumed utilisation (A33). "
    "In the medium run (the default) output follows the supply curves.",
    "Transport costs are centroid distance × a bulk or container rate (A15); ad valorem duties apply to the CIF value; "
    "MFN tariffs are zero where the references give none (A16).",
    f"Stocks bought or released are valued at {STOCK_VALUATION:g} × the product's 2024 reference price; buying above it is "
    "a welfare cost to the funders.",
    "One year; no investment response beyond the curves; refining confers origin (ore mined outside the bloc and "
    "refined inside it counts as a member good; the mined-content share reports what that hides).",
]

GLOSSARY = [
    ("Common external tariff", "A duty all bloc members levy alike on goods made outside the bloc, here a share of their "
                               "CIF value; goods made inside the bloc cross members' borders free."),
    ("MFN tariff", "Most-favoured-nation tariff: the duty a country applies to every WTO member without a trade "
                   "agreement, the dataset's 2024 rates. The no-policy baseline keeps them."),
    ("CIF / FOB", "Free on board (FOB): the price at the exporter's border. Cost, insurance and freight (CIF): FOB plus "
                  "transport to the importer's border; ad valorem duties are charged on it."),
    ("Price floor", "A reference price for one product at one stage, held in the member markets a design names, by one "
                    "of the mechanisms below."),
    ("Variable levy", "An adjustable duty on goods made outside the bloc that lifts their landed price (CIF + duties) to "
                      "the floor; the importing member collects it. It holds the price at which non-member goods "
                      "enter, not the members' own price."),
    ("Deficiency payment", "Members' producers receive the floor when the market pays less; a treasury pays the gap per "
                           "unit (the DoD–MP Materials NdPr deal is of this kind). Buyers pay the market price."),
    ("Price support", "A floor that holds the members' price itself: the variable levy, plus a reserve purchase or a "
                      "deficiency payment where the levy alone leaves members' producers below the floor."),
    ("Stockpile (reserve)", "A reserve that buys from producers in named origins whatever holds their price at the floor, "
                            "within a yearly budget; when the budget runs out its bid falls below the floor. Stock "
                            "purchases are not use, so dependency is measured on use alone."),
    ("Buyers' price / producers' price", "What buyers in a region pay (price) and what its producers receive "
                                         "(producer_price). They differ when a region both imports and exports, under "
                                         "a deficiency payment, or where a levy or duty separates them."),
    ("Binds / prohibitive / cannot bind / budget-limited / slack",
     "A floor binds where it sets the price of the goods it targets; it is prohibitive where the levy shuts non-member "
     "goods out and the members' price settles below the floor; it cannot bind where members are net exporters (a "
     "levy on imports cannot lift their price); budget-limited where the reserve has spent its budget; slack where "
     "the market is already at or above it, or there is nothing for it to act on."),
    ("Dependency (non-member share)", "Of members' use of a product (final demand plus refinery input), the share made "
                                      "outside the bloc at that stage. The mined-content share traces the ore inside "
                                      "refined goods back to the mine. The focus share is the part made in one "
                                      "outsider (China in the shipped data)."),
    ("Welfare change", "The change against the baseline, per year, of consumer and producer surplus, capacity and "
                       "refiner rents, tariff, levy and quota revenue, route rents and stock value, less fiscal cost. "
                       "Levels of surplus have no meaning of their own and are never shown."),
    ("Short run / medium run", "Short run: output at most the 2024 capacities (a one-year disruption). Medium run, the "
                               "default: output follows the supply curves."),
    ("No data", "A region no source publishes any activity for. Its zero is absence of data, not a finding."),
]

CSS = """*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1200px;padding:1em 24px 3em;color:#222;line-height:1.45}
h1{font-size:1.55em;margin:.3em 0}h2{font-size:1.25em;border-bottom:1px solid #ccc;margin-top:1.8em;padding-bottom:.15em}
h3{font-size:1.02em;margin:1.1em 0 .3em}
.lede{font-size:1.02em}.muted{color:#666;font-size:.85em}
.scroll{overflow-x:auto;max-width:100%;margin:.5em 0;border:1px solid #eee}
table{border-collapse:collapse;font-size:.82em}
td,th{border:1px solid #ddd;padding:3px 6px;text-align:right;vertical-align:top}
th{background:#f4f4f4;font-weight:600;white-space:normal}
td.l,th.l{text-align:left}
thead th{position:sticky;top:0}
.wide td:first-child,.wide th:first-child{position:sticky;left:0;background:#fff;z-index:1;text-align:left;min-width:10em;max-width:15em}
.wide th:first-child{background:#f4f4f4}
th.design{min-width:6.5em;max-width:9em;font-size:.9em;font-weight:500}
td.title{text-align:left;min-width:13em;max-width:20em}
td.nodata{color:#888;font-style:italic;text-align:center}
.member{font-weight:700}.nowrap{white-space:nowrap}
.tall{max-height:85vh}
@media print{.scroll{overflow:visible;max-height:none}}
img{max-width:100%;height:auto;display:block;margin:.5em 0}
article{margin-bottom:1.2em}article ul{margin:.3em 0;padding-left:1.3em}li{margin:.25em 0}
dl{display:grid;grid-template-columns:minmax(9em,14em) 1fr;gap:.35em 1em}dt{font-weight:600}dd{margin:0}
span.code{border-bottom:1px dotted #999}
@media (max-width:900px){dl{grid-template-columns:1fr}body{padding:1em 14px 3em}}"""


# --------------------------------------------------------------- formatting
def number(value: float, decimals: int = 0) -> str:
    """A number with thousands separators, never '-0' or '-0.0'; '–' for missing."""
    if value is None or not np.isfinite(value):
        return "–"
    text = f"{value:,.{decimals}f}"
    if float(text.replace(",", "")) == 0:
        return f"{0:.{decimals}f}"
    return text.replace("-", "−")


def signed(value: float, decimals: int = 0) -> str:
    """'+12', '−3.4', '0' (a change below half the last digit shown reads as 0, unsigned)."""
    if value is not None and np.isfinite(value) and abs(value) < 0.5 * 10 ** -decimals:
        return "0"
    text = number(value, decimals)
    if text in ("–",) or float(text.replace(",", "").replace("−", "-")) == 0:
        return text
    return text if text.startswith("−") else "+" + text


def pct(value: float) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.0%}"


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def _region_html(data, code: str) -> str:
    return f"<span class='code' title='{_esc(code)}'>{_esc(region_name(data, code))}</span>"


def _named_html(text: str, data) -> str:
    """Escaped text with region codes shown as names (code in a tooltip), product codes as names."""
    codes = set(data.region_codes)
    products = set(data.product_codes)
    minerals = set(data.minerals)
    groups = dict(data.groups) | dict(data.customs_unions)
    text = str(text).replace(" to * ", " to every destination ").replace(" to *.", " to every destination.")
    # a long list of region codes reads as 'N regions' (the names in its tooltip)
    pattern = r"\b[A-Z][A-Z0-9]{2,3}\b(?:, \b[A-Z][A-Z0-9]{2,3}\b){5,}"
    lists = {}
    for k, match in enumerate(re.finditer(pattern, text)):
        found = match.group().split(", ")
        if set(found) <= codes:
            lists[f"\x00{k}\x00"] = found
            text = text.replace(match.group(), f"\x00{k}\x00", 1)
    out = []
    for token in re.split(r"(\x00\d+\x00|\b[A-Za-z0-9_]+\b)", text):
        if token in lists:
            names = ", ".join(region_name(data, r) for r in lists[token])
            out.append(f"<span class='code' title='{_esc(names)}'>{len(lists[token])} regions</span>")
            continue
        elif token in codes:
            out.append(_region_html(data, token))
        elif token in products:
            out.append(_esc(product_name(data, token)))
        elif token in minerals:
            out.append(_esc(token.replace("_", " ")))
        elif token in groups:
            regions = groups[token]
            tip = f"group of {len(regions)} regions: " + ", ".join(region_name(data, r) for r in regions)
            out.append(f"<span class='code' title='{_esc(tip)}'>{_esc(token)}</span>")
        else:
            out.append(_esc(token))
    return "".join(out)


def describe(results: Results, scenario=None) -> list[str]:
    """What a design changes, in plain words: each instrument family's own sentence (of
    `scenario`, default the results'; e.g. the design alone, without its baseline's measures)."""
    from .instruments import REGISTRY

    scenario = scenario if scenario is not None else results.scenario
    own = {f.product for f in scenario.price_floors}
    lines = []
    for family in REGISTRY:
        if family.name == "price floors":
            lines += [_floor_text(results, f) for f in results.policy.floors
                      if f.product in own or any(results.data.resolve_product_name(p) and f.product in results.data.resolve_product_name(p)
                                                 for p in own)]
        else:
            lines += family.describe(scenario, results.data)
    return lines or ["No policy: 2024 trade at the dataset's MFN tariffs."]


def _floor_text(results: Results, f) -> str:
    """A resolved floor in words, its price in the unit traders quote."""
    price = unit_price(results, f.product, f.price)
    members = set(results.policy.members)
    where = "every member market" if members and set(f.markets) == members else listing(list(f.markets))
    how = {"variable_levy": "held by a variable levy on goods made outside the bloc",
           "deficiency_payment": "paid to members' producers as a deficiency payment",
           "stockpile": "held by a reserve buying from " + (listing(list(f.origins)) if len(f.origins) <= 4 else f"{len(f.origins)} members' producers"),
           "price_support": "held by a variable levy plus " + ("reserve purchases" if f.support == "purchase" else "deficiency payments")
                            + " where the levy alone leaves members' producers below it"}[f.mechanism]
    text = f"A floor of {price} on {product_name(results.data, f.product)} in {where}, {how}"
    if f.budget and f.mechanism in ("stockpile", "price_support"):
        text += f", within {money(f.budget, signed=False)} a year"
    if f.mechanism != "variable_levy" and f.burden_sharing and f.burden_sharing != "own":
        text += f"; funded by {f.burden_sharing}"
    return text + "."


# ------------------------------------------------------------------ tables
def _wide(collection: Collection) -> pd.DataFrame:
    d = collection.design_table()
    return d.pivot(index="design", columns="variable", values="value").reindex(collection.designs)


def summary_table(collection: Collection) -> pd.DataFrame:
    """Designs × the outcomes a negotiator asks about first, as numbers with units in the
    column names (shares as fractions 0–1; welfare as changes in USD m a year)."""
    wide = _wide(collection)
    data = collection.data
    focus = collection.focus
    get = lambda key: wide[key] if key in wide else pd.Series(np.nan, index=wide.index)  # noqa: E731
    out = pd.DataFrame(index=collection.designs)
    out["design title"] = [collection.title(d) for d in collection.designs]
    out["members (regions)"] = get("members").astype(int)
    out["bloc welfare change (USD m/yr)"] = get("welfare|bloc|change") / MILLION
    out["world welfare change (USD m/yr)"] = get("welfare|world|change") / MILLION
    if focus:
        out[f"{region_name(data, focus)} welfare change (USD m/yr)"] = get("welfare|focus|change") / MILLION
    out["non-members' welfare change (USD m/yr)"] = get("welfare|non_members|change") / MILLION
    out["bloc fiscal cost change (USD m/yr)"] = get("fiscal_cost|bloc") / MILLION
    out["bloc tariff and levy revenue change (USD m/yr)"] = get("welfare|bloc|tariff_revenue|change") / MILLION
    out["members gaining (regions)"] = get("members|gaining").astype(int)
    out["members losing (regions)"] = get("members|losing").astype(int)
    out["members with no data (regions)"] = get("members|no_data").astype(int)
    for product in (collection.key_products or [])[:SUMMARY_PRODUCTS]:
        name = product_name(data, product)
        out[f"non-member share of use, {name}, before (share)"] = get(f"non_member_share|{product}|baseline")
        out[f"non-member share of use, {name}, after (share)"] = get(f"non_member_share|{product}")
    return out.reset_index(names="design")


def member_gains(collection: Collection) -> pd.DataFrame:
    """Regions × designs: welfare change in USD m a year."""
    frames = {d: collection.welfare_change(d).set_index("region")["total"] / MILLION for d in collection.designs}
    return pd.DataFrame(frames).reindex(collection.data.region_codes).astype(float)


def floor_summary(collection: Collection) -> pd.DataFrame:
    """Per design, floor and status: the markets, the price buyers pay and producers get (ranges)."""
    table = collection.floor_table()
    rows = []
    for (design, floor), g in table.groupby(["design", "floor"], sort=False):
        product = g["product"].iloc[0]
        for status, s in g.groupby("status", sort=False):
            rows.append({"design": design, "floor": floor, "product": product, "mechanism": g["mechanism"].iloc[0],
                         "floor_price": g["floor_price"].iloc[0], "status": status, "markets": list(s["market"]),
                         "buyers_min": s["buyers_price"].min(), "buyers_max": s["buyers_price"].max(),
                         "producers_min": s["producers_price"].min(), "producers_max": s["producers_price"].max(),
                         "levy_collected": s["levy_collected"].sum(), "unit": g["unit"].iloc[0]})
    return pd.DataFrame(rows, columns=["design", "floor", "product", "mechanism", "floor_price", "status", "markets", "buyers_min",
                                       "buyers_max", "producers_min", "producers_max", "levy_collected", "unit"])


# ------------------------------------------------------------------ figures
def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode()


PALETTE = {"focus": "#c0392b", "other non-members": "#e59866", "union": "#2e86c1", "largest member": "#f4d03f",
           "other members": "#52be80"}


def group_colour(group: str, collection: Collection) -> str:
    """The same colour for the same role in every figure: the focus outsider red, other
    non-members orange, a customs union blue, the largest member user yellow, others green."""
    if group in ("other non-members", "other members"):
        return PALETTE[group]
    if group.endswith(" members"):
        return PALETTE["union"]
    if collection.focus and group == region_name(collection.data, collection.focus):
        return PALETTE["focus"]
    return PALETTE["largest member"]


def path_groups(collection: Collection, members: set[str], product: str) -> dict[str, str]:
    """Region -> the group it is drawn in: the focus outsider, other non-members, each customs
    union with two or more members, the largest member user of `product`, other members."""
    data = collection.data
    focus = collection.focus
    base = collection.results[collection.baseline].markets
    use = base[(base["product"] == product) & base["region"].isin(members)].set_index("region")["use"]
    top = use.idxmax() if len(use) and use.max() > 0 else None
    unions = {u: set(regions) & members for u, regions in data.customs_unions.items()}
    out = {}
    for region in data.region_codes:
        union = data.customs_union_of.get(region)
        if region == focus and region not in members:
            out[region] = region_name(data, region)
        elif region not in members:
            out[region] = "other non-members"
        elif union and len(unions.get(union, ())) >= 2:
            out[region] = f"{union} members"
        elif region == top:
            out[region] = region_name(data, region)
        else:
            out[region] = "other members"
    return out


def _group_order(groups: dict[str, str]) -> list[str]:
    order = []
    for g in groups.values():
        if g not in order:
            order.append(g)
    first = [g for g in order if g not in ("other non-members", "other members") and not g.endswith(" members")]
    focus_like = first[:1]
    rest = [g for g in order if g not in focus_like]
    ordered = focus_like + [g for g in rest if g == "other non-members"] + \
        [g for g in rest if g not in ("other non-members", "other members")] + [g for g in rest if g == "other members"]
    return ordered


def product_paths(results: Results, product: str, groups: dict[str, str], users=None) -> pd.DataFrame:
    """Quantities of `product` used in `users` (default: everywhere) by (mine group, refinery
    group, user group), traced proportionally through origins: what users get from each
    refinery, and the mine origin of each refinery's input (refining confers origin)."""
    data = results.data
    refined = origin_shares(results, product)            # user × refining region
    m = results.markets[results.markets["product"] == product].set_index("region")
    use = m["use"]
    inputs = data.processing.loc[data.processing["output"] == product, "input"]
    mined = inputs.mode().iloc[0] if len(inputs) else None
    refinery_inputs = content_shares(results, mined) if mined else pd.DataFrame()
    rows = []
    for user, amount in use.items():
        if amount <= 0 or user not in refined.index or users is not None and user not in users:
            continue
        for refinery, share in refined.loc[user].items():
            if share <= 1e-12:
                continue
            if refinery in refinery_inputs.index and refinery_inputs.loc[refinery].sum() > 0:
                mix = refinery_inputs.loc[refinery]
            else:
                mix = pd.Series({refinery: 1.0})
            for mine, content in mix.items():
                if content > 1e-12:
                    rows.append((groups.get(mine, "other non-members"), groups.get(refinery, "other non-members"),
                                 groups.get(user, "other non-members"), amount * share * content))
    frame = pd.DataFrame(rows, columns=["mine", "refinery", "user", "quantity"])
    return frame.groupby(["mine", "refinery", "user"], as_index=False)["quantity"].sum()


def _spread(centres: list[float], gap: float) -> list[float]:
    """Label positions at least `gap` apart, as close to `centres` (ascending) as allowed."""
    out = list(centres)
    for i in range(1, len(out)):
        out[i] = max(out[i], out[i - 1] + gap)
    return out


def _alluvial(ax, paths: pd.DataFrame, title: str, order: list[str], colours: dict[str, str], unit: str) -> None:
    """Mine -> refinery -> user columns of stacked group blocks joined by ribbons; labels on
    the outer columns (one line each, pushed apart so none overlap; groups under 1% of use
    unlabelled: their colour says who they are)."""
    stages = ["mine", "refinery", "user"]
    total = float(paths["quantity"].sum()) or 1.0
    gap = 0.02 * total
    positions = {}
    lowest = total
    for k, stage in enumerate(stages):
        sizes = paths.groupby(stage)["quantity"].sum().reindex(order).fillna(0.0)
        y = 0.0
        labels = []
        for group, size in sizes.items():
            if size > 0:
                positions[(stage, group)] = y
                ax.add_patch(Rectangle((k * 2 - 0.08, y), 0.16, size, color=colours[group], lw=0))
                if size >= 0.01 * total:
                    labels.append((y + size / 2, group, size))
                y += size + gap
        lowest = max(lowest, y)
        placed = _spread([c for c, _, _ in labels], 0.075 * total)
        for (_centre, group, size), ypos in zip(labels, placed):
            if k == 1:          # the middle column: shares only, on a white box over the ribbons
                ax.text(k * 2 + 0.14, ypos, f"{size / total:.0%}", fontsize=7, va="center", ha="left",
                        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": colours[group], "lw": 0.8})
                continue
            ax.text(k * 2 + (-0.14 if k == 0 else 0.14), ypos, f"{group} {size / total:.0%}", fontsize=8, va="center",
                    ha="right" if k == 0 else "left")
            lowest = max(lowest, ypos + 0.04 * total)
    out_cursor = dict(positions)
    in_cursor = dict(positions)
    for left, right in (("mine", "refinery"), ("refinery", "user")):
        k = stages.index(left)
        flows = paths.groupby([left, right])["quantity"].sum()
        for a in order:
            for b in order:
                size = flows.get((a, b), 0.0)
                if size <= 0:
                    continue
                y0, y1 = out_cursor[(left, a)], in_cursor[(right, b)]
                out_cursor[(left, a)] += size
                in_cursor[(right, b)] += size
                x0, x1 = k * 2 + 0.08, k * 2 + 1.92
                verts = [(x0, y0), ((x0 + x1) / 2, y0), ((x0 + x1) / 2, y1), (x1, y1), (x1, y1 + size),
                         ((x0 + x1) / 2, y1 + size), ((x0 + x1) / 2, y0 + size), (x0, y0 + size), (x0, y0)]
                codes = [MplPath.MOVETO, MplPath.CURVE4, MplPath.CURVE4, MplPath.CURVE4, MplPath.LINETO,
                         MplPath.CURVE4, MplPath.CURVE4, MplPath.CURVE4, MplPath.CLOSEPOLY]
                ax.add_patch(PathPatch(MplPath(verts, codes), facecolor=colours[a if left == "mine" else b], alpha=0.45, lw=0))
    ax.set_xlim(-2.3, 6.3)
    ax.set_ylim(lowest + gap, -0.04 * total)     # first group on top
    ax.set_xticks([0, 2, 4], ["mined in", "refined in", "used in"])
    ax.set_yticks([])
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"{title}\nmembers' use: {total:,.0f} {unit}", fontsize=9)


def _wrap(text: str, width: int = 38) -> str:
    words, lines, line = str(text).split(), [], ""
    for w in words:
        if len(line) + len(w) + 1 > width and line:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    lines.append(line)
    return "\n".join(lines[:3]) + ("…" if len(lines) > 3 else "")


def sankey_sets(collection: Collection, product: str, threshold: float = 0.02) -> list[tuple[tuple[str, ...], list[str], list[str]]]:
    """(members, designs drawn, designs with little change) per member set: a design is drawn
    when its flows of `product` into members (home flows included) differ from the
    baseline's by more than `threshold` of them."""
    base = collection.results[collection.baseline].flows
    base = base[base["product"] == product].set_index(["origin", "destination"])["quantity"]
    sets: dict[tuple[str, ...], tuple[list[str], list[str]]] = {}
    for design in collection.designs:
        members = tuple(collection.members(design))
        f = collection.results[design].flows
        f = f[f["product"] == product].set_index(["origin", "destination"])["quantity"]
        into = lambda s: s[s.index.get_level_values("destination").isin(members)]  # noqa: E731
        moved = into(f).sub(into(base), fill_value=0.0).abs().sum() / 2
        drawn, quiet = sets.setdefault(members, ([], []))
        (drawn if moved > threshold * max(float(into(base).sum()), 1e-12) else quiet).append(design)
    return [(members, drawn, quiet) for members, (drawn, quiet) in sets.items()]


def figure_paths(collection: Collection, product: str, members: tuple[str, ...], designs: list[str], numbers: dict[str, int]) -> str:
    groups = path_groups(collection, set(members), product)
    order = _group_order(groups)
    colours = {g: group_colour(g, collection) for g in order}
    unit = _unit(collection.data, product)
    panels = [(collection.baseline, f"Baseline: {collection.baseline_title}")] + \
        [(d, f"{numbers[d]}. {collection.title(d)}") for d in designs]
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    fig = Figure(figsize=(4.6 * columns, 3.9 * rows))
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax, (name, title) in zip(axes, panels):
        _alluvial(ax, product_paths(collection.results[name], product, groups, set(members)), _wrap(title), order, colours, unit)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    fig.tight_layout()
    return _png(fig)


# ------------------------------------------------------------------ HTML parts
def _heat(value: float, limit: float) -> str:
    """A background colour for a change: red losses, blue gains, scaled by `limit`."""
    if not np.isfinite(value) or limit <= 0 or abs(value) < 0.05:
        return ""
    t = min(abs(value) / limit, 1.0) ** 0.6
    base = (192, 57, 43) if value < 0 else (46, 134, 193)
    r, g, b = (round(255 + (c - 255) * t * 0.75) for c in base)
    return f" style='background:rgb({r},{g},{b})'"


def short_title(title: str, limit: int = 56) -> str:
    """A title cut to `limit` characters, keeping what a composed design adds ('A + B': the
    start of A and all of B, which is what tells designs on the same bloc apart)."""
    if len(title) <= limit:
        return title
    cut = lambda text, n: text if len(text) <= n else text[:n].rsplit(" ", 1)[0] + "…"  # noqa: E731
    if " + " in title:
        first, rest = title.split(" + ", 1)
        rest = cut(rest, limit - 18)
        return f"{cut(first, limit - len(rest) - 3)} + {rest}"
    return cut(title, limit - 1)


def _design_th(collection: Collection, design: str, number: int) -> str:
    title = collection.title(design)
    short = short_title(title)
    return f"<th class='design' title='{_esc(title)} ({_esc(design)})'>{number}. {_esc(short)}</th>"


def design_findings(collection: Collection) -> dict[str, list[str]]:
    """Key findings of every design against its baseline (`findings.key_findings`)."""
    return {d: key_findings(collection.results[d], collection.base_of(d), focus=collection.focus) for d in collection.designs}


def _findings_html(collection: Collection, numbers: dict[str, int], found: dict[str, list[str]]) -> str:
    data = collection.data
    parts = ["<section id='findings'><h2>Key findings</h2>",
             f"<p>Each design against {_esc(collection.baseline_title)}, per year. Members: the design's bloc (for a design "
             "without one, the ministerial partners).</p>"]
    for design in collection.designs:
        r = collection.results[design]
        sentences = found[design]
        what = " ".join(describe(r, collection.own.get(design)))
        horizon = r.scenario.horizon.replace("_", " ")
        parts.append(f"<article id='design-{numbers[design]}'><h3 title='{_esc(design)}'>{numbers[design]}. "
                     f"{_esc(collection.title(design))}</h3>"
                     f"<p class='muted'>{_named_html(what, data)} ({horizon}; {len(collection.members(design))} members)</p><ul>"
                     + "".join(f"<li>{_named_html(s, data)}</li>" for s in sentences) + "</ul></article>")
    parts.append("</section>")
    return "\n".join(parts)


def _money(value: float) -> str:
    return signed(value, 0 if abs(value) >= 10 else 1)


def short_product(data, product: str) -> str:
    """'lithium' for refined lithium in a table of refined products; 'NdPr oxide' as is."""
    name = product_name(data, product)
    return name[len("refined "):] if name.startswith("refined ") else name


def _summary_html(collection: Collection, numbers: dict[str, int]) -> str:
    s = summary_table(collection).set_index("design")
    data = collection.data
    money_cols = [c for c in s.columns if c.endswith("(USD m/yr)")]
    labels = {c: c.replace(" welfare change (USD m/yr)", "").replace(" change (USD m/yr)", "")
              .replace("non-members'", "all non-members").replace("bloc ", "") for c in money_cols}
    labels = {c: (v[0].upper() + v[1:]) for c, v in labels.items()}
    welfare = [c for c in money_cols if "welfare" in c]
    budget = [c for c in money_cols if c not in welfare]
    products = (collection.key_products or [])[:SUMMARY_PRODUCTS]
    top = ("<tr><th class='l' rowspan='2'>Design</th><th rowspan='2'>Mem&shy;bers</th>"
           f"<th colspan='{len(welfare)}'>Welfare change (USD m/yr)</th>"
           f"<th colspan='{len(budget)}'>Members' budgets (USD m/yr)</th>"
           "<th rowspan='2'>Members gaining / losing</th>"
           + (f"<th colspan='{len(products)}'>Share of members' use made outside the bloc, before → after</th>" if products else "")
           + "</tr>")
    second = ("<tr>" + "".join(f"<th>{_esc(labels[c].replace('Bloc', 'Members'))}</th>" for c in welfare)
              + "".join(f"<th>{_esc(labels[c].replace('Fiscal cost', 'Fiscal cost').replace('Tariff and levy revenue', 'Tariff and levy revenue'))}</th>" for c in budget)
              + "".join(f"<th>{_esc(short_product(data, p))}</th>" for p in products) + "</tr>")
    rows = []
    for design in collection.designs:
        row = s.loc[design]
        no_data = int(row["members with no data (regions)"])
        cells = [f"<td class='title'>{numbers[design]}. {_esc(collection.title(design))}</td>",
                 f"<td>{int(row['members (regions)'])}</td>"]
        cells += [f"<td>{_money(row[c])}</td>" for c in welfare + budget]
        cells.append(f"<td class='nowrap'>{int(row['members gaining (regions)'])} / {int(row['members losing (regions)'])}"
                     + (f"<br><span class='muted'>{no_data} no data</span>" if no_data else "") + "</td>")
        for p in products:
            name = product_name(data, p)
            b, a = row[f"non-member share of use, {name}, before (share)"], row[f"non-member share of use, {name}, after (share)"]
            cells.append(f"<td class='nowrap'>{pct(b)} → {pct(a)}</td>" if np.isfinite(a) else "<td>–</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return ("<section id='designs'><h2>Designs side by side</h2>"
            f"<p>Changes against {_esc(collection.baseline_title)}, in USD m a year. Welfare: consumer and producer surplus, "
            "rents, tariff and levy revenue, less fiscal cost (see the glossary). Fiscal cost: what members' treasuries pay "
            "(deficiency payments, reserve purchases, subsidies). Share made outside the bloc: of members' use of each refined "
            "product, before → after, with the design's own members in both.</p>"
            f"<div class='scroll'><table><thead>{top}{second}</thead><tbody>{''.join(rows)}</tbody></table></div></section>")


def _floors_html(collection: Collection, numbers: dict[str, int]) -> str:
    f = floor_summary(collection)
    data = collection.data
    if not len(f):
        return "<section id='floors'><h2>What each floor holds</h2><p>None of these designs sets a price floor.</p></section>"
    rows = []
    for design in collection.designs:
        d = f[f["design"] == design]
        if not len(d):
            continue
        res = collection.results[design]
        all_slack = d.groupby("floor", sort=False)["status"].transform(lambda s: (s == "slack").all())
        quiet = d[all_slack] if d.loc[all_slack, "floor"].nunique() >= 2 else d.iloc[0:0]     # 2+ slack floors: one row
        shown = d.drop(index=quiet.index)
        cells = []
        for r in shown.itertuples():
            markets = listing([region_name(data, m) for m in r.markets]) if len(r.markets) <= 4 else f"{len(r.markets)} markets"
            tip = ", ".join(region_name(data, m) for m in r.markets)
            producers = price_range(res, r.product, [r.producers_min, r.producers_max])
            cells.append(f"<td class='l'>{_esc(product_name(data, r.product))}, {_esc(unit_price(res, r.product, r.floor_price))}</td>"
                         f"<td class='l'>{_esc(r.mechanism.replace('_', ' '))}</td><td class='l'><b>{_esc(r.status)}</b></td>"
                         f"<td class='l' title='{_esc(tip)}'>{_esc(markets)}</td>"
                         f"<td class='nowrap'>{_esc(price_range(res, r.product, [r.buyers_min, r.buyers_max]))}</td>"
                         f"<td class='nowrap'>{_esc(producers) if producers != 'n/a' else '<span class=muted>no producers</span>'}</td>"
                         f"<td>{_money(r.levy_collected / MILLION)}</td>")
        if len(quiet):
            floors = "; ".join(f"{product_name(data, p)}, {unit_price(res, p, v)}"
                               for p, v in zip(quiet["product"], quiet["floor_price"]))
            cells.append(f"<td class='l' colspan='2'>{quiet['floor'].nunique()} floors: {_esc(floors)}</td><td class='l'><b>slack</b></td>"
                         "<td class='l' colspan='3'>market prices at or above each floor wherever it applies</td><td>0</td>")
        title = f"<td class='title' rowspan='{len(cells)}'>{numbers[design]}. {_esc(collection.title(design))}</td>"
        rows += [f"<tr>{title if i == 0 else ''}{c}</tr>" for i, c in enumerate(cells)]
    return ("<section id='floors'><h2>What each floor holds</h2>"
            "<p>Per floor and status: the member markets, the price buyers pay there and the price their producers get "
            "(with any deficiency payment). A levy floor holds the price at which non-member goods enter, not the members' "
            "own price: where it is prohibitive, members' buyers pay less than the floor; where it binds, buyers' prices "
            "differ from the floor by the calibrated cost of the routes they buy on.</p>"
            "<div class='scroll'><table><thead><tr><th class='l'>Design</th><th class='l'>Floor</th><th class='l'>Mechanism</th>"
            "<th class='l'>Status</th><th class='l'>Markets</th><th>Buyers pay</th><th>Producers get</th>"
            "<th>Levy collected (USD m/yr)</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></div></section>")


def _gains_html(collection: Collection, numbers: dict[str, int]) -> str:
    data = collection.data
    gains = member_gains(collection)
    no_data = [r for r in data.no_data_regions if r in gains.index]
    shown = gains.drop(index=no_data)
    zero = [r for r in shown.index if (shown.loc[r].abs() < 0.05).all()]
    shown = shown.drop(index=zero)
    shown = shown.loc[shown.abs().max(axis=1).sort_values(ascending=False, kind="stable").index]
    limits = {d: float(np.nanmax(np.abs(gains[d].to_numpy()))) if len(gains) else 0.0 for d in collection.designs}
    membership = {d: set(collection.members(d)) for d in collection.designs}
    head = "<tr><th>Region</th>" + "".join(_design_th(collection, d, numbers[d]) for d in collection.designs) + "</tr>"
    rows = []
    for region in shown.index:
        cells = []
        for d in collection.designs:
            v = shown.at[region, d]
            member = region in membership[d]
            cells.append(f"<td{' class=member' if member else ''}{_heat(v, limits[d])}>{_money(v)}{' ●' if member else ''}</td>")
        rows.append(f"<tr><td>{_region_html(data, region)}</td>{''.join(cells)}</tr>")
    for region in no_data:
        cells = "".join(f"<td class='nodata'>no data{' ●' if region in membership[d] else ''}</td>" for d in collection.designs)
        rows.append(f"<tr><td>{_region_html(data, region)}</td>{cells}</tr>")
    zero_line = ""
    if zero:
        zero_line = ("<p class='muted'>No change (below 0.05 m USD a year) in any design, so not listed: "
                     + ", ".join(_region_html(data, r) for r in zero) + ".</p>")
    return ("<section id='gains'><h2>Who gains and who pays</h2>"
            "<p>Each region's welfare change, USD m a year (● and bold: member of the design; blue gains, red losses). "
            "Colours are scaled per design, so each column shows its own winners and losers; compare sizes by the numbers. "
            "No data: no source publishes any activity of the region, so its result is not a finding.</p>"
            f"<div class='scroll wide tall'><table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table></div>"
            f"{zero_line}</section>")


def _dependency_html(collection: Collection, numbers: dict[str, int]) -> str:
    data = collection.data
    wide = _wide(collection)
    products = [p for p in collection.key_products or [] if f"non_member_share|{p}" in wide]
    focus = collection.focus
    head = "<tr><th>Design</th>" + "".join(f"<th>{_esc(short_product(data, p))}</th>" for p in products) + "</tr>"
    rows = []
    for design in collection.designs:
        cells = []
        for p in products:
            b, a = wide.at[design, f"non_member_share|{p}|baseline"], wide.at[design, f"non_member_share|{p}"]
            fb = wide.at[design, f"focus_share|{p}|baseline"] if f"focus_share|{p}" in wide else np.nan
            fa = wide.at[design, f"focus_share|{p}"] if f"focus_share|{p}" in wide else np.nan
            if not np.isfinite(a):
                cells.append("<td class='nodata'>no use</td>")
                continue
            t = min(max(a, 0.0), 1.0)
            colour = f"rgb(255,{round(255 - 120 * t)},{round(255 - 200 * t)})"
            second = f"<br><span class='muted'>{pct(fb)} → {pct(fa)}</span>" if focus and np.isfinite(fa) else ""
            cells.append(f"<td class='nowrap' style='background:{colour}'>{pct(b)} → {pct(a)}{second}</td>")
        rows.append(f"<tr><td>{numbers[design]}. {_esc(collection.title(design))}</td>{''.join(cells)}</tr>")
    focus_name = _esc(region_name(data, focus)) if focus else "the focus region"
    return ("<section id='dependency'><h2>Dependency on non-members</h2>"
            "<p>Of members' use of each refined product: the share made outside the bloc, before → after (first line, and "
            f"the colour: darker is more dependent), and the share made in {focus_name} (second line). 'Before' is the "
            "baseline with the design's own members, so each row compares like with like. Stock purchases are not use.</p>"
            f"<div class='scroll wide'><table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table></div></section>")


def _paths_html(collection: Collection, numbers: dict[str, int], product: str | None) -> str:
    if product is None or product not in collection.data.product_codes:
        return ""
    data = collection.data
    name = product_name(data, product)
    parts = [f"<section id='paths'><h2>Where members' {_esc(name)} comes from</h2>",
             f"<p>Members' use of {_esc(name)}, traced back through the refinery that made it to the mine its content came "
             "from (shares of members' use), for the baseline and for each design that moves members' supply of it by more "
             "than 2%. Groups and members follow each design; refining confers origin, so the middle column is where the "
             "product is made, the left one where its ore was mined.</p>"]
    for members, drawn, quiet in sankey_sets(collection, product):
        label = listing([str(numbers[d]) for d in drawn + quiet])
        parts.append(f"<h3>Design{'s' if len(drawn + quiet) > 1 else ''} {label} ({len(members)} members)</h3>")
        if drawn:
            parts.append(f"<img alt='{_esc(name)} from mine to refinery to user, designs {_esc(label)}' "
                         f"src='data:image/png;base64,{figure_paths(collection, product, members, drawn, numbers)}'>")
        if quiet:
            parts.append(f"<p class='muted'>Little change (under 2% of members' supply) in design{'s' if len(quiet) > 1 else ''} "
                         f"{listing([str(numbers[d]) for d in quiet])}.</p>")
    parts.append("</section>")
    return "\n".join(parts)


def render_html(collection: Collection, title: str, paths_product: str | None = None,
                findings: dict[str, list[str]] | None = None) -> str:
    meta = versions()
    data = collection.data
    numbers = {d: i + 1 for i, d in enumerate(collection.designs)}
    findings_part = _findings_html(collection, numbers, findings or design_findings(collection))
    no_data = data.no_data_regions
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' content='width=device-width, initial-scale=1'>"
             f"<title>{_esc(title)}</title><style>{CSS}</style></head><body>",
             f"<header><h1>{_esc(title)}</h1>",
             f"<p class='lede'>{len(collection.designs)} designs, each against <b>{_esc(collection.baseline_title)}</b>"
             + ("" if collection.results[collection.baseline].scenario.is_baseline else
                ", and each applied on top of it: " + _named_html(" ".join(describe(collection.results[collection.baseline])).rstrip("."), data))
             + ". All money is a change per year; welfare levels are never shown.</p>",
             f"<p class='muted'>blocmodel {meta['blocmodel']} · dataset {_esc(_display(Path(data.path)))}/ (hash {data.data_hash}) · "
             f"HiGHS {meta['highspy']} · every equilibrium verified (largest residual "
             f"{max(r.check_report.max_residual for r in collection.results.values() if r.check_report is not None):.1e})"
             + (f" · no published data for {', '.join(region_name(data, r) for r in no_data)}" if no_data else "")
             + "</p><p class='muted'>Contents: <a href='#findings'>key findings</a> · <a href='#designs'>designs side by side</a> · "
             "<a href='#floors'>floors</a> · <a href='#gains'>who gains and who pays</a> · <a href='#dependency'>dependency</a> · "
             + ("<a href='#paths'>where it comes from</a> · " if paths_product else "")
             + "<a href='#glossary'>glossary</a> · <a href='#assumptions'>assumptions</a></p></header>",
             findings_part,
             _summary_html(collection, numbers),
             _floors_html(collection, numbers),
             _gains_html(collection, numbers),
             _dependency_html(collection, numbers),
             _paths_html(collection, numbers, paths_product),
             "<section id='glossary'><h2>Glossary</h2><dl>"
             + "".join(f"<dt>{_esc(term)}</dt><dd>{_esc(text)}</dd>" for term, text in GLOSSARY) + "</dl></section>",
             "<section id='assumptions'><h2>What the results hinge on</h2><ul>"
             + "".join(f"<li>{_esc(a)}</li>" for a in ASSUMPTIONS) + "</ul>"
             "<p class='muted'>Every assumption, with its value and reason: data/README.md (A-numbers). Tables for batch "
             "use: designs.csv, members.csv, floors.csv, markets.csv, flows.csv; for people: report.xlsx.</p></section>",
             "</body></html>"]
    return "\n".join(parts)


# ------------------------------------------------------------------ workbook
def scenario_rows(name: str, scenario) -> list[tuple[str, str, str, str]]:
    """A scenario as readable rows: (design, key, value, source), one per field of each entry."""
    rows = []
    for key in ("title", "description", "reference", "baseline", "horizon"):
        value = getattr(scenario, key, None)
        if value:
            rows.append((name, key, " ".join(str(value).split()), ""))
    for item in scenario.not_modelled:
        rows.append((name, "not_modelled", item, ""))
    policy = scenario.model_dump(exclude={"name", "title", "description", "reference", "baseline", "not_modelled",
                                          "optimize", "horizon"}, exclude_defaults=True)
    for key, value in policy.items():
        entries = value if isinstance(value, list) else [value]
        for i, entry in enumerate(entries):
            where = f"{key}[{i}]" if isinstance(value, list) else key
            if not isinstance(entry, dict):
                rows.append((name, where, _cell(entry), ""))
                continue
            source = str(entry.get("source") or "")
            for field, v in entry.items():
                if field != "source":
                    rows.append((name, f"{where}.{field}", _cell(v), source))
    return rows


def _cell(value) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} = {_cell(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _sheet(xlsx, name: str, frame: pd.DataFrame, formats: dict[str, str], widths: dict[str, float] | None = None,
           freeze_columns: int = 1, wrap: tuple[str, ...] = ()) -> None:
    """A sheet with a bold wrapped header row, frozen header and first column(s), an
    autofilter, per-column number formats and widths."""
    frame.to_excel(xlsx, sheet_name=name, index=False)
    book, sheet = xlsx.book, xlsx.sheets[name]
    header = book.add_format({"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#F2F2F2", "border": 1})
    for j, column in enumerate(frame.columns):
        sheet.write(0, j, column, header)
        fmt = formats.get(column)
        width = (widths or {}).get(column)
        if width is None:
            values = frame[column].astype(str).str.len() if len(frame) else pd.Series([0])
            width = min(max(10, int(values.quantile(0.9)) + 2, min(len(str(column)), 28) * 0.6), 60)
        options = {"num_format": fmt} if fmt else {}
        if column in wrap:
            options["text_wrap"] = True
            options["valign"] = "top"
        sheet.set_column(j, j, width, book.add_format(options) if options else None)
    sheet.set_row(0, 45)
    sheet.freeze_panes(1, freeze_columns)
    if len(frame.columns):
        sheet.autofilter(0, 0, max(len(frame), 1), len(frame.columns) - 1)


MONEY_FORMAT = "#,##0.0;[Red]-#,##0.0;0.0"
SHARE_FORMAT = "0.0%"
PRICE_FORMAT = "#,##0;-#,##0;0"
QUANTITY_FORMAT = "#,##0.0;-#,##0.0;0.0"
COUNT_FORMAT = "0"


def write_workbook(collection: Collection, path: Path, tables: dict[str, pd.DataFrame], meta: dict, findings: dict[str, list[str]]) -> None:
    data = collection.data
    designs = collection.designs
    titles = {d: collection.title(d) for d in designs}
    numbered = {d: f"{i + 1}. {titles[d]}" for i, d in enumerate(designs)}
    with pd.ExcelWriter(path, engine="xlsxwriter") as xlsx:   # several times faster than openpyxl for 50k rows
        # a fixed creation date (xlsxwriter also stamps the zip entries with it): same inputs, same bytes
        xlsx.book.set_properties({"created": datetime(2024, 1, 1), "title": meta["title"]})
        summary = summary_table(collection)
        formats = {c: MONEY_FORMAT for c in summary.columns if "(USD m/yr)" in c}
        formats |= {c: SHARE_FORMAT for c in summary.columns if c.endswith("(share)")}
        formats |= {c: COUNT_FORMAT for c in summary.columns if c.endswith("(regions)")}
        _sheet(xlsx, "summary", summary, formats, {"design": 30, "design title": 48}, freeze_columns=2, wrap=("design title",))

        rows = [(d, titles[d], i + 1, s) for d in designs for i, s in enumerate(findings.get(d, []))]
        _sheet(xlsx, "findings", pd.DataFrame(rows, columns=["design", "design title", "finding", "text"]),
               {"finding": COUNT_FORMAT}, {"design": 30, "design title": 40, "finding": 8, "text": 120}, wrap=("text", "design title"))

        gains = member_gains(collection)
        membership = {d: set(collection.members(d)) for d in designs}
        sheet = gains.copy()
        sheet.columns = [f"{numbered[d]} (USD m/yr)" for d in designs]
        sheet.insert(0, "name", [region_name(data, r) for r in sheet.index])
        sheet.insert(1, "data", ["no data" if r in set(data.no_data_regions) else "" for r in sheet.index])
        sheet = sheet.reset_index(names="region")
        _sheet(xlsx, "member_gains", sheet, {c: MONEY_FORMAT for c in sheet.columns if c.endswith("(USD m/yr)")},
               {"region": 8, "name": 26, "data": 9} | {c: 16 for c in sheet.columns if c.endswith("(USD m/yr)")}, freeze_columns=2)
        ws = xlsx.sheets["member_gains"]
        bold = xlsx.book.add_format({"bold": True, "num_format": MONEY_FORMAT, "bg_color": "#DDEBF7"})
        for i, region in enumerate(sheet["region"]):
            for j, d in enumerate(designs):
                if region in membership[d] and np.isfinite(sheet.iat[i, 3 + j]):
                    ws.write_number(i + 1, 3 + j, float(sheet.iat[i, 3 + j]), bold)
        ws.write_comment(0, 0, "Members of each design are bold on a blue fill. 'no data': no source publishes the region's "
                               "activity; its zero is not a finding.")

        floors = tables["floors"].copy()
        if len(floors):
            floors.insert(1, "design title", floors["design"].map(titles))
            floors.insert(floors.columns.get_loc("market") + 1, "market name", [region_name(data, r) for r in floors["market"]])
            floors = floors.rename(columns={"floor_price": "floor (USD/unit)", "buyers_price": "buyers' price (USD/unit)",
                                            "producers_price": "producers' price (USD/unit)",
                                            "levy_collected": "levy collected (USD/yr)", "non_member_imports": "non-member imports (units/yr)"})
        _sheet(xlsx, "floors", floors, {"floor (USD/unit)": PRICE_FORMAT, "buyers' price (USD/unit)": PRICE_FORMAT,
                                        "producers' price (USD/unit)": PRICE_FORMAT, "levy collected (USD/yr)": PRICE_FORMAT,
                                        "non-member imports (units/yr)": QUANTITY_FORMAT},
               {"design": 30, "design title": 40, "floor": 50}, freeze_columns=2)

        dep = tables["designs"]
        dep = dep[dep["unit"] == "share"].copy()
        if len(dep):
            parts = dep["variable"].str.split("|", expand=True).reindex(columns=[0, 1, 2])
            dep["indicator"], dep["product"], dep["when"] = parts[0], parts[1], parts[2].fillna("after").replace("baseline", "before")
            dep = dep.pivot_table(index=["design", "product", "indicator"], columns="when", values="value", sort=False).reset_index()
            dep = dep.reindex(columns=["design", "product", "indicator", "before", "after"])
            dep["change"] = dep["after"] - dep["before"]
            dep.insert(1, "design title", dep["design"].map(titles))
            dep.insert(3, "product name", [product_name(data, p) for p in dep["product"]])
            dep = dep.rename(columns={"before": "before (share)", "after": "after (share)", "change": "change (share)"})
        _sheet(xlsx, "dependency", dep, {"before (share)": SHARE_FORMAT, "after (share)": SHARE_FORMAT, "change (share)": SHARE_FORMAT},
               {"design": 30, "design title": 40}, freeze_columns=2)

        # for people: designs as columns, in the report's order (the CSVs stay long, for machines)
        runs = [collection.baseline] + designs
        wide_designs = tables["designs"].pivot_table(index=["variable", "unit"], columns="design", values="value", sort=True)
        wide_designs = wide_designs.reindex(columns=designs).reset_index()
        _sheet(xlsx, "designs", wide_designs, {d: "General" for d in designs}, {"variable": 44, "unit": 9} | {d: 16 for d in designs},
               freeze_columns=2)
        members = tables["members"].copy()
        members["value"] = members["value"] / MILLION
        members["variable"] = members["variable"].str.replace("|change", " change (USD m/yr)", regex=False)
        wide_members = members.pivot_table(index=["region", "variable"], columns="design", values="value", sort=True)
        wide_members = wide_members.reindex(columns=designs).reset_index()
        _sheet(xlsx, "members", wide_members, {d: MONEY_FORMAT for d in designs}, {"region": 8, "variable": 34} | {d: 16 for d in designs},
               freeze_columns=2)
        markets = tables["markets"].pivot_table(index=["product", "region", "variable"], columns="design", values="value", sort=True)
        markets = markets.reindex(columns=runs).reset_index()
        _sheet(xlsx, "markets", markets, {d: QUANTITY_FORMAT for d in runs}, {"product": 18, "region": 8, "variable": 22} | {d: 16 for d in runs},
               freeze_columns=3)
        flows = tables["flows"].pivot_table(index=["product", "origin", "destination"], columns="design", values="quantity",
                                            sort=True, fill_value=0.0)
        flows = flows.reindex(columns=runs, fill_value=0.0).reset_index()
        _sheet(xlsx, "flows", flows, {d: QUANTITY_FORMAT for d in runs}, {"product": 18, "origin": 8, "destination": 11} | {d: 16 for d in runs},
               freeze_columns=3)

        definitions = [row for name, r in collection.results.items() for row in scenario_rows(name, r.scenario)]
        _sheet(xlsx, "scenarios", pd.DataFrame(definitions, columns=["design", "key", "value", "source"]), {},
               {"design": 30, "key": 34, "value": 60, "source": 80}, wrap=("value", "source"))
        units = pd.DataFrame([(p, product_name(data, p), data.unit[p]) for p in data.product_codes], columns=["product", "name", "unit"])
        _sheet(xlsx, "units", units, {}, {"product": 20, "name": 24, "unit": 70})
        meta_rows = [(k, v) for k, v in meta.items() if isinstance(v, str)]
        meta_rows += [(f"version: {k}", v) for k, v in meta["versions"].items()]
        meta_rows += [(f"design {i + 1}", d) for i, d in enumerate(designs)]
        meta_rows += [(f"scenario hash: {n}", h) for n, h in meta["scenario_hashes"].items()]
        _sheet(xlsx, "meta", pd.DataFrame(meta_rows, columns=["key", "value"]), {}, {"key": 40, "value": 80})


# ------------------------------------------------------------------- writing
def write_report(collection: Collection, folder: str | Path, title: str = "Critical-minerals bloc designs compared",
                 paths_product: str | None = None) -> list[Path]:
    """Write the report files into `folder`; `paths_product` is the product traced from mine
    to user (default: the first key product with a refining stage in the data)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = collection.data
    if paths_product is None:
        refined = set(data.processing["output"])
        paths_product = next((p for p in collection.key_products or [] if p in refined), None)
    tables = collection.tables()
    written = []
    for name, frame in tables.items():
        path = folder / f"{name}.csv"
        frame.to_csv(path, index=False, float_format="%.10g")
        written.append(path)
    definitions = {name: r.scenario.model_dump(exclude_defaults=True) for name, r in collection.results.items()}
    # the data folder relative to where it ran: the same run from another clone writes the same files
    meta = {"title": title, "designs": collection.designs, "baseline": collection.baseline,
            "baseline_title": collection.baseline_title, "key_products": list(collection.key_products or []),
            "focus": collection.focus or "", "data": _display(Path(data.path)), "data_hash": data.data_hash,
            "versions": versions(), "scenario_hashes": {n: r.scenario.hash for n, r in collection.results.items()}}
    findings = design_findings(collection)
    page = render_html(collection, title, paths_product, findings)
    path = folder / "report.xlsx"
    write_workbook(collection, path, tables, meta, findings)
    written.append(path)
    path = folder / "report.html"
    path.write_text(page)
    written.append(path)
    path = folder / "manifest.json"
    path.write_text(json.dumps({**meta, "findings": findings, "scenarios": definitions}, indent=2, default=str) + "\n")
    written.append(path)
    return written
