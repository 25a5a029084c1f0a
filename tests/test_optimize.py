"""Instrument optimisation and the cost–dependency frontier against closed forms.

Krugman & Obstfeld's two-country market (conftest.two_country): Home import demand
M = D − S = 80 − 40·P_H, Foreign export supply X = S* − D* = −40 + 40·P_F.

Optimal specific tariff. With a tariff t, P_H = P_F + t and M = X give P_F = 1.5 − t/2,
P_H = 1.5 + t/2, imports M = 20 − 20t. Home's welfare change is the consumer and producer
loss −∫M dP_H over [1.5, 1.5 + t/2] = −10t + 5t² plus revenue t·M = 20t − 20t²:
W(t) = 10t − 15t², so t* = 1/3 and W(t*) = 5/3 (at t = 0.5, W = 1.25: K&O's number).
It is the inverse-elasticity rule t*/P_F = 1/ε_X: at t*, P_F = 4/3, X = 40/3, ε_X = 40·P_F/X = 4.

A levy floor f in Home (bloc = {HOME}) acts as the tariff that lifts P_H to f: so the
welfare-maximising floor is P_H(t*) = 1.5 + 1/6 = 5/3. Home's non-member share is its
imports over its use: s(f) = (80 − 40f)/(100 − 20f), falling in f; s = 0.1 at f = 70/38.

A deficiency-payment floor f for Home's producers: they supply 20 + 20f; world clearing
180 − 40P = 20 + 20f + 40 + 20P gives P = 2 − f/3 (f ≥ 1.5); Home imports 100 − 20P − (20 + 20f),
so s(f) = (6 − 2f)/(9 + f), falling in f, and the fiscal cost (f − P)(20 + 20f) =
(4f/3 − 2)(20 + 20f) rises in f: the least-cost floor for s ≤ 0.2 is where s = 0.2,
f = 21/11; for s ≤ 0.25, f = 5/3. Home's welfare under the payment is not monotone: it
lowers the world price Home imports at. W(f) = CS(P) + PS(f) − (f − P)·S(f) has
W'(f) = (D − S)/3 − 20(f − P) = 160/3 − 280f/9, zero at f = 12/7, where s = 0.24: the
least-welfare-loss floor is 12/7 for s ≤ 0.25 and the target floor 21/11 for s ≤ 0.2.

Exact optima (issue 16): every answer is refined until its first-order condition holds and
carries a certificate, so the closed forms are asserted to EXACT = 1e-8 (the search stage's
tolerance TOL = 1e-4 still governs the grid and golden stage and the `either_side` evidence).
A target binds to the precision of an indicator of an exact equilibrium (FEASIBLE_SLACK =
1e-11 relative), so a share at its target may exceed it by that much.
"""

import json
import subprocess
import sys

import pandas as pd
import pytest

import blocmodel as bm
from blocmodel.errors import InputError
from blocmodel.frontier import frontier, plot_frontier
from blocmodel.library import LIBRARY
from blocmodel.optimize import FEASIBLE_SLACK, optimize
from blocmodel.scenario import scenario_from_dict

TOL = 1e-4          # the default lever tolerance: 1e-4 of a bounds interval of length 1
EXACT = 1e-8        # the optimum itself (issue 16)


def tariff_problem(**optimize_table):
    return {"tariffs": [{"exporter": "FOREIGN", "importer": "HOME", "specific": 0.1}],
            "optimize": {"levers": [{"path": "tariffs.0.specific", "bounds": [0.0, 1.0]}], "maximize": "welfare:HOME",
                         **optimize_table}}


def floor_problem(mechanism, constraints=(), **objective):
    return {"bloc": {"members": ["HOME"]},
            "price_floors": [{"product": "wheat", "price": 1.6, "markets": ["HOME"], "mechanism": mechanism}],
            "optimize": {"levers": [{"path": "price_floors.0.price", "bounds": [1.2, 2.2]}],
                         "constraints": list(constraints), **objective}}


