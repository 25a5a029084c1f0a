"""A re-solve after a change of levers equals a cold solve of the changed scenario."""

import numpy as np
import pytest

import blocmodel as bm

BLOC = {"members": ["g7", "eu", "quad"]}
CHANGES = {
    "tariff": {"tariffs": [{"exporter": "CHN", "importer": "USA", "product": "graphite", "ad_valorem": 0.5}]},
    "levy floor": {"bloc": BLOC, "price_floors": [{"product": "ndpr_oxide", "price": 90_000}]},
    "deficiency floor": {"bloc": BLOC, "price_floors": [{"product": "ndpr_oxide", "price": 90_000, "mechanism": "deficiency_payment"}]},
    "membership": {"bloc": {"members": ["msp"], "external_tariff_ad_valorem": 0.1}},
    "shock": {"supply_shocks": [{"region": "COD", "product": "cobalt_mined", "quantity_change": -0.3}]},
    "ban": {"export_restrictions": [{"exporter": "CHN", "destinations": ["USA", "JPN"], "product": "rare_earths", "ban": True}]},
}


@pytest.fixture(scope="module")
def session():
    s = bm.Session()
    s.solve()                       # warm it up on the baseline
    return s


def same(a, b, tol=1e-9):
    pa = a.prices.set_index(["region", "product"])["price"]
    pb = b.prices.set_index(["region", "product"])["price"]
    rel = ((pa - pb).abs() / pb.abs().clip(lower=1.0)).max()
    wa = a.welfare.set_index("region")["total"]
    wb = b.welfare.set_index("region")["total"]
    return rel <= tol and np.allclose(wa, wb, rtol=1e-9, atol=1e-3)


@pytest.mark.parametrize("kind", list(CHANGES))
def test_resolve_equals_cold_solve(session, kind):
    warm = session.solve(CHANGES[kind])
    cold = bm.solve(session.data, CHANGES[kind])
    assert warm.check_report.passed and cold.check_report.passed
    assert same(warm, cold)


def test_resolve_back_to_baseline(session):
    session.solve(CHANGES["levy floor"])
    again = session.solve()
    assert same(again, bm.solve(session.data))
