"""Randomised but reproducible datasets and policies always solve with the check passing."""

import pytest

import blocmodel as bm
from blocmodel.synthetic import synthetic_dataset

POLICIES = [
    None,
    {"bloc": {"members": ["even"], "external_tariff_ad_valorem": 0.3}},
    {"bloc": {"members": ["odd"]}, "price_floors": [{"product": "m00_metal", "price": 60_000, "mechanism": "variable_levy"}]},
    {"bloc": {"members": ["even"]}, "price_floors": [{"product": "m01_metal", "price": 30_000, "mechanism": "deficiency_payment"}]},
    {"price_floors": [{"product": "m00_metal", "price": 40_000, "markets": ["even"], "mechanism": "stockpile", "budget": 1e9}]},
    {"anti_dumping": [{"exporter": "odd", "importer": "even", "ad_valorem": 0.5}],
     "supply_shocks": [{"region": "R001", "production_subsidy": 500.0}]},
]


@pytest.fixture(scope="module", params=[1, 2, 3])
def session(request, tmp_path_factory):
    folder = synthetic_dataset(tmp_path_factory.mktemp("syn"), regions=14, minerals=2, two_stage=True, seed=request.param)
    return bm.Session(bm.load_dataset(folder))


@pytest.mark.parametrize("policy", range(len(POLICIES)))
def test_synthetic_solves_and_checks(session, policy):
    r = session.solve(POLICIES[policy])
    assert r.status == "optimal"
    assert r.check_report.max_residual < 1e-7
    # a re-solve agrees with a cold solve
    cold = bm.solve(session.data, POLICIES[policy])
    diff = (r.prices.set_index(["region", "product"])["price"] - cold.prices.set_index(["region", "product"])["price"]).abs()
    assert diff.max() < 1e-6 * cold.prices["price"].abs().max()
