"""blocmodel: a partial-equilibrium model of a preferential trade bloc for critical minerals.

    >>> import blocmodel as bm
    >>> data = bm.load_dataset()                 # the shipped 2024 dataset
    >>> base = bm.solve(data)                    # no policy
    >>> bloc = bm.solve(data, "full_bloc")       # a library design, a TOML path, or a dict
    >>> bloc.welfare_change(base), bloc.prices, bloc.flows, bloc.markets

Names load on first use, so `import blocmodel` (and the command line) stay quick.
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"

_WHERE = {
    "Session": "api", "solve": "api", "versions": "api",
    "check_equilibrium": "check",
    "Dataset": "dataset", "load_dataset": "dataset",
    "EquilibriumCheckError": "errors", "InfeasibleError": "errors", "InputError": "errors", "Problem": "errors",
    "check_graph": "graph", "supply_concentration": "graph", "trade_graph": "graph",
    "Results": "results",
    "Scenario": "scenario", "compose": "scenario", "load_scenario": "scenario",
    "run_batch": "batch", "load_store": "batch_report", "write_batch_report": "batch_report",
    "Collection": "compare",
    "bloc_dependency": "indicators", "concentration": "indicators", "dependency": "indicators",
    "origin_shares": "indicators", "trade_effects": "indicators",
    "load_design": "library", "scenario_set": "library",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'blocmodel' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
