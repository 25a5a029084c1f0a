"""A three-region chain with refining, derived by hand.

Mine region MINE supplies ore, S = 10 + 10·p; refinery region REFINE turns 2 units of ore
into 1 of metal (yield 0.5) at a unit cost of 1; consumer region CITY demands metal,
D = 100 − 10·p. Ore ships MINE→REFINE at 0.5 per unit, metal REFINE→CITY at 1.
"""

import pytest

import blocmodel as bm
from blocmodel.dataset import load_dataset
from blocmodel.testing import linear, write_dataset

TOL = 1e-7


def chain(tmp_path, processing_extra=None, name="chain"):
    write_dataset(
        tmp_path / name,
        regions=[{"region": r} for r in ("MINE", "REFINE", "CITY")],
        products=[{"product": "ore", "mineral": "tin", "stage": "mined"},
                  {"product": "metal", "mineral": "tin", "stage": "refined"}],
        supply=[{"region": "MINE", "product": "ore", **linear(10, 10, 2.0)}],
        demand=[{"region": "CITY", "product": "metal", **linear(100, -10, 8.0)}],
        routes=[{"origin": "MINE", "destination": "REFINE", "product": "ore", "transport_cost": 0.5},
                {"origin": "REFINE", "destination": "CITY", "product": "metal", "transport_cost": 1.0}],
        processing=[{"region": "REFINE", "input": "ore", "output": "metal", "yield": 0.5, "unit_cost": 1.0,
                     **(processing_extra or {})}],
    )
    return load_dataset(tmp_path / name)


def prices(r):
    return {(row.region, row.product): row.price for row in r.prices.itertuples()}


def test_refining_at_constant_cost(tmp_path):
    """p_city = 2·p_mine + 3 (ore +0.5, ×2 per metal, +1 refining, +1 freight);
    metal 70 − 20·p_mine; ore needed 2× = 10 + 10·p_mine gives p_mine = 2.6, metal 18."""
    r = bm.solve(chain(tmp_path))
    p = prices(r)
    assert p[("MINE", "ore")] == pytest.approx(2.6, abs=TOL)
    assert p[("REFINE", "ore")] == pytest.approx(3.1, abs=TOL)
    assert p[("REFINE", "metal")] == pytest.approx(7.2, abs=TOL)
    assert p[("CITY", "metal")] == pytest.approx(8.2, abs=TOL)
    m = r.markets.set_index(["region", "product"])
    assert m.loc[("REFINE", "metal"), "processing_out"] == pytest.approx(18, abs=TOL)
    assert m.loc[("REFINE", "ore"), "processing_in"] == pytest.approx(36, abs=TOL)
    assert r.welfare.set_index("region").loc["REFINE", "refiner_rent"] == pytest.approx(0.0, abs=1e-6)


def test_refining_capacity_earns_a_rent(tmp_path):
    """Capacity 15 (binding in the short run): metal 15 so p_city = 8.5; ore 30 so p_mine = 2;
    the margin 7.5 − 2.5/0.5 = 2.5 exceeds the unit cost 1 by a rent of 1.5 per unit, 22.5 in all.
    In the medium run the capacity does not bind (the constant-cost case above)."""
    r = bm.solve(chain(tmp_path, {"capacity": 15}), {"horizon": "short_run"})
    p = prices(r)
    assert p[("CITY", "metal")] == pytest.approx(8.5, abs=TOL)
    assert p[("MINE", "ore")] == pytest.approx(2.0, abs=TOL)
    w = r.welfare.set_index("region")
    assert w.loc["REFINE", "capacity_rent"] == pytest.approx(22.5, abs=1e-6)     # all of it is a capacity rent
    assert w.loc["REFINE", "refiner_rent"] == pytest.approx(0.0, abs=1e-6)


