"""Dependency, self-sufficiency and concentration indicators of an equilibrium.

Where goods come from is traced by proportional sharing (the standard assumption of
flow tracing, e.g. Bialek 1996): what leaves a market, or is used there, has the same
origin mix as everything that entered it (its own production plus its imports). For
each product this is one linear system over the trade graph:

    pool_n · S_n − Σ_i flow(i→n) · S_i = B_n,

with S_n the origin mix of market n, pool_n = production + imports, and B_n the origin
vector of what n produces. Two tracings:
- stage origin: B_n = production_n · e_n (who mined, or who refined, the product);
- mined content: for a refined product, B_n = Σ refineries' output × the origin mix of the
  mined input they used (so Chinese-refined NdPr from Myanmar ore is Myanmar content),
  plus direct supply as own content.

`dependency(results, members)` reports, per member and product: use (demand + refinery
input + stockpile), production, self-sufficiency, the share of use produced by
non-members (`non_member_share`), the share whose mined content comes from non-members
(`non_member_content_share`), and the HHI of direct import sources.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .results import Results


def _by_product(results: Results) -> dict:
    """Per product: its market rows and its arcs with flow, as arrays (computed once per result)."""
    if "by_product" not in results.traces:
        m = results.markets
        a = results.arc_detail[results.arc_detail["flow"] > 0]
        rows = {p: np.flatnonzero(m["product"].to_numpy() == p) for p in m["product"].unique()}
        arcs = {p: np.flatnonzero(a["product"].to_numpy() == p) for p in a["product"].unique()}
        results.traces["by_product"] = {
            "markets": m, "rows": rows, "arcs": arcs, "origin": a["origin"].to_numpy(),
            "destination": a["destination"].to_numpy(), "flow": a["flow"].to_numpy(dtype=float)}
    return results.traces["by_product"]


def _derived(results: Results, product: str) -> dict:
    """The cache of the chain solution that holds `product`: what is computed from one
    equilibrium is reused by every Results built on it (a session re-solves only the chains
    whose levers changed)."""
    if "solution_of" not in results.traces:
        results.traces["solution_of"] = {p: s for c, s in zip(results.chains, results.solutions) for p in c.products}
    solution = results.traces["solution_of"].get(product)
    return solution.derived if solution is not None else results.traces


def _flow_matrix(results: Results, product: str, regions: pd.Index) -> np.ndarray:
    """F[d, o]: flow of the product from o into d, over the product's markets."""
    t = _by_product(results)
    arcs = t["arcs"].get(product, np.array([], dtype=int))
    flows = np.zeros((len(regions), len(regions)))
    np.add.at(flows, (regions.get_indexer(t["destination"][arcs]), regions.get_indexer(t["origin"][arcs])), t["flow"][arcs])
    return flows


def _system(results: Results, product: str):
    t = _by_product(results)
    m = t["markets"].iloc[t["rows"][product]].reset_index(drop=True)
    regions = pd.Index(m["region"])
    index = {r: i for i, r in enumerate(regions)}
    matrix = np.diag((m["supply"] + m["imports"]).to_numpy(dtype=float)) - _flow_matrix(results, product, regions)
    empty = np.diag(matrix) <= 0
    matrix[empty, :] = 0.0
    matrix[empty, empty] = 1.0
    return m, list(regions), index, matrix, empty


