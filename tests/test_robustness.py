"""Numerical robustness: extreme but valid data solve exactly with the check passing, or
fail with a clear message — never a wrong answer."""

import itertools

import numpy as np
import pytest

import blocmodel as bm
from blocmodel.synthetic import synthetic_dataset
from blocmodel.testing import write_dataset

REGIONS = ["A", "B", "C"]


def extreme(folder, price, supply_elasticity, demand_elasticity, binding, quantity=1e3):
    """Three regions, one product at `price`, supply in A and B, demand everywhere, all routes;
    `binding`: capacities at 40% of reference output (they bind at any price near the reference)."""
    supply = [{"region": r, "product": "p", "ref_price": price * f, "ref_quantity": quantity * s, "elasticity": supply_elasticity,
               "capacity": quantity * s * 0.4 if binding else None} for r, f, s in (("A", 0.9, 1.0), ("B", 1.1, 0.5))]
    demand = [{"region": r, "product": "p", "ref_price": price, "ref_quantity": quantity * w, "elasticity": -demand_elasticity}
              for r, w in zip(REGIONS, (0.2, 0.3, 1.0))]
    routes = [{"origin": o, "destination": d, "product": "p", "transport_cost": price * 0.02, "tariff_ad_valorem": 0.05,
               "capacity": quantity * 0.3 if binding and (o, d) == ("A", "C") else None}
              for o, d in itertools.permutations(REGIONS, 2)]
    return bm.load_dataset(write_dataset(folder, regions=[{"region": r} for r in REGIONS], products=[{"product": "p"}],
                                         supply=supply, demand=demand, routes=routes))


@pytest.mark.parametrize("price", [1e-2, 1.0, 1e6])
@pytest.mark.parametrize("supply_elasticity, demand_elasticity", [(0.01, 0.01), (0.01, 10.0), (10.0, 0.01), (10.0, 10.0)])
@pytest.mark.parametrize("binding", [False, True])
def test_extremes_solve_exactly(tmp_path, price, supply_elasticity, demand_elasticity, binding):
    data = extreme(tmp_path / "d", price, supply_elasticity, demand_elasticity, binding)
    for scenario in (None, {"bloc": {"members": ["A", "C"], "external_tariff_ad_valorem": 0.3},
                            "price_floors": [{"product": "p", "price": price * 1.2, "mechanism": "variable_levy"}]}):
        r = bm.solve(data, scenario)
        assert r.status == "optimal" and r.check_report.max_residual <= 1e-6
        assert np.isfinite(r.prices["price"]).all()
        if binding:
            capped = r.supply_detail
            assert (capped["quantity"] <= capped["capacity"] * (1 + 1e-9)).all()


def test_prices_spanning_eight_orders_in_one_dataset(tmp_path):
    """Products at 1e-2 and 1e6 USD per unit side by side, with capacities binding everywhere."""
    folder = synthetic_dataset(tmp_path / "d", regions=6, minerals=1, two_stage=True, seed=4)
    cheap = extreme(tmp_path / "cheap", 1e-2, 0.05, 5.0, True)
    # add the cheap product's rows to the synthetic dataset under another name
    for table in ("products", "supply", "demand", "routes"):
        frame = getattr(cheap, table).drop(columns="_row")
        frame = frame.replace({"p": "cheap_p"})
        rows = frame.to_dict("records")
        for row in rows:
            for region in ("region", "origin", "destination"):
                if region in row:
                    row[region] = {"A": "R000", "B": "R001", "C": "R002"}[row[region]]
        path = folder / f"{table}.csv"
        import pandas as pd
        existing = pd.read_csv(path, keep_default_na=False)
        pd.concat([existing, pd.DataFrame(rows)], ignore_index=True).to_csv(path, index=False)
    data = bm.load_dataset(folder)
    assert data.supply["ref_price"].max() / data.supply["ref_price"].min() > 1e5
    r = bm.solve(data, {"supply_shocks": [{"region": "*", "capacity_factor": 0.5}]})
    assert r.status == "optimal" and r.check_report.passed


def test_a_floor_far_above_the_market_fails_clearly_or_solves(tmp_path):
    """A deficiency-payment floor 15 times the market price floods the market (prices fall
    below zero). The engine may not reach an exact equilibrium: then it says so, exit code 3
    at the command line, and returns no numbers — never an unchecked answer."""
    folder = synthetic_dataset(tmp_path / "d", regions=8, minerals=2, two_stage=True, seed=5)
    data = bm.load_dataset(folder)
    scenario = {"bloc": {"members": ["even"]},
                "price_floors": [{"product": "m00_metal", "price": 30000, "mechanism": "deficiency_payment"}]}
    r = bm.solve(data, scenario, raise_on_failure=False)
    if r.status == "optimal":
        assert r.check_report.passed
    else:
        assert r.status == "error" and "no exact equilibrium found" in " ".join(r.messages)
        assert "m00_ore/m00_metal" in " ".join(r.messages)
        with pytest.raises(bm.InfeasibleError):
            bm.solve(data, scenario)


