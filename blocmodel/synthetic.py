"""Deterministic synthetic datasets for benchmarks and property tests.

`synthetic_dataset(folder, regions=60, minerals=10)` writes a dataset in the contract's
format: random but reproducible coordinates, a producing subset of regions per product,
demand everywhere, and a route between every ordered pair of regions (the dense case the
monolithic reference struggles with). With `two_stage=True` each mineral has a mined and
a refined product joined by refineries in a few regions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .testing import write_dataset


def synthetic_dataset(folder: str | Path, regions: int = 60, minerals: int = 10, two_stage: bool = False,
                      seed: int = 0, producer_share: float = 0.3, specific_tariff: float = 0.02,
                      neighbours: int | None = None, calibrated: bool = False) -> Path:
    """`neighbours`: ship only to that many nearest regions (default: every region).
    `calibrated`: routes carry observed flows (a random share of each producer's output to
    each linked user, the rest at home) and demand is what reaches each buyer, so trade
    costs are calibrated (σ = 4) rather than constant."""
    rng = np.random.default_rng(seed)
    codes = [f"R{i:03d}" for i in range(regions)]
    lat = rng.uniform(-50, 60, regions)
    lon = rng.uniform(-170, 170, regions)
    region_rows = [{"region": c, "latitude": round(float(a), 4), "longitude": round(float(b), 4),
                    "groups": "even" if i % 2 == 0 else "odd"} for i, (c, a, b) in enumerate(zip(codes, lat, lon))]
    distance = _haversine(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    linked = np.ones((regions, regions), dtype=bool)
    if neighbours is not None and neighbours < regions - 1:
        nearest = np.argsort(distance, axis=1)[:, 1:neighbours + 1]
        linked = np.zeros((regions, regions), dtype=bool)
        linked[np.repeat(np.arange(regions), neighbours), nearest.ravel()] = True
    products, supply, demand, routes, processing = [], [], [], [], []
    for k in range(minerals):
        mineral = f"m{k:02d}"
        price = float(rng.choice([2_000.0, 9_000.0, 20_000.0, 60_000.0]))
        stages = [("mined", f"{mineral}_ore"), ("refined", f"{mineral}_metal")] if two_stage else [("refined", f"{mineral}_metal")]
        for stage, product in stages:
            products.append({"product": product, "mineral": mineral, "stage": stage, "unit": "t"})
        world = float(rng.uniform(1e4, 1e6))
        producers = rng.random(regions) < producer_share
        producers[rng.integers(regions)] = True
        weights = rng.dirichlet(np.full(regions, 0.5))
        first = stages[0][1]
        ore_price = price * 0.5 if two_stage else price
        for i in np.flatnonzero(producers):
            supply.append({"region": codes[i], "product": first, "ref_price": ore_price,
                           "ref_quantity": round(float(world / producers.sum() * rng.uniform(0.3, 1.7)), 3),
                           "elasticity": round(float(rng.uniform(0.2, 1.2)), 4)})
        total_supply = sum(r["ref_quantity"] for r in supply if r["product"] == first)
        if two_stage:
            refiners = rng.choice(regions, size=max(2, regions // 10), replace=False)
            share = rng.dirichlet(np.ones(len(refiners)))
            for i, w in zip(refiners, share):
                processing.append({"region": codes[i], "input": first, "output": stages[1][1], "yield": 1.0,
                                   "unit_cost": round(price - ore_price, 2), "ref_quantity": round(float(total_supply * w), 3),
                                   "elasticity": round(float(rng.uniform(0.3, 1.0)), 4)})
        last = stages[-1][1]
        for i in range(regions):
            demand.append({"region": codes[i], "product": last, "ref_price": price,
                           "ref_quantity": round(float(total_supply * weights[i]) + 1.0, 3),
                           "elasticity": round(float(-rng.uniform(0.2, 1.0)), 4)})
        freight = price * 0.0000025   # USD per t·km, so ~2.5% of the price over 10,000 km
        for _, product in stages:
            for i in range(regions):
                for j in range(regions):
                    if i != j and linked[i, j]:
                        routes.append({"origin": codes[i], "destination": codes[j], "product": product,
                                       "transport_cost": round(float(20 + freight * distance[i, j]), 4),
                                       "tariff_specific": round(price * specific_tariff, 4) if (i + j + k) % 3 == 0 else 0.0})
    if calibrated:
        _observe_flows(rng, codes, products, supply, demand, routes, processing)
    kwargs = dict(regions=region_rows, products=products, supply=supply, demand=demand, routes=routes)
    if processing:
        kwargs["processing"] = processing
    return write_dataset(folder, source="assumption: synthetic benchmark data", **kwargs)


def _observe_flows(rng, codes, products, supply, demand, routes, processing) -> None:
    """Give routes observed flows that balance: each producer ships a random share of its
    output on each of its routes (the rest at home where it also buys); refineries refine
    what reaches them; buyers' reference demand becomes what reaches them."""
    from collections import defaultdict

    by_product = defaultdict(list)
    for k, route in enumerate(routes):
        by_product[route["product"]].append(k)
    for product in products:
        product["substitution_elasticity"] = 4.0
    made: dict[tuple[str, str], float] = {(s["region"], s["product"]): s["ref_quantity"] for s in supply}
    stages = [p["product"] for p in products]
    users = defaultdict(set)
    for d in demand:
        users[d["product"]].add(d["region"])
    for r in processing:
        users[r["input"]].add(r["region"])
    for product in stages:      # ores before metals (products are listed mineral by mineral, ore first)
        got = defaultdict(float)
        for (region, p), q in list(made.items()):
            if p != product or q <= 0:
                continue
            out = [k for k in by_product[product] if routes[k]["origin"] == region and routes[k]["destination"] in users[product]]
            home = region in users[product]
            weights = rng.uniform(0.0, 1.0, len(out))
            total = weights.sum() + (rng.uniform(0.2, 1.0) if home else 0.0)
            if total <= 0:
                continue
            for k, w in zip(out, weights):
                routes[k]["ref_quantity"] = q * w / total
                got[routes[k]["destination"]] += q * w / total
            if home:
                got[region] += q - sum(q * w / total for w in weights)
        for r in processing:
            if r["input"] == product:
                r["ref_quantity"] = got.get(r["region"], 0.0) * r["yield"]
                made[(r["region"], r["output"])] = made.get((r["region"], r["output"]), 0.0) + r["ref_quantity"]
        for d in demand:
            if d["product"] == product:
                d["ref_quantity"] = got.get(d["region"], 0.0)
    demand[:] = [d for d in demand if d["ref_quantity"] > 0]
    processing[:] = [r for r in processing if r["ref_quantity"] > 0]


def _haversine(lat1, lon1, lat2, lon2):
    lat1, lon1, lat2, lon2 = (np.radians(v) for v in (lat1, lon1, lat2, lon2))
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(h))
