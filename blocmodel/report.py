"""The comparison report a negotiator reads in five minutes, and its tables for batch use.

`write_report(collection, folder)` writes:
- `report.html` — self-contained (inline CSS, figures as embedded PNG), opens offline: the
  designs × outcomes summary, what each design changes in plain words, figures (welfare
  change by member, dependency on non-members, where NdPr oxide comes from), each member's
  gain or loss, and the assumptions the results hinge on;
- `report.xlsx` — one sheet per table and a `meta` sheet (versions, data hash, scenario
  definitions);
- `designs.csv`, `members.csv`, `markets.csv`, `flows.csv` — the long tidy tables;
- `manifest.json` — what was run.
"""

from __future__ import annotations

import base64
import html
import io
import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure     # figures without pyplot: no global backend switched under a notebook
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.path import Path as MplPath

from .api import versions
from .compare import KEY_PRODUCTS, Collection
from .dataset import _display
from .indicators import content_shares, origin_shares
from .results import Results

MILLION = 1e6

# What the results hinge on (data/README.md has every assumption and its reason).
ASSUMPTIONS = [
    "Every price elasticity is an assumption (no published value was readable): mined supply 0.2–0.4, gallium and "
    "germanium 0.1, refining 0.5, demand −0.2 to −0.4. Welfare changes scale roughly with them; run the Monte Carlo "
    "batch for bands.",
    "No refinery or mine capacities are known except gallium's: refineries outside China expand along their curves when "
    "prices rise, so dependency falls faster, and a ban costs less, than it would against real capacity limits.",
    "Consumption of cobalt, battery graphite, NdPr oxide, gallium and germanium by country is not published: China uses "
    "its own refining share (87% for NdPr) and the rest follows copper use. Members' dependency on these products "
    "depends on that allocation.",
    "Transport costs are straight-line distance × a bulk or container rate, with no inland legs; ad valorem duties apply "
    "to the CIF value; MFN tariffs are zero where the references give none (Japan, Korea, most partners).",
    "Stocks bought or released are valued at the product's 2024 reference price; buying above it is a welfare cost.",
    "Short run, one year: no investment response, no rules of origin (goods refined in a member count as member goods), "
    "no recycling beyond the secondary supply in the data.",
]


def describe(results: Results) -> list[str]:
    """What a design changes, in plain words, from its resolved policy."""
    policy, scenario = results.policy, results.scenario
    lines = []
    if policy.members:
        bloc = scenario.bloc
        lines.append(f"A bloc of {len(policy.members)} regions ({', '.join(bloc.members)})"
                     + (", trading free of tariffs among themselves" if bloc.internal_free_trade else ""))
        if bloc.external_tariff_ad_valorem is not None:
            lines.append(f"a common external tariff of {bloc.external_tariff_ad_valorem:.0%} on non-members' goods")
    for t in scenario.tariffs:
        rate = " and ".join(x for x in [f"{t.ad_valorem:.1%}" if t.ad_valorem is not None else "",
                                        f"{t.specific:,.0f} USD/unit" if t.specific is not None else ""] if x)
        lines.append(f"a tariff of {rate} by {t.importer} on {t.product} from {t.exporter}")
    for f in scenario.price_floors:
        how = {"variable_levy": "a variable levy on non-member imports (revenue to the importer)",
               "deficiency_payment": "deficiency payments to producers (the treasury pays the gap)",
               "stockpile": "a reserve buying at the floor" + (f" within {f.budget:,.0f} USD" if f.budget else "")}[f.mechanism]
        lines.append(f"a floor of {f.price:,.0f} USD/t on {f.product} in {', '.join(f.markets)} markets, held by {how}")
    for d in scenario.anti_dumping:
        rate = f"{d.ad_valorem:.1%}" if d.ad_valorem is not None else f"{d.specific:,.0f} USD/unit"
        lines.append(f"an anti-dumping duty of {rate} on {d.product} from {d.exporter} into {d.importer}")
    for r in scenario.export_restrictions:
        what = "bans exports" if r.ban else f"caps exports at {r.quota:,.0f} units"
        lines.append(f"{r.exporter} {what} of {r.product} to {', '.join(r.destinations)}")
    for s in scenario.supply_shocks:
        parts = [f"subsidises output by {s.production_subsidy:,.0f} USD/unit" if s.production_subsidy else "",
                 f"shifts output by {s.quantity_change:+.0%}" if s.quantity_change else "",
                 f"changes unit cost by {s.cost_change:+,.0f} USD" if s.cost_change else "",
                 f"operates at {s.capacity_factor:.0%} of capacity" if s.capacity_factor is not None else ""]
        lines.append(f"{s.region} {' and '.join(p for p in parts if p)} of {s.product}")
    for e in scenario.export_subsidies:
        lines.append(f"{e.exporter} subsidises exports of {e.product} to {', '.join(e.destinations)}")
    for s in scenario.stockpile:
        lines.append(f"{s.region} {'buys' if s.quantity > 0 else 'releases'} {abs(s.quantity):,.0f} units of {s.product} for its stockpile")
    return lines or ["no policy: 2024 trade at today's MFN tariffs"]


