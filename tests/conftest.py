"""Shared fixtures: small datasets whose equilibria are derived by hand in the tests."""

from __future__ import annotations

import pytest

from blocmodel.dataset import load_dataset
from blocmodel.testing import linear, write_dataset


def two_country(folder, routes=("FOREIGN->HOME", "HOME->FOREIGN"), transport=0.0):
    """Krugman & Obstfeld, International Economics, ch. 8: Home D = 100 − 20P, S = 20 + 20P;
    Foreign D* = 80 − 20P, S* = 40 + 20P (curves written through the free-trade price 1.5)."""
    arcs = []
    for route in routes:
        origin, destination = route.split("->")
        arcs.append({"origin": origin, "destination": destination, "product": "wheat", "transport_cost": transport})
    write_dataset(
        folder,
        regions=[{"region": "HOME", "groups": "north"}, {"region": "FOREIGN", "groups": "south"}],
        products=[{"product": "wheat"}],
        supply=[{"region": "HOME", "product": "wheat", **linear(20, 20, 1.5)},
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
