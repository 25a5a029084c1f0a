"""blocmodel: a partial-equilibrium model of a preferential trade bloc for critical minerals.

    >>> import blocmodel as bm
    >>> data = bm.load_dataset()                 # the shipped 2024 dataset
    >>> base = bm.solve(data)                    # no policy
    >>> bloc = bm.solve(data, "data/scenarios/full_bloc.toml")
    >>> bloc.welfare, bloc.prices, bloc.flows, bloc.markets
"""

from .api import Session, solve, versions
from .check import check_equilibrium
from .dataset import Dataset, load_dataset
from .errors import EquilibriumCheckError, InfeasibleError, InputError, Problem
from .graph import check_graph, supply_concentration, trade_graph
from .results import Results
from .scenario import Scenario, compose, load_scenario

__version__ = "0.1.0"

__all__ = [
    "Session", "solve", "versions", "check_equilibrium", "Dataset", "load_dataset", "EquilibriumCheckError", "InfeasibleError",
    "InputError", "Problem", "check_graph", "supply_concentration", "trade_graph", "Results", "Scenario", "compose",
    "load_scenario",
]