def test_constant_cost_trade_finishes_from_highs_without_the_dual_method(tmp_path):
    """60 regions, every pair linked at constant trade costs (the benchmark's market, one
    product). HiGHS's frozen QP regularises and stops at its tolerances, so some idle route's
    price gap is a hair above zero; read by Newton's own piece rule it closes a cycle of free
    routes and the Newton system is singular (before: 109 steps of the slow dual method).
    Moved onto the QP's own pieces, Newton finishes, exactly."""
    folder = synthetic_dataset(tmp_path / "d", regions=60, minerals=1, calibrated=False)
    session = bm.Session(bm.load_dataset(folder))
    r = session.solve()
    assert r.status == "optimal" and r.check_report.max_residual < 1e-9
    solutions = [solver.solution for solver in session._solvers.values()]
    assert solutions and all(s.dual_steps == 0 for s in solutions)


def test_a_newton_step_with_atoms_held_at_bounds_is_the_linear_solution():
    """Rows whose one entry is on the diagonal (idle routes) are solved by a division and the
    rest by LU; the step must be the solution of the whole scaled system, also where those
    rows' unknowns appear in other rows, and zero for an unknown no row involves."""
    import scipy.sparse as sp

    from blocmodel.newton import _scaled_step

    rng = np.random.default_rng(3)
    n = 40
    A = rng.normal(size=(n, n)) * (rng.random((n, n)) < 0.3) + 8 * np.eye(n)
    alone = rng.random(n) < 0.5
    A[alone] = 0.0
    A[alone, alone] = rng.uniform(0.5, 2.0, alone.sum())      # held: only the diagonal entry
    A[:, -1] = A[-1, :] = 0.0                                   # an unknown no row involves
    row_scale, unknown_scale = rng.uniform(0.5, 4.0, n), rng.uniform(0.5, 4.0, n)
    rhs = rng.normal(size=n)
    d = _scaled_step(sp.csr_matrix(A), row_scale, unknown_scale, rhs)
    scaled = A / row_scale[:, None] * unknown_scale[None, :]
    expected = np.zeros(n)
    expected[:-1] = np.linalg.solve(scaled[:-1, :-1], rhs[:-1])
    assert alone[:-1].sum() >= 10 and (A[np.ix_(~alone, alone)] != 0).any()
    assert np.allclose(d, expected, rtol=1e-12, atol=1e-12)


@pytest.fixture(scope="module")
def forty_regions(tmp_path_factory) -> bm.Dataset:
    """Two-stage, 40 regions each linked to its 20 nearest, three minerals (seed 5): chains
    where HiGHS's answer opens tied routes, read by the next three tests."""
    folder = tmp_path_factory.mktemp("forty") / "d"
    return bm.load_dataset(synthetic_dataset(folder, regions=40, minerals=3, two_stage=True, neighbours=20, seed=5))


def test_tied_routes_open_in_a_cycle_finish_from_a_vertex_without_the_dual_method(forty_regions, monkeypatch):
    """Two-stage, 40 regions each linked to its 20 nearest: in one chain HiGHS's answer
    carries metal from two exporters to the same three importers, and a route it left idle
    gains a little; Newton opens it, the open routes close a cycle and its system is singular
    (before: 235 steps of the dual method). The same totals carried at a vertex of the frozen
    problem (a forest of routes) let Newton finish; the prices are the dual method's."""
    import blocmodel.backend as backend

    data = forty_regions
    session = bm.Session(data)
    r = session.solve()
    assert r.status == "optimal" and r.check_report.max_residual < 1e-9
    assert all(solver.solution.dual_steps == 0 for solver in session._solvers.values())
    monkeypatch.setattr(backend, "vertex_flows", lambda *args: None)
    slow = bm.Session(data)
    reference = slow.solve()
    assert sum(solver.solution.dual_steps for solver in slow._solvers.values()) > 100
    assert np.allclose(r.nodes["price"], reference.nodes["price"], rtol=1e-9, atol=0.0, equal_nan=True)


def test_a_frozen_qp_stopped_at_its_iteration_limit_still_starts_newton(forty_regions, monkeypatch):
    """HiGHS's QP method can cycle on a degenerate frozen problem (250 x 30's chain m09: at its
    optimal objective within 2,000 iterations, still cycling after 42,000, until the time limit
    and then the dual method). Stopped at its iteration limit, its last iterate is Newton's
    start all the same. Here the limit is just above what these QPs need (1.3 iterations per
    column; they take 1.0-1.5), so HiGHS stops near the optimum: Newton finishes from the
    uncertified iterates, with no dual step, at the normal solve's prices."""
    import blocmodel.backend as backend

    data = forty_regions
    normal = bm.Session(data).solve()
    certified = []
    frozen_qp = backend.frozen_qp

    def recording(system, frozen):
        answer = frozen_qp(system, frozen)
        certified.append(None if answer is None else answer[2])
        return answer

    monkeypatch.setattr(backend, "frozen_qp", recording)
    monkeypatch.setattr(backend, "qp_iteration_limit", lambda n_columns: int(1.3 * n_columns))
    session = bm.Session(data)
    r = session.solve()
    assert False in certified and None not in certified
    assert r.status == "optimal" and r.check_report.max_residual < 1e-9
    assert all(solver.solution.dual_steps == 0 for solver in session._solvers.values())
    assert np.allclose(r.nodes["price"], normal.nodes["price"], rtol=1e-9, atol=0.0, equal_nan=True)


