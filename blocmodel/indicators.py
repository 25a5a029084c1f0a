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

from .dataset import codes_of

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
    flows = _inflows(results, product)
    total = flows.sum(axis=1)
    return flows.div(total.where(total > 0), axis=0).fillna(0.0)


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


def _flow_tensor(results) -> tuple[dict[str, int], dict[str, int], np.ndarray]:
    """(region index, product index, F) with F[product, destination, origin] the flow; built once per result."""
    cache = results.traces
    if "flow_tensor" not in cache:
        regions, products = results.data.region_index, results.data.product_index
        flow = results.detail_columns("route")["flow"].astype(float)
        code = results.name_codes
        used = flow > 0
        flows = np.zeros((len(products), len(regions), len(regions)))
        np.add.at(flows, (code["route_product"][used], code["route_destination"][used], code["route_origin"][used]), flow[used])
        cache["flow_tensor"] = (regions, products, flows)
    return cache["flow_tensor"]


def _producing(results) -> dict[str, np.ndarray]:
    """The producing rows of the supply and refining tables as arrays (once per result)."""
    cache = results.traces
    if "producing" not in cache:
        r, s = results.detail_columns("refining"), results.detail_columns("supply")
        refining = r["output_quantity"].astype(float) > 0
        mining = s["quantity"].astype(float) > 0
        cache["producing"] = {
            "refining_output": r["output"][refining], "refining_region": r["region"][refining],
            "refining_input": r["input"][refining], "refining_quantity": r["output_quantity"].astype(float)[refining],
            "supply_product": s["product"][mining], "supply_region": s["region"][mining],
            "supply_quantity": s["quantity"].astype(float)[mining]}
    return cache["producing"]


