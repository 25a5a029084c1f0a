"""Published and closed-form equilibria, each to 1e-6 or better.

Two-country cases use Krugman & Obstfeld's market (see conftest): Home D = 100 − 20P,
S = 20 + 20P; Foreign D* = 80 − 20P, S* = 40 + 20P; free trade P = 1.5, trade 20.
"""

import numpy as np
import pytest

import blocmodel as bm
from blocmodel.testing import linear, write_dataset

TOL = 1e-7


def price(results, region, product="wheat"):
    p = results.prices
    return float(p.loc[(p["region"] == region) & (p["product"] == product), "price"].iloc[0])


def flow(results, origin, destination, product="wheat"):
    f = results.flows
    sel = f[(f["origin"] == origin) & (f["destination"] == destination) & (f["product"] == product)]
    return float(sel["quantity"].sum())


def welfare(results, region, column="total"):
    w = results.welfare.set_index("region")
    return float(w.loc[region, column])


def test_free_trade(ko):
    r = bm.solve(ko)
    assert price(r, "HOME") == pytest.approx(1.5, abs=TOL)
    assert price(r, "FOREIGN") == pytest.approx(1.5, abs=TOL)
    assert flow(r, "FOREIGN", "HOME") == pytest.approx(20, abs=TOL)
    assert r.check_report.max_residual < 1e-9


def test_krugman_obstfeld_specific_tariff(ko):
    """K&O ch. 8: a specific tariff of 0.5 gives Home 1.75, Foreign 1.25, imports 10;
    Home ΔCS −16.875, ΔPS +13.125, revenue 5, net +1.25."""
    free = bm.solve(ko)
    r = bm.solve(ko, {"tariffs": [{"exporter": "FOREIGN", "importer": "HOME", "specific": 0.5}]})
    assert price(r, "HOME") == pytest.approx(1.75, abs=TOL)
    assert price(r, "FOREIGN") == pytest.approx(1.25, abs=TOL)
    assert flow(r, "FOREIGN", "HOME") == pytest.approx(10, abs=TOL)
    d = lambda col, reg="HOME": welfare(r, reg, col) - welfare(free, reg, col)  # noqa: E731
    assert d("consumer_surplus") == pytest.approx(-16.875, abs=TOL)
    assert d("producer_surplus") == pytest.approx(13.125, abs=TOL)
    assert d("tariff_revenue") == pytest.approx(5.0, abs=TOL)
    assert d("total") == pytest.approx(1.25, abs=TOL)
    # The world loses exactly the two deadweight triangles: 2 × ½·0.25·5 in each country.
    world = r.welfare["total"].sum() - free.welfare["total"].sum()
    assert world == pytest.approx(-2.5, abs=TOL)


def test_ad_valorem_tariff_on_cif_value(ko):
    """τ = 50% on the CIF value (= Foreign's price, no transport): P_H = 1.5·P_F and
    80 − 40·P_H = −40 + 40·P_F give P_F = 3/(2 + τ) = 1.2, P_H = 1.8, imports 8,
    revenue τ·P_F·M = 4.8."""
    r = bm.solve(ko, {"tariffs": [{"exporter": "FOREIGN", "importer": "HOME", "ad_valorem": 0.5}]})
    assert price(r, "FOREIGN") == pytest.approx(1.2, abs=TOL)
    assert price(r, "HOME") == pytest.approx(1.8, abs=TOL)
    assert flow(r, "FOREIGN", "HOME") == pytest.approx(8, abs=TOL)
    assert welfare(r, "HOME", "tariff_revenue") == pytest.approx(4.8, abs=TOL)


def test_ad_valorem_includes_transport_in_customs_value(tmp_path):
    """With transport 0.1 the customs value is P_F + 0.1: P_H = 1.5·(P_F + 0.1) and
    80 − 40·P_H = −40 + 40·P_F give 120 − 6 = 100·P_F, P_F = 1.14, P_H = 1.86."""
    from conftest import two_country
    data = two_country(tmp_path / "t", routes=("FOREIGN->HOME",), transport=0.1)
    r = bm.solve(data, {"tariffs": [{"exporter": "FOREIGN", "importer": "HOME", "ad_valorem": 0.5}]})
    assert price(r, "FOREIGN") == pytest.approx(1.14, abs=TOL)
    assert price(r, "HOME") == pytest.approx(1.86, abs=TOL)


