"""Members' gains, Shapley values and side payments in games whose values are known.

Additive game: members A and B import different goods (wheat, rice) from the non-member
X and C trades with no one, so the bloc's common specific tariff of 0.5 on non-members
gives each importer its own Krugman–Obstfeld gain and v is additive: v(S) = Σ_{i∈S} w_i,
with w_A = 1.25 (K&O ch. 8) and w_B = 2.5 (rice is K&O with every quantity doubled, so
the same prices and twice the surplus), w_C = 0. Every marginal contribution of i is w_i,
so φ = w exactly with zero standard error, and each member's gain from joining is w_i.

Symmetric game: A and B import the same good, with identical curves, from X (K&O's
Foreign doubled); their
contributions interact through X's price, but by symmetry φ_A = φ_B = v(N)/2 = 1.25. A
alone with the tariff: X's export supply −80 + 80·P_X meets 80 − 40(P_X + 0.5) + 80 − 40·P_X,
so P_X = 1.375, P_A = 1.875, and A loses 4.6875 of surplus for 2.5 of revenue: v({A}) = −2.1875;
A's marginal contribution is −2.1875 before B and 4.6875 after it.
"""

import math

import numpy as np
import pandas as pd
import pytest

import blocmodel as bm
from blocmodel.coalition import CoalitionGame, coalition_analysis, exact_shapley, member_gains, minimal_transfers, players_of, shapley
from blocmodel.optimize import RETRIES, solve_with_retry
from blocmodel.testing import linear, write_dataset

CET = {"bloc": {"members": ["A", "B", "C"], "external_tariff_specific": 0.5}}


def ko_curves(region, product, scale=1.0, home=True):
    supply = linear(20 * scale, 20 * scale, 1.5) if home else linear(40 * scale, 20 * scale, 1.5)
    demand = linear(100 * scale, -20 * scale, 1.5) if home else linear(80 * scale, -20 * scale, 1.5)
    return {"region": region, "product": product, **supply}, {"region": region, "product": product, **demand}


def dataset(folder, products_of, extra_regions=()):
    """Importers get K&O Home curves (scaled); X gets K&O Foreign curves, scaled by the
    importers' total, for each product (so free trade is at 1.5 everywhere)."""
    supply, demand, routes, scale_of = [], [], [], {}
    for region, (product, scale) in products_of.items():
        s, d = ko_curves(region, product, scale)
        supply.append(s)
        demand.append(d)
        routes.append({"origin": "X", "destination": region, "product": product, "transport_cost": 0.0})
        scale_of[product] = scale_of.get(product, 0.0) + scale
    for product, scale in scale_of.items():
        s, d = ko_curves("X", product, scale, home=False)
        supply.append(s)
        demand.append(d)
    products = set(scale_of)
    s, d = ko_curves("C", "tea")
    return bm.load_dataset(write_dataset(
        folder, regions=[{"region": r} for r in ["A", "B", "C", "X"]] + list(extra_regions),
        products=[{"product": p} for p in sorted(products | {"tea"})],
        supply=supply + [s], demand=demand + [d], routes=routes))


@pytest.fixture
def additive(tmp_path):
    return dataset(tmp_path / "add", {"A": ("wheat", 1.0), "B": ("rice", 2.0)})


@pytest.fixture
def symmetric(tmp_path):
    return dataset(tmp_path / "sym", {"A": ("wheat", 1.0), "B": ("wheat", 1.0)})


def test_additive_game_has_the_members_own_gains_as_shapley_values(additive):
    game = CoalitionGame(CET, additive)
    assert game.value(frozenset({"A"})) == pytest.approx(1.25, abs=1e-7)
    assert game.value(frozenset({"B"})) == pytest.approx(2.5, abs=1e-7)
    assert game.value(frozenset({"A", "B", "C"})) == pytest.approx(3.75, abs=1e-7)
    values = shapley(game, permutations=20, seed=3).set_index("player")
    assert values["shapley"].to_dict() == pytest.approx({"A": 1.25, "B": 2.5, "C": 0.0}, abs=1e-7)
    assert values["standard_error"].max() < 1e-7
    assert exact_shapley(game).to_dict() == pytest.approx({"A": 1.25, "B": 2.5, "C": 0.0}, abs=1e-7)
    gains = member_gains(game).set_index("player")
    assert gains["welfare_change"].to_dict() == pytest.approx({"A": 1.25, "B": 2.5, "C": 0.0}, abs=1e-7)
    assert gains["gain_from_joining"].to_dict() == pytest.approx({"A": 1.25, "B": 2.5, "C": 0.0}, abs=1e-7)
    assert gains["welfare_change_outside"].abs().max() < 1e-7


