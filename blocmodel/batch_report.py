"""Summaries of a batch: tidy tables, Monte Carlo quantiles and plots, from `results.sqlite`.

Files written to the batch folder (only what the sweep has):
- `scenarios.csv`: one row per scenario: its axes, draw, key, status and error;
- `outcomes.csv`: scenario axes × key outcomes (the `designs` variables of `blocmodel compare`:
  welfare changes, fiscal cost, non-member shares, prices), long;
- `members.csv`: each region's welfare change in each scenario, long (`member` says if in the bloc);
- `prices.csv`: market prices by region and product, long (if the sweep asked for them);
- `quantiles.csv`, `member_quantiles.csv` (Monte Carlo): 5/50/95% and mean over the draws at
  each grid point;
- `heatmap_bloc_welfare.png`: bloc welfare change over the two numeric axes (means over draws,
  one panel per value of the other axes), when the sweep has two numeric axes;
- `fan_<outcome>.png` (Monte Carlo): the 5–95% band and median of the headline outcomes along
  the first numeric axis, or by grid point when there is none.
Tables are sorted the same way every run and carry no timings, so a batch re-run on any
number of workers writes identical files.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

from .batch import STORE
from .errors import InputError, Problem

QUANTILES = (0.05, 0.5, 0.95)
FAN_OUTCOMES = ("welfare|bloc|change", "welfare|world|change", "fiscal_cost|bloc", "non_member_share|ndpr_oxide")


def load_store(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(scenarios, outputs, axis names) of a batch folder."""
    path = Path(folder) / STORE
    if not path.is_file():
        raise InputError([Problem(str(path), "no batch results here", hint="run `blocmodel batch SWEEP --out DIR` first")])
    with sqlite3.connect(path) as db:
        scenarios = pd.read_sql_query("SELECT key, idx, draw, point, factors, status, error, max_residual FROM scenarios", db)
        outputs = pd.read_sql_query("SELECT key, tbl, region, product, variable, value FROM outputs", db)
    scenarios = scenarios.sort_values("idx", kind="stable").reset_index(drop=True)
    points = [json.loads(p) for p in scenarios["point"]]
    axes = list(points[0]) if points else []
    for axis in axes:
        scenarios[axis] = [_cell(p.get(axis)) for p in points]
    return scenarios.drop(columns=["point"]), outputs, axes


def _cell(value):
    """Axis values as table cells: lists of names joined by '+'."""
    return "+".join(map(str, value)) if isinstance(value, list) else value


def write_batch_report(folder: str | Path) -> list[Path]:
    folder = Path(folder)
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
                         ("prices", ["region", "product", "value"])):
        part = outputs[outputs["tbl"] == tbl]
        if part.empty:
            continue
        part = part.copy()
        if tbl == "members":
            part["member"] = part["variable"].str.endswith("|member")
        part = scenarios[keys + ["key"]].merge(part, on="key")
        order = keys + [c for c in columns if c != "value"]
        tables[tbl] = part[keys + columns].sort_values(order, kind="stable").reset_index(drop=True)
    names = {"designs": "outcomes.csv", "members": "members.csv", "prices": "prices.csv"}
    for tbl, frame in tables.items():
        write(frame, names[tbl])
    if monte_carlo and "designs" in tables:
        write(_quantiles(tables["designs"], axes + ["variable"]), "quantiles.csv")
    if monte_carlo and "members" in tables:
        write(_quantiles(tables["members"], axes + ["region", "member"]), "member_quantiles.csv")
    if "designs" in tables:
        written += _plots(tables["designs"], scenarios, axes, monte_carlo, folder)
    return written