def test_anti_dumping_adds_to_tariff(ko):
    """An MFN specific tariff of 0.3 plus an anti-dumping duty of 0.2 act like K&O's 0.5."""
    r = bm.solve(ko, {"tariffs": [{"exporter": "FOREIGN", "importer": "HOME", "specific": 0.3}],
                      "anti_dumping": [{"exporter": "FOREIGN", "importer": "HOME", "specific": 0.2}]})
    assert price(r, "HOME") == pytest.approx(1.75, abs=TOL)
    assert flow(r, "FOREIGN", "HOME") == pytest.approx(10, abs=TOL)
    f = r.flows[(r.flows["origin"] == "FOREIGN") & (r.flows["destination"] == "HOME")].iloc[0]
    assert f["tariff"] == pytest.approx(0.3, abs=TOL) and f["anti_dumping"] == pytest.approx(0.2, abs=TOL)


def test_variable_levy_floor(ko):
    """Floor 1.9 in HOME by variable levy: non-member imports land at exactly 1.9, so
    P_H = 1.9, imports 80 − 76 = 4, Foreign 4 = −40 + 40·P_F gives P_F = 1.1; the levy
    is 0.8 and Home collects 3.2."""
    r = bm.solve(ko, {"price_floors": [{"product": "wheat", "price": 1.9, "markets": ["HOME"], "mechanism": "variable_levy"}]})
    assert price(r, "HOME") == pytest.approx(1.9, abs=TOL)
    assert price(r, "FOREIGN") == pytest.approx(1.1, abs=TOL)
    assert flow(r, "FOREIGN", "HOME") == pytest.approx(4, abs=TOL)
    assert r.flows[~r.flows["home"]].iloc[0]["levy"] == pytest.approx(0.8, abs=TOL)
    assert welfare(r, "HOME", "tariff_revenue") == pytest.approx(3.2, abs=TOL)


def test_variable_levy_tops_up_an_existing_tariff(ko):
    """With a specific tariff of 0.5 already in place the levy only adds what lifts the
    landed price to 1.9: same prices, levy 1.9 − 1.1 − 0.5 = 0.3."""
    r = bm.solve(ko, {"tariffs": [{"exporter": "FOREIGN", "importer": "HOME", "specific": 0.5}],
                      "price_floors": [{"product": "wheat", "price": 1.9, "markets": ["HOME"]}]})
    assert price(r, "HOME") == pytest.approx(1.9, abs=TOL)
    assert r.flows[~r.flows["home"]].iloc[0]["levy"] == pytest.approx(0.3, abs=TOL)
    assert welfare(r, "HOME", "tariff_revenue") == pytest.approx(3.2, abs=TOL)


def test_variable_levy_not_binding(ko):
    """A floor below the free-trade price levies nothing."""
    r = bm.solve(ko, {"price_floors": [{"product": "wheat", "price": 1.2, "markets": ["HOME"]}]})
    assert price(r, "HOME") == pytest.approx(1.5, abs=TOL)
    assert welfare(r, "HOME", "tariff_revenue") == pytest.approx(0.0, abs=TOL)


def test_deficiency_payment_floor(ko):
    """Floor 1.9 for HOME producers by deficiency payment: they supply S(1.9) = 58 whatever
    the market price; world clearing 180 − 40P = 58 + 40 + 20P gives P = 82/60 in both
    markets; the treasury pays (1.9 − P)·58."""
    r = bm.solve(ko, {"price_floors": [{"product": "wheat", "price": 1.9, "markets": ["HOME"], "mechanism": "deficiency_payment"}]})
    p = 82 / 60
    assert price(r, "HOME") == pytest.approx(p, abs=TOL)
    assert price(r, "FOREIGN") == pytest.approx(p, abs=TOL)
    m = r.markets.set_index("region")
    assert m.loc["HOME", "supply"] == pytest.approx(58, abs=TOL)
    assert m.loc["HOME", "producer_price"] == pytest.approx(1.9, abs=TOL)
    assert welfare(r, "HOME", "fiscal_cost") == pytest.approx((1.9 - p) * 58, abs=1e-6)


