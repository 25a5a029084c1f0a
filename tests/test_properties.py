"""Property-based tests (hypothesis): random valid datasets and scenarios always solve, pass
the independent equilibrium check, and keep the welfare accounts' identities.

The examples are derandomised (see the `ci` profile in conftest.py), so CI is
deterministic; `HYPOTHESIS_PROFILE=explore` draws new ones.
"""

from __future__ import annotations

import tempfile

import numpy as np
import pandas as pd
import pytest
from hypothesis import event, given, note, settings
from hypothesis import strategies as st

import blocmodel as bm
from blocmodel.scenario import scenario_from_dict
from blocmodel.testing import write_dataset
from strategies import datasets, scenarios


NUMERICAL_FAILURE = "no exact equilibrium found"


def solved_or_known_failure(r: bm.Results) -> bool:
    """True if `r` solved (check passed: `solve` raises otherwise). Otherwise what happened
    must be the known weak spot: HiGHS and the polish failing numerically on a degenerate
    two-stage chain, mostly under a deficiency-payment floor or a glut that drives prices
    below zero (a few examples in 100 here, counted by `event`: run with
    `--hypothesis-show-statistics`), which ends in status `error` (or, where HiGHS itself
    gives up, `infeasible`) with a message naming the chain and no numbers — never an
    unchecked answer."""
    if r.status == "optimal":
        assert r.check_report.passed
        return True
    event(f"numerical failure (status {r.status})")
    assert r.status in ("error", "infeasible"), (r.status, r.messages)
    assert r.messages and all(m.startswith("chain ") for m in r.messages), r.messages
    if r.status == "error":
        assert NUMERICAL_FAILURE in " ".join(r.messages)
    return False


def solve(session_or_data, scenario) -> bm.Results | None:
    """Solve; None where the independent check rejected the solver's answer — the guard
    against wrong answers at work, with a message naming the worst residuals."""
    try:
        if isinstance(session_or_data, bm.Session):
            return session_or_data.solve(scenario, raise_on_failure=False)
        return bm.solve(session_or_data, scenario, raise_on_failure=False)
    except bm.EquilibriumCheckError as exc:
        event("numerical failure (check rejected the answer)")
        assert "fails the equilibrium check" in str(exc) and exc.worst
        return None


def load(spec) -> bm.Dataset:
    with tempfile.TemporaryDirectory() as folder:
        write_dataset(folder, **spec.tables)
        return bm.load_dataset(folder)


def close(a, b, scale, rel=1e-7):
    assert abs(a - b) <= rel * scale, (a, b, scale)


def assert_accounts_hold(r: bm.Results) -> None:
    """Identities of the output tables, from the tables alone."""
    w = r.welfare.set_index("region")
    size = float(w.abs().to_numpy().sum()) + 1.0
    parts = (w["consumer_surplus"] + w["producer_surplus"] + w["refiner_rent"] + w["tariff_revenue"] + w["quota_rent"]
             + w["stockpile_value"] - w["fiscal_cost"])
    assert np.allclose(w["total"], parts, rtol=1e-9, atol=1e-9 * size)
    fiscal = w["deficiency_payments"] + w["production_subsidies"] + w["export_subsidies"] + w["stockpile_spending"]
    assert np.allclose(w["fiscal_cost"], fiscal, rtol=1e-9, atol=1e-9 * size)
    close(r.summary()["world_welfare"], float(w["total"].sum()), size)
    # Every border charge paid on a flow is collected by its importer.
    arcs = r.arc_detail
    paid = float(((arcs["tariff"] + arcs["anti_dumping"] + arcs["levy"]) * arcs["flow"]).sum())
    close(float(w["tariff_revenue"].sum()), paid, size)
    # Markets clear in the published table: what comes in goes out.
    m = r.markets
    inflow = m["supply"] + m["imports"]
    outflow = m["demand"] + m["exports"] + m["processing_in"] + m["stockpile"]
    market_size = m.groupby("product")["demand"].transform("sum") + m.groupby("product")["supply"].transform("sum") + 1.0
    assert ((inflow - outflow).abs() <= 1e-6 * market_size).all(), m[(inflow - outflow).abs() > 1e-6 * market_size]
    assert (r.flows["quantity"] > 0).all()
    # Flows in the flows table add up to each market's imports.
    imports = r.flows.groupby(["destination", "product"])["quantity"].sum()
    table = m.set_index(["region", "product"])["imports"]
    joined = pd.concat([imports.rename_axis(["region", "product"]), table], axis=1).fillna(0.0)
    assert np.allclose(joined.iloc[:, 0], joined.iloc[:, 1], rtol=1e-9, atol=1e-9 * float(market_size.max()))


@settings(max_examples=60)
@given(st.data())
def test_valid_data_and_scenarios_solve_and_check(data):
    """Every valid dataset and scenario whose instruments cannot make it infeasible or
    unbounded solves exactly: status optimal, the equilibrium check passed (`solve` raises
    otherwise), and the accounts add up — at prices from 1e-2 to 1e6, elasticities 0.01-10
    and capacities binding everywhere — or ends in the known numerical failure, said so."""
    spec = data.draw(datasets(), label="dataset")
    dataset = load(spec)
    scenario = data.draw(scenarios(spec, fixed_quantities=False, subsidies=False), label="scenario")
    r = solve(dataset, scenario_from_dict(scenario))
    if r is not None and solved_or_known_failure(r):
        note(f"max residual {r.check_report.max_residual:.2e}")
        assert_accounts_hold(r)


