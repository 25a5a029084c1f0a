"""Summaries of a batch: tidy tables, Monte Carlo quantiles and plots, from `results.sqlite`.

Files written to the batch folder (only what the sweep has):
- `scenarios.csv`: one row per scenario: its axes, draw, key, status and error;
- `outcomes.csv`: scenario axes × key outcomes (the `designs` variables of `blocmodel compare`
  plus the batch's own, see `batch.py`: welfare changes, fiscal cost, non-member and China
  shares, prices, what each floor holds), long;
- `members.csv`: each region's welfare change in each scenario, long (`member` says if in the bloc);
- `prices.csv`, `floors.csv`: market prices by region and product, and each floor's markets
  (if the sweep asked for them);
- `quantiles.csv`, `member_quantiles.csv` (Monte Carlo): 5/50/95% and mean over the draws at
  each grid point;
- `line_<outcome>.png`, when the sweep has exactly one numeric axis (e.g. floor × mechanism):
  each headline outcome against that axis, one line per category (the values of the other
  axes); with Monte Carlo draws the line is the median and the band the 5–95% range;
- `heatmap_bloc_welfare.png`: bloc welfare change over two numeric axes (means over draws,
  one panel per value of the other axes), when the sweep has two or more;
- `fan_<outcome>.png` (Monte Carlo, no numeric axis or several): the 5–95% range and median
  of the headline outcomes along the first numeric axis, or by grid point when there is none.
Every plot axis says what it shows in words and its unit ("NdPr oxide floor, USD/kg",
"Bloc welfare change, million USD per year"); axis units come from the sweep's `unit`/`title`
keys or from the path (`price_floors.0.price`: the floor's product and unit). A plot that is
not drawn is named with the reason, through `log` (the command line prints it).
Tables are sorted the same way every run and carry no timings, so a batch re-run on any
number of workers writes identical files.
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .batch import STORE
from .errors import InputError, Problem

QUANTILES = (0.05, 0.5, 0.95)
HEADLINE = ("welfare|bloc|change", "welfare|world|change", "fiscal_cost|bloc")
MAX_LINES = 12          # categories drawn in one chart


def load_store(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(scenarios, outputs, axis names) of a batch folder."""
    path = Path(folder) / STORE
    if not path.is_file():
        raise InputError([Problem(str(path), "no batch results here", hint="run `blocmodel batch SWEEP --out DIR` first")])
    with sqlite3.connect(path) as db:
        scenarios = pd.read_sql_query("SELECT key, idx, draw, point, factors, scenario, status, error, max_residual FROM scenarios", db)
        outputs = pd.read_sql_query("SELECT key, tbl, region, product, variable, value FROM outputs", db)
    scenarios = scenarios.sort_values("idx", kind="stable").reset_index(drop=True)
    points = [json.loads(p) for p in scenarios["point"]]
    axes = list(points[0]) if points else []
    for axis in axes:
        scenarios[axis] = [_cell(p.get(axis)) for p in points]
    return scenarios.drop(columns=["point"]), outputs, axes


def _meta(folder: Path) -> dict[str, str]:
    with sqlite3.connect(folder / STORE) as db:
        return dict(db.execute("SELECT name, value FROM meta"))


def _cell(value):
    """Axis values as table cells: lists of names joined by '+'."""
    return "+".join(map(str, value)) if isinstance(value, list) else value


# ------------------------------------------------------------------ words and units
@dataclass(frozen=True)
class Label:
    """What a plotted quantity is, in words, its unit, and the factor from stored values."""

    words: str
    unit: str
    scale: float = 1.0

    @property
    def text(self) -> str:
        return f"{self.words}, {self.unit}" if self.unit else self.words


_SPECIAL_PRODUCTS = {"ndpr_oxide": "NdPr oxide"}


def product_words(code: str) -> str:
    """'lithium_refined' -> 'refined lithium', 'ndpr_oxide' -> 'NdPr oxide'."""
    if code in _SPECIAL_PRODUCTS:
        return _SPECIAL_PRODUCTS[code]
    for stage in ("refined", "mined"):
        if code.endswith(f"_{stage}"):
            return f"{stage} {code[: -len(stage) - 1].replace('_', ' ')}"
    return code.replace("_", " ")


def price_label(product: str, units: dict[str, str], words: str) -> Label:
    """A price per unit of `product`: USD/kg where the product is priced per tonne."""
    unit = (units.get(product) or "unit").split(" ")[0]
    if unit == "t":
        return Label(words, "USD/kg", 1e-3)
    return Label(words, f"USD/{unit}")


