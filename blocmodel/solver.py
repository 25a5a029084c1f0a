"""Solving one chain: warm starts, the exact solution, and answers that are unique.

`ChainSolver` holds a chain's system between solves: a new policy that keeps the
structure (same nodes, routes, quotas and reserves) changes only levers and starts from
the last equilibrium. After `newton.solve_system` returns the exact solution, two things
the equilibrium conditions leave open are fixed by rule, so that a warm re-solve and a
cold solve report the same numbers:
- the price of an idle market (nothing bought, sold, made or shipped) can be anywhere in
  an interval: it is reported at the top — what one more unit would cost there (to bring
  in, to make) — or, where nothing can bring it, at the bottom;
- with constant-cost routes several flow patterns can be optimal (cross-hauling at zero
  cost): among them, the one with the least trade (an LP over the optimal face, HiGHS).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import ThreadpoolController

from .newton import NewtonOptions, Outcome, solve_system
from .pricing import route_prices
from .problem import ChainProblem
from .system import State, System

log = logging.getLogger(__name__)
_BLAS = ThreadpoolController()

# Price support holds a member market at its floor with a reserve bidding the floor while
# non-member goods land, levied, 1e-9 of the floor above it (floors.SUPPORT_LEVY_MARGIN: the
# equilibrium with the fewest imports). HiGHS's tolerances and Newton's piece rule cannot
# see so narrow a gap: where levied imports and the reserve compete for one market, HiGHS
# and Newton stop on a pattern with both (singular, inconsistent by the gap) and the dual
# method creeps along the near-continuum of equilibria for its 400 rounds (2 of 1,500
# random cases). With every levy floor raised by this fraction the gap is visible: the
# equilibrium there (0.2 s on those cases) is the start of exact Newton on the true levies.
LEVY_CONTINUATION = 1e-4


@dataclass(frozen=True)
class SolverOptions:
    newton: NewtonOptions = NewtonOptions()
    canonical_flows: bool = True          # least trade among optimal flows (constant-cost routes)
    all_routes_below: int = 600           # chains with more routes start from candidates and price the rest in
    # cheapest routes kept into each market and out of each producer. 8, not 4: fewer routes are
    # priced in afterwards, so fewer rounds, each a HiGHS QP (cold 250 x 30: 34 -> 18.5 s; 120 x 20:
    # 2.0 -> 1.3 s; 60 x 10 constant costs: 0.96 -> 0.79 s; 12 gains little more at 250 x 30 and
    # loses at 120 x 20)
    candidate_routes: int = 8
    # chains solved at once in a solve that touches several (a cold solve): HiGHS, LAPACK and
    # SciPy's sparse kernels release the GIL, so two threads gain on two cores (60 x 10 constant
    # costs 0.59 -> 0.47 s, two-stage 120 x 10 1.0 -> 0.6 s; the same bits). Batch workers,
    # one process per core, use 1.
    threads: int = 2


@dataclass
class ChainSolution:
    """One chain's equilibrium, in real units, aligned with its problem's rows."""

    status: str                            # "optimal", "infeasible", "not_converged", "error"
    problem: ChainProblem
    message: str = ""
    conflicts: list[str] = field(default_factory=list)
    price: np.ndarray = field(default_factory=lambda: np.zeros(0))     # per node (idle markets canonical)
    state: State | None = None             # the exact system at the solution
    system: System | None = None
    residual: float = 0.0
    exact_steps: int = 0
    dual_steps: int = 0
    outer_steps: int = 0
    seconds: float = 0.0
    derived: dict = field(default_factory=dict, repr=False, compare=False)   # indicators computed once

    # quantities per atom group
    def group(self, name: str) -> np.ndarray:
        return self.state.q[self.system.slice[name]]

    @property
    def licence(self) -> np.ndarray:
        """Licence price of each coupling (quota rent per unit)."""
        n = self.system.n_nodes
        return self.state.u[n: n + self.problem.n_couplings]

    def licensed_shares(self, coupling: int) -> np.ndarray:
        """Each route's licensed share of its flow under tariff-rate quota `coupling` (in the
        order of its routes; NaN for an export quota, whose every unit is licensed)."""
        system = self.system
        per_pair = np.full(len(system.pair_route), np.nan)
        per_pair[system.share_pair] = self.state.u[system.share_col]
        return per_pair[system.pair_col == system.n_nodes + coupling]

    @property
    def bids(self) -> np.ndarray:
        """Each reserve's bid (its floor, shaded when its budget binds)."""
        p = self.problem
        return np.array([p.reserve_floor[r] - (self.state.u[self.system.budget_col[r]] if r in self.system.budget_col else 0.0)
                         for r in range(p.n_reserves)])