def test_symmetric_players_share_equally_and_estimates_sum_to_the_total(symmetric):
    game = CoalitionGame(CET, symmetric)
    total = game.value(game.grand)
    exact = exact_shapley(game)
    assert exact["A"] == pytest.approx(total / 2, abs=1e-7) and exact["B"] == pytest.approx(total / 2, abs=1e-7)
    assert exact["C"] == pytest.approx(0.0, abs=1e-9)
    # A alone levying the tariff loses (X's goods go to B instead); second, it gains the rest
    assert game.value(frozenset({"A"})) == pytest.approx(-2.1875, abs=1e-7)
    for seed in range(3):    # a few orders: wrong estimates, but always summing to the total
        values = shapley(game, permutations=7, seed=seed).set_index("player")
        assert values["shapley"].sum() == pytest.approx(total, rel=1e-12, abs=1e-9)
        assert set(values.loc[["A", "B"], "shapley"].round(6)) <= {round(-2.1875 + k / 7 * (4.6875 + 2.1875), 6) for k in range(8)}
    values = shapley(game, permutations=400, seed=0).set_index("player")
    assert ((values["ci95_low"] <= exact) & (exact <= values["ci95_high"])).all()
    assert values.loc["A", "standard_error"] == pytest.approx(6.875 / 2 / math.sqrt(400), rel=0.05)   # σ of a ±3.4375 coin


def test_analysis_tables_and_side_payments(symmetric):
    tables = coalition_analysis(CoalitionGame(CET, symmetric), permutations=10, seed=1)
    summary = tables["summary"]
    assert summary["players"] == 3 and abs(summary["shapley_sum_error"]) < 1e-9
    pay = tables["side_payments"].set_index("player")
    assert pay["transfer_shapley"].sum() == pytest.approx(0.0, abs=1e-9)
    assert pay["after_shapley"].to_dict() == pytest.approx(tables["shapley"].set_index("player")["shapley"].to_dict())
    assert pay["transfer_no_loser"].sum() == pytest.approx(0.0, abs=1e-9)
    assert (pay["after_no_loser"] >= -1e-9).all()


def test_minimal_transfers_pay_back_losses_pro_rata():
    t = minimal_transfers(pd.Series({"a": -2.0, "b": 1.0, "c": 3.0}))
    assert t.to_dict() == pytest.approx({"a": 2.0, "b": -0.5, "c": -1.5})
    assert minimal_transfers(pd.Series({"a": 1.0, "b": 2.0})).to_dict() == {"a": 0.0, "b": 0.0}
    assert np.isnan(minimal_transfers(pd.Series({"a": -3.0, "b": 1.0}))).all()


def test_a_customs_union_is_one_player():
    data = bm.load_dataset()
    players = players_of(data, data.groups["msp"])
    assert "EU" in players and len(players["EU"]) == len(data.customs_unions["EU"])
    assert not any(r in players for r in data.customs_unions["EU"])
    assert math.isclose(sum(map(len, players.values())), len(data.groups["msp"]))


def test_cli_coalition_writes_the_tables(additive, tmp_path):
    import json
    import subprocess
    import sys
    design = tmp_path / "cet.toml"
    design.write_text('name = "cet"\n[bloc]\nmembers = ["A", "B", "C"]\nexternal_tariff_specific = 0.5\n')
    proc = subprocess.run([sys.executable, "-m", "blocmodel.cli", "coalition", "--scenario", str(design), "--data", additive.path,
                           "--permutations", "5", "--seed", "2", "--exact", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "out" / "coalition.json").read_text())
    assert summary["bloc_welfare_change"] == pytest.approx(3.75, abs=1e-7) and summary["exact_inside_ci95"] == 3
    values = pd.read_csv(tmp_path / "out" / "shapley.csv").set_index("player")
    assert values["exact_shapley"].to_dict() == pytest.approx({"A": 1.25, "B": 2.5, "C": 0.0}, abs=1e-7)
    for name in ("members.csv", "side_payments.csv"):
        assert (tmp_path / "out" / name).is_file()


