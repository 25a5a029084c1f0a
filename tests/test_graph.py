"""The trade graph and its pre-solve checks."""

import pytest

import blocmodel as bm
from blocmodel.graph import check_graph, import_sources, product_graph, reachable_products, supply_concentration, trade_graph
from blocmodel.testing import linear, write_dataset


def test_graph_of_the_shipped_data():
    data = bm.load_dataset()
    g = trade_graph(data)
    assert g.number_of_nodes() == len(data.regions)
    assert g.number_of_edges() == len(data.routes)
    assert g.nodes["DEU"]["customs_union"] == "EU"
    assert "ministerial2026" in g.nodes["USA"]["groups"]
    edge = g.get_edge_data("CHN", "USA", key="ndpr_oxide")
    assert edge["transport_cost"] > 0
    # China refines most NdPr oxide and graphite: the HHI of production says so.
    hhi = supply_concentration(data).set_index("product")
    assert hhi.loc["ndpr_oxide", "top_region"] == "CHN"
    assert hhi.loc["graphite_refined", "hhi"] > 5000


def test_pre_solve_checks(tmp_path):
    """Demand nothing can reach, a refinery with no ore, an isolated region, stranded supply."""
    write_dataset(
        tmp_path,
        regions=[{"region": r} for r in ("MINE", "CITY", "ISLAND", "LONELY", "IDLE")],
        products=[{"product": "ore", "mineral": "tin", "stage": "mined"}, {"product": "metal", "mineral": "tin", "stage": "refined"}],
        supply=[{"region": "MINE", "product": "ore", **linear(10, 10, 2.0)}, {"region": "LONELY", "product": "metal", **linear(10, 10, 2.0)}],
        demand=[{"region": "CITY", "product": "metal", **linear(100, -10, 8.0)},
                {"region": "ISLAND", "product": "metal", **linear(100, -10, 8.0)}],
        routes=[{"origin": "MINE", "destination": "CITY", "product": "ore", "transport_cost": 1.0}],
        processing=[{"region": "CITY", "input": "ore", "output": "metal", "yield": 0.5, "unit_cost": 1.0},
                    {"region": "ISLAND", "input": "ore", "output": "metal", "yield": 0.5, "unit_cost": 1.0}],
    )
    data = bm.load_dataset(tmp_path)
    assert reachable_products(data)["metal"] == {"CITY", "LONELY"}
    messages = [str(p) for p in check_graph(data)]
    assert any("no supply of 'metal' can reach region 'ISLAND'" in m for m in messages)
    assert any("no 'ore' can reach the refineries of 'ISLAND'" in m for m in messages)
    assert any("supply of 'metal' in 'LONELY' can reach no buyer" in m for m in messages)
    assert any("region 'IDLE' has no supply" in m for m in messages)
    assert list(product_graph(trade_graph(data), "ore").edges) == [("MINE", "CITY")]


def test_import_sources(ko):
    r = bm.solve(ko)
    shares = import_sources(r.flows, "HOME", "wheat")
    assert shares.to_dict() == pytest.approx({"FOREIGN": 1.0})
