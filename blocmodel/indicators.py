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


def _inflows(results, product: str) -> pd.DataFrame:
    """Flow matrix of a product: rows destination region, columns origin region."""
    cache = results.traces.setdefault("inflows", {})
    if product not in cache:
        a = results.route_detail
        a = a[(a["product"] == product) & (a["flow"] > 0)]
        cache[product] = a.pivot_table(index="destination", columns="origin", values="flow", aggfunc="sum", fill_value=0.0)
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
    # content of each producing region's output
    mixes = []
    for region, z, source in zip(r["region"], r["output_quantity"], r["input"]):
        mix = origin_shares(results, source)
        row = mix.loc[region] if region in mix.index else pd.Series({region: 1.0})
        mixes.append(row * z)
    for region, q in zip(s["region"], s["quantity"]):
        mixes.append(pd.Series({region: q}))
    releases = results.policy.market.releases
    for (region, p), q in releases.items():
        if p == product:
            mixes.append(pd.Series({region: q}))
    if not mixes:
        cache[product] = origin_shares(results, product)
        return cache[product]
    made = pd.concat(mixes, axis=1).T.fillna(0.0)
    made.index = list(r["region"]) + list(s["region"]) + [k[0] for k in releases if k[1] == product]
    made = made.groupby(level=0).sum()
    content_of = made.div(made.sum(axis=1), axis=0)
    stage = origin_shares(results, product)
    content_of = content_of.reindex(stage.columns).fillna(0.0)
    cache[product] = stage @ content_of
    return cache[product]


def dependency(results, members, products=None, focus=("CHN",)) -> pd.DataFrame:
    """Per member region and product: use, production, self-sufficiency, non-member shares,
    the share from `focus` origins, imports, import HHI."""
    members = set(members)
    focus = set(focus)
    m = results.markets
    frames = []
    for product in results.data.product_codes:
        if products is not None and product not in products:
            continue
        rows = m[(m["product"] == product) & m["region"].isin(members) & ((m["use"] > 0) | (m["production"] > 0))]
        if not len(rows):
            continue
        stage, content = origin_shares(results, product), content_shares(results, product)
        flows = _inflows(results, product)
        regions = rows["region"].to_numpy()

        def share(frame, origins, inside):
            frame = frame.reindex(regions).fillna(0.0)
            pick = frame.columns.isin(origins)
            return (frame.loc[:, ~pick] if inside else frame.loc[:, pick]).sum(axis=1).to_numpy()

        f = flows.reindex(regions).fillna(0.0)
        # a region's own producers are not imports: zero the home flow (same sums and HHI as dropping it)
        imports = f.mask(f.columns.to_numpy()[None, :] == f.index.to_numpy()[:, None], 0.0) if len(f) else f
        total_imports = imports.sum(axis=1).to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            hhi = np.where(total_imports > 0, ((imports.div(total_imports, axis=0) * 100) ** 2).sum(axis=1), np.nan)
        use = rows["use"].to_numpy()
        positive = use > 0
        frames.append(pd.DataFrame({
            "region": regions, "product": product, "use": use, "production": rows["production"].to_numpy(),
            "self_sufficiency": np.where(positive, rows["production"].to_numpy() / np.where(positive, use, 1.0), np.nan),
            "non_member_share": np.where(positive, share(stage, members, True), np.nan),
            "non_member_content_share": np.where(positive, share(content, members, True), np.nan),
            "focus_share": np.where(positive, share(stage, focus, False), np.nan),
            "focus_content_share": np.where(positive, share(content, focus, False), np.nan),
            "imports": total_imports,
            "imports_from_non_members": imports.loc[:, ~imports.columns.isin(members)].sum(axis=1).to_numpy() if len(imports.columns) else 0.0,
            "import_hhi": hhi}))
    if not frames:
        return pd.DataFrame(columns=DEPENDENCY_COLUMNS)
    return pd.concat(frames, ignore_index=True)[DEPENDENCY_COLUMNS]


def bloc_dependency(results, members, products=None, focus=("CHN",)) -> pd.DataFrame:
    """The same indicators for the members taken together, per product (use-weighted)."""
    key = (tuple(sorted(members)), None if products is None else tuple(products), tuple(focus))
    cache = results.traces.setdefault("bloc_dependency", {})
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