class ChainSolver:
    def __init__(self, problem: ChainProblem, options: SolverOptions = SolverOptions(), continuation: bool = True,
                 disposal: bool = False):
        self.options = options
        self.problem = problem
        self.system = System(problem, disposal=disposal)     # without free disposal until a chain needs it
        self.active: np.ndarray | None = None       # routes in the working system (route generation)
        self.u: np.ndarray | None = None
        self.x: np.ndarray | None = None            # vertical quantities of the working system
        self.solution: ChainSolution | None = None
        self.continuation = continuation            # may start from the wider levies' equilibrium
        self._wide_start: tuple | None = None       # that equilibrium's (u, x); () where not found

    def update(self, problem: ChainProblem) -> bool:
        """Take a new policy for the same chain; False if the structure differs (build anew)."""
        if not self.problem.same_structure(problem):
            return False
        if not self.problem.same_levers(problem):
            self.problem = problem
            self.system = System(problem, like=self.system, disposal=self.system.disposal)     # same structure: same pattern
            self.solution = None
        return True

    def solve(self) -> ChainSolution:
        return solve_chains([self])[0]

    def _solve_once(self) -> ChainSolution:
        return self.solution if self.solution is not None else self._solve()

    def _solve(self) -> ChainSolution:
        start = time.perf_counter()
        outcome = self._equilibrium()
        if not self.system.disposal and (outcome.status != "optimal" or self._below_zero(outcome)):
            # no equilibrium without free disposal, or one with a price below zero (the linear
            # curves extrapolated into a glut): the chain again with a free-disposal atom in
            # every market, from that answer's prices cut at zero. Only then: the atoms would
            # cost every other solve its Newton steps (and change no answer)
            log.debug("chain %s: solved again with free disposal", self.problem.layout.products)
            self._add_disposal(outcome)
            outcome = self._equilibrium()
        system = self.system
        if outcome.status != "optimal":
            self.solution = self._failure(outcome, start)
            self.u = self.x = self.active = None         # start afresh next time
            return self.solution
        state = _snap(system, outcome.state, self.options.newton.tolerance)
        if self.options.canonical_flows and system.n_vertical:
            from .backend import least_trade
            state = least_trade(system, state)
        price = canonical_prices(system, state)
        if not np.array_equal(price, state.u[: system.n_nodes]):
            # report every charge and payment at the reported prices; keep them only if the
            # system still holds there (an idle market's price moves nothing by construction)
            u = state.u.copy()
            u[: system.n_nodes] = price
            moved = system.evaluate_exact(u, state.x)
            if np.abs(system.exact_residual(moved) / system.row_scale(exact=True)).max(initial=0.0) <= self.options.newton.tolerance:
                state = moved
            else:
                price = state.u[: system.n_nodes].copy()
        self.solution = ChainSolution(status="optimal", problem=self.problem, price=price, state=state, system=system,
                                      residual=outcome.residual, exact_steps=outcome.exact_steps, dual_steps=outcome.dual_steps,
                                      outer_steps=outcome.outer_steps, seconds=time.perf_counter() - start)
        return self.solution

    def _equilibrium(self) -> Outcome:
        """The chain's exact solution (or why not) on `self.system`, from the last one if any."""
        self._wide_start = None
        system, lay = self.system, self.problem.layout
        if len(lay.route_rows) > self.options.all_routes_below:
            return self._generate_routes()
        u0 = self.u if self.u is not None else np.concatenate([lay.price_scale, np.zeros(system.n_u - lay.n_nodes)])
        outcome = solve_system(system, u0, self.x, self.options.newton, can_clear=self._can_clear,
                               another_start=lambda: self._start_beside_levies(system, None))
        if outcome.status == "optimal":
            self.u, self.x = outcome.u.copy(), outcome.x.copy()
        return outcome

    def _below_zero(self, outcome: Outcome) -> bool:
        """Whether a market's price (idle markets' at their reported place) is below zero."""
        floor = -1e-12 * self.problem.layout.price_scale
        if not np.any(outcome.u[: len(floor)] < floor):      # the common case: no idle-price rule needed
            return False
        return bool(np.any(canonical_prices(self.system, outcome.state) < floor))

    def _add_disposal(self, outcome: Outcome) -> None:
        """Free disposal from now on; the next solve starts from `outcome` with prices cut at 0."""
        n = self.problem.layout.n_nodes
        self.system = System(self.problem, disposal=True)
        if outcome.status == "optimal":
            self.u = outcome.u.copy()
            self.u[:n] = np.maximum(self.u[:n], 0.0)
            self.x = np.concatenate([outcome.x, np.zeros(n)])        # disposal atoms come last
        else:
            self.u = self.x = self.active = None

    # ------------------------------------------------------------ route generation
    def _generate_routes(self) -> Outcome:
        """Solve on a working set of routes, then price in every route left out on which
        buyers would gain (its argument t > 0); repeat until none would. A route left out
        with t <= 0 carries nothing in equilibrium, so the answer is the full system's: it
        is evaluated on the full system and must hold there to the tolerance."""
        full, problem = self.system, self.problem
        if self.active is None:
            self.active = _candidate_routes(problem, self.u, self.options.candidate_routes)
        u, x_sub = self.u, None
        for round_ in range(50):
            sub_problem, routes = restrict(problem, self.active)
            sub = System(sub_problem, disposal=full.disposal)
            x_sub = self._x_for(sub, routes) if x_sub is None else x_sub
            u0 = u if u is not None else np.concatenate([problem.layout.price_scale, np.zeros(sub.n_u - sub.n_nodes)])
            # Where constant-cost routes start idle (a cold start, or routes just priced in), exact
            # Newton nearly always fails after a long line search: HiGHS first there. From the
            # last equilibrium on the same routes (a re-solve), or with no constant-cost atoms
            # (calibrated chains: HiGHS is slower than Newton there), Newton first.
            warm = round_ == 0 and u is not None and x_sub is not None
            outcome = solve_system(sub, u0, x_sub, self.options.newton, newton_first=warm or not sub.constant_cost,
                                   can_clear=self._can_clear, another_start=lambda: self._start_beside_levies(sub, routes))
            if outcome.status != "optimal":
                return outcome
            u = outcome.u
            t, _, _ = full.arguments(u)
            route_t = t[full.slice["route"]]
            scale = full.atom_price_scale[full.slice["route"]]
            missing = np.flatnonzero(~self.active & (route_t > self.options.newton.tolerance * scale) & (problem.route_capacity > 0))
            if not len(missing):
                x_full = _expand_vertical(full, sub, routes, outcome.x)
                state = full.evaluate_exact(u, x_full)
                residual = float(np.abs(full.exact_residual(state) / full.row_scale(exact=True)).max(initial=0.0))
                self.u, self.x = u.copy(), x_full.copy()
                return Outcome("optimal", u, x_full, state, residual, outcome.exact_steps, outcome.dual_steps, outcome.outer_steps)
            log.debug("chain %s: %d routes priced in", problem.layout.products, len(missing))
            x_full = _expand_vertical(full, sub, routes, outcome.x)
            self.active[missing] = True
            next_problem, next_routes = restrict(problem, self.active)
            x_sub = _restrict_vertical(full, System(next_problem, disposal=full.disposal), next_routes, x_full)
        return Outcome("not_converged", u, np.zeros(0), None, np.inf, message="route generation did not settle")

    def _x_for(self, sub: System, routes: np.ndarray) -> np.ndarray | None:
        if self.x is None or len(self.x) != self.system.n_vertical:
            return None
        return _restrict_vertical(self.system, sub, routes, self.x)

    def _start_beside_levies(self, sub: System, routes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
        """The equilibrium with every levy floor raised by LEVY_CONTINUATION, as prices and
        `sub`'s vertical quantities (`routes`: its routes among the chain's; None: all), or
        None where the chain has no levy or that equilibrium is not found. Asked only where
        HiGHS and exact Newton both stopped short; solved once per solve."""
        floors = self.problem.route_terms.levy_floor
        if not self.continuation or np.isnan(floors).all():
            return None
        if self._wide_start is None:
            from dataclasses import replace

            terms = self.problem.route_terms.copy()
            terms.levy_floor = floors * (1.0 + LEVY_CONTINUATION)
            wide = ChainSolver(replace(self.problem, route_terms=terms), self.options, continuation=False, disposal=self.system.disposal)
            # in this thread, under its BLAS limit; its unknowns must be this system's
            found = wide._solve().status == "optimal" and wide.system.disposal == self.system.disposal
            log.debug("chain %s: equilibrium with levies %g wider %s", self.problem.layout.products, LEVY_CONTINUATION,
                      "found" if found else "not found")
            self._wide_start = (wide.u, wide.x) if found else ()
        if not self._wide_start:
            return None
        u, x = self._wide_start
        return u.copy(), (x.copy() if routes is None else _restrict_vertical(self.system, sub, routes, x))

    def _can_clear(self) -> bool:
        """Whether every market of the whole chain can clear at some prices (`explain`)."""
        from .explain import conflicts  # only where exact Newton and HiGHS both failed

        return not conflicts(self.problem, self.system)

    def _failure(self, outcome: Outcome, start: float) -> ChainSolution:
        from .explain import explain_failure  # only on failure

        status, message, conflicts = explain_failure(self.problem, self.system, outcome)
        return ChainSolution(status=status, problem=self.problem, message=message, conflicts=conflicts, system=self.system,
                             residual=outcome.residual, exact_steps=outcome.exact_steps, dual_steps=outcome.dual_steps,
                             outer_steps=outcome.outer_steps, seconds=time.perf_counter() - start)


def solve_chains(solvers: list[ChainSolver], threads: int = 1) -> list[ChainSolution]:
    """Each solver's solution, `threads` chains at a time (the chains share nothing), in order."""
    # the systems are small: a multi-threaded BLAS spends longer waking threads than computing
    # (set once here: the limit is process-wide, so threads must not each set and restore it)
    with _BLAS.limit(limits=1, user_api="blas"):
        pending = [solver for solver in solvers if solver.solution is None]
        if threads > 1 and len(pending) > 1:     # a re-solve of one chain starts no thread
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(threads, len(pending))) as pool:
                list(pool.map(ChainSolver._solve, pending))
        return [solver._solve_once() for solver in solvers]