def test_optimal_specific_tariff_is_the_textbook_one(ko):
    o = optimize(tariff_problem(), ko)
    assert o.status == "optimal"
    assert o.levers["tariffs.0.specific"] == pytest.approx(1 / 3, abs=EXACT)
    assert o.objective == pytest.approx(5 / 3, abs=1e-12)
    # the certificate: W'(t*) = 10 − 30t* = 0, from central differences on exact equilibria
    cert = o.certificate
    assert cert["kind"] == "stationary" and o.certified
    assert abs(cert["relative_derivative"]) <= EXACT
    t = o.levers["tariffs.0.specific"]
    assert cert["derivative"] == pytest.approx(10 - 30 * t, abs=1e-8)
    assert cert["curvature"] == pytest.approx(-30, rel=1e-6)        # W'' = −30: a maximum
    assert cert["derivative_error"] < 1e-9                          # Richardson's error estimate
    assert cert["bracket"][0] < t < cert["bracket"][1]
    e = o.evidence
    assert e["unimodal_on_grid"] and e["neighbours_not_better"] and e["at_bound"] is None
    assert e["tolerance"] == pytest.approx(TOL)
    # the solved points either side of the answer are worse by no more than the curvature allows
    for side in e["either_side"].values():
        assert side["welfare:HOME"] <= o.objective + 1e-9
        assert side["welfare:HOME"] == pytest.approx(10 * side["lever"] - 15 * side["lever"] ** 2, abs=1e-7)
    # inverse-elasticity rule at the optimum
    p_foreign = 1.5 - o.levers["tariffs.0.specific"] / 2
    exports = -40 + 40 * p_foreign
    assert o.levers["tariffs.0.specific"] / p_foreign == pytest.approx(exports / (40 * p_foreign), abs=1e-3)
    assert o.results.check_report.passed


def test_welfare_maximising_levy_floor_equals_the_optimal_tariff(ko):
    o = optimize(floor_problem("variable_levy", maximize="welfare"), ko)
    assert o.levers["price_floors.0.price"] == pytest.approx(5 / 3, abs=EXACT)
    assert o.objective == pytest.approx(5 / 3, abs=1e-12)
    assert o.certificate["kind"] == "stationary" and abs(o.certificate["relative_derivative"]) <= EXACT
    # floors below free trade (1.5) do not bind: a plateau, reported as one local optimum only
    assert o.evidence["local_optima_on_grid"] == 1


def test_share_target_binds_the_levy_floor(ko):
    o = optimize(floor_problem("variable_levy", ["non_member_share:wheat <= 0.1"], maximize="welfare"), ko)
    f = o.levers["price_floors.0.price"]
    assert f == pytest.approx(70 / 38, abs=EXACT) and f >= 70 / 38 - 1e-9   # the feasible side of the boundary
    assert o.measures["non_member_share:wheat"] == pytest.approx((80 - 40 * f) / (100 - 20 * f), abs=1e-9)
    assert o.measures["non_member_share:wheat"] <= 0.1 + FEASIBLE_SLACK     # met to the indicator's precision
    assert o.evidence["on_target_boundary"]
    cert = o.certificate
    assert cert["kind"] == "target binds" and cert["constraint"] == "non_member_share:wheat <= 0.1"
    assert abs(cert["relative_residual"]) <= FEASIBLE_SLACK and cert["bracket_width"] < 1e-9
    # W'(f) < 0 here (f > 5/3): a higher floor, into the feasible side, only loses welfare
    assert cert["derivative"] < 0 and cert["improves_moving"].endswith("no")
    assert o.evidence["constraint_monotonicity"] == {"non_member_share:wheat": "falling"}
    below = o.evidence["either_side"]["below"]
    assert not below["feasible"]


@pytest.mark.parametrize("target, floor", [(0.2, 21 / 11), (0.25, 5 / 3)])
def test_least_fiscal_cost_deficiency_payment_meets_the_target_exactly(ko, target, floor):
    o = optimize(floor_problem("deficiency_payment", [f"non_member_share:wheat <= {target}"], minimize="fiscal_cost"), ko)
    f = o.levers["price_floors.0.price"]
    assert f == pytest.approx(floor, abs=EXACT)
    assert o.measures["non_member_share:wheat"] == pytest.approx((6 - 2 * f) / (9 + f), abs=1e-9)
    assert o.measures["non_member_share:wheat"] == pytest.approx(target, abs=1e-10)
    assert o.objective == pytest.approx((4 * f / 3 - 2) * (20 + 20 * f), rel=1e-7)
    assert o.certificate["kind"] == "target binds"
    # fiscal cost C(f) = (4f/3 − 2)(20 + 20f) rises with the floor: C'(f) = 4/3·(20 + 20f) + 20·(4f/3 − 2) > 0
    assert o.certificate["derivative"] == pytest.approx(4 / 3 * (20 + 20 * f) + 20 * (4 * f / 3 - 2), rel=1e-6)


