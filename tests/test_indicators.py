"""Dependency indicators traced through trade and refining, on cases with known answers."""

import pytest

import blocmodel as bm
from blocmodel.indicators import bloc_dependency, concentration, content_shares, dependency, trade_effects
from test_processing import chain


def test_two_country_shares(ko):
    """With K&O's 0.5 tariff Home uses 65, makes 55 and imports 10 from Foreign."""
    r = bm.solve(ko, {"tariffs": [{"exporter": "FOREIGN", "importer": "HOME", "specific": 0.5}]})
    d = dependency(r, {"HOME"}).set_index("region").loc["HOME"]
    assert d["use"] == pytest.approx(65)
    assert d["self_sufficiency"] == pytest.approx(55 / 65)
    assert d["non_member_share"] == pytest.approx(10 / 65)
    assert d["import_hhi"] == pytest.approx(10_000)


def test_content_is_traced_through_refining(tmp_path):
    """CITY's metal is refined by a member (REFINE) from non-member ore (MINE): stage share 0,
    content share 1; REFINE depends on MINE for all its ore."""
    r = bm.solve(chain(tmp_path))
    d = dependency(r, {"REFINE", "CITY"}).set_index(["region", "product"])
    assert d.loc[("CITY", "metal"), "non_member_share"] == pytest.approx(0.0, abs=1e-12)
    assert d.loc[("CITY", "metal"), "non_member_content_share"] == pytest.approx(1.0)
    assert d.loc[("REFINE", "ore"), "non_member_share"] == pytest.approx(1.0)
    assert d.loc[("REFINE", "ore"), "self_sufficiency"] == pytest.approx(0.0)
    shares = content_shares(r, "metal")
    assert shares.loc["CITY", "MINE"] == pytest.approx(1.0)
    b = bloc_dependency(r, {"REFINE", "CITY"}).set_index("product")
    assert b.loc["metal", "non_member_content_share"] == pytest.approx(1.0)


def test_concentration_and_trade_effects(ko):
    free = bm.solve(ko)
    tariff = bm.solve(ko, {"tariffs": [{"exporter": "FOREIGN", "importer": "HOME", "specific": 0.5}]})
    c = concentration(free).set_index("product").loc["wheat"]
    # Free trade: Home makes 50, Foreign 70 of 120.
    assert c["hhi"] == pytest.approx((50 / 1.2) ** 2 + (70 / 1.2) ** 2)
    assert c["top_region"] == "FOREIGN"
    t = trade_effects(tariff, free, {"HOME"}).set_index("product").loc["wheat"]
    assert t["change_extra_bloc"] == pytest.approx(-10)
    assert t["trade_diversion"] == pytest.approx(0.0)
