"""Policy as negotiators mean it (issue 14) and tariff-rate quotas (issue 15's proof of an
instrument added in one module), each against a hand-derived answer.

Krugman & Obstfeld's market (conftest): Home D = 100 − 20P, S = 20 + 20P; Foreign
D* = 80 − 20P, S* = 40 + 20P; free trade P = 1.5, Home imports 20; autarky prices Home 2,
Foreign 1. Import demand of Home M(p) = 80 − 40p, export supply of Foreign X(p) = 40p − 40.
"""

import pytest
from conftest import two_country

import blocmodel as bm
from blocmodel.check import check_equilibrium
from blocmodel.testing import linear, write_dataset

TOL = 1e-9


def price(r, region):
    return float(r.prices.set_index("region").loc[region, "price"])


def imports(r):
    f = r.flows
    return float(f.loc[~f["home"], "quantity"].sum())


def welfare(r, region, column):
    return float(r.welfare.set_index("region").loc[region, column])


# --------------------------------------------------------------------- floors
def test_a_levy_floor_above_autarky_is_prohibitive(ko):
    """Floor 2.2 by levy in Home: Foreign's goods would land at 2.2, above Home's autarky
    price 2: none enter, Home settles at 2 < 2.2, Foreign at 1. The floor is prohibitive."""
    r = bm.solve(ko, {"price_floors": [{"product": "wheat", "price": 2.2, "markets": ["HOME"]}]})
    assert price(r, "HOME") == pytest.approx(2.0, abs=TOL) and price(r, "FOREIGN") == pytest.approx(1.0, abs=TOL)
    assert imports(r) == pytest.approx(0.0, abs=TOL)
    row = r.floors.iloc[0]
    assert row["status"] == "prohibitive" and row["buyers_price"] == pytest.approx(2.0, abs=TOL)


def test_price_support_by_purchase_holds_the_member_price(ko):
    """Price support at 2.2 in Home, by purchase: the levy keeps Foreign's goods out; the
    reserve buys Home's output at 2.2: S(2.2) − D(2.2) = 64 − 56 = 8 units, 17.6 a year,
    stock worth 8 × 1.5 = 12 at reference prices. Buyers and producers both at 2.2."""
    r = bm.solve(ko, {"price_floors": [{"product": "wheat", "price": 2.2, "markets": ["HOME"], "mechanism": "price_support",
                                        "budget": 100}]})
    assert price(r, "HOME") == pytest.approx(2.2, abs=1e-8)
    assert r.reserve_detail.set_index("origin").loc["HOME", "quantity"] == pytest.approx(8.0, abs=1e-6)
    assert welfare(r, "HOME", "fiscal_cost") == pytest.approx(17.6, abs=1e-6)
    assert welfare(r, "HOME", "stockpile_value") == pytest.approx(12.0, abs=1e-6)
    row = r.floors.iloc[0]
    assert row["status"] == "binds" and row["producers_price"] == pytest.approx(2.2, abs=1e-8)


def test_price_support_by_deficiency_payment(ko):
    """Price support at 2.2 by payment: producers get 2.2 and supply S(2.2) = 64; the levy
    keeps Foreign out; Home buyers clear 64 at p = 1.8; the treasury pays 0.4 × 64 = 25.6."""
    r = bm.solve(ko, {"price_floors": [{"product": "wheat", "price": 2.2, "markets": ["HOME"], "mechanism": "price_support",
                                        "support": "deficiency_payment"}]})
    assert price(r, "HOME") == pytest.approx(1.8, abs=TOL)
    assert welfare(r, "HOME", "fiscal_cost") == pytest.approx(25.6, abs=1e-7)
    row = r.floors.iloc[0]
    assert row["producers_price"] == pytest.approx(2.2, abs=TOL) and row["buyers_price"] == pytest.approx(1.8, abs=TOL)


def test_stockpile_buys_within_its_budget_and_only_from_its_origins(ko):
    """Floor 1.7 held by a reserve buying only Foreign's goods: with free trade both prices
    rise to 1.7 and the reserve takes 128 − 112 = 16 units, all made in Foreign, for 27.2.
    With a budget of 20 it spends exactly 20: P·(80P − 120) = 20, P = (6 + √52)/8."""
    floor = {"product": "wheat", "price": 1.7, "markets": ["HOME"], "mechanism": "stockpile", "origins": ["FOREIGN"]}
    r = bm.solve(ko, {"price_floors": [{**floor, "budget": 1000}]})
    bought = r.reserve_detail.set_index("origin")["quantity"]
    assert list(bought.index) == ["FOREIGN"] and bought["FOREIGN"] == pytest.approx(16.0, abs=1e-7)
    assert welfare(r, "HOME", "fiscal_cost") == pytest.approx(27.2, abs=1e-6)
    budgeted = bm.solve(ko, {"price_floors": [{**floor, "budget": 20}]})
    p = (6 + 52 ** 0.5) / 8
    assert price(budgeted, "HOME") == pytest.approx(p, abs=TOL)
    spent = (budgeted.reserve_detail["quantity"] * budgeted.reserve_detail["producer_price"]).sum()
    assert spent == pytest.approx(20.0, abs=1e-7)
    assert budgeted.floors.iloc[0]["status"] == "budget-limited"


