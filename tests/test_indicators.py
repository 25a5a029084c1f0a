"""Dependency indicators traced through trade and refining, on cases with known answers."""

import pytest
from test_processing import chain

import blocmodel as bm
from blocmodel.indicators import bloc_dependency, concentration, content_shares, dependency, trade_effects


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


def test_dependency_equals_the_share_tables(shipped):
    """`dependency` (one flow array per result) against a recomputation from the pandas share
    tables `origin_shares` and `content_shares`, member by member, on the shipped data under a
    design with a floor, a stockpile and a ban: equal to 1e-12. A `bloc_dependency` table is the
    caller's own (its rows are kept per chain): changing it changes no later answer."""
    import numpy as np

    from blocmodel.indicators import origin_shares

    members = {"AUS", "CAN", "USA", "JPN", "CHL", "DEU"}
    r = bm.solve(shipped, {"bloc": {"members": sorted(members)}, "horizon": "short_run",
                           "price_floors": [{"product": "ndpr_oxide", "price": "100 USD/kg", "mechanism": "stockpile", "budget": 5e8}],
                           "export_restrictions": [{"exporter": "CHN", "destinations": ["bloc"], "product": "gallium", "ban": True}]})
    members |= {"BEL", "CZE", "EST", "EU14", "FIN", "FRA", "GRC", "ITA", "LTU", "NLD", "POL", "ROU", "SWE"}   # DEU brings the EU
    d = dependency(r, members).set_index(["region", "product"])
    flows = r.route_detail[r.route_detail["flow"] > 0]
    checked = 0
    for (region, product), row in d.iterrows():
        stage, content = origin_shares(r, product), content_shares(r, product)
        outside = lambda frame: float(frame.loc[region, ~frame.columns.isin(members)].sum()) if region in frame.index else 0.0  # noqa: E731
        china = lambda frame: float(frame.loc[region].get("CHN", 0.0)) if region in frame.index else 0.0  # noqa: E731
        into = flows[(flows["product"] == product) & (flows["destination"] == region) & (flows["origin"] != region)]
        if row["use"] > 0:
            assert row["non_member_share"] == pytest.approx(outside(stage), abs=1e-12)
            assert row["non_member_content_share"] == pytest.approx(outside(content), abs=1e-12)
            assert row["focus_share"] == pytest.approx(china(stage), abs=1e-12)
            assert row["focus_content_share"] == pytest.approx(china(content), abs=1e-12)
        assert row["imports"] == pytest.approx(into["flow"].sum(), rel=1e-12, abs=1e-12)
        assert row["imports_from_non_members"] == pytest.approx(into.loc[~into["origin"].isin(members), "flow"].sum(), rel=1e-12, abs=1e-12)
        shares = into.groupby("origin")["flow"].sum() / into["flow"].sum() if len(into) else None
        assert (np.isnan(row["import_hhi"]) if shares is None else row["import_hhi"] == pytest.approx(((shares * 100) ** 2).sum(), rel=1e-12))
        checked += 1
    assert checked > 100
    d = d.reset_index()
    for product, row in bloc_dependency(r, members).set_index("product").iterrows():     # use-weighted means of the members'
        g = d[d["product"] == product]
        assert row["use"] == pytest.approx(g["use"].sum(), rel=1e-12)
        assert row["self_sufficiency"] == pytest.approx(g["production"].sum() / g["use"].sum(), rel=1e-12)
        for column in ("non_member_share", "non_member_content_share", "focus_share", "focus_content_share"):
            assert row[column] == pytest.approx(float((g[column].fillna(0.0) * g["use"]).sum() / g["use"].sum()), abs=1e-12)
    first = bloc_dependency(r, members)
    first.loc[:, "non_member_share"] = -1.0
    assert (bloc_dependency(r, members)["non_member_share"] >= 0).all()


def test_members_a_design_leaves_untouched_neither_gain_nor_lose_whatever_the_solve_path(shipped):
    """The count of members gaining and losing must not turn on rounding. A member a design
    does not touch has a welfare change of 0, or of ±1e-10 USD when the design was solved
    warm from another design's equilibrium (measured on the shipped NdPr levy floor after
    China's dumping: New Zealand −5.8e-11 USD, counted as losing). Solved along that path and
    fresh, the counts must agree."""
    from blocmodel.compare import Collection
    from blocmodel.library import load_design

    base = bm.Session(shipped).solve()
    design = load_design("bloc_ministerial+floor_ndpr_variable_levy")
    session = bm.Session(shipped)
    for other in ("china_dumping", "bloc_ministerial+cet25", "china_ban"):
        session.solve(load_design(other))
    counts = []
    for results in (session.solve(design), bm.Session(shipped).solve(design)):
        rows = {variable: value for _, variable, value, _ in
                Collection({"baseline": base, "design": results}, baseline="baseline", data=shipped).design_rows("design")}
        counts.append((rows["members|gaining"], rows["members|losing"]))
    assert counts[0] == counts[1]


def test_indicators_kept_on_an_untouched_chain_equal_a_fresh_solve(shipped):
    """A product's dependency rows are kept on its chain's solution, which a session reuses
    for every chain a new scenario leaves untouched. After a first scenario fills those
    caches for one bloc, a second that moves the NdPr floor (one chain re-solved, the rest
    kept) must give, for that bloc and for another one, the tables of a fresh solve: the
    cache must know the members, the focus and the scenario's stock releases."""
    import pandas as pd

    bloc, other = ["USA", "JPN", "AUS"], ["CAN", "CHL", "DEU", "KOR"]

    def floor(price, release=0.0):
        return {"bloc": {"members": bloc}, "price_floors": [{"product": "ndpr_oxide", "price": price}],
                **({"stockpile": [{"region": "USA", "product": "cobalt_refined", "quantity": -release}]} if release else {})}

    session = bm.Session(shipped)
    first = session.solve(floor(80_000))
    dependency(first, bloc)
    bloc_dependency(first, bloc, focus=("CHN",))
    for scenario in (floor(120_000), floor(120_000, release=50.0)):
        again = session.solve(scenario)
        assert any(a is b for a, b in zip(first.solutions, again.solutions))     # chains left untouched kept their solution
        for members in (bloc, other):
            for focus in (("CHN",), ("CHN", "IDN")):
                fresh = bm.Session(shipped).solve(scenario)                      # its caches hold this one question only
                pd.testing.assert_frame_equal(dependency(again, members, focus=focus), dependency(fresh, members, focus=focus),
                                              check_exact=False, rtol=1e-9, atol=1e-12)
                pd.testing.assert_frame_equal(bloc_dependency(again, members, focus=focus),
                                              bloc_dependency(fresh, members, focus=focus), check_exact=False, rtol=1e-9, atol=1e-12)