def test_the_dual_method_starts_from_the_nearest_point_found(forty_regions, monkeypatch):
    """Where HiGHS and exact Newton both stop short, the globally convergent dual method takes
    over from the nearest point they reached, not from the cold start (250 x 30's m09: 1,019
    dual steps before, 20 now). Here HiGHS's round is replaced by a point near the equilibrium
    (prices 1e-5 off, a scaled residual of 0.19: constant-cost routes are that sensitive) that
    Newton did not finish from; exact Newton from the cold start stops at 0.40."""
    import blocmodel.newton as newton
    from blocmodel.solver import canonical_prices

    data = forty_regions
    session = bm.Session(data)
    session.solve()
    solver = next(iter(session._solvers.values()))
    system, exact = solver.system, solver.solution.state
    cold = np.concatenate([solver.problem.layout.price_scale, np.zeros(system.n_u - system.n_nodes)])
    near_u = exact.u * (1.0 + 1e-5 * np.random.default_rng(0).uniform(-1, 1, len(exact.u)))
    state = system.evaluate_exact(near_u, exact.x)
    residual = float(np.abs(system.exact_residual(state) / system.row_scale(exact=True)).max())
    near = newton.Outcome("not_converged", near_u, exact.x.copy(), state, residual)
    runs = {}
    for name, answer in (("near", near), ("none", None)):
        monkeypatch.setattr(newton, "_highs_then_newton", lambda *args, answer=answer: answer)
        runs[name] = newton.solve_system(system, cold, None, newton_first=False)
    assert 1e-3 < residual < 0.3 and runs["near"].status == runs["none"].status == "optimal"
    assert 0 < runs["near"].dual_steps < runs["none"].dual_steps / 4
    prices = [canonical_prices(system, run.state) for run in runs.values()]    # an idle market's price is a convention
    assert np.allclose(prices[0], prices[1], rtol=1e-9, atol=0.0)


def test_the_exact_jacobian_is_the_same_built_again_or_from_its_cached_pattern(tmp_path):
    """`System._with_vertical` reuses the entries' order of the Jacobian's vertical blocks
    between calls. Its first version handed the cached index array to SciPy, which sorted it
    in place when the matrix went to LIL form (a budgeted reserve's row), and every later
    Jacobian of that system was wrong: seed 40 of the many-equilibria cases (price support
    with a budget) then ran the dual method for 400 rounds. At points with different
    pieces, the Jacobian equals a fresh system's and SciPy's block construction."""
    import scipy.sparse as sp
    from test_many_equilibria import case

    from blocmodel.chains import chain_problem
    from blocmodel.policy import resolve
    from blocmodel.system import System

    data, scenario = case(40, tmp_path / "c")
    session = bm.Session(data)
    problem = chain_problem(resolve(data, bm.api.as_scenario(scenario)).market, session._layouts[session.chains[0]])
    system = System(problem)
    assert system.budget_col and system.n_vertical
    rng = np.random.default_rng(0)
    for k in range(4):
        u = problem.layout.price_scale * rng.uniform(0.5, 1.5, problem.layout.n_nodes)
        u = np.concatenate([u, rng.uniform(0, 1, system.n_u - len(u)) * system.price_scale[len(u):]])
        x = rng.uniform(0, 2, system.n_vertical) * (k % 2)
        system.exact_jacobian(system.evaluate_exact(u, x))            # the pattern cached here ...
        cached, fresh = system.exact_jacobian(system.evaluate_exact(u, x)), System(problem)    # ... used here
        state = fresh.evaluate_exact(u, x)
        assert np.array_equal(cached.toarray(), fresh.exact_jacobian(state).toarray())
        v = fresh.vertical_atoms
        trial = x + fresh.kappa * (state.t[v] - fresh.theta[v])
        free = (trial > 0) & (trial < fresh.hi[v])
        blocks = sp.bmat([[state.response_jacobian(), state.C[:, v]],
                          [-sp.diags(fresh.kappa * free) @ state.D[v], sp.diags((~free).astype(float))]]).toarray()
        rows = np.setdiff1d(np.arange(len(blocks)), fresh.bounded)       # a budget's row is set apart
        rows = rows[~np.isin(rows, list(fresh.budget_col.values()))]
        assert np.allclose(cached.toarray()[rows], blocks[rows], rtol=1e-15, atol=0.0)
