"""blocmodel against the obvious model: one monolithic Pyomo QP solved by HiGHS, sharing no
solver code with blocmodel (`blocmodel/reference.py`). Both must give the same prices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import blocmodel as bm
from blocmodel.reference import charges_at, main, solve_monolithic, specific_charges
from blocmodel.synthetic import synthetic_dataset


def gap(reference: pd.DataFrame, results) -> float:
    mine = results.nodes[["region", "product", "side", "price"]]
    merged = reference.merge(mine, on=["region", "product", "side"], suffixes=("_reference", ""), validate="one_to_one")
    assert len(merged) == len(mine)
    return float(((merged["price_reference"] - merged["price"]).abs() / merged["product"].map(results.price_scale)).max())


@pytest.fixture(scope="module")
def two_stage(tmp_path_factory):
    folder = synthetic_dataset(tmp_path_factory.mktemp("ref") / "data", regions=12, minerals=2, two_stage=True, calibrated=True)
    return bm.load_dataset(folder)


def test_calibrated_two_stage_chain_matches_the_monolithic_qp(two_stage):
    results = bm.solve(two_stage)
    market = results.policy.market
    prices, _ = solve_monolithic(market=market, per_unit=specific_charges(market),
                                 price=results.price_scale, quantity=results.quantity_scale)
    assert gap(prices, results) < 1e-6


def test_ad_valorem_tariff_and_ban_match_given_the_charges_at_equilibrium(two_stage):
    regions = two_stage.region_codes
    product = two_stage.product_codes[-1]
    scenario = {"tariffs": [{"exporter": "*", "importer": regions[0], "product": product, "ad_valorem": 0.3}],
                "export_restrictions": [{"exporter": regions[1], "destinations": [regions[0]], "product": product, "ban": True}]}
    results = bm.solve(two_stage, scenario)
    with pytest.raises(NotImplementedError):
        specific_charges(results.policy.market)          # an ad valorem duty depends on prices
    assert np.any(charges_at(results) > 0)
    prices, _ = solve_monolithic(results)
    assert gap(prices, results) < 1e-6


@pytest.mark.slow
def test_shipped_baseline_matches_the_monolithic_qp():
    """Slow tier: on the calibrated shipped data (6,451 routes with quadratic trade costs)
    HiGHS's QP solver takes minutes and has not always finished in ten."""
    results = bm.solve()
    try:
        prices, _ = solve_monolithic(results, time_limit=600)
    except RuntimeError as exc:
        pytest.skip(f"the monolithic reference did not finish: {exc}")
    # HiGHS regularises its QP and leaves the reference's prices up to ~1e-4 of a product's
    # price off on the shipped data's smallest markets; blocmodel's own check is the exact one.
    assert gap(prices, results) < 5e-4


def test_the_reference_runs_as_a_whole_process(two_stage, tmp_path, capsys):
    out = tmp_path / "prices.csv"
    main([two_stage.path, "--out", str(out)])
    assert "prices" in capsys.readouterr().out
    assert gap(pd.read_csv(out), bm.solve(two_stage)) < 1e-6