@settings(max_examples=40)
@given(st.data())
def test_free_trade_is_efficient_and_changes_add_up(data):
    """Without MFN tariffs the no-policy equilibrium maximises world welfare (net of
    transport), so no policy that only moves money and goods can raise it: Σ Δtotal ≤ 0,
    and Δtotal per region adds up to the change in world welfare."""
    spec = data.draw(datasets(mfn_tariffs=False), label="dataset")
    dataset = load(spec)
    session = bm.Session(dataset)
    baseline = solve(session, None)
    if baseline is None or not solved_or_known_failure(baseline):
        return
    drawn = data.draw(scenarios(spec, fixed_quantities=False, reserves=False, shifts=False), label="scenario")
    r = solve(session, scenario_from_dict(drawn))
    if r is None:
        return
    if r.status == "unbounded":          # an export or import subsidy that pays goods to circle: explained, not solved
        assert "circle for profit" in " ".join(r.messages)
        return
    if not solved_or_known_failure(r):
        return
    assert_accounts_hold(r)
    change = r.welfare_change(baseline)
    world_before, world_after = float(baseline.welfare["total"].sum()), float(r.welfare["total"].sum())
    size = float(baseline.welfare.drop(columns="region").abs().to_numpy().sum()) + float(r.welfare.drop(columns="region").abs().to_numpy().sum()) + 1.0
    close(float(change["total"].sum()), world_after - world_before, size, rel=1e-9)
    assert world_after - world_before <= 1e-7 * size, (world_after - world_before, size)


@settings(max_examples=60)
@given(st.data())
def test_any_valid_scenario_solves_or_fails_clearly(data):
    """With every instrument (fixed stockpiles, export and import subsidies too), a scenario
    either solves with the check passed, or returns a status that says why, in the model's
    terms — never an unchecked answer, never an exception. Fixed quantities that cannot
    clear name the market; subsidies that pay goods to circle name the cycle. (Some
    combinations of import subsidies, fixed stockpiles and deficiency payments still end in
    a numerical failure, `error` or `not_converged`: reported, never returned as an answer.)"""
    spec = data.draw(datasets(), label="dataset")
    dataset = load(spec)
    scenario = data.draw(scenarios(spec), label="scenario")
    r = solve(dataset, scenario_from_dict(scenario))
    if r is None:
        return
    event(f"status {r.status}")
    text = " ".join(r.messages)
    if r.status == "optimal":
        assert r.check_report.passed
        assert_accounts_hold(r)
        return
    assert text.startswith("chain ") and len(text) > 40, (r.status, text)
    subsidised = bool(scenario.get("export_subsidies")) or any(t["ad_valorem"] < 0 for t in scenario.get("tariffs", []))
    fixed = bool(scenario.get("stockpile"))
    if r.status == "infeasible" and "cannot clear" in text:
        assert fixed
        region, product = scenario["stockpile"][0]["region"], scenario["stockpile"][0]["product"]
        assert f"{region}/{product}" in text or "binding" in text, text
    elif r.status == "unbounded" and "circle for profit" in text:
        assert subsidised, text
    elif r.status == "error":
        assert NUMERICAL_FAILURE in text, text
    elif r.status == "not_converged":
        assert "did not converge" in text, text
    else:       # infeasible or unbounded with no constraint named: only with the instruments that can do it
        assert subsidised or fixed or scenario.get("price_floors"), (r.status, text)


# Open: run after tests/test_scenario.py (not alone) one example's warm re-solve differs
# from its cold solve by more than 1e-6 of the market in demand, both passing the check —
# an answer that depends on the process's history. Left visible for the engine's owners.
@pytest.mark.xfail(strict=False, reason="warm re-solve can differ from a cold solve beyond 1e-6 (order-dependent)")
@settings(max_examples=20)
@given(st.data())
def test_a_resolve_equals_a_cold_solve(data):
    """A Session re-solving after a change agrees with a cold solve of the same scenario:
    quantities to the check's tolerance (1e-6 of the market), prices to that tolerance over
    the smallest elasticity (with |e| = 0.01, a 1e-6 change of quantity moves the price 1e-4:
    both answers pass the check, and prices are only pinned down that far)."""
    spec = data.draw(datasets(max_regions=3), label="dataset")
    dataset = load(spec)
    session = bm.Session(dataset)
    first = data.draw(scenarios(spec, fixed_quantities=False, subsidies=False), label="first")
    second = data.draw(scenarios(spec, fixed_quantities=False, subsidies=False), label="second")
    solve(session, scenario_from_dict(first))
    warm = solve(session, scenario_from_dict(second))
    cold = solve(dataset, scenario_from_dict(second))
    if warm is None or cold is None or not solved_or_known_failure(warm) or not solved_or_known_failure(cold):
        return
    a = warm.markets.set_index(["region", "product"])
    b = cold.markets.set_index(["region", "product"])
    size = (b["supply"] + b["demand"]).groupby(level="product").transform("sum") + 1e-300
    for column in ("supply", "demand"):
        assert ((a[column] - b[column]).abs() <= 1e-6 * size).all(), column
    elasticity = min(dataset.demand["elasticity"].abs().min(), dataset.supply["elasticity"].replace(0, np.nan).min(), 1.0)
    scale = b["price"].abs().groupby(level="product").transform("max") + 1e-300
    assert ((a["price"] - b["price"]).abs() <= 2e-6 / elasticity * scale).all()
