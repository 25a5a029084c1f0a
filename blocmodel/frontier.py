"""The cost–dependency frontier: for each floor mechanism, the least-cost floor on a
product that brings the bloc's non-member share of it to each target, and a chart of cost
against dependency a negotiator can choose a floor from.

    >>> table = frontier("data/scenarios/bloc_ministerial.toml", "ndpr_oxide", [0.45, 0.35, 0.25])
    >>> plot_frontier(table, "frontier.png")

Each point is `optimize.search_1d` over the floor price, every evaluation an exact, checked
equilibrium, refined until its first-order condition holds (`certificate`: the target
binds, a bound binds, or the cost's derivative is zero to 1e-8), minimising `cost`:
- `welfare_loss` (default): the loss of the bloc members' total welfare against no
  policy, the economic cost (it nets levy revenue and counts fiscal outlays);
- `fiscal_cost`: what the members' treasuries pay. A levy raises revenue, so its fiscal
  cost is 0 at every floor and ties go to the lowest floor that meets the target.
Both costs are reported for every point. One evaluator per mechanism remembers every
solved floor, so the targets share their grid.

Mechanisms: `variable_levy`, `deficiency_payment`, `stockpile`, `price_support` (the levy
plus purchases where it alone leaves members' producers below the floor). Dependency is
measured on members' *use* (stock purchases are not use): a stockpile that buys members'
output at the floor raises their users' non-member share, so it reaches no target below
the share without a floor; such rows are `infeasible` and `note` says which way the share
moves over the bounds. A reserve without a `budget` gets the documented default cap
(`instruments/floors.py`), printed in `notes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .api import Session, as_scenario
from .dataset import Dataset
from .errors import InputError, Problem
from .optimize import DEFAULT_RELATIVE_TOLERANCE, Evaluator, Goal, measure, search_1d, solve_with_retry
from .policy import resolve
from .results import Results
from .scenario import Scenario, scenario_from_dict

MECHANISMS = ("variable_levy", "deficiency_payment", "stockpile", "price_support")
COSTS = ("welfare_loss", "fiscal_cost")
COLUMNS = ["mechanism", "target", "status", "floor", "non_member_share", "welfare_loss", "fiscal_cost", "cost",
           "on_target_boundary", "certificate", "relative_derivative", "local_optima_on_grid", "share_monotonicity",
           "evaluations", "note"]


def with_floor(scenario: Scenario, product: str, mechanism: str, price: float) -> tuple[Scenario, str]:
    """The scenario with its floor on `product` set to `mechanism` at `price` (USD per unit
    of the product; one over the bloc's markets is added if it has none), and the lever
    path of that floor's price."""
    tree = scenario.model_dump(exclude={"optimize"})
    floors = tree["price_floors"]
    index = next((k for k, f in enumerate(floors) if f["product"] == product), None)
    if index is None:
        floors.append({"product": product, "price": price, "markets": ["bloc"], "mechanism": mechanism})
        index = len(floors) - 1
    floors[index].update(mechanism=mechanism, price=price, unit=None)     # the frontier's floors are in the product's unit
    if mechanism not in ("stockpile", "price_support"):
        floors[index]["budget"] = None
    return scenario_from_dict(tree, source=scenario.name), f"price_floors.{index}.price"


def frontier(scenario: Scenario | str | Path | dict, product: str, targets: Sequence[float],
             mechanisms: Sequence[str] = MECHANISMS, bounds: tuple[float, float] | None = None,
             cost: str = "welfare_loss", grid: int = 17, tolerance: float | None = None,
             data: Dataset | str | Path | None = None, session: Session | None = None,
             baseline: Results | None = None) -> pd.DataFrame:
    """One row per mechanism and target: the least-cost floor, its share and both costs
    (USD per year); `status` is 'infeasible' where no floor in `bounds` meets the target."""
    scen = as_scenario(scenario)
    if cost not in COSTS:
        raise InputError([Problem("frontier", f"cost must be one of {', '.join(COSTS)}", field="cost")])
    if unknown := [m for m in mechanisms if m not in MECHANISMS]:
        raise InputError([Problem("frontier", f"unknown mechanism {unknown[0]!r}: {', '.join(MECHANISMS)}", field="mechanisms")])
    session = session or Session(data)
    if product not in session.data.product_codes:
        raise InputError([Problem("frontier", f"unknown product '{product}'", field="product")])
    baseline = baseline if baseline is not None else solve_with_retry(session, scen.baseline_scenario())
    lower, upper = bounds or _default_bounds(session.data, product)
    tol = tolerance or DEFAULT_RELATIVE_TOLERANCE * (upper - lower)
    share = ("non_member_share", product)
    rows, notes = [], []
    for mechanism in mechanisms:
        floored, path = with_floor(scen, product, mechanism, lower)
        notes += [f"{mechanism}: {note}" for note in resolve(session.data, floored, source=floored.name).notes]
        evaluate = Evaluator(floored, [path], [("welfare_loss", None), ("fiscal_cost", None), share], session, baseline)
        for target in targets:
            goal = Goal((cost, None), False, [(*share, "<=", float(target))])
            out = search_1d(lambda x: evaluate((x,)), goal, lower, upper, grid, tol, piece=lambda x: evaluate.piece((x,)))
            values = evaluate((out["x"],)) if out["x"] is not None else {}
            evidence = out["evidence"]
            certificate = evidence.get("certificate") or {}
            rows.append({
                "mechanism": mechanism, "target": float(target), "status": out["status"], "floor": out["x"],
                "non_member_share": values.get(f"{share[0]}:{product}", np.nan),
                "welfare_loss": values.get("welfare_loss", np.nan), "fiscal_cost": values.get("fiscal_cost", np.nan),
                "cost": values.get(cost, np.nan), "on_target_boundary": evidence.get("on_target_boundary"),
                "certificate": certificate.get("kind"), "relative_derivative": certificate.get("relative_derivative", np.nan),
                "local_optima_on_grid": evidence["local_optima_on_grid"],
                "share_monotonicity": evidence["constraint_monotonicity"][f"{share[0]}:{product}"],
                "evaluations": len(evaluate.points), "note": "; ".join(evidence.get("why", []))})
    table = pd.DataFrame(rows, columns=COLUMNS)
    table.attrs.update({"product": product, "cost": cost, "bounds": [lower, upper], "tolerance": tol,
                        "no_floor_share": _share_without_floor(scen, product, session, baseline), "notes": notes})
    return table


def _default_bounds(data: Dataset, product: str) -> tuple[float, float]:
    """Half to two and a half times the product's median reference price."""
    prices = pd.concat([data.supply.loc[data.supply["product"] == product, "ref_price"],
                        data.demand.loc[data.demand["product"] == product, "ref_price"]])
    reference = float(prices.median()) if len(prices) else np.nan
    if not np.isfinite(reference):
        raise InputError([Problem("frontier", f"no reference price for '{product}': give --bounds")])
    return 0.5 * reference, 2.5 * reference


def _share_without_floor(scenario: Scenario, product: str, session: Session, baseline: Results) -> float:
    tree = scenario.model_dump(exclude={"optimize"})
    tree["price_floors"] = [f for f in tree["price_floors"] if f["product"] != product]
    results = solve_with_retry(session, scenario_from_dict(tree, source=scenario.name))
    return measure(results, baseline, "non_member_share", product)


def plot_frontier(table: pd.DataFrame, path: str | Path) -> Path:
    """Cost against the non-member share reached, one line per mechanism: bloc welfare loss
    (left) and fiscal cost (right), in million USD per year."""
    from matplotlib.figure import Figure  # no pyplot: no global backend switched under a notebook

    from .batch_report import product_words

    product = product_words(table.attrs.get("product", ""))
    fig = Figure(figsize=(11, 4.5), constrained_layout=True)
    axes = fig.subplots(1, 2)
    for ax, column, label in zip(axes, ("welfare_loss", "fiscal_cost"), ("Bloc welfare loss", "Fiscal cost to the bloc")):
        for mechanism, g in table.groupby("mechanism", sort=False):
            ok = g[g["status"] == "optimal"].sort_values("non_member_share")
            words = mechanism.replace("_", " ")
            rising = g["note"].fillna("").str.contains("moves it away").any() if "note" in g else False
            name = words if len(ok) else f"{words} (no floor reaches any target{': the share rises with the floor' if rising else ''})"
            ax.plot(ok["non_member_share"] * 100, ok[column] / 1e6, marker="o", label=name)
        no_floor = table.attrs.get("no_floor_share")
        if no_floor is not None and np.isfinite(no_floor):
            ax.axvline(no_floor * 100, color="grey", linestyle="--", linewidth=1, label=f"no floor ({no_floor:.0%})")
        ax.axhline(0, color="black", linewidth=0.5)
        ax.invert_xaxis()       # less dependency to the right: what the money buys
        ax.set_xlabel(f"Non-member share of the bloc's {product} use (%)")
        ax.set_ylabel(f"{label} (million USD per year)")
        ax.set_title(f"{label} (floors chosen for least {table.attrs.get('cost', 'cost').replace('_', ' ')})", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    return path