def test_unreachable_target_is_reported_infeasible(ko):
    problem = floor_problem("variable_levy", ["non_member_share:wheat <= 0.2"], maximize="welfare")
    problem["optimize"]["levers"][0]["bounds"] = [1.2, 1.6]         # s(1.6) = 16/68 > 0.2
    o = optimize(problem, ko)
    assert o.status == "infeasible" and o.levers == {"price_floors.0.price": None} and o.results is None
    nearest = o.evidence["least_violation"]
    assert nearest["lever"] == pytest.approx(1.6) and nearest["non_member_share:wheat"] == pytest.approx(16 / 68, abs=1e-9)
    assert "falls from" in o.evidence["why"][0] and "misses <= 0.2" in o.evidence["why"][0]


def test_two_levers_by_coordinate_search(ko):
    """A tariff on the unused Home→Foreign route changes nothing: the search must still
    find t* = 1/3 on the used route (ties on the idle lever go to its lowest value)."""
    problem = tariff_problem(grid=9)
    problem["tariffs"].append({"exporter": "HOME", "importer": "FOREIGN", "specific": 0.0})
    problem["optimize"]["levers"].append({"path": "tariffs.1.specific", "bounds": [0.0, 1.0]})
    o = optimize(problem, ko)
    assert o.status == "optimal" and o.evidence["converged"]
    assert o.levers["tariffs.0.specific"] == pytest.approx(1 / 3, abs=EXACT)
    assert o.levers["tariffs.1.specific"] == 0.0
    assert o.objective == pytest.approx(5 / 3, abs=1e-12)
    certs = o.certificate
    assert certs["tariffs.0.specific"]["kind"] == "stationary"
    assert certs["tariffs.1.specific"]["kind"] == "lever bound binds" and certs["tariffs.1.specific"]["derivative"] == 0.0
    assert o.certified


def test_optimize_table_is_validated_and_ignored_by_solve(ko):
    scenario = scenario_from_dict(tariff_problem())
    plain = scenario_from_dict({"tariffs": tariff_problem()["tariffs"]})
    assert scenario.hash == plain.hash           # not a policy: same scenario to solve
    assert bm.solve(ko, scenario).welfare.equals(bm.solve(ko, plain).welfare)
    assert bm.compose([scenario, plain]).optimize == scenario.optimize      # composing keeps the last [optimize]
    bad = [({"levers": [{"path": "tariffs.0.specific", "bounds": [0, 1]}], "maximize": "welfare", "tolerence": 1}, "optimize.tolerence': unknown key"),
           ({"levers": [{"path": "tariffs.0.specific", "bounds": [0, 1], "step": 1}], "maximize": "welfare"}, "optimize.levers[0].step"),
           ({"levers": [{"path": "tariffs.0.specific", "bounds": [1, 0]}], "maximize": "welfare"}, "lower < upper"),
           ({"levers": [{"path": "tariffs.0.specific", "bounds": [0, 1]}]}, "exactly one of maximize or minimize"),
           ({"levers": [{"path": "tariffs.0.specific", "bounds": [0, 1]}], "maximize": "happiness"}, "objective must be one of"),
           ({"levers": [{"path": "tariffs.0.specific", "bounds": [0, 1]}], "maximize": "welfare",
             "constraints": ["non_member_share < 0.5"]}, "constraint must read")]
    for table, words in bad:
        with pytest.raises(InputError) as exc:
            scenario_from_dict({**tariff_problem(), "optimize": table})
        assert words in str(exc.value.problems[0]) or words in " ".join(map(str, exc.value.problems))
    with pytest.raises(InputError, match="not a field of the scenario"):
        optimize({**tariff_problem(), "optimize": {"levers": [{"path": "tariffs.3.specific", "bounds": [0, 1]}], "maximize": "welfare:HOME"}}, ko)