@pytest.mark.parametrize("sharing, home_share", [({"HOME": 0.25, "FOREIGN": 0.75}, 0.25), ("own", 1.0)])
def test_burden_sharing_splits_the_payment_and_sums_to_it(ko, sharing, home_share):
    """A deficiency payment of 1.9 for Home's producers: P = 82/60, paid (1.9 − P)·58 in all;
    shares split it exactly, and the parts sum to the whole."""
    r = bm.solve(ko, {"price_floors": [{"product": "wheat", "price": 1.9, "markets": ["HOME"], "mechanism": "deficiency_payment",
                                        "burden_sharing": sharing}]})
    total = (1.9 - 82 / 60) * 58
    w = r.welfare.set_index("region")["fiscal_cost"]
    assert w.sum() == pytest.approx(total, abs=1e-7)
    assert w["HOME"] == pytest.approx(home_share * total, abs=1e-7)


def test_burden_sharing_shares_must_sum_to_one(ko):
    with pytest.raises(bm.InputError) as exc:
        bm.solve(ko, {"price_floors": [{"product": "wheat", "price": 1.9, "markets": ["HOME"], "mechanism": "deficiency_payment",
                                        "burden_sharing": {"HOME": 0.5, "FOREIGN": 0.3}}]})
    assert "shares sum to 0.8, not 1" in str(exc.value)


def test_floor_prices_take_units_and_catch_slips(ko):
    """A floor written '1900 USD/t' on a product in tonnes is 1,900 per unit; a bare 190 on a
    product priced 1.5 is 127 times the reference price: an error saying so."""
    from blocmodel.scenario import scenario_from_dict
    assert scenario_from_dict({"price_floors": [{"product": "wheat", "price": "1.9 USD/t"}]}).price_floors[0].price == "1.9 USD/t"
    with pytest.raises(bm.InputError) as exc:
        bm.solve(ko, {"price_floors": [{"product": "wheat", "price": 190, "markets": ["HOME"]}]})
    assert "127 times the reference price" in str(exc.value)


# -------------------------------------------------------------------- dumping
def test_export_price_discrimination(ko_one_way):
    """Foreign sells abroad 20% below its home price: Home pays 0.8·π. Home's imports
    80 − 40·0.8π equal Foreign's exports 40π − 40: π = 5/3 (Foreign's price *rises*),
    Home 4/3, trade 80/3; the discount 0.2·5/3·80/3 = 80/9 is Foreign's cost. (A production
    subsidy lowers the exporter's price instead: see test_textbook.)"""
    r = bm.solve(ko_one_way, {"dumping": [{"exporter": "FOREIGN", "product": "wheat", "margin": 0.2}]})
    assert price(r, "FOREIGN") == pytest.approx(5 / 3, abs=TOL) and price(r, "HOME") == pytest.approx(4 / 3, abs=TOL)
    assert imports(r) == pytest.approx(80 / 3, abs=1e-8)
    assert welfare(r, "FOREIGN", "dumping_cost") == pytest.approx(80 / 9, abs=1e-8)


def test_anti_dumping_duty_at_the_margin_undoes_dumping(ko_one_way):
    """A duty equal to the dumping margin lands Foreign's goods at its home price again:
    both prices back at 1.5, trade 20; the discount 0.2·1.5·20 = 6 becomes Home's revenue."""
    r = bm.solve(ko_one_way, {"dumping": [{"exporter": "FOREIGN", "product": "wheat", "margin": 0.2}],
                              "anti_dumping": [{"exporter": "FOREIGN", "importer": "HOME", "margin": True}]})
    assert price(r, "HOME") == pytest.approx(1.5, abs=TOL) and price(r, "FOREIGN") == pytest.approx(1.5, abs=TOL)
    assert welfare(r, "HOME", "tariff_revenue") == pytest.approx(6.0, abs=1e-8)
    assert welfare(r, "FOREIGN", "dumping_cost") == pytest.approx(6.0, abs=1e-8)