def _snap(system: System, state: State, tolerance: float) -> State:
    """Quantities of complementarity atoms within rounding of a bound (0 or capacity) set to
    it, so that rounding never makes an idle market look active."""
    if not system.n_vertical:
        return state
    v = system.vertical_atoms
    scale = 1e-12 * system.atom_quantity_scale[v]
    x = state.x.copy()
    x[np.abs(x) <= scale] = 0.0
    hi = system.hi[v]
    near = np.isfinite(hi) & (np.abs(x - hi) <= scale)
    x[near] = hi[near]
    if np.array_equal(x, state.x):
        return state
    snapped = system.evaluate_exact(state.u, x)
    if np.abs(system.exact_residual(snapped) / system.row_scale(exact=True)).max(initial=0.0) <= tolerance:
        return snapped
    return state


# ------------------------------------------------------------- route generation
def restrict(problem: ChainProblem, keep: np.ndarray) -> tuple[ChainProblem, np.ndarray]:
    """The chain with only the routes in `keep` (bool per route); returns it and the kept positions."""
    from dataclasses import replace

    routes = np.flatnonzero(keep)
    lay = problem.layout
    position = np.full(len(keep), -1)
    position[routes] = np.arange(len(routes))
    layout = replace(lay, route_rows=lay.route_rows[routes], route_origin_node=lay.route_origin_node[routes],
                     route_destination_node=lay.route_destination_node[routes])
    coupling_routes, caps_specific, caps_rate = [], [], []
    for rows, cs, cr in zip(problem.coupling_routes, problem.coupling_cap_specific, problem.coupling_cap_rate):
        inside = keep[rows]
        coupling_routes.append(position[rows[inside]])
        caps_specific.append(cs[inside])
        caps_rate.append(cr[inside])
    labels = dict(problem.labels)
    labels["closures"] = {int(position[k]): v for k, v in problem.labels.get("closures", {}).items() if position[k] >= 0}
    return replace(problem, layout=layout, route_intercept=problem.route_intercept[routes], route_curvature=problem.route_curvature[routes],
                   route_capacity=problem.route_capacity[routes], route_terms=problem.route_terms.take(routes),
                   coupling_routes=tuple(coupling_routes), coupling_cap_specific=tuple(caps_specific),
                   coupling_cap_rate=tuple(caps_rate), labels=labels), routes


