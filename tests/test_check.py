"""The independent check can fail: perturb one reported number of a solved result and the
condition that number enters must fail, while the unperturbed result passes.

The case: Krugman & Obstfeld's market with a capacity of 50 on Home's mines (short run), a
variable-levy floor of 1.9 in Home and a deficiency payment of 1.4 to Foreign's producers,
so that a levy, a payment and a capacity rent are all in play.
"""

import pytest
from conftest import two_country

import blocmodel as bm
from blocmodel.check import check_equilibrium
from blocmodel.testing import write_dataset

SCENARIO = {"horizon": "short_run",
            "price_floors": [{"product": "wheat", "price": 1.9, "markets": ["HOME"], "mechanism": "variable_levy"},
                             {"product": "wheat", "price": 1.4, "markets": ["FOREIGN"], "mechanism": "deficiency_payment"}]}


@pytest.fixture
def solved(tmp_path):
    data = two_country(tmp_path / "k", routes=("FOREIGN->HOME",), home_capacity=50)
    r = bm.solve(data, SCENARIO)
    assert r.check_report.passed and r.check_report.max_residual < 1e-12
    # the case exercises what the perturbations touch
    assert r.route_detail.loc[~r.route_detail["home"], "levy"].iloc[0] > 0
    assert r.supply_detail.set_index("region").loc["FOREIGN", "deficiency_payment"] > 0
    assert r.supply_detail.set_index("region").loc["HOME", "capacity_rent"] > 0
    return r


def failing(results) -> set[str]:
    report = check_equilibrium(results)
    return set(report.residuals.loc[report.residuals["residual"] > report.tolerance, "condition"])


def test_unperturbed_passes(solved):
    assert failing(solved) == set()


def test_a_price_reported_twice_differently(solved):
    solved.demand_detail.loc[solved.demand_detail["region"] == "HOME", "price"] *= 1.001
    assert "one price per market" in failing(solved)


def test_a_price_off_the_equilibrium(solved):
    """Home's buyers' price 0.1% higher everywhere it is reported: buyers are off their curve
    and the import route no longer at its margin."""
    home = (solved.nodes["region"] == "HOME") & (solved.nodes["side"] == 1)
    solved.nodes.loc[home, "price"] *= 1.001
    solved.demand_detail.loc[solved.demand_detail["region"] == "HOME", "price"] *= 1.001
    solved.route_detail.loc[solved.route_detail["destination"] == "HOME", "importer_price"] *= 1.001
    assert {"demand curve", "trade on route"} <= failing(solved)


def test_a_flow(solved):
    """1% more on the import route (a constant-cost route at its margin, so trade on it
    could be any size): the markets no longer clear."""
    imports = ~solved.route_detail["home"]
    solved.route_detail.loc[imports, "flow"] *= 1.01
    assert "market clearing" in failing(solved)


def test_a_flow_on_a_calibrated_route(tmp_path):
    """On a calibrated route the flow is what a + g·x implies at the price gap: 1% more fails
    the route's own condition too."""
    write_dataset(tmp_path / "c", regions=[{"region": "A"}, {"region": "B"}],
                  products=[{"product": "ore", "substitution_elasticity": 4}],
                  supply=[{"region": r, "product": "ore", "ref_price": 10, "ref_quantity": q, "elasticity": 0.5} for r, q in (("A", 60), ("B", 40))],
                  demand=[{"region": r, "product": "ore", "ref_price": 10, "ref_quantity": q, "elasticity": -0.5} for r, q in (("A", 30), ("B", 70))],
                  routes=[{"origin": "A", "destination": "B", "product": "ore", "transport_cost": 1, "ref_quantity": 30}])
    r = bm.solve(bm.load_dataset(tmp_path / "c"))
    assert failing(r) == set()
    r.route_detail.loc[~r.route_detail["home"], "flow"] *= 1.01
    assert {"market clearing", "trade on route"} <= failing(r)


def test_a_levy(solved):
    imports = ~solved.route_detail["home"]
    solved.route_detail.loc[imports, "levy"] += 0.01
    solved.route_detail.loc[imports, "landed_price"] += 0.01
    assert "variable levy" in failing(solved)


def test_a_payment(solved):
    foreign = solved.supply_detail["region"] == "FOREIGN"
    solved.supply_detail.loc[foreign, "deficiency_payment"] += 0.01
    solved.supply_detail.loc[foreign, "received_price"] += 0.01
    assert "deficiency payment" in failing(solved)


def test_a_capacity_rent(solved):
    home = solved.supply_detail["region"] == "HOME"
    solved.supply_detail.loc[home, "capacity_rent"] *= 1.01
    assert "capacity rent" in failing(solved)


def test_goods_thrown_away_only_at_price_zero(ko):
    """Free disposal: in K&O's market with a deficiency payment of 9 to Home's producers the
    price is 0 and Home throws 60 away (test_scenario). Reported at a price of 0.01 instead,
    or with nothing thrown away, the check fails; a price below zero fails it too."""
    scenario = {"price_floors": [{"product": "wheat", "price": 9.0, "markets": ["HOME"], "mechanism": "deficiency_payment"}]}
    r = bm.solve(ko, scenario)
    assert failing(r) == set()
    home = (r.nodes["region"] == "HOME") & (r.nodes["side"] == 0)
    r.nodes.loc[home, "disposed"] = 0.0
    assert failing(r) == {"market clearing"}
    r = bm.solve(ko, scenario)
    r.nodes.loc[home, "price"] = 0.01 * 1.5
    assert "free disposal" in failing(r)
    r = bm.solve(ko)
    r.nodes.loc[r.nodes["region"] == "HOME", "price"] = -1e-3
    assert "free disposal" in failing(r)
