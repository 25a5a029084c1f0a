"""Robustness at scale (issue 16): 2,000 random valid two-stage datasets × policies, every
one solved exactly with the check passing — zero numerical failures.

Each case draws a two-stage chain (mines, refineries with curves or at constant unit cost,
buyers) over 2–5 regions, with or without observed (calibrated) flows, prices from 1e-2 to
1e6 and elasticities from 0.05 to 5, and one policy of every kind the engine has: bloc
with an external tariff, tariffs and import subsidies, anti-dumping, export bans and
quotas, tariff-rate quotas, dumping, supply shocks and capacity cuts, each floor
mechanism, in the short or the medium run. Datasets are built in memory from the same
generator seed, so a failure prints the seed that reproduces it.
"""

from __future__ import annotations

import numpy as np
import pytest

import blocmodel as bm
from blocmodel.testing import write_dataset

CASES = 2000


def case(seed: int, folder) -> tuple[bm.Dataset, dict]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 6))
    regions = [f"R{i}" for i in range(n)]
    price = float(10 ** rng.uniform(-2, 6))
    scale = float(10 ** rng.uniform(0, 6))
    yield_ = float(rng.uniform(0.5, 1.0))
    ore_price = price * yield_ / 2
    calibrated = bool(rng.integers(2))
    miners = list(rng.choice(regions, size=int(rng.integers(1, n + 1)), replace=False))
    refiners = list(rng.choice(regions, size=int(rng.integers(1, n + 1)), replace=False))
    buyers = list(rng.choice(regions, size=int(rng.integers(1, n + 1)), replace=False))
    mined = {r: scale * rng.uniform(0.2, 1.0) for r in miners}
    routes = []

    def ship(product, made, users, p):
        got = {u: 0.0 for u in users}
        for o, q in made.items():
            weights = {u: rng.uniform(0.0, 1.0) for u in users}
            total = sum(weights.values())
            for u, w in weights.items():
                flow = q * w / total
                got[u] += flow
                if u != o:
                    routes.append({"origin": o, "destination": u, "product": product,
                                   "transport_cost": p * rng.uniform(0, 0.2), "tariff_ad_valorem": rng.uniform(0, 0.2),
                                   "ref_quantity": flow if calibrated else None})
                elif calibrated is False:
                    pass
            if o not in users:     # a region that uses none of it ships everything
                extra = q - sum(q * w / total for u, w in weights.items())
                got[users[0]] += extra
        return got

    fed = ship("ore", mined, refiners, ore_price)
    made = {r: fed[r] * yield_ for r in refiners}
    got = ship("metal", made, buyers, price)
    for o in regions:        # potential routes nobody used in the reference year
        for d in regions:
            for product, p in (("ore", ore_price), ("metal", price)):
                users = refiners if product == "ore" else buyers
                makers = miners if product == "ore" else refiners
                if o != d and o in makers and d in users and not any(r["origin"] == o and r["destination"] == d and r["product"] == product for r in routes):
                    routes.append({"origin": o, "destination": d, "product": product, "transport_cost": p * rng.uniform(0, 0.3),
                                   "tariff_ad_valorem": 0.0})
    constant = not calibrated and bool(rng.integers(2))
    processing = [{"region": r, "input": "ore", "output": "metal", "yield": yield_, "unit_cost": price - ore_price / yield_,
                   "ref_quantity": None if constant else made[r], "elasticity": None if constant else float(10 ** rng.uniform(-1.3, 0.7)),
                   "capacity": made[r] * rng.uniform(0.6, 1.5)} for r in refiners]
    write_dataset(folder,
                  regions=[{"region": r, "groups": "even" if i % 2 == 0 else "odd"} for i, r in enumerate(regions)],
                  products=[{"product": "ore", "mineral": "m", "stage": "mined", "substitution_elasticity": float(rng.uniform(0.5, 10))},
                            {"product": "metal", "mineral": "m", "stage": "refined", "substitution_elasticity": float(rng.uniform(0.5, 10))}],
                  supply=[{"region": r, "product": "ore", "ref_price": ore_price, "ref_quantity": q,
                           "elasticity": float(10 ** rng.uniform(-1.3, 0.7)), "capacity": q * rng.uniform(0.6, 1.5)} for r, q in mined.items()],
                  demand=[{"region": r, "product": "metal", "ref_price": price, "ref_quantity": q,
                           "elasticity": -float(10 ** rng.uniform(-1.3, 0.7))} for r, q in got.items() if q > 0],
                  routes=routes, processing=processing)
    data = bm.load_dataset(folder)
    a, b = (str(x) for x in rng.choice(regions, 2))
    kind = int(rng.integers(12))
    policies = [
        {"bloc": {"members": ["even"], "external_tariff_ad_valorem": float(rng.uniform(0, 0.6))}},
        {"tariffs": [{"exporter": a, "importer": b, "ad_valorem": float(rng.uniform(-0.5, 1.0))}]},
        {"anti_dumping": [{"exporter": a, "importer": "*", "ad_valorem": float(rng.uniform(0, 1))}]},
        {"export_restrictions": [{"exporter": a, "ban": True}]},
        {"export_restrictions": [{"exporter": a, "quota": scale * float(rng.uniform(0, 0.5))}]},
        {"tariff_quotas": [{"importer": b, "product": "metal", "quota": scale * float(rng.uniform(0, 0.5)),
                            "out_of_quota_ad_valorem": float(rng.uniform(0, 1))}]},
        {"dumping": [{"exporter": a, "product": "metal", "margin": float(rng.uniform(0, 0.5))}]},
        {"supply_shocks": [{"region": a, "quantity_change": float(rng.uniform(-0.5, 0.3)), "capacity_factor": float(rng.uniform(0, 1.5))}]},
        {"bloc": {"members": ["odd"]}, "price_floors": [{"product": "metal", "price": price * float(rng.uniform(0.8, 1.5))}]},
        {"price_floors": [{"product": "metal", "price": price * float(rng.uniform(0.8, 1.5)), "markets": [b],
                           "mechanism": "deficiency_payment"}]},
        {"price_floors": [{"product": "ore", "price": ore_price * float(rng.uniform(0.8, 1.5)), "markets": [b], "mechanism": "stockpile",
                           "budget": ore_price * scale * float(rng.uniform(0.01, 1))}]},
        {"bloc": {"members": ["even"]}, "price_floors": [{"product": "metal", "price": price * float(rng.uniform(0.8, 1.5)),
                                                          "mechanism": "price_support", "budget": price * scale * float(rng.uniform(0.01, 1))}]},
    ]
    scenario = dict(policies[kind])
    scenario["horizon"] = "short_run" if rng.integers(2) else "medium_run"
    return data, scenario