# ------------------------------------------------------------------ tables
def summary_table(collection: Collection) -> pd.DataFrame:
    """Designs × the outcomes a negotiator asks about first."""
    d = collection.design_table()
    wide = d.pivot(index="design", columns="variable", values="value").reindex(collection.designs)
    out = pd.DataFrame(index=collection.designs)
    out["members"] = wide["members"]
    out["bloc welfare Δ (USD m)"] = wide["welfare|bloc|change"] / MILLION
    out["world welfare Δ (USD m)"] = wide["welfare|world|change"] / MILLION
    out["non-members Δ (USD m)"] = wide["welfare|non_members|change"] / MILLION
    out["bloc fiscal cost (USD m)"] = wide["fiscal_cost|bloc"] / MILLION
    out["bloc tariff revenue Δ (USD m)"] = wide["welfare|bloc|tariff_revenue|change"] / MILLION
    out["members gaining / losing"] = [f"{g:.0f} / {l:.0f}" for g, l in zip(wide["members|gaining"], wide["members|losing"])]
    for product in ("ndpr_oxide", "graphite_refined", "lithium_refined", "cobalt_refined"):
        before, after = wide.get(f"non_member_share|{product}|baseline"), wide.get(f"non_member_share|{product}")
        if before is not None:
            out[f"non-member share {product}"] = [f"{b:.0%} → {a:.0%}" if np.isfinite(a) else "–" for b, a in zip(before, after)]
    inside, outside = wide["price|ndpr_oxide|members"], wide["price|ndpr_oxide|non_members"]
    out["NdPr price in / out of bloc (USD/kg)"] = [f"{i / 1000:.0f} / {o / 1000:.0f}" if np.isfinite(i) and np.isfinite(o) else "–"
                                                  for i, o in zip(inside, outside)]
    return out.reset_index(names="design")


def member_gains(collection: Collection) -> pd.DataFrame:
    """Regions × designs: welfare change in USD m (members of the design marked *)."""
    change = collection.compare("welfare", "abs_diff").xs("total", level="variable") / MILLION
    return change[collection.designs].astype(float)


# ------------------------------------------------------------------ figures
def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode()