def axis_label(axis, scenario: dict, units: dict[str, str]) -> Label | None:
    """Words and unit of a sweep axis (None: unknown unit). `axis.title` and `axis.unit`
    in the sweep override what the path implies."""
    path = axis.path
    label = None
    match = re.fullmatch(r"price_floors\.(\d+)\.price", path)
    if match:
        floor = _item(scenario, "price_floors", int(match[1]))
        product = floor.get("product", "")
        if floor.get("unit"):
            label = Label(f"{product_words(product)} floor", floor["unit"])
        else:
            label = price_label(product, units, f"{product_words(product)} floor")
    elif re.fullmatch(r"price_floors\.\d+\.budget", path):
        label = Label("reserve budget", "million USD per year", 1e-6)
    elif path.endswith("external_tariff_ad_valorem"):
        label = Label("common external tariff", "% ad valorem", 100.0)
    elif path.endswith(("ad_valorem", ".margin")):
        what = "tariff" if "tariff" in path else path.split(".")[-1].replace("_", " ")
        label = Label(what, "% ad valorem" if "ad_valorem" in path else "% of the price", 100.0)
    elif path.endswith("specific"):
        parent = _item(scenario, *_parent(path))
        product = parent.get("product", "") if isinstance(parent, dict) else ""
        if product in units:
            label = price_label(product, units, f"specific tariff on {product_words(product)}")
        else:
            label = Label("specific tariff", "USD per unit of the product")
    elif path.endswith(("capacity_factor",)):
        label = Label("capacity", "share of reference capacity")
    elif path.endswith(("budget", "subsidy", "cost_change")):
        label = Label(path.split(".")[-1].replace("_", " "), "million USD per year" if path.endswith("budget") else "USD per unit", 1e-6 if path.endswith("budget") else 1.0)
    if axis.title or axis.unit:
        base = label or Label(axis.label.replace("_", " "), "")
        label = Label(axis.title or base.words, axis.unit if axis.unit is not None else base.unit,
                      1.0 if axis.unit is not None else base.scale)
    return label


def _parent(path: str) -> tuple:
    parts = path.split(".")[:-1]
    return tuple(int(p) if p.isdigit() else p for p in parts)


def _item(tree, *keys):
    node = tree
    try:
        for key in keys:
            node = node[key]
    except (KeyError, IndexError, TypeError):
        return {}
    return node if node is not None else {}


def outcome_label(variable: str, units: dict[str, str]) -> Label:
    """Words and unit of a stored outcome (`outcomes.csv` variable)."""
    parts = variable.split("|")
    baseline = parts[-1] == "baseline"
    if baseline:
        parts = parts[:-1]
    suffix = " (no policy)" if baseline else ""
    head = parts[0]
    million = "million USD per year"
    if head == "welfare" and parts[-1] == "change":
        who = {"bloc": "Bloc", "world": "World", "non_members": "Non-members'"}.get(parts[1], parts[1])
        what = "welfare" if len(parts) == 3 else parts[2].replace("_", " ")
        return Label(f"{who} {what} change{suffix}", million, 1e-6)
    if head == "fiscal_cost":
        return Label(f"Fiscal cost to the bloc's treasuries{suffix}", million, 1e-6)
    shares = {"non_member_share": "Non-member share of the bloc's {p} use",
              "non_member_content_share": "Non-member share of the mined content of the bloc's {p} use",
              "self_sufficiency": "Bloc self-sufficiency in {p}",
              "focus_share": "China's share of the bloc's {p} use",
              "focus_content_share": "China's share of the mined content of the bloc's {p} use"}
    if head in shares and len(parts) >= 2:
        return Label(shares[head].format(p=product_words(parts[1])) + suffix, "%", 100.0)
    if head == "price" and len(parts) >= 3:
        who = "members" if parts[2] == "members" else "non-members"
        return price_label(parts[1], units, f"{product_words(parts[1])} price paid by {who}' buyers{suffix}")
    if head == "floor" and len(parts) >= 3:
        product = product_words(parts[1])
        if parts[2] == "buyers_price":
            return price_label(parts[1], units, f"{product} price members' buyers pay under the floor")
        if parts[2] == "floor_price":
            return price_label(parts[1], units, f"{product} floor")
        if parts[2] == "markets":
            return Label(f"{product} floor markets where it {parts[3] if len(parts) > 3 else ''}".strip(), "regions")
    if head == "members":
        return Label({"members": "Bloc members", "members|gaining": "Members gaining",
                      "members|losing": "Members losing"}.get("|".join(parts), "|".join(parts)), "regions")
    return Label(variable.replace("|", ", ").replace("_", " "), "")