def test_coalitions_solved_on_dask_workers_equal_serial_solves():
    """The batch machinery (Dask workers, chunks of neighbouring coalitions) gives the same
    game as serial solves: US, Japan and the EU (one player) with a 25% external tariff."""
    from dask.distributed import Client

    from blocmodel.batch import local_cluster

    design = bm.load_design("bloc_core+cet25")
    serial = CoalitionGame(design)
    expected = exact_shapley(serial)
    with local_cluster(1, host="127.0.0.1") as cluster, \
            Client(cluster) as client:
        remote = CoalitionGame(design, session=serial.session, baseline=serial.baseline, client=client)
        got = exact_shapley(remote)
    assert sorted(remote.players) == ["EU", "JPN", "USA"] and remote.solves == serial.solves == 7
    for player in expected.index:
        assert got[player] == pytest.approx(expected[player], rel=1e-8, abs=1.0)
    assert got.sum() == pytest.approx(serial.value(serial.grand), rel=1e-9)


def test_a_player_without_data_is_marked_and_never_a_finding_of_zero(tmp_path):
    """N has no published data (regions.csv data_status = "no data"): in the game it is a null
    player (v unchanged by it, φ_N = 0 internally, so the Shapley values still sum to v(N)),
    but every table shows its welfare figures empty and marks it, and the counts of members
    gaining leave it out."""
    data = dataset(tmp_path / "nd", {"A": ("wheat", 1.0), "B": ("rice", 2.0)},
                   extra_regions=[{"region": "N", "data_status": "no data"}])
    design = {"bloc": {"members": ["A", "B", "C", "N"], "external_tariff_specific": 0.5}}
    tables = coalition_analysis(CoalitionGame(design, data), permutations=6, seed=2)
    for name in ("members", "shapley", "side_payments"):
        row = tables[name].set_index("player").loc["N"]
        assert row["data"] == "no data"
        numbers = [c for c in tables[name].columns if c not in ("player", "regions", "data")]
        assert row[numbers].isna().all(), (name, row)
    summary = tables["summary"]
    assert summary["players_without_data"] == ["N"] and summary["players"] == 4
    assert summary["bloc_welfare_change"] == pytest.approx(3.75, abs=1e-7)
    assert summary["shapley_sum"] == pytest.approx(3.75, abs=1e-7)          # N's zero is kept in the sum, not shown
    assert summary["members_gaining"] == 2                                  # A and B; C gains nothing; N is not counted
    assert tables["shapley"].set_index("player").loc[["A", "B"], "shapley"].to_dict() == pytest.approx({"A": 1.25, "B": 2.5}, abs=1e-7)


class _FlakySession:
    """A session whose first solve of a scenario fails from its warm start: records how it is called."""

    def __init__(self, fail_first: bool):
        self.calls, self.fail_first = [], fail_first

    def solve(self, scenario, *, raise_on_failure=True, retries=1, **_):
        self.calls.append({"raise_on_failure": raise_on_failure, "retries": retries})
        failed = self.fail_first and len(self.calls) == 1
        return type("R", (), {"status": "not_converged" if failed else "optimal", "messages": ["chain x: stalled"] if failed else []})()


def test_a_failed_warm_solve_is_retried_through_session_solve_not_by_patching_the_session():
    """`solve_with_retry` asks `Session.solve` for the cold retries (`retries=`) and counts
    them; it sets nothing on the session (it used to raise `session.retries`)."""
    counter = {"retried": 0}
    flaky = _FlakySession(fail_first=True)
    assert solve_with_retry(flaky, bm.Scenario(name="s"), counter).status == "optimal"
    assert flaky.calls == [{"raise_on_failure": False, "retries": 0}, {"raise_on_failure": True, "retries": RETRIES}]
    assert counter["retried"] == 1 and not hasattr(flaky, "retries")
    steady = _FlakySession(fail_first=False)
    solve_with_retry(steady, bm.Scenario(name="s"), counter)
    assert len(steady.calls) == 1 and counter["retried"] == 1