def test_stockpile_floor(ko):
    """Floor 1.7 in HOME held by a reserve buying HOME's output: with free trade both prices
    rise to 1.7 and the reserve buys 66 + 46 + v = 54 + 74, v = 16, spending 27.2."""
    r = bm.solve(ko, {"price_floors": [{"product": "wheat", "price": 1.7, "markets": ["HOME"], "mechanism": "stockpile",
                                        "budget": 1000}]})
    assert price(r, "HOME") == pytest.approx(1.7, abs=TOL)
    assert price(r, "FOREIGN") == pytest.approx(1.7, abs=TOL)
    assert r.markets.set_index("region").loc["HOME", "stock_purchases"] == pytest.approx(16, abs=TOL)
    assert welfare(r, "HOME", "fiscal_cost") == pytest.approx(27.2, abs=1e-6)


def test_stockpile_floor_with_budget(ko):
    """Budget 20 runs out first: the reserve spends P·v = 20 with v = 80P − 120, so
    4P² − 6P − 1 = 0, P = (6 + √52)/8."""
    r = bm.solve(ko, {"price_floors": [{"product": "wheat", "price": 1.7, "markets": ["HOME"], "mechanism": "stockpile", "budget": 20}]})
    p = (6 + np.sqrt(52)) / 8
    assert price(r, "HOME") == pytest.approx(p, abs=1e-7)
    v = r.markets.set_index("region").loc["HOME", "stock_purchases"]
    assert v == pytest.approx(80 * p - 120, abs=1e-6)
    assert p * v == pytest.approx(20, abs=1e-6)


def test_stockpile_floor_default_budget_is_printed(ko):
    """With no budget the reserve may spend 10% of the world market at reference prices:
    120 units at 1.5 = 180, so 18 a year, less than the 27.2 the floor needs; the bid is
    shaded until P·(80P − 120) = 18, i.e. 4P² − 6P − 0.9 = 0, P = (6 + √50.4)/8."""
    r = bm.solve(ko, {"price_floors": [{"product": "wheat", "price": 1.7, "markets": ["HOME"], "mechanism": "stockpile"}]})
    p = (6 + np.sqrt(50.4)) / 8
    assert price(r, "HOME") == pytest.approx(p, abs=1e-9)
    assert any("no budget given" in n and "at most 18 USD a year" in n for n in r.policy.notes)


def test_export_ban_gives_autarky(ko):
    """Foreign bans exports to Home: autarky prices 2 (Home) and 1 (Foreign)."""
    r = bm.solve(ko, {"export_restrictions": [{"exporter": "FOREIGN", "destinations": ["HOME"], "ban": True}]})
    assert price(r, "HOME") == pytest.approx(2.0, abs=TOL)
    assert price(r, "FOREIGN") == pytest.approx(1.0, abs=TOL)
    assert r.flows["home"].all()


def test_export_quota_rent_goes_to_exporter(ko):
    """A quota of 10 mimics the 0.5 tariff, but the 0.5·10 = 5 rent goes to Foreign."""
    r = bm.solve(ko, {"export_restrictions": [{"exporter": "FOREIGN", "destinations": ["HOME"], "quota": 10}]})
    assert price(r, "HOME") == pytest.approx(1.75, abs=TOL)
    assert price(r, "FOREIGN") == pytest.approx(1.25, abs=TOL)
    assert welfare(r, "FOREIGN", "quota_rent") == pytest.approx(5.0, abs=1e-6)
    assert welfare(r, "HOME", "quota_rent") == pytest.approx(0.0, abs=TOL)


def test_production_subsidy_dumping(ko):
    """Foreign subsidises output by 0.3: S* = 40 + 20(P + 0.3); 180 − 40P = 66 + 40P gives
    P = 1.425; Foreign's treasury pays 0.3 × 74.5."""
    r = bm.solve(ko, {"supply_shocks": [{"region": "FOREIGN", "product": "wheat", "production_subsidy": 0.3}]})
    assert price(r, "HOME") == pytest.approx(1.425, abs=TOL)
    assert welfare(r, "FOREIGN", "fiscal_cost") == pytest.approx(0.3 * 74.5, abs=1e-6)