# ------------------------------------------------------------------ the report
def write_batch_report(folder: str | Path, log: Callable[[str], None] | None = None) -> list[Path]:
    """Write the tables and plots of a batch folder; `log` gets one line per plot not drawn
    and why (default: standard error)."""
    folder = Path(folder)
    say = log or (lambda line: print(line, file=sys.stderr, flush=True))
    scenarios, outputs, axes = load_store(folder)
    monte_carlo = scenarios["draw"].notna().any()
    keys = ["idx"] + (["draw"] if monte_carlo else []) + axes
    written = []

    def write(frame: pd.DataFrame, name: str) -> None:
        frame.to_csv(folder / name, index=False, float_format="%.10g")
        written.append(folder / name)

    # (each solve's residual stays in the store: it depends on the path the solver took, not on the answer)
    write(scenarios[keys + ["key", "status", "error"]], "scenarios.csv")
    tables = {}
    for tbl, columns in (("designs", ["variable", "value"]), ("members", ["region", "member", "value"]),
                         ("prices", ["region", "product", "value"]), ("floors", ["region", "product", "variable", "value"])):
        part = outputs[outputs["tbl"] == tbl]
        if part.empty:
            continue
        part = part.copy()
        if tbl == "members":
            part["member"] = part["variable"].str.endswith("|member")
        part = scenarios[keys + ["key"]].merge(part, on="key")
        order = keys + [c for c in columns if c != "value"]
        tables[tbl] = part[keys + columns].sort_values(order, kind="stable").reset_index(drop=True)
    names = {"designs": "outcomes.csv", "members": "members.csv", "prices": "prices.csv", "floors": "floors.csv"}
    for tbl, frame in tables.items():
        write(frame.rename(columns={"region": "market"}) if tbl == "floors" else frame, names[tbl])
    if monte_carlo and "designs" in tables:
        write(_quantiles(tables["designs"], axes + ["variable"]), "quantiles.csv")
    if monte_carlo and "members" in tables:
        write(_quantiles(tables["members"], axes + ["region", "member"]), "member_quantiles.csv")
    if "designs" in tables:
        context = _context(folder, scenarios, axes)
        written += _plots(tables["designs"], scenarios, axes, monte_carlo, folder, context, say)
    else:
        say("plots: none drawn: the sweep stores no 'designs' outcomes (add \"designs\" to its outputs)")
    return written


@dataclass
class _Context:
    labels: dict[str, Label | None]      # per axis
    units: dict[str, str]                # product -> unit
    draws: int


def _context(folder: Path, scenarios: pd.DataFrame, axes: list[str]) -> _Context:
    from .sweep import Sweep

    meta = _meta(folder)
    units = json.loads(meta.get("product_units", "{}"))
    labels: dict[str, Label | None] = {a: None for a in axes}
    try:
        import tomllib
        sweep = Sweep.model_validate({"name": "batch", **tomllib.loads(meta.get("sweep", ""))})
    except Exception:       # a store written by another version: labels from the names alone
        sweep = None
    first = json.loads(scenarios["scenario"].iloc[0]) if len(scenarios) else {}
    for axis in (sweep.axes if sweep else []):
        if axis.label in labels:
            labels[axis.label] = axis_label(axis, first, units)
    draws = int(scenarios["draw"].nunique()) if scenarios["draw"].notna().any() else 0
    return _Context(labels, units, draws)