@pytest.mark.slow
def test_two_thousand_random_two_stage_cases_all_solve(tmp_path):
    failures = []
    for seed in range(CASES):
        data, scenario = case(seed, tmp_path / f"c{seed}")
        try:
            r = bm.solve(data, scenario)
            assert r.check_report.passed
        except Exception as exc:        # noqa: BLE001 - every failure is collected with its seed
            failures.append(f"seed {seed}: {type(exc).__name__}: {str(exc)[:300]}")
    assert not failures, f"{len(failures)} of {CASES} failed:\n" + "\n".join(failures[:20])


# Cases that once failed, each a gap in the engine then:
#  33: an ad valorem anti-dumping duty on an exporter whose price a glut drives below zero;
#      diagonalisation cycled between freezes with and without the duty (now damped).
#  59 (and 549, 1189, 1368, 1465, 1627 in the slow range): a tariff-rate quota whose routes'
#      out-of-quota duties differ, the licence price equal to one route's duty (now a
#      licensed-share unknown per route under the quota).
#  2736, 3007 (beyond the slow range): price support, where non-member goods levied up to
#      the floor and a reserve bidding at it compete for the same member markets (now a start
#      from the equilibrium with wider levies, `solver.LEVY_CONTINUATION`).


def test_a_hundred_random_two_stage_cases_all_solve(tmp_path):
    """The same generator, the first 100 seeds (33 and 59 among them), in the quick tier."""
    unexpected = []
    for seed in range(100):
        data, scenario = case(seed, tmp_path / f"c{seed}")
        try:
            passed = bm.solve(data, scenario).check_report.passed
        except bm.InfeasibleError as exc:
            passed = False
            print(seed, exc)
        if not passed:
            unexpected.append(seed)
    assert not unexpected, f"seeds that failed: {unexpected}"


@pytest.mark.parametrize("seed", [2736, 3007])
def test_price_support_where_levied_imports_and_the_reserve_meet(tmp_path, seed):
    """Non-member metal levied up to the floor lands 1e-9 of it above the reserve's bid
    (`floors.SUPPORT_LEVY_MARGIN`): the equilibrium with the fewest imports. These two
    cases ran the dual method for 400 rounds (25 s) and ended "no exact equilibrium found":
    the gap is below what HiGHS and Newton's piece rule see. Solved, checked, and the rule
    holds: in no member market do the reserve's purchases and levied imports both flow."""
    data, scenario = case(seed, tmp_path / "c")
    assert scenario["price_floors"][0]["mechanism"] == "price_support"
    r = bm.solve(data, scenario)
    assert r.check_report.passed
    flows = r.flows[(r.flows["product"] == "metal") & (r.flows["quantity"] > 0)]
    levied_into = set(flows.loc[flows["levy"] > 0, "destination"])
    buying_in = set(r.reserve_detail.loc[r.reserve_detail["quantity"] > 0, "origin"])
    assert buying_in                 # the reserve holds the floor somewhere
    assert not levied_into & buying_in, (levied_into, buying_in)