def test_cli_optimize_writes_optimum_and_equilibrium(ko, tmp_path):
    path = tmp_path / "opt.toml"
    path.write_text('''name = "ko_tariff"
[[tariffs]]
exporter = "FOREIGN"
importer = "HOME"
specific = 0.1
[optimize]
levers = [{ path = "tariffs.0.specific", bounds = [0, 1] }]
maximize = "welfare:HOME"
''')
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "blocmodel.cli", "optimize", "--data", ko.path, "--scenario", str(path),
                           "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    optimum = json.loads((out / "optimum.json").read_text())
    assert optimum["status"] == "optimal"
    assert optimum["levers"]["tariffs.0.specific"] == pytest.approx(1 / 3, abs=EXACT)
    assert {"grid", "tolerance", "either_side", "refined", "certificate"} <= set(optimum["evidence"])
    cert = optimum["certificate"]
    assert cert["kind"] == "stationary" and abs(cert["relative_derivative"]) <= EXACT
    assert {"derivative", "method", "bracket", "derivative_error"} <= set(cert)
    assert "certificate: stationary" in proc.stdout
    for name in ("prices.csv", "flows.csv", "markets.csv", "welfare.csv", "summary.json", "welfare_change.csv"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario_definition"]["tariffs"][0]["specific"] == pytest.approx(1 / 3, abs=EXACT)
    # `solve` ignores the [optimize] table
    proc = subprocess.run([sys.executable, "-m", "blocmodel.cli", "solve", "--data", ko.path, "--scenario", str(path),
                           "--out", str(tmp_path / "plain")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_frontier_on_the_two_country_market(ko, tmp_path):
    table = frontier({"bloc": {"members": ["HOME"]}}, "wheat", [0.25, 0.2], ["deficiency_payment"], bounds=(1.2, 2.2),
                     grid=9, data=ko)
    dp = table.set_index("target")
    assert dp.loc[0.25, "floor"] == pytest.approx(12 / 7, abs=EXACT)      # interior: the bloc's welfare optimum
    assert dp.loc[0.25, "non_member_share"] == pytest.approx(0.24, abs=1e-9)
    assert not dp.loc[0.25, "on_target_boundary"] and dp.loc[0.25, "certificate"] == "stationary"
    assert abs(dp.loc[0.25, "relative_derivative"]) <= EXACT
    assert dp.loc[0.2, "floor"] == pytest.approx(21 / 11, abs=EXACT)      # the target binds
    assert dp.loc[0.2, "on_target_boundary"] and dp.loc[0.2, "certificate"] == "target binds"
    f = dp.loc[0.2, "floor"]
    assert dp.loc[0.2, "fiscal_cost"] == pytest.approx((4 * f / 3 - 2) * (20 + 20 * f), rel=1e-7)
    assert table.attrs["no_floor_share"] == pytest.approx(20 / 70, abs=1e-9)
    png = plot_frontier(table, tmp_path / "frontier.png")
    assert png.stat().st_size > 10_000


def test_shipped_least_cost_ndpr_floor_under_a_deficiency_payment():
    """On the calibrated 2024 data the ministerial bloc without a floor leaves members ~86% of
    their NdPr oxide use from non-members (it was ~47% before calibration), so the shipped
    target is 80% (was 25%) and the floor is written in USD/kg (was a bare 110000 USD/t):
    the answer, near 100 USD/kg, is in USD/kg."""
    scenario = bm.load_scenario(LIBRARY / "optimize_ndpr_floor_deficiency_payment.toml")
    coarse = scenario.model_copy(update={"optimize": scenario.optimize.model_copy(update={"grid": 9})})
    o = optimize(coarse)
    assert o.status == "optimal" and o.evidence["on_target_boundary"]
    assert o.evidence["lever_units"] == {"price_floors.0.price": "USD/kg"}
    assert o.measures["non_member_share:ndpr_oxide"] == pytest.approx(0.8, abs=1e-10)
    assert o.certificate["kind"] == "target binds" and abs(o.certificate["relative_residual"]) <= FEASIBLE_SLACK
    assert o.certificate["derivative"] > 0                        # fiscal cost rises with the floor
    assert not o.evidence["either_side"]["below"]["feasible"]       # 0.01 USD/kg less misses the target
    assert 90 < o.levers["price_floors.0.price"] < 110
    # the floor holds members' producers' price at it (a deficiency payment): the equilibrium says so
    floors = o.results.floors
    assert floors["floor_price"].to_numpy() == pytest.approx(o.levers["price_floors.0.price"] * 1000, rel=1e-12)
    assert (floors["status"] == "binds").any()


def test_stockpile_targets_are_judged_on_use(ko):
    """A reserve holding Home producers' price at a floor buys Home's output; dependency is
    measured on Home's use (demand; the reserve's purchases are not use), so Home's buyers,
    who now buy from Foreign, are *more* dependent: no floor reaches the target, and the
    optimiser says the share rises with the floor."""
    problem = floor_problem("stockpile", ["non_member_share:wheat <= 0.2"], minimize="fiscal_cost")
    problem["price_floors"][0]["budget"] = 50.0
    o = optimize(problem, ko)
    assert o.status == "infeasible"
    assert "rises from" in o.evidence["why"][0] and "moves it away from the target" in o.evidence["why"][0]
    assert o.evidence["constraint_monotonicity"]["non_member_share:wheat"] == "rising"
    # use is what Home's buyers take, without the reserve's purchases
    r = bm.solve(ko, {**{k: v for k, v in problem.items() if k != "optimize"}})
    from blocmodel.indicators import bloc_dependency
    use = bloc_dependency(r, ["HOME"]).set_index("product").at["wheat", "use"]
    demand = r.demand_detail.set_index("region").at["HOME", "quantity"]
    assert use == pytest.approx(demand, rel=1e-12) and r.markets.set_index("region").at["HOME", "stock_purchases"] > 0


def test_a_floor_written_with_its_unit_is_searched_in_that_unit(ko):
    """price = "0.0016 USD/kg" on a product priced per tonne: the lever's bounds and answer
    are USD/kg, so the levy floor's target binds at 70/38 USD/t = 70/38000 USD/kg."""
    problem = floor_problem("variable_levy", ["non_member_share:wheat <= 0.1"], maximize="welfare")
    problem["price_floors"][0]["price"] = "0.0016 USD/kg"
    problem["optimize"]["levers"][0]["bounds"] = [0.0012, 0.0022]
    o = optimize(problem, ko)
    assert o.evidence["lever_units"] == {"price_floors.0.price": "USD/kg"}
    assert o.levers["price_floors.0.price"] == pytest.approx(70 / 38 / 1000, abs=EXACT / 1000)
    assert o.results.policy.floors[0].price == pytest.approx(70 / 38, abs=EXACT)


def test_cli_frontier_and_unreachable_optimum(ko, tmp_path):
    bloc = tmp_path / "bloc.toml"
    bloc.write_text('[bloc]\nmembers = ["HOME"]\n')
    run = lambda *args: subprocess.run([sys.executable, "-m", "blocmodel.cli", *args, "--data", ko.path],  # noqa: E731
                                       capture_output=True, text=True)
    proc = run("frontier", "--scenario", str(bloc), "--product", "wheat", "--targets", "0.2,0.01", "--mechanisms",
               "deficiency_payment", "--bounds", "1.2,2.2", "--cost", "fiscal_cost", "--out", str(tmp_path / "f"))
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(tmp_path / "f" / "frontier.csv").set_index("target")
    assert table.loc[0.2, "floor"] == pytest.approx(21 / 11, abs=EXACT)
    assert table.loc[0.01, "status"] == "infeasible"      # s(2.2) = 1.6/11.2 > 0.01
    assert (tmp_path / "f" / "frontier.png").stat().st_size > 10_000
    proc = run("frontier", "--scenario", str(bloc), "--targets", "0.2,x", "--out", str(tmp_path / "g"))
    assert proc.returncode == 2 and "--targets" in proc.stderr and "Traceback" not in proc.stderr
    unreachable = tmp_path / "unreachable.toml"
    unreachable.write_text('''[bloc]
members = ["HOME"]
[[price_floors]]
product = "wheat"
price = 1.6
markets = ["HOME"]
[optimize]
levers = [{ path = "price_floors.0.price", bounds = [1.2, 1.6] }]
maximize = "welfare"
constraints = ["non_member_share:wheat <= 0.2"]
''')
    proc = run("optimize", "--scenario", str(unreachable), "--out", str(tmp_path / "u"))
    assert proc.returncode == 5, proc.stderr
    assert "why: non_member_share:wheat falls from" in proc.stderr and "Traceback" not in proc.stderr
    optimum = json.loads((tmp_path / "u" / "optimum.json").read_text())
    assert optimum["status"] == "infeasible" and optimum["levers"] == {"price_floors.0.price": None}
    assert not (tmp_path / "u" / "prices.csv").exists()


def test_newton_steps_past_search_samples_that_noise_left_beside_the_optimum():
    """Golden section on a flat optimum can end with its samples a hair apart, all on one
    side of the stationary point (the shipped MSP tariff did: f' = 1e-4 of the slope scale at
    both). The refinement must not take those samples as a bracket: f(x) = −(x − 0.5)², started
    at 0.4 between samples 0.4 ± 1e-12, certifies the stationary point 0.5 (closed form)."""
    from blocmodel.certificate import Refinement
    from blocmodel.optimize import Goal

    goal = Goal(objective=("welfare", None), maximize=True, constraints=[])
    samples = {x: {"welfare": -(x - 0.5) ** 2} for x in (0.4 - 1e-12, 0.4, 0.4 + 1e-12)}
    refinement = Refinement(lambda x: {"welfare": -(x - 0.5) ** 2}, None, goal, 0.0, 1.0, 0.25, 1e-15, samples)
    lever, certificate = refinement.certify(0.4, [], 1e-12)
    assert certificate["kind"] == "stationary"
    assert lever == pytest.approx(0.5, abs=1e-8)