def _share_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its sum; rows summing to zero stay zero."""
    total = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, total, out=np.zeros_like(matrix), where=total > 0)


def _share_matrices(results, product: str) -> tuple[np.ndarray, np.ndarray]:
    """(stage origin shares, mined-content shares) of `product` as region × region matrices
    (rows: buyers' region, columns: origin), the arrays behind `origin_shares` and `content_shares`."""
    cache = results.traces.setdefault("share_matrices", {})
    if product in cache:
        return cache[product]
    regions, products, flows = _flow_tensor(results)
    stage = _share_rows(flows[products[product]])
    content = stage
    if results.data.stage.get(product) == "refined":
        made = np.zeros_like(stage)
        p = _producing(results)
        out = p["refining_output"] == product
        at, z = codes_of(p["refining_region"][out], regions), p["refining_quantity"][out]
        bought = flows[codes_of(p["refining_input"][out], products), at]       # each refinery's ore, by origin
        total = bought.sum(axis=1)
        buys = total > 0
        # a refinery's output carries the origin mix of the ore it bought; with no ore bought in, its own content
        np.add.at(made, at[buys], z[buys, None] * bought[buys] / total[buys, None])
        np.add.at(made, (at[~buys], at[~buys]), z[~buys])
        mined = p["supply_product"] == product
        at = codes_of(p["supply_region"][mined], regions)
        np.add.at(made, (at, at), p["supply_quantity"][mined])
        for (region, p_), q in results.policy.market.releases.items():
            if p_ == product:
                made[regions[region], regions[region]] += q
        if made.any():
            content = stage @ _share_rows(made)
    cache[product] = (stage, content)
    return cache[product]


def dependency(results, members, products=None, focus=("CHN",)) -> pd.DataFrame:
    """Per member region and product: use, production, self-sufficiency, non-member shares,
    the share from `focus` origins, imports, import HHI."""
    parts = _dependency_columns(results, members, products, focus)
    if not parts["region"]:
        return pd.DataFrame(columns=DEPENDENCY_COLUMNS)
    return pd.DataFrame({name: np.concatenate(values) for name, values in parts.items()})


def _dependency_columns(results, members, products, focus) -> dict[str, list[np.ndarray]]:
    """`dependency`'s columns, one array per product in each (products in the dataset's order,
    as `markets` has them)."""
    parts: dict[str, list] = {c: [] for c in DEPENDENCY_COLUMNS}
    for columns, _ in _by_product(results, members, products, focus):
        for name, values in columns.items():
            parts[name].append(values)
    return parts


def _by_product(results, members, products, focus) -> list[tuple[dict[str, np.ndarray], dict[str, float]]]:
    """Per product that members use or make (the dataset's order): its rows of `dependency`
    and its row of `bloc_dependency`. A product's rows depend only on its chain's equilibrium,
    the members, the focus and the stock released: they are kept on the chain's solution, so a
    sweep that re-solves one chain recomputes that chain's products only."""
    members, focus = frozenset(members), frozenset(focus)
    chain_of = {p: solution for layout, solution in results.solved for p in layout.products}
    releases = results.policy.market.releases
    out = []
    for product in results.data.product_codes:
        if product not in chain_of or products is not None and product not in products:
            continue
        key = (product, members, focus, tuple(sorted((r, q) for (r, p), q in releases.items() if p == product)))
        cache = chain_of[product].derived.setdefault("dependency", {})
        if key not in cache:
            while len(cache) >= 256:                    # bounded: a coalition game asks for thousands of member sets
                cache.pop(next(iter(cache)))
            columns = _product_dependency(results, members, focus, product)
            cache[key] = (columns, _bloc_row(product, columns)) if columns is not None else None
        if cache[key] is not None:
            out.append(cache[key])
    return out


def _product_dependency(results, members, focus, product) -> dict[str, np.ndarray] | None:
    """One product's rows of `dependency` (None: no member uses or makes it)."""
    m = results.market_columns
    here = np.flatnonzero(m["product"] == product)
    use, production = m["use"][here], m["production"][here]
    keep = np.fromiter((r in members for r in m["region"][here]), dtype=bool, count=len(here)) & ((use > 0) | (production > 0))
    if not keep.any():
        return None
    regions, product_index, flows = _flow_tensor(results)
    outside = np.array([r not in members for r in regions])
    in_focus = np.array([r in focus for r in regions])
    stage, content = _share_matrices(results, product)
    region = m["region"][here][keep]
    index = codes_of(region, regions)
    imports = flows[product_index[product]][index].copy()
    imports[np.arange(len(index)), index] = 0.0          # the home flow is not an import
    total_imports = imports.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        hhi = np.where(total_imports > 0, ((imports / total_imports[:, None] * 100) ** 2).sum(axis=1), np.nan)
    use, production = use[keep], production[keep]
    positive = use > 0
    return {
        "region": region, "product": np.full(len(index), product, dtype=object), "use": use, "production": production,
        "self_sufficiency": np.where(positive, production / np.where(positive, use, 1.0), np.nan),
        "non_member_share": np.where(positive, stage[index][:, outside].sum(axis=1), np.nan),
        "non_member_content_share": np.where(positive, content[index][:, outside].sum(axis=1), np.nan),
        "focus_share": np.where(positive, stage[index][:, in_focus].sum(axis=1), np.nan),
        "focus_content_share": np.where(positive, content[index][:, in_focus].sum(axis=1), np.nan),
        "imports": total_imports,
        "imports_from_non_members": imports[:, outside].sum(axis=1),
        "import_hhi": hhi}


def bloc_dependency(results, members, products=None, focus=("CHN",)) -> pd.DataFrame:
    """The same indicators for the members taken together, per product (use-weighted)."""
    return pd.DataFrame([bloc for _, bloc in _by_product(results, members, products, focus)], columns=BLOC_COLUMNS)


BLOC_COLUMNS = ["product", "use", "production", "self_sufficiency", "non_member_share", "non_member_content_share", "focus_share",
                "focus_content_share", "imports_from_non_members"]


def bloc_dependency_rows(results, members, focus=("CHN",)) -> dict[str, dict[str, float]]:
    """`bloc_dependency` as {product: {column: value}} with no DataFrame (every scenario of a sweep asks)."""
    return {bloc["product"]: dict(bloc) for _, bloc in _by_product(results, members, None, focus)}


def _bloc_row(product: str, d: dict[str, np.ndarray]) -> dict[str, float]:
    """The members taken together: totals, and shares weighted by use."""
    def total(values) -> float:      # NaN counted as 0 (as pandas sums); added one row after another
        values = np.asarray(values, dtype=float)
        return float(np.cumsum(np.where(np.isnan(values), 0.0, values))[-1]) if len(values) else 0.0

    use = total(d["use"])
    out = {"product": product, "use": use, "production": total(d["production"])}
    out["self_sufficiency"] = out["production"] / use if use > 0 else np.nan
    for column in ("non_member_share", "non_member_content_share", "focus_share", "focus_content_share"):
        share = d[column]
        out[column] = total(np.where(np.isnan(share), 0.0, share) * d["use"]) / use if use > 0 else np.nan
    out["imports_from_non_members"] = total(d["imports_from_non_members"])
    return out


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
