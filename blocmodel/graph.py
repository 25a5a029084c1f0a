"""The trade graph of a dataset (NetworkX), pre-solve checks on it, and concentration measures.

Nodes are regions (with their groups, customs union and coordinates); arcs are routes,
one per product (a `MultiDiGraph` keyed by product) with their transport cost, MFN
tariffs and capacity.
"""

from __future__ import annotations

import networkx as nx
import pandas as pd

from .dataset import Dataset
from .errors import Problem


def trade_graph(data: Dataset) -> nx.MultiDiGraph:
    graph = nx.MultiDiGraph()
    for row in data.regions.to_dict("records"):
        graph.add_node(row["region"], name=row["name"], customs_union=row["customs_union"],
                       groups=tuple(row["groups"]), latitude=row["latitude"], longitude=row["longitude"])
    for row in data.routes.to_dict("records"):
        graph.add_edge(row["origin"], row["destination"], key=row["product"], product=row["product"],
                       transport_cost=row["transport_cost"], tariff_ad_valorem=row["tariff_ad_valorem"],
                       tariff_specific=row["tariff_specific"], capacity=row["capacity"])
    return graph


def product_graph(graph: nx.MultiDiGraph, product: str) -> nx.DiGraph:
    """The routes of one product as a simple directed graph."""
    sub = nx.DiGraph()
    sub.add_nodes_from(graph.nodes)
    sub.add_edges_from((u, v, d) for u, v, k, d in graph.edges(keys=True, data=True) if k == product)
    return sub


def reachable_products(data: Dataset, graph: nx.MultiDiGraph | None = None) -> dict[str, set[str]]:
    """Product -> regions where it can be had: supplied there, shipped there, or refined there
    from an input that can be had there."""
    graph = graph if graph is not None else trade_graph(data)
    available: dict[str, set[str]] = {p: set() for p in data.product_codes}
    for region, product in zip(data.supply["region"], data.supply["product"]):
        available[product].add(region)
    by_product = {p: product_graph(graph, p) for p in data.product_codes}
    changed = True
    while changed:
        changed = False
        for product, regions in available.items():
            reach = set(regions)
            for r in regions:
                reach |= nx.descendants(by_product[product], r)
            if reach != regions:
                available[product] = reach
                changed = True
        for row in data.processing.to_dict("records"):
            if row["region"] in available[row["input"]] and row["region"] not in available[row["output"]]:
                available[row["output"]].add(row["region"])
                changed = True
    return available


def check_graph(data: Dataset, graph: nx.MultiDiGraph | None = None) -> list[Problem]:
    """Pre-solve warnings: demand nothing can reach, idle refineries, isolated regions,
    supply with no outlet. None of these stops a solve; each says where to look."""
    graph = graph if graph is not None else trade_graph(data)
    available = reachable_products(data, graph)
    problems: list[Problem] = []
    for region, product, row in zip(data.demand["region"], data.demand["product"], data.demand["_row"]):
        if region not in available[product]:
            problems.append(Problem("demand.csv", f"no supply of '{product}' can reach region '{region}'", row=row, field="region"))
    for record in data.processing.to_dict("records"):
        if record["region"] not in available[record["input"]]:
            problems.append(Problem("processing.csv", f"no '{record['input']}' can reach the refineries of '{record['region']}'",
                                    row=record["_row"], field="input"))
    users: dict[str, set[str]] = {p: set() for p in data.product_codes}
    for region, product in zip(data.demand["region"], data.demand["product"]):
        users[product].add(region)
    for region, product in zip(data.processing["region"], data.processing["input"]):
        users[product].add(region)
    for region, product, row in zip(data.supply["region"], data.supply["product"], data.supply["_row"]):
        sub = product_graph(graph, product)
        if not ({region} | nx.descendants(sub, region)) & users[product]:
            problems.append(Problem("supply.csv", f"supply of '{product}' in '{region}' can reach no buyer or refinery",
                                    row=row, field="region"))
    idle = set(idle_regions(data, graph)) - set(data.no_data_regions)     # those marked 'no data': one note (no_data_note)
    for region, row in zip(data.regions["region"], data.regions["_row"]):
        if region in idle:
            problems.append(Problem("regions.csv", f"region '{region}' has no supply, demand, refining or routes", row=row, field="region"))
    return problems


def idle_regions(data: Dataset, graph: nx.MultiDiGraph | None = None) -> list[str]:
    """Regions with no supply, demand, refining or routes, in dataset order."""
    graph = graph if graph is not None else trade_graph(data)
    active = set(data.supply["region"]) | set(data.demand["region"]) | set(data.processing["region"])
    return [r for r in data.regions["region"] if r not in active and graph.degree(r) == 0]


def no_data_note(data: Dataset, graph: nx.MultiDiGraph | None = None) -> str | None:
    """One line for the regions marked 'no data' (regions.csv data_status) that are idle, as
    expected: `check_graph` does not warn about each of them."""
    idle = set(idle_regions(data, graph))
    expected = [r for r in data.no_data_regions if r in idle]
    if not expected:
        return None
    names = dict(zip(data.regions["region"], data.regions["name"]))
    return (f"{len(expected)} region{'s' if len(expected) > 1 else ''} marked 'no data' in regions.csv "
            f"{'have' if len(expected) > 1 else 'has'} no supply, demand, refining or routes, as expected: "
            + ", ".join(f"{names.get(r, r)} ({r})" for r in expected))


def herfindahl(shares: pd.Series) -> float:
    """Herfindahl–Hirschman index on the 0–10,000 scale of a set of quantities."""
    total = shares.sum()
    if total <= 0:
        return float("nan")
    return float(((shares / total * 100.0) ** 2).sum())


def production_by_region(data: Dataset) -> pd.DataFrame:
    """Reference production (supply and refining output) by region and product."""
    supply = data.supply[["region", "product", "ref_quantity"]].rename(columns={"ref_quantity": "quantity"})
    refining = data.processing.dropna(subset=["ref_quantity"])[["region", "output", "ref_quantity"]]
    refining = refining.rename(columns={"output": "product", "ref_quantity": "quantity"})
    frame = pd.concat([supply, refining], ignore_index=True)
    return frame.groupby(["product", "region"], as_index=False)["quantity"].sum()


def supply_concentration(data: Dataset) -> pd.DataFrame:
    """HHI of reference production by product, with the largest producer and its share."""
    production = production_by_region(data)
    rows = []
    for product, group in production.groupby("product"):
        total = group["quantity"].sum()
        top = group.loc[group["quantity"].idxmax()]
        rows.append({"product": product, "hhi": herfindahl(group["quantity"]), "top_region": top["region"],
                     "top_share": top["quantity"] / total if total else float("nan"), "producers": int((group["quantity"] > 0).sum())})
    return pd.DataFrame(rows, columns=["product", "hhi", "top_region", "top_share", "producers"])


def import_sources(flows: pd.DataFrame, region: str, product: str) -> pd.Series:
    """Shares of `region`'s imports of `product` by origin, from a flows table
    (`origin, destination, product, quantity`)."""
    sel = flows[(flows["destination"] == region) & (flows["origin"] != region) & (flows["product"] == product) & (flows["quantity"] > 0)]
    by_origin = sel.groupby("origin")["quantity"].sum().sort_values(ascending=False)
    total = by_origin.sum()
    return by_origin / total if total > 0 else by_origin
