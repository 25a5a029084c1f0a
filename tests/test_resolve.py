"""A re-solve after a change of levers equals a cold solve of the changed scenario."""

import numpy as np
import pytest

import blocmodel as bm

BLOC = {"members": ["g7", "eu", "quad"]}
CHANGES = {
    "tariff": {"tariffs": [{"exporter": "CHN", "importer": "USA", "product": "graphite", "ad_valorem": 0.5}]},
    "levy floor": {"bloc": BLOC, "price_floors": [{"product": "ndpr_oxide", "price": 90_000}]},
    "deficiency floor": {"bloc": BLOC, "price_floors": [{"product": "ndpr_oxide", "price": 90_000, "mechanism": "deficiency_payment"}]},
    "membership": {"bloc": {"members": ["msp"], "external_tariff_ad_valorem": 0.1}},
    "shock": {"supply_shocks": [{"region": "COD", "product": "cobalt_mined", "quantity_change": -0.3}]},
    "ban": {"export_restrictions": [{"exporter": "CHN", "destinations": ["USA", "JPN"], "product": "rare_earths", "ban": True}]},
}


@pytest.fixture(scope="module")
def session():
    s = bm.Session()
    s.solve()                       # warm it up on the baseline
    return s


def same(a, b, tol=1e-9):
    pa = a.prices.set_index(["region", "product"])["price"]
    pb = b.prices.set_index(["region", "product"])["price"]
    rel = ((pa - pb).abs() / pb.abs().clip(lower=1.0)).max()
    wa = a.welfare.set_index("region")["total"]
    wb = b.welfare.set_index("region")["total"]
    return rel <= tol and np.allclose(wa, wb, rtol=1e-9, atol=1e-3)


@pytest.mark.parametrize("kind", list(CHANGES))
def test_resolve_equals_cold_solve(session, kind):
    warm = session.solve(CHANGES[kind])
    cold = bm.solve(session.data, CHANGES[kind])
    assert warm.check_report.passed and cold.check_report.passed
    assert same(warm, cold)


def test_resolve_back_to_baseline(session):
    session.solve(CHANGES["levy floor"])
    again = session.solve()
    assert same(again, bm.solve(session.data))


def _library() -> list:
    from pathlib import Path

    folder = Path(bm.__file__).resolve().parent.parent / "data" / "scenarios"
    return [p for p in sorted(folder.glob("*.toml")) if not p.name.startswith("optimize_")]


def test_a_chain_none_of_whose_products_changed_builds_the_same_problem(session):
    """`changed_products` decides which chains a re-solve skips: every chain it leaves out
    must build a problem with the same levers from both markets (pairs of the scenario
    library and the changes above, each against the next)."""
    from blocmodel.api import as_scenario
    from blocmodel.chains import chain_problem
    from blocmodel.errors import InputError
    from blocmodel.policy import resolve
    from blocmodel.problem import changed_products

    data = session.data
    quota = {"importer": "USA", "exporters": "CHN", "product": "graphite", "quota": 1000.0, "out_of_quota_ad_valorem": 0.5}
    quotas = [[quota], [{**quota, "quota": 2000.0}], [{**quota, "product": "lithium"}, {**quota, "quota": 2000.0}]]
    # the ban again, second: only its closures' labels differ on the rare-earth routes
    ban_later = {"export_restrictions": [{"exporter": "CHN", "destinations": ["KOR"], "product": "graphite", "ban": True},
                                         *CHANGES["ban"]["export_restrictions"]]}
    stocks = [[{"region": "USA", "product": "graphite_refined", "quantity": q}] for q in (1000.0, 2000.0, -500.0)]
    scenarios = ([as_scenario(s) for s in _library()] + [as_scenario(c) for c in CHANGES.values()] + [as_scenario(ban_later)]
                 + [as_scenario(None)] + [as_scenario({"tariff_quotas": q}) for q in quotas]
                 + [as_scenario({"stockpile": s}) for s in stocks])
    markets = []
    for scenario in scenarios:
        try:
            markets.append(resolve(data, scenario).market)
        except InputError:          # a floor written for a bloc: the library adds it to one
            markets.append(resolve(data, as_scenario(f"bloc_ministerial+{scenario.name}")).market)
    assert len(markets) >= 25
    layouts = data.cache["layouts"]
    skipped = kept_apart = 0
    for old, new in zip(markets, markets[1:] + markets[:1]):
        touched = changed_products(old, new)
        assert touched is not None
        for products, layout in layouts.items():
            if not layout.n_nodes:
                continue
            same = chain_problem(old, layout).same_levers(chain_problem(new, layout))
            if touched.isdisjoint(products):
                assert same, (products, touched)
                skipped += 1
            else:
                kept_apart += not same
    assert skipped and kept_apart        # the pairs exercise both outcomes


def test_one_floor_change_builds_and_solves_one_chain(session, monkeypatch):
    """A change of the NdPr floor touches one chain: only its problem is built (the other
    chains keep theirs without being built and compared) and only it is solved; the answer
    equals a cold solve."""
    import blocmodel.chains as chains
    from blocmodel.solver import ChainSolver

    floor = {"bloc": BLOC, "price_floors": [{"product": "ndpr_oxide", "price": 90_000}]}
    higher = {**floor, "price_floors": [{"product": "ndpr_oxide", "price": 100_000}]}
    session.solve(floor)
    built, solved = [], []
    build, solve = chains.chain_problem, ChainSolver._solve
    monkeypatch.setattr(chains, "chain_problem", lambda market, layout: built.append(layout.products) or build(market, layout))
    monkeypatch.setattr(ChainSolver, "_solve", lambda self: solved.append(self.problem.layout.products) or solve(self))
    result = session.solve(higher)
    assert len(built) == 1 and "ndpr_oxide" in built[0]
    assert solved == built
    assert same(result, bm.solve(session.data, higher))


def test_a_caller_changing_a_results_market_does_not_fool_the_next_re_solve():
    session = bm.Session()
    taxed = session.solve(CHANGES["tariff"])
    terms = taxed.policy.market.routes.terms
    terms.tariff_rate[:] = 0.0              # as if there had been no duty
    again = session.solve()
    assert same(again, bm.solve(session.data))