def test_overcapacity_adds_supply_at_every_price(ko):
    """Foreign adds 30% of its reference output (70 × 0.3 = 21) at every price: world
    180 − 40P = 60 + 40P + 21, P = 99/80."""
    r = bm.solve(ko, {"dumping": [{"exporter": "FOREIGN", "product": "wheat", "kind": "overcapacity", "capacity_added": 0.3}]})
    assert price(r, "HOME") == pytest.approx(99 / 80, abs=TOL)


# ------------------------------------------------------------- short run
def test_capacity_binds_in_a_ban_in_the_short_run(tmp_path):
    """Home's mines can produce at most 50. Foreign bans exports to Home: in the medium run
    Home reaches its autarky price 2 (output 60); in the short run output stops at 50, so
    Home's buyers clear 50 at 100 − 20p = 50, p = 2.5, and the capacity earns (2.5 − 1.5)·50
    = 50 above the marginal cost at 50 (S⁻¹(50) = 1.5)."""
    data = two_country(tmp_path / "k", routes=("FOREIGN->HOME",), home_capacity=50)
    ban = {"export_restrictions": [{"exporter": "FOREIGN", "destinations": ["HOME"], "ban": True}]}
    assert price(bm.solve(data, ban), "HOME") == pytest.approx(2.0, abs=TOL)
    short = bm.solve(data, {**ban, "horizon": "short_run"})
    assert price(short, "HOME") == pytest.approx(2.5, abs=TOL)
    assert welfare(short, "HOME", "capacity_rent") == pytest.approx(50.0, abs=1e-7)


# ------------------------------------------------------- tariff-rate quotas
TRQ = {"importer": "HOME", "exporters": "FOREIGN", "product": "wheat", "out_of_quota_specific": 0.5}


def test_tariff_rate_quota_filled(ko_one_way):
    """Quota 15, in-quota free, out of quota 0.5 a unit: free trade would bring 20, so the
    quota fills: 80 − 40p = 15 gives Home 1.625, 40π − 40 = 15 gives Foreign 1.375; the
    licence is worth 0.25 < 0.5, and Home's licence holders earn 0.25 × 15 = 3.75."""
    r = bm.solve(ko_one_way, {"tariff_quotas": [{**TRQ, "quota": 15}]})
    assert price(r, "HOME") == pytest.approx(1.625, abs=TOL) and price(r, "FOREIGN") == pytest.approx(1.375, abs=TOL)
    assert welfare(r, "HOME", "quota_rent") == pytest.approx(3.75, abs=1e-8)
    assert welfare(r, "HOME", "tariff_revenue") == pytest.approx(0.0, abs=1e-8)


def test_tariff_rate_quota_with_imports_beyond_it(ko_one_way):
    """Quota 5: at 5 units the gap would be 0.75 > 0.5, so imports go beyond the quota at the
    out-of-quota rate: as Krugman–Obstfeld's 0.5 tariff, prices 1.75 / 1.25, imports 10.
    5 units hold licences worth 0.5 (rent 2.5), 5 pay the 0.5 tariff (revenue 2.5)."""
    r = bm.solve(ko_one_way, {"tariff_quotas": [{**TRQ, "quota": 5}]})
    assert price(r, "HOME") == pytest.approx(1.75, abs=TOL) and imports(r) == pytest.approx(10.0, abs=1e-8)
    assert welfare(r, "HOME", "quota_rent") == pytest.approx(2.5, abs=1e-8)
    assert welfare(r, "HOME", "tariff_revenue") == pytest.approx(2.5, abs=1e-8)


