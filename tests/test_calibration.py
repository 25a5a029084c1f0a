"""Calibrated trade costs (issue 13): observed flows are the no-policy equilibrium, trade
responds smoothly, cross-hauling is reproduced, goods keep their origin.

A three-region market of one product at reference price 10, σ = 4, written by hand so
that every balance closes: production A 100, B 50, C 20; use A 40, B 60, C 70; observed
flows A→B 40, A→C 30, B→A 10 (cross-hauling with A→B), B→C 20; home flows A 30, B 20,
C 20. Routes C→A and C→B exist but carry nothing in 2024.
"""

import numpy as np
import pandas as pd
import pytest

import blocmodel as bm
from blocmodel.sensitivity import tariff_sensitivity
from blocmodel.testing import write_dataset

P, SIGMA = 10.0, 4.0
OBSERVED = {("A", "B"): 40.0, ("A", "C"): 30.0, ("B", "A"): 10.0, ("B", "C"): 20.0}
HOME = {"A": 30.0, "B": 20.0, "C": 20.0}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("calibrated")
    routes = [{"origin": o, "destination": d, "product": "ore", "transport_cost": 0.5,
               "tariff_ad_valorem": 0.05 if d == "C" else 0.0, "ref_quantity": q} for (o, d), q in OBSERVED.items()]
    routes += [{"origin": "C", "destination": d, "product": "ore", "transport_cost": 0.5} for d in ("A", "B")]
    write_dataset(folder, regions=[{"region": r, "groups": "g"} for r in "ABC"],
                  products=[{"product": "ore", "substitution_elasticity": SIGMA}],
                  supply=[{"region": r, "product": "ore", "ref_price": P, "ref_quantity": q, "elasticity": 0.5}
                          for r, q in (("A", 100), ("B", 50), ("C", 20))],
                  demand=[{"region": r, "product": "ore", "ref_price": P, "ref_quantity": q, "elasticity": -0.5}
                          for r, q in (("A", 40), ("B", 60), ("C", 70))],
                  routes=routes)
    return bm.load_dataset(folder)


def flows(results) -> pd.Series:
    return results.route_detail.set_index(["origin", "destination"])["flow"]


def test_baseline_reproduces_observed_flows_and_cross_hauling(data):
    r = bm.solve(data)
    f = flows(r)
    for (o, d), q in OBSERVED.items():
        assert f[(o, d)] == pytest.approx(q, rel=1e-12)
    for region, q in HOME.items():
        assert f[(region, region)] == pytest.approx(q, rel=1e-12)
    assert f[("C", "A")] == 0.0 and f[("C", "B")] == 0.0          # unobserved routes stay closed
    # the reference prices are the equilibrium: buyers' and producers' prices all at 10
    assert np.allclose(r.prices[["price", "producer_price"]].to_numpy(), P, rtol=0, atol=1e-9)
    assert r.check_report.max_residual < 1e-12


def test_curvature_is_what_sigma_implies(data):
    """g = P/(σ·x0): a 1% rise of a route's delivered cost, other prices held, cuts its
    flow by σ% (4%)."""
    r = bm.solve(data)
    a = r.route_detail.set_index(["origin", "destination"])
    for (o, d), q in OBSERVED.items():
        assert a.loc[(o, d), "curvature"] == pytest.approx(P / (SIGMA * q), rel=1e-12)
        assert (0.01 * P / a.loc[(o, d), "curvature"]) / q == pytest.approx(SIGMA / 100, rel=1e-12)


def test_one_point_of_tariff_moves_flows_smoothly_by_the_derivative(data):
    """C's tariff on goods from A from 5% to 6%: flows move by a few percent (not
    all-or-nothing), in the direction σ implies, and less than the partial response
    σ·x0·CIF/P that holds every price (buyers and sellers adjust). The change matches the
    derivative of the equilibrium (implicit-function theorem on the solver's system):
    Richardson-extrapolated central differences agree to 1e-8."""
    session = bm.Session(data)
    base = session.solve()
    derivative = tariff_sensitivity(base, "A", "C", "ore")

    def at(rate):
        return flows(session.solve({"tariffs": [{"exporter": "A", "importer": "C", "ad_valorem": rate}]}))

    def central(h):
        return (at(0.05 + h) - at(0.05 - h)) / (2 * h)

    richardson = (4 * central(0.005) - central(0.01)) / 3
    assert np.allclose(richardson.reindex(derivative.index), derivative, rtol=1e-8, atol=1e-8)
    up = at(0.06)
    own = (up[("A", "C")] - flows(base)[("A", "C")]) / OBSERVED[("A", "C")]
    partial = SIGMA * OBSERVED[("A", "C")] * (P + 0.5) / P * 0.01 / OBSERVED[("A", "C")]
    assert -partial < own < -0.25 * partial      # smooth: −4.2% holding prices; −1.5% once C's and A's prices move
    assert flows(base)[("B", "C")] < up[("B", "C")]                # C switches part of it to B