def _candidate_routes(problem: ChainProblem, u: np.ndarray | None, k: int) -> np.ndarray:
    """Routes the working system starts with: every route with an observed flow or under a
    quota, home routes, and the `k` cheapest into each buyers' market and out of each
    producers' market (delivered cost at the last prices, or the reference prices)."""
    lay = problem.layout
    n = len(lay.route_rows)
    price = u[: lay.n_nodes] if u is not None else lay.price_scale
    delivered = route_prices(price[lay.route_origin_node], problem.route_terms).landed + problem.route_intercept
    cost = np.where(problem.route_capacity > 0, (delivered - price[lay.route_destination_node]) / lay.price_scale[lay.route_destination_node], np.inf)
    keep = (problem.route_curvature > 0) & (problem.route_intercept < 0)          # calibrated on an observed flow
    keep |= lay.node_region[lay.route_origin_node] == lay.node_region[lay.route_destination_node]
    for rows in problem.coupling_routes:
        keep[rows] = True
    for ends in (lay.route_destination_node, lay.route_origin_node):
        order = np.lexsort((cost, ends))
        ranked = ends[order]
        first = np.searchsorted(ranked, ranked, side="left")
        keep[order[(np.arange(n) - first) < k]] = True
    return keep


def _vertical_route_positions(system: System) -> tuple[np.ndarray, np.ndarray]:
    """(indices into x of the vertical route atoms, their route positions)."""
    routes = system.slice["route"]
    v = system.vertical_atoms
    on = (v >= routes.start) & (v < routes.stop)
    return np.flatnonzero(on), v[on] - routes.start


