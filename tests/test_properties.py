"""Property-based tests (hypothesis): random valid datasets and scenarios always solve
exactly, pass the independent equilibrium check, keep the welfare accounts' identities,
and a warm re-solve equals a cold solve to 1e-9.

Datasets span prices 1e-2..1e6, elasticities 0.01..10, binding capacities (in the short
run), one or two stages, a customs union, constant-cost routes (no observed flows) and
calibrated ones (observed flows that balance). The examples are derandomised (the `ci`
profile in conftest.py); `HYPOTHESIS_PROFILE=explore` draws new ones.
"""

from __future__ import annotations

import tempfile

import numpy as np
import pandas as pd
from hypothesis import event, given, note, settings
from hypothesis import strategies as st
from strategies import calibrated_datasets, datasets, scenarios

import blocmodel as bm
from blocmodel.scenario import scenario_from_dict
from blocmodel.testing import write_dataset


def load(spec) -> bm.Dataset:
    with tempfile.TemporaryDirectory() as folder:
        write_dataset(folder, **spec.tables)
        return bm.load_dataset(folder)


def any_dataset(calibrated: bool | None = None):
    if calibrated is True:
        return calibrated_datasets()
    if calibrated is False:
        return datasets()
    return st.one_of(datasets(), calibrated_datasets())


def with_horizon(data, scenario: dict) -> dict:
    scenario = dict(scenario)
    scenario["horizon"] = data.draw(st.sampled_from(["short_run", "medium_run"]), label="horizon")
    return scenario


def assert_accounts_hold(r: bm.Results) -> None:
    """Identities of the output tables, from the tables alone."""
    w = r.welfare.set_index("region")
    size = float(w.abs().to_numpy().sum()) + 1.0
    parts = (w["consumer_surplus"] + w["producer_surplus"] + w["capacity_rent"] + w["refiner_rent"] + w["tariff_revenue"]
             + w["quota_rent"] + w["trade_rent"] + w["stockpile_value"] - w["fiscal_cost"] - w["dumping_cost"])
    assert np.allclose(w["total"], parts, rtol=1e-9, atol=1e-9 * size)
    fiscal = w["deficiency_payments"] + w["reserve_purchases"] + w["production_subsidies"] + w["export_subsidies"] + w["stockpile_spending"]
    assert np.allclose(w["fiscal_cost"], fiscal, rtol=1e-9, atol=1e-9 * size)
    # every border charge paid on a flow (and on over-quota units) is collected by its importer
    a = r.route_detail
    paid = float(((a["tariff"] + a["anti_dumping"] + a["levy"]) * a["flow"]).sum())
    paid += sum(float(np.sum(np.minimum(c["licence_price"], c["cap"]) * c["over_quota"])) for c in r.coupling_detail)
    assert abs(float(w["tariff_revenue"].sum()) - paid) <= 1e-9 * size
    # markets clear in the published table: production + imports = use + exports + stock + thrown away
    m = r.markets
    left = m["supply"] + m["imports"]
    right = m["demand"] + m["processing_in"] + m["exports"] + m["stockpile"] + m["stock_purchases"] + m["disposed"]
    scale = m["product"].map(r.quantity_scale)       # the product's world market at reference
    assert ((left - right).abs() <= 1e-9 * scale).all(), m[(left - right).abs() > 1e-9 * scale]
    assert (r.flows["quantity"] > 0).all()
    imports = r.flows[~r.flows["home"]].groupby(["destination", "product"])["quantity"].sum()
    table = m.set_index(["region", "product"])["imports"]
    joined = pd.concat([imports.rename_axis(["region", "product"]), table], axis=1).fillna(0.0)
    assert np.allclose(joined.iloc[:, 0], joined.iloc[:, 1], rtol=1e-9, atol=1e-12 * float(scale.max()))