def _quantiles(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    groups = frame.groupby(by, sort=True, dropna=False)["value"]
    out = groups.quantile(list(QUANTILES)).unstack()
    out.columns = [f"q{round(q * 100):02d}" for q in QUANTILES]
    out["mean"] = groups.mean()
    out["draws"] = groups.count()
    return out.reset_index()


def _numeric(scenarios: pd.DataFrame, axes: list[str]) -> list[str]:
    return [a for a in axes if pd.api.types.is_numeric_dtype(scenarios[a]) and scenarios[a].nunique() > 1]


def _outcomes_to_plot(outcomes: pd.DataFrame) -> list[str]:
    """The headline outcomes, plus each floor's buyers' price and its product's non-member share."""
    present = set(outcomes["variable"])
    chosen = [v for v in HEADLINE if v in present]
    for variable in sorted(present):
        if variable.startswith("floor|") and variable.endswith("|buyers_price"):
            product = variable.split("|")[1]
            chosen += [v for v in (variable, f"non_member_share|{product}", f"focus_share|{product}") if v in present]
    return [v for v in dict.fromkeys(chosen) if outcomes.loc[outcomes["variable"] == v, "value"].notna().any()]


def _slug(variable: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", variable).strip("_")


def _axis_text(axis: str, context: _Context, say) -> tuple[str, float]:
    label = context.labels.get(axis)
    if label is None or not label.unit:
        say(f"plots: axis '{axis}' has no known unit; set `unit = \"...\"` (and `title`) on it in the sweep file")
        return f"{axis.replace('_', ' ')} (unit: as in the sweep file)", 1.0
    return label.text, label.scale


def _plots(outcomes: pd.DataFrame, scenarios: pd.DataFrame, axes: list[str], monte_carlo: bool, folder: Path,
           context: _Context, say) -> list[Path]:
    from matplotlib.figure import Figure  # no pyplot: no global backend switched under a notebook

    numeric = _numeric(scenarios, axes)
    categories = [a for a in axes if a not in numeric and scenarios[a].nunique() > 1]
    chosen = _outcomes_to_plot(outcomes)
    written = []
    if len(numeric) == 1:
        for variable in chosen:
            written.append(_line(outcomes[outcomes["variable"] == variable], numeric[0], categories, variable, monte_carlo,
                                 folder, context, Figure, say))
    elif not numeric:
        say(f"plots: no line chart or heat map: no axis is numeric with more than one value "
            f"(axes: {', '.join(axes) or 'none'}){'; fan charts by grid point instead' if monte_carlo else ''}")
    else:
        say(f"plots: no line charts: {len(numeric)} numeric axes ({', '.join(numeric)}); "
            f"a heat map of bloc welfare over '{numeric[-1]}' and '{numeric[-2]}' instead")
    if len(numeric) >= 2:
        path = _heatmap(outcomes, scenarios, axes, numeric, monte_carlo, folder, context, Figure, say)
        if path is not None:
            written.append(path)
    if monte_carlo and len(numeric) != 1:
        for variable in chosen:
            written.append(_fan(outcomes[outcomes["variable"] == variable], axes, numeric, variable, folder, context, Figure, say))
    elif not monte_carlo:
        say("plots: no fan charts (5–95% bands over draws): the sweep has no Monte Carlo draws")
    return written


def _category_name(label, names: list[str]) -> str:
    values = label if isinstance(label, tuple) else (label,)
    return ", ".join(str(v).replace("_", " ") for v in values) if names else ""


def _line(data: pd.DataFrame, x: str, categories: list[str], variable: str, monte_carlo: bool, folder: Path,
          context: _Context, Figure, say) -> Path:
    ylabel = outcome_label(variable, context.units)
    xtext, xscale = _axis_text(x, context, say)
    fig = Figure(figsize=(7.5, 4.5), constrained_layout=True)
    ax = fig.subplots()
    groups = list(data.groupby(categories, sort=False)) if categories else [((), data)]
    if len(groups) > MAX_LINES:
        say(f"plots: {ylabel.words}: {len(groups)} categories; the first {MAX_LINES} are drawn")
        groups = groups[:MAX_LINES]
    for label, frame in groups:
        name = _category_name(label, categories)
        if monte_carlo:
            q = frame.groupby(x)["value"].quantile(list(QUANTILES)).unstack()
            xs = q.index.to_numpy(dtype=float) * xscale
            ax.fill_between(xs, q[QUANTILES[0]] * ylabel.scale, q[QUANTILES[2]] * ylabel.scale, alpha=0.2)
            ax.plot(xs, q[QUANTILES[1]] * ylabel.scale, marker="o", label=name or "median")
        else:
            line = frame.groupby(x)["value"].mean()
            ax.plot(line.index.to_numpy(dtype=float) * xscale, line.to_numpy() * ylabel.scale, marker="o", label=name or None)
    if variable.endswith("change"):
        ax.axhline(0, color="grey", lw=0.6)
    ax.set_xlabel(xtext)
    ax.set_ylabel(textwrap.fill(ylabel.text, 45))
    title = ylabel.words
    if monte_carlo:
        title += f": median and 5–95% range over {context.draws} Monte Carlo draws"
    ax.set_title(title, fontsize=9)
    if categories:
        ax.legend(fontsize=7, title=", ".join(c.replace("_", " ") for c in categories), title_fontsize=7)
    ax.grid(alpha=0.3)
    path = folder / f"line_{_slug(variable)}.png"
    fig.savefig(path, dpi=110)
    return path


def _heatmap(outcomes, scenarios, axes, numeric, monte_carlo, folder, context, Figure, say) -> Path | None:
    x, y = numeric[-1], numeric[-2]
    others = [a for a in axes if a not in (x, y)]
    data = outcomes[outcomes["variable"] == "welfare|bloc|change"]
    if data.empty or data["value"].isna().all():
        say("plots: no heat map: the sweep has no bloc welfare change (no [bloc] members?)")
        return None
    panels = list(data.groupby(others, sort=False)) if others else [((), data)]
    if len(panels) > 12:
        say(f"plots: heat map: {len(panels)} panels; the first 12 are drawn")
        panels = panels[:12]
    xtext, xscale = _axis_text(x, context, say)
    ytext, yscale = _axis_text(y, context, say)
    cols = min(len(panels), 4)
    rows = -(-len(panels) // cols)
    fig = Figure(figsize=(4.2 * cols, 3.6 * rows), constrained_layout=True)
    axs = fig.subplots(rows, cols, squeeze=False)
    vmax = float(np.nanmax(np.abs(data["value"]))) / 1e6 or 1.0
    for ax, (label, frame) in zip(axs.flat, panels):
        grid = frame.pivot_table(index=y, columns=x, values="value", aggfunc="mean") / 1e6
        image = ax.pcolormesh(grid.columns.to_numpy(dtype=float) * xscale, grid.index.to_numpy(dtype=float) * yscale,
                              grid.to_numpy(), cmap="RdBu", vmin=-vmax, vmax=vmax, shading="nearest")
        label = label if isinstance(label, tuple) else (label,)
        ax.set_title(", ".join(f"{a.replace('_', ' ')}: {v}" for a, v in zip(others, label)) or "Bloc welfare change", fontsize=8)
        ax.set_xlabel(xtext, fontsize=8)
        ax.set_ylabel(ytext, fontsize=8)
    for ax in list(axs.flat)[len(panels):]:
        ax.set_visible(False)
    fig.colorbar(image, ax=axs, label="Bloc welfare change, million USD per year" + (" (mean of draws)" if monte_carlo else ""))
    path = folder / "heatmap_bloc_welfare.png"
    fig.savefig(path, dpi=110)
    return path


def _fan(data: pd.DataFrame, axes: list[str], numeric: list[str], variable: str, folder: Path, context: _Context,
         Figure, say) -> Path:
    ylabel = outcome_label(variable, context.units)
    x = numeric[0] if numeric else None
    lines = [a for a in axes if a != x]
    fig = Figure(figsize=(7.5, 4.5), constrained_layout=True)
    ax = fig.subplots()
    if x is not None:
        xtext, xscale = _axis_text(x, context, say)
        for label, frame in (data.groupby(lines, sort=False) if lines else [("", data)]):
            q = frame.groupby(x)["value"].quantile(list(QUANTILES)).unstack()
            xs = q.index.to_numpy(dtype=float) * xscale
            name = ", ".join(map(str, label)) if isinstance(label, tuple) else str(label)
            ax.fill_between(xs, q[QUANTILES[0]] * ylabel.scale, q[QUANTILES[2]] * ylabel.scale, alpha=0.25)
            ax.plot(xs, q[QUANTILES[1]] * ylabel.scale, marker="o", label=name or "median")
        ax.set_xlabel(xtext)
    else:
        keys = data[lines].astype(str).agg(", ".join, axis=1) if lines else pd.Series("all", index=data.index)
        q = data.groupby(keys.to_numpy(), sort=False)["value"].quantile(list(QUANTILES)).unstack() * ylabel.scale
        pos = np.arange(len(q))
        ax.errorbar(pos, q[QUANTILES[1]], yerr=[q[QUANTILES[1]] - q[QUANTILES[0]], q[QUANTILES[2]] - q[QUANTILES[1]]],
                    fmt="o", capsize=4)
        ax.set_xticks(pos, q.index, rotation=30, ha="right", fontsize=7)
        ax.set_xlabel(", ".join(a.replace("_", " ") for a in lines) or "scenario")
    if variable.endswith("change"):
        ax.axhline(0, color="grey", lw=0.6)
    ax.set_ylabel(textwrap.fill(ylabel.text, 45))
    ax.set_title(f"{ylabel.words}: median and 5–95% range over {context.draws} Monte Carlo draws", fontsize=9)
    if x is not None and lines:
        ax.legend(fontsize=7)
    path = folder / f"fan_{_slug(variable)}.png"
    fig.savefig(path, dpi=110)
    return path


__all__ = ["write_batch_report", "load_store", "outcome_label", "axis_label", "product_words", "Label"]
