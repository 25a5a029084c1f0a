"""The public way through: dataset → scenario → market → chains → solve → check → results."""

from __future__ import annotations

import functools
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .check import TOLERANCE, check_equilibrium
from .dataset import Dataset, load_dataset
from .errors import EquilibriumCheckError, InfeasibleError
from .scenario import Scenario, load_scenario, scenario_from_dict
from .solver import ChainSolver, SolverOptions, solve_chains

if TYPE_CHECKING:
    from .results import Results


def as_dataset(data: Dataset | str | Path | None) -> Dataset:
    return data if isinstance(data, Dataset) else load_dataset(data)


def as_scenario(scenario: Scenario | str | Path | dict | None) -> Scenario:
    """A Scenario from a Scenario, a dict of a TOML's content (named 'custom' unless it says),
    a TOML path, or a library design name ('full_bloc', 'bloc_msp+cet25'); None: no policy."""
    if scenario is None:
        return Scenario(name="baseline")
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, dict):
        return scenario_from_dict(scenario)
    path = Path(scenario)
    if path.suffix == ".toml" and path.is_file():
        return load_scenario(path)
    from .library import load_design

    return load_design(str(scenario))


@functools.lru_cache(maxsize=1)
def _versions() -> tuple:
    out = {"python": platform.python_version()}
    for package in ("blocmodel", "highspy", "pyomo", "pandas", "numpy", "scipy", "networkx"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "unknown"
    return tuple(out.items())


def versions() -> dict[str, str]:
    """Python and package versions (read once per process)."""
    return dict(_versions())


class Session:
    """A dataset held ready for many solves: each chain's system is kept and a new scenario
    changes only its levers, starting from the last equilibrium; chains a scenario leaves
    untouched are not solved again. Every result is checked like a cold solve, and equals
    one (to 1e-9).

        >>> session = Session(data)
        >>> for price in (80_000, 100_000, 120_000):
        ...     r = session.solve({"price_floors": [{"product": "ndpr_oxide", "price": price}], "bloc": {...}})
    """

    def __init__(self, data: Dataset | str | Path | None = None, options: SolverOptions = SolverOptions()):
        from .chains import chain_layout, mineral_chains
        from .policy import base_market

        self.data = as_dataset(data)
        self.options = options
        self.chains = mineral_chains(self.data)
        market, reference = base_market(self.data)
        if "layouts" not in self.data.cache:
            self.data.cache["layouts"] = {products: chain_layout(market, reference, products) for products in self.chains}
        self._layouts = self.data.cache["layouts"]
        self._solvers: dict[tuple[str, ...], ChainSolver] = {}
        self._market = None         # the market every kept solver was last given

    def reset(self) -> None:
        """Forget every warm start: the next solve is a cold solve."""
        self._solvers.clear()
        self._market = None

    def solve(self, scenario: Scenario | str | Path | dict | None = None, *, check: bool = True,
              raise_on_failure: bool = True, tolerance: float = TOLERANCE, retries: int = 1) -> Results:
        """Solve one scenario; see `blocmodel.solve`. `retries`: a chain that fails with no
        conflict named is solved again from a cold start this many times before its failure
        stands (one whose conflicting constraints were found has no equilibrium to find)."""
        from .chains import chain_problem
        from .policy import resolve
        from .problem import changed_products
        from .results import Results

        scen = as_scenario(scenario)
        start = time.perf_counter()
        policy = resolve(self.data, scen, source=f"scenario '{scen.name}'")
        # chains with no product touched since the last solve keep their problem and solution
        touched = changed_products(self._market, policy.market) if self._market is not None else None
        self._market = None         # until every solver has this solve's market
        layouts, solvers = [], []
        for products in self.chains:
            layout = self._layouts[products]
            if not layout.n_nodes:
                continue
            solver = self._solvers.get(products)
            kept = solver.solution if solver is not None else None
            if not (kept is not None and kept.status == "optimal" and touched is not None and touched.isdisjoint(products)):
                problem = chain_problem(policy.market, layout)
                if solver is None or not solver.update(problem):
                    solver = self._solvers[products] = ChainSolver(problem, self.options)
            layouts.append(layout)
            solvers.append(solver)
        solutions = solve_chains(solvers, self.options.threads)
        for k, (layout, solution) in enumerate(zip(layouts, solutions)):
            # a chain whose conflicting constraints were found has no equilibrium: no retry
            for _ in range(retries if solution.status != "optimal" and not solution.conflicts else 0):
                solver = self._solvers[layout.products] = ChainSolver(solvers[k].problem, self.options)
                solution = solutions[k] = solver.solve()
        self._market = policy.market.copy()    # its own: a caller may change the results' market
        results = Results(self.data, policy, layouts, solutions,
                          meta={"solve_seconds": round(time.perf_counter() - start, 4), "versions": versions()})
        failed = [s for s in solutions if s.status != "optimal"]
        if failed:
            for layout, s in zip(layouts, solutions):
                if s.status != "optimal":
                    self._solvers.pop(layout.products, None)     # start afresh next time
            if raise_on_failure:
                raise InfeasibleError("; ".join(results.messages), [c for s in failed for c in s.conflicts])
        if check and not failed:
            report = check_equilibrium(results, tolerance, reuse=True)
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
    dict of a TOML's content, a TOML path, a library design name ('full_bloc'), or None (no
    policy). The independent check runs after the solve; a failure raises
    `EquilibriumCheckError`. A scenario with no equilibrium raises `InfeasibleError` naming
    the conflicting constraints (or, with `raise_on_failure=False`, returns results whose
    `status` says so). For many solves on one dataset use a `Session`.
    """
    return Session(data, options).solve(scenario, check=check, raise_on_failure=raise_on_failure, tolerance=tolerance)


def _failure_text(report) -> tuple[str, list[str]]:
    worst = [f"{r.condition} {r.region}/{r.product} {r.detail}: {r.residual:.2e}" for r in report.worst().itertuples()]
    return (f"the solution fails the equilibrium check (largest relative residual {report.max_residual:.2e}): "
            + "; ".join(worst), worst)


__all__: list[Any] = ["Session", "solve", "as_dataset", "as_scenario", "versions"]
