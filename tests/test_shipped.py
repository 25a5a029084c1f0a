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


def test_a_china_rare_earth_ban_is_not_undone_by_re_export(data, baseline):
    """China bans NdPr oxide to every ministerial partner: goods keep their origin, so no
    Chinese oxide reaches a member through a third region, and members' price rises."""
    r = bm.solve(data, {"export_restrictions": [{"exporter": "CHN", "destinations": ["ministerial2026"],
                                                 "product": "ndpr_oxide", "ban": True}]})
    members = set(data.groups["ministerial2026"])
    f = r.flows
    reaching = f[(f["product"] == "ndpr_oxide") & (f["origin"] == "CHN") & f["destination"].isin(members)]
    assert reaching["quantity"].sum() == 0.0
    before = baseline.flows
    assert before[(before["product"] == "ndpr_oxide") & (before["origin"] == "CHN")
                  & before["destination"].isin(members)]["quantity"].sum() > 1000      # it did, in 2024
    price = r.prices.set_index(["region", "product"])["price"]
    price0 = baseline.prices.set_index(["region", "product"])["price"]
    assert price[("USA", "ndpr_oxide")] > 1.5 * price0[("USA", "ndpr_oxide")]


def test_an_anti_dumping_duty_cuts_us_imports_of_chinese_graphite(data, baseline):
    """A 93.5% duty on Chinese anode graphite into the US: US imports of Chinese-origin graphite fall."""
    r = bm.solve(data, {"anti_dumping": [{"exporter": "CHN", "importer": "USA", "product": "graphite_refined",
                                          "ad_valorem": 0.935}]})

    def chinese_into_us(results):
        f = results.flows
        return f[(f["product"] == "graphite_refined") & (f["origin"] == "CHN") & (f["destination"] == "USA")]["quantity"].sum()

    assert chinese_into_us(baseline) > 0
    assert chinese_into_us(r) < 0.9 * chinese_into_us(baseline)