def test_export_subsidy(ko_one_way):
    """A 0.2 export subsidy (no route back): P_F = P_H + 0.2, 80 − 40·P_H = −40 + 40·P_F
    gives P_H = 1.4, P_F = 1.6, exports 24, cost 4.8 to Foreign."""
    r = bm.solve(ko_one_way, {"export_subsidies": [{"exporter": "FOREIGN", "specific": 0.2}]})
    assert price(r, "HOME") == pytest.approx(1.4, abs=TOL)
    assert price(r, "FOREIGN") == pytest.approx(1.6, abs=TOL)
    assert welfare(r, "FOREIGN", "fiscal_cost") == pytest.approx(4.8, abs=1e-6)


@pytest.mark.parametrize("quantity, expected", [(10, 130 / 80), (-10, 110 / 80)])
def test_fixed_stockpile_purchase_and_release(ko, quantity, expected):
    r = bm.solve(ko, {"stockpile": [{"region": "HOME", "product": "wheat", "quantity": quantity}]})
    assert price(r, "HOME") == pytest.approx(expected, abs=TOL)


def test_supply_shock(ko):
    """Foreign loses 50% of reference output (35 units) at every price: S* = 5 + 20P,
    180 − 40P = 25 + 40P gives P = 155/80."""
    r = bm.solve(ko, {"supply_shocks": [{"region": "FOREIGN", "product": "wheat", "quantity_change": -0.5}]})
    assert price(r, "HOME") == pytest.approx(155 / 80, abs=TOL)


def test_bloc_removes_internal_tariffs(ko):
    """A bloc of both countries makes trade free again despite a tariff."""
    r = bm.solve(ko, {"tariffs": [{"exporter": "FOREIGN", "importer": "HOME", "specific": 0.5}],
                      "bloc": {"members": ["north", "south"]}})
    assert price(r, "HOME") == pytest.approx(1.5, abs=TOL)


def test_a_full_route_earns_its_scarcity_rent(tmp_path):
    """K&O's market with the one route FOREIGN->HOME capped at 10 (free trade would ship 20):
    Home's import demand 80 − 40P_H = 10 gives P_H = 1.75, Foreign's export supply
    −40 + 40P_F = 10 gives P_F = 1.25, and the route's 10 units earn its importers the gap:
    a rent of 5. A 20% specific tariff on it moves nothing (the gap 0.5 exceeds it): 2 of the
    rent becomes tariff revenue and world welfare is unchanged. (Without the rent, free trade
    looked inefficient: the tariff "raised" world welfare by its revenue.)"""
    folder = write_dataset(tmp_path / "cap", regions=[{"region": "HOME"}, {"region": "FOREIGN"}], products=[{"product": "wheat"}],
                           supply=[{"region": "HOME", "product": "wheat", **linear(20, 20, 1.5)},
                                   {"region": "FOREIGN", "product": "wheat", **linear(40, 20, 1.5)}],
                           demand=[{"region": "HOME", "product": "wheat", **linear(100, -20, 1.5)},
                                   {"region": "FOREIGN", "product": "wheat", **linear(80, -20, 1.5)}],
                           routes=[{"origin": "FOREIGN", "destination": "HOME", "product": "wheat", "transport_cost": 0.0, "capacity": 10}])
    data = bm.load_dataset(folder)
    free = bm.solve(data)
    prices = free.prices.set_index("region")["price"]
    assert prices["HOME"] == pytest.approx(1.75, abs=TOL) and prices["FOREIGN"] == pytest.approx(1.25, abs=TOL)
    assert free.welfare.set_index("region").at["HOME", "trade_rent"] == pytest.approx(5.0, abs=TOL)
    taxed = bm.solve(data, {"tariffs": [{"exporter": "FOREIGN", "importer": "HOME", "specific": 0.2}]})
    w = taxed.welfare.set_index("region")
    assert w.at["HOME", "tariff_revenue"] == pytest.approx(2.0, abs=TOL) and w.at["HOME", "trade_rent"] == pytest.approx(3.0, abs=TOL)
    assert float(taxed.welfare_change(free)["total"].sum()) == pytest.approx(0.0, abs=TOL)
