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
from .model import build_chain, chain_layout, mineral_chains
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


class Session:
    """A dataset held ready for many solves: each chain's model is built once and a new
    scenario changes only its levers (mutable parameters), starting from the last
    equilibrium. Chains a scenario leaves untouched are not solved again. Every result is
    checked like a cold solve, and equals one.

        >>> session = Session(data)
        >>> for price in (80_000, 100_000, 120_000):
        ...     r = session.solve({"price_floors": [{"product": "ndpr_oxide", "price": price}], "bloc": {...}})
    """

    def __init__(self, data: Dataset | str | Path | None = None, options: SolverOptions = SolverOptions()):
        self.data = as_dataset(data)
        self.options = options
        self.chains = mineral_chains(self.data)
        self._layouts = {products: chain_layout(self.data, products) for products in self.chains}
        self._solvers: dict[tuple[str, ...], ChainSolver] = {}

    def reset(self) -> None:
        """Forget every warm start: the next solve is a cold solve, bit for bit. (Warm and cold
        solves agree to the solver's precision, ~1e-11 relative, but not to the last bit.)"""
        self._solvers.clear()

    def solve(self, scenario: Scenario | str | Path | dict | None = None, *, check: bool = True,
              raise_on_failure: bool = True, tolerance: float = TOLERANCE) -> Results:
        """Solve one scenario; see `blocmodel.solve`."""
        scen = as_scenario(scenario)
        start = time.perf_counter()
        policy = resolve(self.data, scen, source=f"scenario '{scen.name}'")
        chains, solutions = [], []
        for products in self.chains:
            chain = build_chain(self.data, policy, products, self._layouts[products])
            if not chain.nodes:
                continue
            solver = self._solvers.get(products)
            if solver is None or not solver.update(chain, policy):
                solver = self._solvers[products] = ChainSolver(chain, policy, self.options)
            chains.append(chain)
            solutions.append(solver.solve())
        seconds = time.perf_counter() - start
        results = Results(self.data, policy, chains, solutions,
                          meta={"solve_seconds": round(seconds, 4), "versions": versions()})
        failed = [s for s in solutions if s.status != "optimal"]
        if failed:
            for products in [c.products for c, s in zip(chains, solutions) if s.status != "optimal"]:
                self._solvers.pop(products, None)     # start afresh next time
            if raise_on_failure:
                raise InfeasibleError("; ".join(results.messages), [c for s in failed for c in s.conflicts])
        if check and not failed:
            report = check_equilibrium(results, tolerance)
            results.check_report = report
            results.meta["max_residual"] = report.max_residual
            results.meta["check_passed"] = report.passed
            if not report.passed:
                raise EquilibriumCheckError(*_failure_text(report))
        return results


def solve(data: Dataset | str | Path | None = None, scenario: Scenario | str | Path | dict | None = None, *,
          check: bool = True, raise_on_failure: bool = True, options: SolverOptions = SolverOptions(),
          tolerance: float = TOLERANCE) -> Results:
    """Solve one scenario on a dataset and verify the equilibrium.

    `data`: a Dataset or a folder (default: the shipped data). `scenario`: a Scenario, a
    TOML path, a dict of the TOML's content, or None (no policy). The independent check
    runs after the solve; a failure raises `EquilibriumCheckError`. A scenario with no
    equilibrium raises `InfeasibleError` naming the conflicting constraints (or, with
    `raise_on_failure=False`, returns results whose `status` says so). For many solves on
    one dataset use a `Session`.
    """
    return Session(data, options).solve(scenario, check=check, raise_on_failure=raise_on_failure, tolerance=tolerance)


def _failure_text(report) -> tuple[str, list[str]]:
    worst = [f"{r.condition} {r.region}/{r.product} {r.detail}: {r.residual:.2e}" for r in report.worst().itertuples()]
    return (f"the solution fails the equilibrium check (largest relative residual {report.max_residual:.2e}): "
            + "; ".join(worst), worst)


__all__: list[Any] = ["Session", "solve", "as_dataset", "as_scenario", "versions"]