@settings(max_examples=60)
@given(st.data())
def test_valid_data_and_scenarios_solve_and_check(data):
    """Every valid dataset and scenario of these instruments solves exactly — status
    optimal, the check passed (`solve` raises otherwise), the accounts add up — with no
    numerical failure. (Output a deficiency-payment floor holds beyond its outlets is
    thrown away at price 0: free disposal.)"""
    spec = data.draw(any_dataset(), label="dataset")
    dataset = load(spec)
    scenario = with_horizon(data, data.draw(scenarios(spec, fixed_quantities=False), label="scenario"))
    r = bm.solve(dataset, scenario_from_dict(scenario))
    if r.markets["disposed"].any():
        event("goods thrown away")
    assert r.status == "optimal" and r.check_report.passed
    note(f"max residual {r.check_report.max_residual:.2e}")
    event("calibrated" if "ref_quantity" in dataset.routes and dataset.routes["ref_quantity"].notna().any() else "constant costs")
    assert_accounts_hold(r)


@settings(max_examples=40)
@given(st.data())
def test_free_trade_is_efficient_and_changes_add_up(data):
    """Without MFN tariffs the no-policy equilibrium maximises world welfare (net of transport
    and calibrated trade costs), so no policy that only moves money and goods can raise it:
    Σ Δtotal ≤ 0, and Δtotal per region adds up to the change in world welfare."""
    spec = data.draw(datasets(mfn_tariffs=False), label="dataset")
    dataset = load(spec)
    session = bm.Session(dataset)
    baseline = session.solve()
    drawn = data.draw(scenarios(spec, fixed_quantities=False, reserves=False, shifts=False), label="scenario")
    r = session.solve(scenario_from_dict(drawn))
    assert_accounts_hold(r)
    change = r.welfare_change(baseline)
    before, after = float(baseline.welfare["total"].sum()), float(r.welfare["total"].sum())
    size = float(baseline.welfare.drop(columns="region").abs().to_numpy().sum()) + 1.0
    assert abs(float(change["total"].sum()) - (after - before)) <= 1e-9 * size
    assert after - before <= 1e-9 * size, (after - before, size)


@settings(max_examples=60)
@given(st.data())
def test_any_valid_scenario_solves_or_says_why(data):
    """With every instrument (fixed stockpiles, export and import subsidies too), a scenario
    either solves with the check passed, or — only when a fixed quantity cannot clear — says
    `infeasible`, naming the market. Goods keep their origin, so no subsidy makes them circle."""
    spec = data.draw(any_dataset(), label="dataset")
    dataset = load(spec)
    scenario = with_horizon(data, data.draw(scenarios(spec), label="scenario"))
    r = bm.solve(dataset, scenario_from_dict(scenario), raise_on_failure=False)
    event(f"status {r.status}")
    if r.status == "optimal":
        assert r.check_report.passed
        assert_accounts_hold(r)
        return
    text = " ".join(r.messages)
    # the elastic LP names the market that "cannot clear"; a diverging price says "no quantity at any price clears the markets"
    assert r.status == "infeasible" and ("cannot clear" in text or "clears the markets" in text), (r.status, text)
    assert scenario.get("stockpile") or any(s.get("capacity_factor") == 0 for s in scenario.get("supply_shocks", [])), text


@settings(max_examples=30)
@given(st.data())
def test_a_resolve_equals_a_cold_solve(data):
    """A Session re-solving after a change equals a cold solve of the same scenario, prices
    and quantities to 1e-9 relative."""
    spec = data.draw(any_dataset(), label="dataset")
    dataset = load(spec)
    session = bm.Session(dataset)
    first = with_horizon(data, data.draw(scenarios(spec, fixed_quantities=False), label="first"))
    second = with_horizon(data, data.draw(scenarios(spec, fixed_quantities=False), label="second"))
    session.solve(scenario_from_dict(first))
    warm = session.solve(scenario_from_dict(second))
    cold = bm.solve(dataset, scenario_from_dict(second))
    a = warm.markets.set_index(["region", "product"])
    b = cold.markets.set_index(["region", "product"])
    for column in ("supply", "demand", "imports", "exports", "price"):
        scale = b[column].abs().groupby(level="product").transform("max") + 1e-300
        assert ((a[column] - b[column]).abs() <= 1e-9 * scale).all(), column
    fa = warm.route_detail.set_index(["origin", "destination", "product"])["flow"]
    fb = cold.route_detail.set_index(["origin", "destination", "product"])["flow"]
    scale = fb.groupby(level="product").transform("sum") + 1e-300
    assert ((fa - fb).abs() <= 1e-9 * scale).all()