def _solve(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(matrix, rhs)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(matrix, rhs, rcond=None)[0]


def origin_shares(results: Results, product: str) -> pd.DataFrame:
    """Origin mix (rows: market region; columns: producing region) of a product at its own stage."""
    key = ("stage", product)
    cache = _derived(results, product)
    if key not in cache:
        m, regions, _, matrix, empty = _system(results, product)
        rhs = np.diag(m["supply"].to_numpy(dtype=float))
        rhs[empty, :] = 0.0
        cache[key] = pd.DataFrame(_solve(matrix, rhs), index=regions, columns=regions)
    return cache[key]


def content_shares(results: Results, product: str) -> pd.DataFrame:
    """Origin mix of the mined content of a product (for a mined product, its own origins)."""
    if results.data.stage.get(product) != "refined":
        return origin_shares(results, product)
    key = ("content", product)
    cache = _derived(results, product)
    if key in cache:
        return cache[key]
    m, regions, index, matrix, empty = _system(results, product)
    direct = results.supply_detail[results.supply_detail["product"] == product]
    refining = results.refining_detail[(results.refining_detail["output"] == product) & (results.refining_detail["output_quantity"] > 0)]
    mixes = {p: content_shares(results, p) for p in refining["input"].unique()}
    columns = list(dict.fromkeys(list(regions) + [o for mix in mixes.values() for o in mix.columns]))
    col = {c: i for i, c in enumerate(columns)}
    rhs = np.zeros((len(regions), len(columns)))
    for region, q in zip(direct["region"], direct["quantity"]):
        rhs[index[region], col[region]] += q
    for input_product, region, z in zip(refining["input"], refining["region"], refining["output_quantity"]):
        mix = mixes[input_product]
        rhs[index[region], [col[c] for c in mix.columns]] += z * mix.loc[region].to_numpy()
    rhs[empty, :] = 0.0
    cache[key] = pd.DataFrame(_solve(matrix, rhs), index=regions, columns=columns)
    return cache[key]


def dependency(results: Results, members, products=None) -> pd.DataFrame:
    """Per member region and product: use, production, self-sufficiency, non-member shares, import HHI.
    `products`: only these (default: every product)."""
    members = set(members)
    solved = {p for c, s in zip(results.chains, results.solutions) if s.status == "optimal" for p in c.products}
    t = _by_product(results)
    frames = []
    member_key = ("dependency", tuple(sorted(members)))
    for product in results.data.product_codes:
        if product not in solved or product not in t["rows"] or (products is not None and product not in products):
            continue
        cache = _derived(results, product)
        if (member_key, product) in cache:
            frames.append(cache[(member_key, product)])
            continue
        m = t["markets"].iloc[t["rows"][product]]
        regions = pd.Index(m["region"])
        is_member = regions.isin(members)
        use_all = (m["demand"] + m["processing_in"] + m["stockpile"]).to_numpy(dtype=float)
        supply_all = m["supply"].to_numpy(dtype=float)
        pick = np.flatnonzero(is_member & ((use_all > 0) | (supply_all > 0)))
        if not len(pick):
            continue
        use, supply = use_all[pick], supply_all[pick]
        stage, content = origin_shares(results, product), content_shares(results, product)

        def outside(shares: pd.DataFrame) -> np.ndarray:
            rows = shares.index.get_indexer(regions[pick])
            return shares.to_numpy()[rows][:, ~shares.columns.isin(members)].sum(axis=1)

        flows = _flow_matrix(results, product, regions)[pick]        # members' imports by origin
        imports = flows.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            hhi = np.where(imports > 0, ((flows / imports[:, None] * 100) ** 2).sum(axis=1), np.nan)
            positive = use > 0
            frames.append(cache.setdefault((member_key, product), pd.DataFrame({
                "region": regions[pick], "product": product, "use": use, "production": supply,
                "self_sufficiency": np.where(positive, supply / np.where(positive, use, 1.0), np.nan),
                "non_member_share": np.where(positive, outside(stage), np.nan),
                "non_member_content_share": np.where(positive, outside(content), np.nan),
                "imports": imports, "imports_from_non_members": flows[:, ~is_member].sum(axis=1),
                "import_hhi": hhi,
            })))
    columns = ["region", "product", "use", "production", "self_sufficiency", "non_member_share",
               "non_member_content_share", "imports", "imports_from_non_members", "import_hhi"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns].sort_values(["product", "region"], kind="stable").reset_index(drop=True)


def bloc_dependency(results: Results, members, products=None) -> pd.DataFrame:
    """The same indicators for the members taken together, per product (use-weighted)."""
    d = dependency(results, members, products)
    rows = []
    for product, g in d.groupby("product", sort=False):
        use = g["use"].sum()
        w = g["use"] / use if use > 0 else g["use"] * np.nan
        rows.append({"product": product, "use": use, "production": g["production"].sum(),
                     "self_sufficiency": g["production"].sum() / use if use > 0 else np.nan,
                     "non_member_share": float((w * g["non_member_share"]).sum()) if use > 0 else np.nan,
                     "non_member_content_share": float((w * g["non_member_content_share"]).sum()) if use > 0 else np.nan,
                     "imports_from_non_members": g["imports_from_non_members"].sum()})
    return pd.DataFrame(rows, columns=["product", "use", "production", "self_sufficiency", "non_member_share",
                                       "non_member_content_share", "imports_from_non_members"])


def concentration(results: Results) -> pd.DataFrame:
    """HHI (0–10,000) of world production by product in equilibrium, with the top producer."""
    m = results.markets
    rows = []
    for product, g in m.groupby("product", sort=False):
        total = g["supply"].sum()
        if total <= 0:
            continue
        shares = g["supply"] / total
        top = g.loc[g["supply"].idxmax()]
        rows.append({"product": product, "production": total, "hhi": float(((shares * 100) ** 2).sum()),
                     "top_region": top["region"], "top_share": float(top["supply"] / total)})
    return pd.DataFrame(rows, columns=["product", "production", "hhi", "top_region", "top_share"])


def trade_effects(results: Results, baseline: Results, members) -> pd.DataFrame:
    """Members' imports from each other and from outside, and their change against a baseline.

    Trade diversion is the part of the rise in intra-bloc imports matched by a fall in
    extra-bloc imports; trade creation is the rest of the change in intra-bloc imports."""
    members = set(members)
    rows = []
    for product in results.data.product_codes:
        def split(r: Results):
            a = r.arc_detail[(r.arc_detail["product"] == product) & r.arc_detail["destination"].isin(members)]
            intra = float(a.loc[a["origin"].isin(members), "flow"].sum())
            return intra, float(a["flow"].sum()) - intra
        intra, extra = split(results)
        intra0, extra0 = split(baseline)
        if max(intra, extra, intra0, extra0) <= 0:
            continue
        d_intra, d_extra = intra - intra0, extra - extra0
        diversion = max(0.0, min(d_intra, -d_extra))
        rows.append({"product": product, "intra_bloc_imports": intra, "extra_bloc_imports": extra,
                     "change_intra_bloc": d_intra, "change_extra_bloc": d_extra,
                     "trade_diversion": diversion, "trade_creation": d_intra - diversion})
    return pd.DataFrame(rows, columns=["product", "intra_bloc_imports", "extra_bloc_imports", "change_intra_bloc",
                                       "change_extra_bloc", "trade_diversion", "trade_creation"])
