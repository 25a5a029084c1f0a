"""Integration: the shipped dataset and scenario library solve, verified by the check."""

from pathlib import Path

import pytest

import blocmodel as bm
from blocmodel.indicators import bloc_dependency


@pytest.fixture(scope="module")
def data():
    return bm.load_dataset()


@pytest.fixture(scope="module")
def baseline(data):
    return bm.solve(data)


def test_baseline_is_an_exact_equilibrium(baseline):
    assert baseline.status == "optimal"
    assert baseline.check_report.max_residual < 1e-8
    # Reference prices are an equilibrium up to transport costs: the NdPr oxide price in China
    # stays within 2% of the 2024 reference point (52,500 USD/t).
    p = baseline.prices.set_index(["region", "product"])["price"]
    assert p[("CHN", "ndpr_oxide")] == pytest.approx(52_500, rel=0.02)


def test_full_bloc_cuts_dependency_on_non_member_ndpr(data, baseline):
    """The levy holds the bloc's NdPr oxide price at or above 110 USD/kg wherever non-member
    oxide lands, and the bloc's non-member share of NdPr oxide falls."""
    r = bm.solve(data, Path(__file__).resolve().parents[1] / "data" / "scenarios" / "full_bloc.toml")
    members = r.reference_members()
    flows = r.flows[(r.flows["product"] == "ndpr_oxide") & r.flows["destination"].isin(members)
                    & ~r.flows["origin"].isin(members)]
    assert (flows["landed_price"] >= 110_000 - 1e-6).all()
    after = bloc_dependency(r, members).set_index("product").loc["ndpr_oxide", "non_member_share"]
    before = bloc_dependency(baseline, members).set_index("product").loc["ndpr_oxide", "non_member_share"]
    assert after < before