def test_tariff_rate_quota_splits_the_route_whose_gap_equals_the_licence_price(tmp_path):
    """Two exporters A, B (S = 10π each, transport 1) to Home (D = 200 − 10p); a specific
    anti-dumping duty of 1 on A; a tariff-rate quota of 80 at 0% in quota, 50% (of CIF) out.
    A's duty makes its CIF 1 below B's, so A's rate gap is the smaller one: the licence price
    settles at A's gap and A imports partly in and partly out of quota.
    With c = A's CIF: λ = 0.5c, p = 1.5c + 1 = B's CIF + λ, so B's CIF = c + 1;
    200 − 10p = 10(c − 1) + 10c gives c = 40/7, p = 67/7, λ = 20/7 (B's gap 47/14 > λ:
    B all in quota); B brings 400/7, A 330/7 of which 160/7 hold licences (quota 80)."""
    write_dataset(tmp_path / "trq", regions=[{"region": r} for r in ("HOME", "A", "B")], products=[{"product": "wheat"}],
                  supply=[{"region": r, "product": "wheat", **linear(0, 10, 5)} for r in ("A", "B")],
                  demand=[{"region": "HOME", "product": "wheat", **linear(200, -10, 10)}],
                  routes=[{"origin": r, "destination": "HOME", "product": "wheat", "transport_cost": 1.0} for r in ("A", "B")])
    data = bm.load_dataset(tmp_path / "trq")
    r = bm.solve(data, {"anti_dumping": [{"exporter": "A", "importer": "HOME", "specific": 1.0}],
                        "tariff_quotas": [{"importer": "HOME", "exporters": "*", "product": "wheat", "quota": 80,
                                           "out_of_quota_ad_valorem": 0.5}]})
    assert price(r, "HOME") == pytest.approx(67 / 7, abs=TOL)
    (quota,) = r.coupling_detail
    assert quota["licence_price"] == pytest.approx(20 / 7, abs=TOL)
    by_origin = dict(zip(r.route_detail["origin"].to_numpy()[quota["rows"]], zip(quota["flow"], quota["licensed_flow"])))
    assert by_origin["B"] == pytest.approx((400 / 7, 400 / 7), abs=1e-8)
    assert by_origin["A"] == pytest.approx((330 / 7, 160 / 7), abs=1e-8)
    assert welfare(r, "HOME", "quota_rent") == pytest.approx(20 / 7 * 80, abs=1e-8)
    # out of quota: A's 170/7 units pay its gap 20/7; all of A's 330/7 pay the duty of 1
    assert welfare(r, "HOME", "tariff_revenue") == pytest.approx(20 / 7 * 170 / 7 + 330 / 7, abs=1e-8)
    # the check rejects a split that fills the quota with the wrong route: one licence moved from B
    # (cheaper than its gap, so wholly licensed) to A keeps the total but breaks the rule
    b, a = (list(r.route_detail["origin"].to_numpy()[quota["rows"]]).index(x) for x in ("B", "A"))
    quota["licensed_flow"][b] -= 1.0
    quota["licensed_flow"][a] += 1.0
    assert not check_equilibrium(r, 1e-6).passed


def test_tariff_rate_quota_not_filled(ko_one_way):
    """Quota 30 above the free-trade 20: no rent, free-trade prices."""
    r = bm.solve(ko_one_way, {"tariff_quotas": [{**TRQ, "quota": 30, "rent_to": "exporter"}]})
    assert price(r, "HOME") == pytest.approx(1.5, abs=TOL) and imports(r) == pytest.approx(20.0, abs=1e-8)
    assert r.welfare["quota_rent"].abs().sum() == pytest.approx(0.0, abs=1e-9)


def test_a_quota_on_routes_some_of_which_leave_the_chain(tmp_path):
    """An export quota on R1's ore to every destination: R0 uses no ore (no refinery, no
    demand), so the quota's first route is not in the chain and only R1->R2 is. The quota's
    table reads each route's licensed share in the chain's own order (found by hypothesis:
    it indexed them by their place among the quota's routes and failed). The quota of 4
    binds (free trade would ship more), R1->R2 carries exactly 4, and the licence price is
    the gap between R2's buyers' and R1's producers' ore price net of transport."""
    data = bm.load_dataset(write_dataset(
        tmp_path / "d", regions=[{"region": r} for r in ("R0", "R1", "R2")],
        products=[{"product": "ore", "mineral": "m", "stage": "mined"}, {"product": "metal", "mineral": "m", "stage": "refined"}],
        supply=[{"region": "R1", "product": "ore", "ref_price": 10.0, "ref_quantity": 10.0, "elasticity": 1.0}],
        demand=[{"region": r, "product": "metal", "ref_price": 30.0, "ref_quantity": 5.0, "elasticity": -1.0} for r in ("R0", "R2")],
        routes=[{"origin": "R1", "destination": "R0", "product": "ore", "transport_cost": 1.0},
                {"origin": "R1", "destination": "R2", "product": "ore", "transport_cost": 1.0},
                {"origin": "R2", "destination": "R0", "product": "metal", "transport_cost": 1.0}],
        processing=[{"region": "R2", "input": "ore", "output": "metal", "yield": 1.0, "unit_cost": 15.0}]))
    r = bm.solve(data, {"export_restrictions": [{"exporter": "R1", "product": "ore", "quota": 4.0}]})
    detail = [c for c in r.coupling_detail if c["product"] == "ore"]
    assert len(detail) == 1 and len(detail[0]["flow"]) == 1
    assert detail[0]["flow"][0] == pytest.approx(4.0, rel=1e-9)
    prices = r.prices.set_index(["region", "product"])
    gap = prices.at[("R2", "ore"), "price"] - prices.at[("R1", "ore"), "producer_price"] - 1.0
    assert gap > 0 and detail[0]["licence_price"] == pytest.approx(gap, rel=1e-9)
