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


def _system(results: Results, product: str):
    m = results.markets[results.markets["product"] == product].reset_index(drop=True)
    regions = list(m["region"])
    index = {r: i for i, r in enumerate(regions)}
    flows = results.arc_detail[(results.arc_detail["product"] == product) & (results.arc_detail["flow"] > 0)]
    n = len(regions)
    matrix = np.diag((m["supply"] + m["imports"]).to_numpy(dtype=float))
    for o, d, q in zip(flows["origin"], flows["destination"], flows["flow"]):
        matrix[index[d], index[o]] -= q
    empty = np.diag(matrix) <= 0
    matrix[empty, :] = 0.0
    matrix[empty, empty] = 1.0
    return m, regions, index, matrix, empty


def _solve(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(matrix, rhs)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(matrix, rhs, rcond=None)[0]


def origin_shares(results: Results, product: str) -> pd.DataFrame:
    """Origin mix (rows: market region; columns: producing region) of a product at its own stage."""
    key = ("stage", product)
    if key not in results.traces:
        m, regions, _, matrix, empty = _system(results, product)
        rhs = np.diag(m["supply"].to_numpy(dtype=float))
        rhs[empty, :] = 0.0
        results.traces[key] = pd.DataFrame(_solve(matrix, rhs), index=regions, columns=regions)
    return results.traces[key]


def content_shares(results: Results, product: str) -> pd.DataFrame:
    """Origin mix of the mined content of a product (for a mined product, its own origins)."""
    if results.data.stage.get(product) != "refined":
        return origin_shares(results, product)
    key = ("content", product)
    if key in results.traces:
        return results.traces[key]
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
    results.traces[key] = pd.DataFrame(_solve(matrix, rhs), index=regions, columns=columns)
    return results.traces[key]


def dependency(results: Results, members, products=None) -> pd.DataFrame:
    """Per member region and product: use, production, self-sufficiency, non-member shares, import HHI.
    `products`: only these (default: every product)."""
    members = set(members)
    solved = {p for c, s in zip(results.chains, results.solutions) if s.status == "optimal" for p in c.products}
    flows = results.arc_detail[results.arc_detail["flow"] > 0]
    frames = []
    for product in results.data.product_codes:
        if product not in solved or (products is not None and product not in products):
            continue
        m = results.markets[results.markets["product"] == product].set_index("region")
        m = m[m.index.isin(members)]
        use = m["demand"] + m["processing_in"] + m["stockpile"]
        keep = (use > 0) | (m["supply"] > 0)
        if not keep.any():
            continue
        m, use = m[keep], use[keep]
        stage, content = origin_shares(results, product), content_shares(results, product)
        outside = lambda shares: shares.loc[m.index, [c for c in shares.columns if c not in members]].sum(axis=1)  # noqa: E731
        inbound = flows[(flows["product"] == product) & flows["destination"].isin(m.index)]
        by_origin = inbound.groupby(["destination", "origin"])["flow"].sum()
        total_in = by_origin.groupby(level=0).sum()
        hhi = ((by_origin / total_in.reindex(by_origin.index, level=0)) * 100).pow(2).groupby(level=0).sum()
        from_outside = inbound[~inbound["origin"].isin(members)].groupby("destination")["flow"].sum()
        frames.append(pd.DataFrame({
            "region": m.index, "product": product, "use": use.to_numpy(), "production": m["supply"].to_numpy(),
            "self_sufficiency": np.where(use > 0, m["supply"] / use.where(use > 0, 1.0), np.nan),
            "non_member_share": np.where(use > 0, outside(stage), np.nan),
            "non_member_content_share": np.where(use > 0, outside(content), np.nan),
            "imports": total_in.reindex(m.index).fillna(0.0).to_numpy(),
            "imports_from_non_members": from_outside.reindex(m.index).fillna(0.0).to_numpy(),
            "import_hhi": hhi.reindex(m.index).to_numpy(),
        }))
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