def test_refining_curve(tmp_path):
    """A refining curve z = 10·(1 + 1·(m − 1)/1) = 10·m in the margin m. With
    p_city = pr + 1, p_mine = (pr_ore) − 0.5 and ore demand 2z = 10 + 10·p_mine:
    z = 100 − 10·(pr + 1) = 90 − 10·pr, and m = pr − 2·pr_ore.
    So 10·(pr − 2·pr_ore) = 90 − 10·pr and 2·(90 − 10·pr) = 10 + 10·(pr_ore − 0.5).
    From the second: pr_ore = 17.5 − 2·pr; into the first: 20·pr − 20·(17.5 − 2·pr)... solved below."""
    r = bm.solve(chain(tmp_path, {"ref_quantity": 10, "elasticity": 1.0}))
    # 10·pr − 20·pr_ore = 90 − 10·pr  ->  20·pr − 20·pr_ore = 90
    # pr_ore = 17.5 − 2·pr            ->  20·pr − 350 + 40·pr = 90  ->  pr = 44/6
    pr = 440 / 60
    pr_ore = 17.5 - 2 * pr
    p = prices(r)
    assert p[("REFINE", "metal")] == pytest.approx(pr, abs=TOL)
    assert p[("REFINE", "ore")] == pytest.approx(pr_ore, abs=TOL)
    z = 90 - 10 * pr
    assert r.markets.set_index(["region", "product"]).loc[("REFINE", "metal"), "processing_out"] == pytest.approx(z, abs=TOL)
    # Refiner rent: the area under z = 10·m from 0 to the margin.
    margin = pr - pr_ore / 0.5
    assert r.welfare.set_index("region").loc["REFINE", "refiner_rent"] == pytest.approx(5 * margin**2, abs=1e-6)


def test_refiner_deficiency_payment(tmp_path):
    """A deficiency payment floor of 9 for REFINE's metal: the refiner receives 9 whatever the
    market price, so ore at REFINE costs pr_ore with 9 = 2·pr_ore + 1, pr_ore = 4, p_mine = 3.5,
    ore 45, metal 22.5; CITY clears 22.5 at p = 7.75, REFINE's market price 6.75, payment
    (9 − 6.75)·22.5."""
    r = bm.solve(chain(tmp_path), {"price_floors": [{"product": "metal", "price": 9, "markets": ["REFINE"], "mechanism": "deficiency_payment"}]})
    p = prices(r)
    assert p[("MINE", "ore")] == pytest.approx(3.5, abs=TOL)
    assert p[("CITY", "metal")] == pytest.approx(7.75, abs=TOL)
    assert p[("REFINE", "metal")] == pytest.approx(6.75, abs=TOL)
    w = r.welfare.set_index("region")
    assert w.loc["REFINE", "fiscal_cost"] == pytest.approx((9 - 6.75) * 22.5, abs=1e-6)


def test_world_welfare_identity(tmp_path):
    """Σ regions' welfare = consumers' utility − production, refining and transport costs,
    computed here from quantities alone."""
    r = bm.solve(chain(tmp_path, {"capacity": 15}), {"horizon": "short_run"})
    metal = 15.0
    ore = 30.0
    utility = 100 / 10 * metal - metal**2 / (2 * 10)      # ∫ inverse demand (10 − q/10)
    ore_cost = (ore**2 / 2 - 10 * ore) / 10               # ∫_0^Q inverse supply (q − 10)/10: the contract's line, cut only at Q = 0
    refining_cost = 1.0 * metal
    transport = 0.5 * ore + 1.0 * metal
    assert r.welfare["total"].sum() == pytest.approx(utility - ore_cost - refining_cost - transport, abs=1e-6)
    assert r.transport_cost() == pytest.approx(transport, abs=1e-6)


def test_capacity_binds_only_in_the_short_run(tmp_path):
    data = chain(tmp_path, {"capacity": 15})
    medium = prices(bm.solve(data))
    short = prices(bm.solve(data, {"horizon": "short_run"}))
    assert medium[("CITY", "metal")] == pytest.approx(8.2, abs=TOL)
    assert short[("CITY", "metal")] == pytest.approx(8.5, abs=TOL)