def _vertical_map(full: System, sub: System, routes: np.ndarray) -> np.ndarray:
    """For each vertical atom of the working system, its index among the full system's:
    route atoms by the route they stand for, refineries and reserves (the same atoms in the
    same order) by position."""
    full_idx, full_routes = _vertical_route_positions(full)
    sub_idx, sub_routes = _vertical_route_positions(sub)
    at = np.empty(sub.n_vertical, dtype=int)
    position = np.full(len(full.problem.route_intercept), -1)
    position[full_routes] = full_idx
    at[sub_idx] = position[routes[sub_routes]]
    at[np.setdiff1d(np.arange(sub.n_vertical), sub_idx)] = np.setdiff1d(np.arange(full.n_vertical), full_idx)
    return at


def _expand_vertical(full: System, sub: System, routes: np.ndarray, x_sub: np.ndarray) -> np.ndarray:
    """Vertical quantities of the full system from the working system's (left-out routes: 0)."""
    x = np.zeros(full.n_vertical)
    x[_vertical_map(full, sub, routes)] = x_sub
    return x


def _restrict_vertical(full: System, sub: System, routes: np.ndarray, x_full: np.ndarray) -> np.ndarray:
    """The working system's vertical quantities, taken from the full system's."""
    return x_full[_vertical_map(full, sub, routes)]