def figure_member_gains(collection: Collection, top: int = 25) -> str:
    gains = member_gains(collection)
    order = gains.abs().max(axis=1).sort_values(ascending=False).index[:top]
    data = gains.loc[order]
    fig = Figure(figsize=(max(8, 0.55 * data.shape[1] + 3), 0.32 * len(order) + 2))
    ax = fig.subplots()
    limit = float(np.nanmax(np.abs(data.to_numpy()))) or 1.0
    image = ax.imshow(data.to_numpy(), cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_yticks(range(len(order)), order)
    ax.set_xticks(range(data.shape[1]), [d.replace("+", "+\n") for d in data.columns], rotation=60, ha="right", fontsize=7)
    for (i, j), value in np.ndenumerate(data.to_numpy()):
        marker = "*" if order[i] in collection.members(data.columns[j]) else ""
        ax.text(j, i, f"{value:,.0f}{marker}", ha="center", va="center", fontsize=6)
    fig.colorbar(image, ax=ax, label="welfare change, USD m / year")
    ax.set_title(f"Who gains and who pays: the {len(order)} regions most affected (* = member)")
    return _png(fig)


def figure_dependency(collection: Collection) -> str:
    d = collection.design_table()
    rows = {}
    wide = d.pivot(index="design", columns="variable", values="value").reindex(collection.designs)
    products = [p for p in KEY_PRODUCTS if f"non_member_share|{p}" in wide]
    first = collection.designs[0]
    rows["baseline (each design's members)"] = [wide.at[first, f"non_member_share|{p}|baseline"] for p in products]
    for design in collection.designs:
        rows[design] = [wide.at[design, f"non_member_share|{p}"] for p in products]
    data = pd.DataFrame(rows, index=products).T
    fig = Figure(figsize=(1.2 * len(products) + 4, 0.35 * len(data) + 2))
    ax = fig.subplots()
    image = ax.imshow(data.to_numpy(dtype=float), cmap="Oranges", vmin=0, vmax=1, aspect="auto")
    ax.set_yticks(range(len(data)), data.index, fontsize=8)
    ax.set_xticks(range(len(products)), products, rotation=30, ha="right")
    for (i, j), value in np.ndenumerate(data.to_numpy(dtype=float)):
        ax.text(j, i, "–" if not np.isfinite(value) else f"{value:.0%}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, label="share of the bloc's use made by non-members")
    ax.set_title("Dependency on non-members, by refined product (first row: before, for the ministerial bloc)")
    return _png(fig)


def _group(region: str, members: set[str], eu: set[str]) -> str:
    if region == "CHN":
        return "China"
    if region not in members:
        return "other non-members"
    if region == "USA":
        return "United States"
    if region in eu:
        return "EU"
    return "other members"


GROUPS = ["China", "other non-members", "United States", "EU", "other members"]
COLOURS = {"China": "#c0392b", "other non-members": "#e59866", "United States": "#2e86c1", "EU": "#f4d03f",
           "other members": "#52be80"}


def ndpr_paths(results: Results, members: set[str]) -> pd.DataFrame:
    """Tonnes of NdPr oxide by (mine group, refinery group, user group), by proportional tracing."""
    eu = set(results.data.customs_unions.get("EU", ()))
    refined = origin_shares(results, "ndpr_oxide")            # user × refining region
    m = results.markets[results.markets["product"] == "ndpr_oxide"].set_index("region")
    use = m["demand"] + m["stockpile"].clip(lower=0)
    refinery_inputs = content_shares(results, "rare_earths_mined")   # refinery region × mine region
    rows = []
    for user, amount in use.items():
        if amount <= 0 or user not in refined.index:
            continue
        for refinery, share in refined.loc[user].items():
            if share <= 1e-12:
                continue
            mix = refinery_inputs.loc[refinery] if refinery in refinery_inputs.index and refinery_inputs.loc[refinery].sum() > 0 \
                else pd.Series({refinery: 1.0})
            for mine, content in mix.items():
                if content > 1e-12:
                    rows.append((_group(mine, members, eu), _group(refinery, members, eu), _group(user, members, eu),
                                 amount * share * content))
    frame = pd.DataFrame(rows, columns=["mine", "refinery", "user", "tonnes"])
    return frame.groupby(["mine", "refinery", "user"], as_index=False)["tonnes"].sum()


def _alluvial(ax, paths: pd.DataFrame, title: str) -> None:
    stages = ["mine", "refinery", "user"]
    total = paths["tonnes"].sum()
    gap = 0.02 * total
    positions = {}
    for k, stage in enumerate(stages):
        sizes = paths.groupby(stage)["tonnes"].sum().reindex(GROUPS).fillna(0.0)
        y = 0.0
        for group, size in sizes.items():
            if size > 0:
                positions[(stage, group)] = [y, y]      # [bottom, cursor]
                ax.add_patch(Rectangle((k * 2 - 0.08, y), 0.16, size, color=COLOURS[group]))
                ax.text(k * 2 + (0.12 if k < 2 else -0.12), y + size / 2, f"{group}\n{size:,.0f} t", fontsize=7, va="center",
                        ha="left" if k < 2 else "right")
                y += size + gap
    out_cursor = {key: v[0] for key, v in positions.items()}
    in_cursor = {key: v[0] for key, v in positions.items()}
    for left, right in (("mine", "refinery"), ("refinery", "user")):
        k = stages.index(left)
        for (a, b), size in paths.groupby([left, right])["tonnes"].sum().items():
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
            ax.add_patch(PathPatch(MplPath(verts, codes), facecolor=COLOURS[a if left == "mine" else b], alpha=0.45, lw=0))
    ax.set_xlim(-0.6, 4.6)
    ax.set_ylim(0, total + gap * 6)
    ax.set_xticks([0, 2, 4], ["mined in", "refined in", "used in"])
    ax.set_yticks([])
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.set_title(title, fontsize=10)


def figure_ndpr_paths(collection: Collection, design: str) -> str:
    members = set(collection.members(design))
    fig = Figure(figsize=(13, 5.5))
    axes = fig.subplots(1, 2)
    _alluvial(axes[0], ndpr_paths(collection.results[collection.baseline], members), "baseline")
    _alluvial(axes[1], ndpr_paths(collection.results[design], members), design)
    fig.suptitle("NdPr oxide from mine to refinery to user, by group (members of the design on the right)")
    return _png(fig)


# ------------------------------------------------------------------- writing
CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ccc;margin-top:1.6em}table{border-collapse:collapse;font-size:.8em}
td,th{border:1px solid #ddd;padding:3px 6px;text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
img{max-width:100%}.muted{color:#777;font-size:.85em}li{margin:.2em 0}"""


def _table_html(frame: pd.DataFrame, index: bool = False) -> str:
    return frame.to_html(index=index, border=0, float_format=lambda v: f"{v:,.1f}", na_rep="–", escape=True)


def render_html(collection: Collection, title: str, headline: str) -> str:
    summary = summary_table(collection)
    gains = member_gains(collection).round(1)
    meta = versions()
    data = collection.data
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             f"<p class='muted'>blocmodel {meta['blocmodel']} · data {html.escape(_display(Path(data.path)))} (hash {data.data_hash}) · "
             f"Pyomo {meta['pyomo']}, HiGHS {meta['highspy']} · every equilibrium verified (largest residual "
             f"{max(r.check_report.max_residual for r in collection.results.values()):.1e})</p>",
             "<h2>Designs side by side</h2>",
             "<p>Changes against no policy (2024 trade at MFN tariffs), per year. Welfare is consumer and producer surplus, "
             "refiner rents, tariff and levy revenue and quota rents, less fiscal cost. Non-member share: the part of the "
             "bloc's use made (at that stage) by non-members.</p>",
             _table_html(summary),
             "<h2>What each design changes</h2><ul>"]
    for design in collection.designs:
        r = collection.results[design]
        text = "; ".join(describe(r))
        extra = f" <span class='muted'>{html.escape(r.scenario.description)}</span>" if r.scenario.description else ""
        parts.append(f"<li><b>{html.escape(design)}</b>: {html.escape(text)}.{extra}</li>")
    parts += ["</ul>",
              "<h2>Who gains and who pays</h2>",
              f"<img alt='welfare change by member' src='data:image/png;base64,{figure_member_gains(collection)}'>",
              "<h2>Dependency on non-members</h2>",
              f"<img alt='dependency before and after' src='data:image/png;base64,{figure_dependency(collection)}'>",
              "<h2>Where NdPr oxide comes from</h2>",
              f"<img alt='NdPr flows mine to refinery to user' src='data:image/png;base64,{figure_ndpr_paths(collection, headline)}'>",
              "<h2>Each region's welfare change (USD m per year)</h2>",
              _table_html(gains.reset_index()),
              "<h2>What the results hinge on</h2><ul>"]
    parts += [f"<li>{html.escape(a)}</li>" for a in ASSUMPTIONS]
    parts += ["</ul><p class='muted'>Every assumption, with its value and reason: data/README.md. Tables for batch use: "
              "designs.csv, members.csv, markets.csv, flows.csv, report.xlsx.</p></body></html>"]
    return "\n".join(parts)


def write_report(collection: Collection, folder: str | Path, title: str = "Critical-minerals bloc designs compared",
                 headline: str | None = None) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    headline = headline or ("full_bloc" if "full_bloc" in collection.designs else collection.designs[0])
    tables = collection.tables()
    written = []
    for name, frame in tables.items():
        path = folder / f"{name}.csv"
        frame.to_csv(path, index=False, float_format="%.10g")
        written.append(path)
    definitions = {name: r.scenario.model_dump(exclude_defaults=True) for name, r in collection.results.items()}
    # the data folder relative to where it ran: the same run from another clone writes the same files
    meta = {"title": title, "designs": collection.designs, "baseline": collection.baseline,
            "data": _display(Path(collection.data.path)),
            "data_hash": collection.data.data_hash, "versions": versions(),
            "scenario_hashes": {n: r.scenario.hash for n, r in collection.results.items()}}
    path = folder / "report.xlsx"
    with pd.ExcelWriter(path, engine="xlsxwriter") as xlsx:   # several times faster than openpyxl for 50k rows
        # a fixed creation date (xlsxwriter also stamps the zip entries with it): same inputs, same bytes
        xlsx.book.set_properties({"created": datetime(2024, 1, 1)})
        summary_table(collection).to_excel(xlsx, sheet_name="summary", index=False)
        member_gains(collection).reset_index().to_excel(xlsx, sheet_name="member_gains", index=False)
        # In the workbook, for people: designs as columns (the CSVs stay long, for machines).
        wide = {"designs": tables["designs"].pivot_table(index=["variable", "unit"], columns="design", values="value", sort=True),
                "members": tables["members"].pivot_table(index=["region", "variable"], columns="design", values="value", sort=True),
                "markets": tables["markets"].pivot_table(index=["product", "region", "variable"], columns="design", values="value", sort=True),
                "flows": tables["flows"].pivot_table(index=["product", "origin", "destination"], columns="design", values="quantity",
                                                     sort=True, fill_value=0.0)}
        for name, frame in wide.items():
            frame.reset_index().to_excel(xlsx, sheet_name=name, index=False)
        meta_rows = [(k, json.dumps(v) if not isinstance(v, str) else v) for k, v in meta.items()]
        meta_rows += [(f"scenario:{n}", json.dumps(d, default=str)) for n, d in definitions.items()]
        pd.DataFrame(meta_rows, columns=["key", "value"]).to_excel(xlsx, sheet_name="meta", index=False)
    written.append(path)
    path = folder / "report.html"
    path.write_text(render_html(collection, title, headline))
    written.append(path)
    path = folder / "manifest.json"
    path.write_text(json.dumps({**meta, "scenarios": definitions}, indent=2, default=str) + "\n")
    written.append(path)
    return written
