"""The public way through: dataset → scenario → model → solve → check → results."""

from __future__ import annotations

import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from .check import TOLERANCE, check_equilibrium
from .dataset import Dataset, load_dataset
from .errors import EquilibriumCheckError, InfeasibleError
from .model import build_chain, mineral_chains
from .policy import resolve
from .results import Results
from .scenario import Scenario, load_scenario, scenario_from_dict
from .solve import ChainSolver, SolverOptions


def as_dataset(data: Dataset | str | Path | None) -> Dataset:
    return data if isinstance(data, Dataset) else load_dataset(data)


def as_scenario(scenario: Scenario | str | Path | dict | None) -> Scenario:
    if scenario is None:
        return Scenario()
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, dict):
        return scenario_from_dict(scenario)
    return load_scenario(scenario)


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for package in ("blocmodel", "pyomo", "highspy", "pandas", "numpy", "networkx"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "unknown"
    return out


def solve(data: Dataset | str | Path | None = None, scenario: Scenario | str | Path | dict | None = None, *,
          check: bool = True, raise_on_failure: bool = True, options: SolverOptions = SolverOptions(),
          tolerance: float = TOLERANCE) -> Results:
    """Solve one scenario on a dataset and verify the equilibrium.

    `data`: a Dataset or a folder (default: the shipped data). `scenario`: a Scenario, a
    TOML path, a dict of the TOML's content, or None (no policy). The independent check
    runs after the solve; a failure raises `EquilibriumCheckError`. A scenario with no
    equilibrium raises `InfeasibleError` naming the conflicting constraints (or, with
    `raise_on_failure=False`, returns results whose `status` says so).
    """
    dataset = as_dataset(data)
    scen = as_scenario(scenario)
    start = time.perf_counter()
    policy = resolve(dataset, scen, source=f"scenario '{scen.name}'")
    chains, solutions = [], []
    for products in mineral_chains(dataset):
        chain = build_chain(dataset, policy, products)
        if not chain.nodes:
            continue
        chains.append(chain)
        solutions.append(ChainSolver(chain, policy, options).solve())
    seconds = time.perf_counter() - start
    results = Results(dataset, policy, chains, solutions,
                      meta={"solve_seconds": round(seconds, 4), "versions": versions()})
    failed = [s for s in solutions if s.status != "optimal"]
    if failed and raise_on_failure:
        conflicts = [c for s in failed for c in s.conflicts]
        raise InfeasibleError("; ".join(results.messages), conflicts)
    if check:
        report = check_equilibrium(results, tolerance)
        results.check_report = report
        results.meta["max_residual"] = report.max_residual
        results.meta["check_passed"] = report.passed
        if not report.passed:
            raise EquilibriumCheckError(*_failure_text(report))
    return results


def _failure_text(report) -> tuple[str, list[str]]:
    worst = [f"{r.condition} {r.region}/{r.product} {r.detail}: {r.residual:.2e}" for r in report.worst().itertuples()]
    return (f"the solution fails the equilibrium check (largest relative residual {report.max_residual:.2e}): "
            + "; ".join(worst), worst)


__all__: list[Any] = ["solve", "as_dataset", "as_scenario", "versions"]
