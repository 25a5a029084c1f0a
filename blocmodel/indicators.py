"""Dependency, self-sufficiency and concentration indicators of an equilibrium.

Goods keep their origin, so where a region's supply comes from is read off the flows
into it: its own producers (the home flow) and each exporter. Two views:
- stage origin: who made the product at its own stage (who mined the ore, who refined
  the oxide);
- mined content: for a refined product, whose mines its content came from — a refinery's
  output carries the origin mix of the ore it bought (refining confers origin on the
  product, not on its content); secondary supply (scrap, recycling) counts as the
  refining region's own content.

`dependency(results, members)` reports, per member and product: use (final demand plus
refinery input; stock purchases are not use), production, self-sufficiency, the share of
supply made by non-members (`non_member_share`), the share whose mined content comes from
non-members (`non_member_content_share`), the share from China (or any `focus` origins),
imports and the HHI of import sources.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DEPENDENCY_COLUMNS = ["region", "product", "use", "production", "self_sufficiency", "non_member_share",
                      "non_member_content_share", "focus_share", "focus_content_share", "imports", "imports_from_non_members",
                      "import_hhi"]


BUILT = "\0built"     # key marking the inflow cache as complete


def _inflows(results, product: str) -> pd.DataFrame:
    """Flow matrix of a product: rows destination region, columns origin region (sorted;
    only regions with a positive flow). Built for every product at once, kept in `traces`."""
    cache = results.traces.setdefault("inflows", {})
    if BUILT not in cache:
        a = results.route_detail
        a = a[a["flow"].to_numpy() > 0]
        for p, g in a.groupby("product", sort=False):
            destinations, di = np.unique(g["destination"].to_numpy(dtype=str), return_inverse=True)
            origins, oi = np.unique(g["origin"].to_numpy(dtype=str), return_inverse=True)
            matrix = np.zeros((len(destinations), len(origins)))
            np.add.at(matrix, (di, oi), g["flow"].to_numpy(dtype=float))
            cache[p] = pd.DataFrame(matrix, index=pd.Index(destinations, dtype=object, name="destination"),
                                    columns=pd.Index(origins, dtype=object, name="origin"))
        cache[BUILT] = None
    if cache.get(product) is None:
        cache[product] = pd.DataFrame(index=pd.Index([], dtype=object, name="destination"),
                                      columns=pd.Index([], dtype=object, name="origin"), dtype=float)
    return cache[product]


def origin_shares(results, product: str) -> pd.DataFrame:
    """Share of each origin (columns) in what each region's buyers get (rows), at the product's stage."""
    cache = results.traces.setdefault("origin_shares", {})
    if product not in cache:
        flows = _inflows(results, product)
        total = flows.sum(axis=1)
        cache[product] = flows.div(total.where(total > 0), axis=0).fillna(0.0)
    return cache[product]


def content_shares(results, product: str) -> pd.DataFrame:
    """Share of each mining origin (columns) in the content of what each region's buyers get."""
    cache = results.traces.setdefault("content", {})
    if product in cache:
        return cache[product]
    if results.data.stage.get(product) != "refined":
        cache[product] = origin_shares(results, product)
        return cache[product]
    r = results.refining_detail
    r = r[(r["output"] == product) & (r["output_quantity"] > 0)]
    s = results.supply_detail
    s = s[(s["product"] == product) & (s["quantity"] > 0)]
    releases = [(region, q) for (region, p), q in results.policy.market.releases.items() if p == product]
    # content of each producing region's output: a refinery's output carries the origin mix
    # of its input; own mines, secondary supply and stock releases are the region's own
    parts = []
    for source, g in r.groupby("input", sort=False):
        mix = origin_shares(results, source)
        z = g.groupby("region", sort=False)["output_quantity"].sum()
        known = z.index[z.index.isin(mix.index)]
        if len(known):
            parts.append(mix.loc[known].mul(z.loc[known], axis=0))
        own = z[~z.index.isin(mix.index)]
        if len(own):
            parts.append(pd.DataFrame(np.diag(own.to_numpy()), index=own.index, columns=own.index))
    own = pd.concat([s.groupby("region", sort=False)["quantity"].sum(),
                     pd.Series({region: q for region, q in releases}, dtype=float)])
    if len(own):
        own = own.groupby(level=0, sort=False).sum()
        parts.append(pd.DataFrame(np.diag(own.to_numpy()), index=own.index, columns=own.index))
    if not parts:
        cache[product] = origin_shares(results, product)
        return cache[product]
    made = pd.concat(parts).fillna(0.0).groupby(level=0).sum()
    content_of = made.div(made.sum(axis=1), axis=0)
    stage = origin_shares(results, product)
    content_of = content_of.reindex(stage.columns).fillna(0.0)
    cache[product] = stage @ content_of
    return cache[product]


