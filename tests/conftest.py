"""Shared fixtures: small datasets whose equilibria are derived by hand in the tests."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, settings

from blocmodel.dataset import load_dataset
from blocmodel.testing import linear, write_dataset

# Property-based tests: the same examples on every run in CI (derandomised, no example
# database), no per-example deadline (a solve's time varies with the machine's load).
# A failure prints the example and a @reproduce_failure blob.
# `HYPOTHESIS_PROFILE=explore` draws fresh random examples on each run.
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate],   # no shrinking: fail fast, with the blob
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("explore", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def two_country(folder, routes=("FOREIGN->HOME", "HOME->FOREIGN"), transport=0.0, home_capacity=None):
    """Krugman & Obstfeld, International Economics, ch. 8: Home D = 100 − 20P, S = 20 + 20P;
    Foreign D* = 80 − 20P, S* = 40 + 20P (curves written through the free-trade price 1.5).
    `home_capacity` caps Home's mines (binding in the short run)."""
    arcs = []
    for route in routes:
        origin, destination = route.split("->")
        arcs.append({"origin": origin, "destination": destination, "product": "wheat", "transport_cost": transport})
    write_dataset(
        folder,
        regions=[{"region": "HOME", "groups": "north"}, {"region": "FOREIGN", "groups": "south"}],
        products=[{"product": "wheat"}],
        supply=[{"region": "HOME", "product": "wheat", **linear(20, 20, 1.5), **({"capacity": home_capacity} if home_capacity else {})},
                {"region": "FOREIGN", "product": "wheat", **linear(40, 20, 1.5)}],
        demand=[{"region": "HOME", "product": "wheat", **linear(100, -20, 1.5)},
                {"region": "FOREIGN", "product": "wheat", **linear(80, -20, 1.5)}],
        routes=arcs,
    )
    return load_dataset(folder)


@pytest.fixture
def ko(tmp_path):
    return two_country(tmp_path / "ko")


@pytest.fixture
def ko_one_way(tmp_path):
    return two_country(tmp_path / "ko1", routes=("FOREIGN->HOME",))


@pytest.fixture(scope="session")
def shipped():
    """The shipped dataset, loaded once."""
    return load_dataset()