# ------------------------------------------------------------------ idle prices
def canonical_prices(system: System, state: State) -> np.ndarray:
    """Node prices with each idle market's price at the top of its interval (what one more
    unit would cost there), or at the bottom where nothing can bring one.

    An idle buyers' market lies between the price at which its demand and refineries stop
    buying (bottom) and the cheapest delivered price of any route into it (top); an idle
    producers' market between the price at which no route out of it, nor a reserve, would
    take its goods (bottom, and never below zero: free disposal) and the price at which its
    mines or refineries would start (top). A price within rounding of 0 (1e-12 of the product's reference price: a market
    throwing goods away, and those priced from it) is reported as 0, never a hair below."""
    p, lay = system.problem, system.problem.layout
    price = state.u[: system.n_nodes].copy()
    price[np.abs(price) <= 1e-12 * lay.price_scale] = 0.0
    touched = ((np.abs(state.q) > 0) | (state.dq != 0)).astype(float)
    active = np.asarray(abs(state.C[: system.n_nodes]) @ touched).ravel() > 0
    idle = ~active & (p.fixed_use == 0)
    if not idle.any():
        return price
    o, d = lay.route_origin_node, lay.route_destination_node
    usable = p.route_capacity > 0
    licence = state.extra["licence"]
    rin, rout, y = lay.refining_input_node, lay.refining_output_node, p.refining_yield
    flat = p.refining_constant_cost | (p.refining_slope <= 0)
    start_margin = np.where(flat, p.refining_unit_cost, -p.refining_intercept / np.where(flat, 1.0, p.refining_slope))
    s_flat = p.supply_slope <= 0
    supply_start = np.where(s_flat | (p.supply_capacity <= 0), np.inf,
                            -p.supply_intercept / np.where(s_flat, 1.0, p.supply_slope) - p.supply_subsidy)
    with np.errstate(divide="ignore", invalid="ignore"):
        choke = np.where(p.demand_slope < 0, p.demand_intercept / -p.demand_slope, np.inf)
    for _ in range(6):      # idle markets can neighbour each other: settle in passes
        before = price.copy()
        top = np.full(system.n_nodes, np.inf)
        bottom = np.full(system.n_nodes, -np.inf)
        # buyers: bottom where demand and refineries stop buying, top the cheapest delivery
        delivered = route_prices(price[o], p.route_terms).landed + p.route_intercept + licence
        np.minimum.at(top, d[usable], delivered[usable])
        np.maximum.at(bottom, lay.demand_node, choke)
        received = price[rout] + np.maximum(0.0, p.refining_floor - price[rout]) + p.refining_subsidy
        np.maximum.at(bottom, rin, y * (received - start_margin))
        # producers: top where mines and refineries would start, bottom where nothing takes their goods
        np.minimum.at(top, lay.supply_node, supply_start)
        np.minimum.at(top, rout, price[rin] / y + start_margin - p.refining_subsidy)
        need = idle[o] & usable
        if need.any():
            target = price[d] - p.route_intercept - licence
            np.maximum.at(bottom, o[need], _exporter_price_for(target[need], p.route_terms.take(np.flatnonzero(need)), price[o][need]))
        if len(system.reserve_node):
            np.maximum.at(bottom, system.reserve_node, state.extra["reserve_bid"])
        bottom = np.maximum(bottom, 0.0)        # never below zero (free disposal, were the market active)
        chosen = np.where(np.isfinite(top), top, bottom)
        price = np.where(idle & np.isfinite(chosen), chosen, price)
        if np.array_equal(price, before):
            break
    return price


def _exporter_price_for(target: np.ndarray, terms, guess: np.ndarray) -> np.ndarray:
    """The exporter price at which a route's landed price equals `target` (landed is
    non-decreasing and piecewise linear in it): bisection on a bracket, then the exact
    point of the final linear piece."""
    lo = np.minimum(guess, target) - np.abs(target) - 1.0
    hi = np.maximum(guess, target) + np.abs(target) + 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        above = route_prices(mid, terms).landed >= target
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
        if np.all(hi - lo <= 1e-15 * np.maximum(np.abs(hi), 1.0)):
            break
    at = route_prices(hi, terms)
    slope = np.where(at.slope > 0, at.slope, 1.0)
    exact = hi - (at.landed - target) / slope
    return np.where((at.slope > 0) & (route_prices(exact, terms).landed >= target - 1e-12 * np.abs(target)), exact, hi)