def dependency(results, members, products=None, focus=("CHN",)) -> pd.DataFrame:
    """Per member region and product: use, production, self-sufficiency, non-member shares,
    the share from `focus` origins, imports, import HHI. (Computed on arrays: a batch
    measures every scenario with it.)"""
    members = set(members)
    focus = set(focus)
    m = results.markets
    product_of = m["product"].to_numpy()
    in_bloc = m["region"].isin(members).to_numpy()
    active = (m["use"].to_numpy() > 0) | (m["production"].to_numpy() > 0)
    frames = []
    for product in results.data.product_codes:
        if products is not None and product not in products:
            continue
        rows = m[(product_of == product) & in_bloc & active]
        if not len(rows):
            continue
        regions = rows["region"].to_numpy()
        flows = _inflows(results, product)
        origins = flows.columns.to_numpy()
        # each member's inflows by origin (zeros where it receives none)
        position = flows.index.get_indexer(regions)
        F = np.zeros((len(regions), len(origins)))
        found = position >= 0
        F[found] = flows.to_numpy(dtype=float)[position[found]]
        content = content_shares(results, product)
        Cm = np.zeros((len(regions), len(content.columns)))
        cpos = content.index.get_indexer(regions)
        Cm[cpos >= 0] = content.to_numpy(dtype=float)[cpos[cpos >= 0]]
        received = F.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            stage = np.where(received[:, None] > 0, F / np.where(received > 0, received, 1.0)[:, None], 0.0)
        member_origin = np.isin(origins, list(members))
        focus_origin = np.isin(origins, list(focus))
        content_member = np.isin(content.columns.to_numpy(), list(members))
        content_focus = np.isin(content.columns.to_numpy(), list(focus))
        imports = F.copy()
        imports[origins[None, :] == regions[:, None]] = 0.0          # the home flow is not an import
        total_imports = imports.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            hhi = np.where(total_imports > 0, ((imports / np.where(total_imports > 0, total_imports, 1.0)[:, None] * 100) ** 2).sum(axis=1),
                           np.nan)
        use = rows["use"].to_numpy()
        positive = use > 0
        frames.append(pd.DataFrame({
            "region": regions, "product": product, "use": use, "production": rows["production"].to_numpy(),
            "self_sufficiency": np.where(positive, rows["production"].to_numpy() / np.where(positive, use, 1.0), np.nan),
            "non_member_share": np.where(positive, stage[:, ~member_origin].sum(axis=1), np.nan),
            "non_member_content_share": np.where(positive, Cm[:, ~content_member].sum(axis=1), np.nan),
            "focus_share": np.where(positive, stage[:, focus_origin].sum(axis=1), np.nan),
            "focus_content_share": np.where(positive, Cm[:, content_focus].sum(axis=1), np.nan),
            "imports": total_imports,
            "imports_from_non_members": imports[:, ~member_origin].sum(axis=1),
            "import_hhi": hhi}))
    if not frames:
        return pd.DataFrame(columns=DEPENDENCY_COLUMNS)
    return pd.concat(frames, ignore_index=True)[DEPENDENCY_COLUMNS]


def bloc_dependency(results, members, products=None, focus=("CHN",)) -> pd.DataFrame:
    """The same indicators for the members taken together, per product (use-weighted).
    Kept in `results.traces` per (members, products, focus): reports ask for it repeatedly."""
    cache = results.traces.setdefault("bloc_dependency", {})
    key = (tuple(sorted(members)), None if products is None else tuple(products), tuple(focus))
    if key not in cache:
        cache[key] = _bloc_dependency(results, members, products, focus)
    return cache[key].copy()


def _bloc_dependency(results, members, products, focus) -> pd.DataFrame:
    d = dependency(results, members, products, focus)
    rows = []
    for product, g in d.groupby("product", sort=False):
        use = g["use"].sum()
        w = g["use"] / use if use > 0 else g["use"] * np.nan
        weighted = lambda col: float((w * g[col].fillna(0.0)).sum()) if use > 0 else np.nan  # noqa: E731
        rows.append({"product": product, "use": use, "production": g["production"].sum(),
                     "self_sufficiency": g["production"].sum() / use if use > 0 else np.nan,
                     "non_member_share": weighted("non_member_share"),
                     "non_member_content_share": weighted("non_member_content_share"),
                     "focus_share": weighted("focus_share"), "focus_content_share": weighted("focus_content_share"),
                     "imports_from_non_members": g["imports_from_non_members"].sum()})
    return pd.DataFrame(rows, columns=["product", "use", "production", "self_sufficiency", "non_member_share",
                                       "non_member_content_share", "focus_share", "focus_content_share", "imports_from_non_members"])


def concentration(results) -> pd.DataFrame:
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


def trade_effects(results, baseline, members) -> pd.DataFrame:
    """Members' imports from each other and from outside, and their change against a baseline.

    Trade diversion is the part of the rise in intra-bloc imports matched by a fall in
    extra-bloc imports; trade creation is the rest of the change in intra-bloc imports."""
    members = set(members)
    rows = []
    for product in results.data.product_codes:
        def split(r):
            a = r.route_detail
            a = a[(a["product"] == product) & a["destination"].isin(members) & ~a["home"]]
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
