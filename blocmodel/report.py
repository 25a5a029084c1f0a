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

import html
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .api import versions
from .compare import Collection
from .dataset import _display
from .findings import key_findings, listing, money, price_range, product_name, region_name, unit_price
from .report_figures import figure_paths, sankey_sets
from .report_text import ASSUMPTIONS, CSS, GLOSSARY
from .report_workbook import write_workbook
from .results import Results

MILLION = 1e6
SUMMARY_PRODUCTS = 4      # key products in the side-by-side table (all of them in the dependency table)

# What the results hinge on (data/README.md has every assumption, its value and reason).
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