def _quantiles(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    groups = frame.groupby(by, sort=True, dropna=False)["value"]
    out = groups.quantile(list(QUANTILES)).unstack()
    out.columns = [f"q{round(q * 100):02d}" for q in QUANTILES]
    out["mean"] = groups.mean()
    out["draws"] = groups.count()
    return out.reset_index()


def _numeric(scenarios: pd.DataFrame, axes: list[str]) -> list[str]:
    return [a for a in axes if pd.api.types.is_numeric_dtype(scenarios[a]) and scenarios[a].nunique() > 1]


def _plots(outcomes: pd.DataFrame, scenarios: pd.DataFrame, axes: list[str], monte_carlo: bool, folder: Path) -> list[Path]:
    from matplotlib.figure import Figure    # no pyplot: no global backend switched under a notebook

    numeric = _numeric(scenarios, axes)
    written = []
    if len(numeric) >= 2:
        x, y = numeric[-1], numeric[-2]
        others = [a for a in axes if a not in (x, y)]
        data = outcomes[outcomes["variable"] == "welfare|bloc|change"]
        panels = list(data.groupby(others, sort=False)) if others else [((), data)]
        panels = panels[:12]
        cols = min(len(panels), 4)
        rows = -(-len(panels) // cols)
        fig = Figure(figsize=(4.2 * cols, 3.6 * rows), constrained_layout=True)
        axs = fig.subplots(rows, cols, squeeze=False)
        vmax = float(np.nanmax(np.abs(data["value"]))) / 1e6 or 1.0
        for ax, (label, frame) in zip(axs.flat, panels):
            grid = frame.pivot_table(index=y, columns=x, values="value", aggfunc="mean") / 1e6
            image = ax.pcolormesh(grid.columns, grid.index, grid.to_numpy(), cmap="RdBu", vmin=-vmax, vmax=vmax, shading="nearest")
            label = label if isinstance(label, tuple) else (label,)
            ax.set_title(", ".join(f"{a}={v}" for a, v in zip(others, label)) or "bloc welfare change", fontsize=8)
            ax.set_xlabel(x)
            ax.set_ylabel(y)
        for ax in list(axs.flat)[len(panels):]:
            ax.set_visible(False)
        fig.colorbar(image, ax=axs, label="bloc welfare change, million USD/yr" + (" (mean of draws)" if monte_carlo else ""))
        path = folder / "heatmap_bloc_welfare.png"
        fig.savefig(path, dpi=110)
        written.append(path)
    if monte_carlo:
        for variable in FAN_OUTCOMES:
            data = outcomes[outcomes["variable"] == variable]
            if data.empty or data["value"].isna().all():
                continue
            written.append(_fan(data, axes, numeric, variable, folder, Figure))
    return written


def _fan(data: pd.DataFrame, axes: list[str], numeric: list[str], variable: str, folder: Path, Figure) -> Path:
    x = numeric[0] if numeric else None
    lines = [a for a in axes if a != x]
    fig = Figure(figsize=(7, 4), constrained_layout=True)
    ax = fig.subplots()
    scale, unit = (1e6, "million USD/yr") if not variable.startswith("non_member") else (1.0, "share")
    if x is not None:
        for label, frame in (data.groupby(lines, sort=False) if lines else [("", data)]):
            q = frame.groupby(x)["value"].quantile(list(QUANTILES)).unstack() / scale
            name = ", ".join(map(str, label)) if isinstance(label, tuple) else str(label)
            ax.fill_between(q.index, q[QUANTILES[0]], q[QUANTILES[2]], alpha=0.25)
            ax.plot(q.index, q[QUANTILES[1]], marker="o", label=name or "median")
        ax.set_xlabel(x)
    else:
        keys = data[lines].astype(str).agg(", ".join, axis=1) if lines else pd.Series("all", index=data.index)
        q = data.groupby(keys.to_numpy(), sort=False)["value"].quantile(list(QUANTILES)).unstack() / scale
        pos = np.arange(len(q))
        ax.errorbar(pos, q[QUANTILES[1]], yerr=[q[QUANTILES[1]] - q[QUANTILES[0]], q[QUANTILES[2]] - q[QUANTILES[1]]],
                    fmt="o", capsize=4)
        ax.set_xticks(pos, q.index, rotation=30, ha="right", fontsize=7)
    ax.axhline(0, color="grey", lw=0.6)
    ax.set_ylabel(f"{variable} ({unit})")
    ax.set_title(f"{variable}: median and 5-95% over elasticity draws", fontsize=9)
    if x is not None and lines:
        ax.legend(fontsize=7)
    path = folder / f"fan_{variable.replace('|', '_')}.png"
    fig.savefig(path, dpi=110)
    return path


__all__ = ["write_batch_report", "load_store"]
