"""blocmodel: a partial-equilibrium model of a preferential trade bloc for critical minerals.

    >>> import blocmodel as bm
    >>> data = bm.load_dataset()                 # the shipped 2024 dataset
    >>> base = bm.solve(data)                    # no policy
    >>> bloc = bm.solve(data, "data/scenarios/full_bloc.toml")
    >>> bloc.welfare, bloc.prices, bloc.flows, bloc.markets
"""

from .api import Session, solve, versions
from .batch import run_batch
from .batch_report import load_store, write_batch_report
from .check import check_equilibrium
from .compare import Collection
from .dataset import Dataset, load_dataset
from .errors import EquilibriumCheckError, InfeasibleError, InputError, Problem
from .graph import check_graph, supply_concentration, trade_graph
from .indicators import bloc_dependency, concentration, dependency, origin_shares, trade_effects
from .library import load_design, scenario_set
from .results import Results
from .scenario import Scenario, compose, load_scenario

__version__ = "0.1.0"

__all__ = [
    "Session", "solve", "versions", "check_equilibrium", "Dataset", "load_dataset", "EquilibriumCheckError", "InfeasibleError",
    "InputError", "Problem", "check_graph", "supply_concentration", "trade_graph", "Results", "Scenario", "compose",
    "load_scenario", "run_batch", "load_store", "write_batch_report", "Collection", "bloc_dependency", "concentration",
    "dependency", "origin_shares", "trade_effects", "load_design", "scenario_set",
]
