"""The solver layer: HiGHS through Pyomo's persistent interface, and the fixed point.

Every chain is one convex QP once the per-unit border charges are known. Some charges
depend on prices — an ad valorem duty on the CIF value, a variable levy that lifts the
cheapest non-member import to the floor, a deficiency payment to refiners topping the
market price up to the floor, the price a budgeted reserve pays — so the equilibrium is a
complementarity problem, solved here by diagonalisation (Nagurney, *Network Economics*,
ch. 2; Harker 1984): fix those charges at the current prices, solve the QP exactly,
recompute the charges from the new prices, and repeat (Anderson-accelerated) until no
charge moves by more than `tolerance` relative to the product's price. At that point the
QP's optimality conditions are the equilibrium conditions with the charges' own rules, so
the answer is exact up to `tolerance`, and `check.py` verifies it from the results alone.

HiGHS's QP solver regularises the Hessian by `qp_regularization_value` and on large chains
returns duals good to about 1e-6; every QP answer is therefore polished to the exact
optimum of the unregularised QP by solving its optimality conditions on the solver's
active set (`polish.py`). Nothing here raises on an infeasible scenario: the chain returns
a status and an explanation (`explain.py`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
from pyomo.contrib.solver.common.results import TerminationCondition
from pyomo.contrib.solver.solvers.highs import Highs

import highspy
import scipy.sparse as sp
from threadpoolctl import ThreadpoolController

from .curves import customs_value
from .model import VARIABLE_GROUPS, Chain, build_model, set_levers
from .policy import Policy
from .polish import QP, Polished, polish

log = logging.getLogger(__name__)

# The polish solves many small dense systems; a multi-threaded BLAS spends far longer
# waking threads than computing (250x slower for a 200x200 solve on two cores).
_BLAS = ThreadpoolController()


@dataclass(frozen=True)
class SolverOptions:
    tolerance: float = 1e-10            # fixed point: largest change of a charge, relative to the product's price
    max_iterations: int = 400
    regularization: float = 1e-7        # HiGHS qp_regularization_value (its default); the polish removes its bias
    feasibility_tolerance: float = 1e-8   # below this HiGHS QP-ASM reports spurious solve errors
    all_routes_below: int = 400         # chains with more routes start from candidates and price the rest in
    candidate_routes: int = 4           # cheapest routes kept into each market and out of each supplier
    qp_time_limit: float = 60.0         # seconds per QP before falling back (HiGHS's QP solver can cycle)
    retry_curvature: float = 1e-3       # curvature given to flows in the fallback solve (scaled units)
    anderson_memory: int = 8
    warm_pivots: int = 60               # active-set pivots allowed from the last optimum before HiGHS solves afresh


@dataclass
class ChainSolution:
    """One chain's equilibrium in real units, aligned with `Chain`'s rows."""

    status: str                          # "optimal", "infeasible", "unbounded", "not_converged", "error"
    message: str = ""
    price: np.ndarray = field(default_factory=lambda: np.zeros(0))          # per node
    supply: np.ndarray = field(default_factory=lambda: np.zeros(0))         # per supply row
    demand: np.ndarray = field(default_factory=lambda: np.zeros(0))         # per demand row
    refining: np.ndarray = field(default_factory=lambda: np.zeros(0))       # output per refining row
    flow: np.ndarray = field(default_factory=lambda: np.zeros(0))           # per arc
    reserve: np.ndarray = field(default_factory=lambda: np.zeros(0))        # per reserve
    charges: dict[str, np.ndarray] = field(default_factory=dict)            # per arc, USD/unit, by kind
    levy: dict[tuple[int, int], float] = field(default_factory=dict)        # (floor, node) -> USD/unit
    refining_support: np.ndarray = field(default_factory=lambda: np.zeros(0))  # deficiency payment per unit output
    iterations: int = 0
    qp_solves: int = 0                   # QPs solved by HiGHS
    warm_solves: int = 0                 # QPs solved by polishing the previous optimum
    fixed_point_change: float = 0.0
    seconds: float = 0.0
    conflicts: list[str] = field(default_factory=list)
    # Indicators computed from this equilibrium (indicators.py). A session hands back the same
    # solution object while a chain's levers stay put, so they are computed once per solve.
    derived: dict = field(default_factory=dict, repr=False, compare=False)


class _Endogenous:
    """The price-dependent charges of a chain and their rules."""

    def __init__(self, chain: Chain):
        c = chain.coef
        self.chain = chain
        self.transport = c["arc_transport"]
        self.import_rate = c["arc_import_rate"]
        self.export_subsidy_rate = c["arc_export_subsidy_rate"]
        self.specific = c["arc_specific"]
        self.origin = c["arc_from"]
        self.destination = c["arc_to"]
        levy_floor = c["arc_levy_floor"]
        # One levy per (floor, market node), on every non-member route into that market.
        self.levy_keys: list[tuple[int, int]] = sorted({(int(f), int(n)) for f, n in zip(levy_floor, self.destination) if f >= 0})
        self.levy_arcs = [np.flatnonzero((levy_floor == f) & (self.destination == n)) for f, n in self.levy_keys]
        self.levy_price = np.array([c["arc_levy_price"][arcs[0]] for arcs in self.levy_arcs])
        self.support_rows = np.flatnonzero(c["refining_floor"] > 0)
        self.support_floor = c["refining_floor"][self.support_rows]
        self.support_node = c["refining_output_node"][self.support_rows]
        self.budget_reserves = np.array([i for i, (f, _) in enumerate(chain.reserves) if f.budget is not None], dtype=int)
        self.scale_node = np.array([chain.price_scale[p] for _, p in chain.nodes])

    @property
    def size(self) -> int:
        return len(self.levy_keys) + len(self.support_rows) + len(self.budget_reserves) + len(self.origin)

    def ad_valorem(self, price: np.ndarray) -> np.ndarray:
        p = price[self.origin]
        return self.import_rate * customs_value(p + self.transport) - self.export_subsidy_rate * customs_value(p)

    def rules(self, price: np.ndarray, active: np.ndarray) -> np.ndarray:
        """θ = (levies, refining supports, reserve unit values, ad valorem charges) at `price`.

        A levy lifts the cheapest landed price among non-member suppliers that are active
        (their price is determined) to the floor.
        """
        adval = self.ad_valorem(price)
        landed = price[self.origin] + self.transport + self.specific + adval
        levies = np.zeros(len(self.levy_keys))
        for k, arcs in enumerate(self.levy_arcs):
            live = arcs[active[self.origin[arcs]]]
            if len(live):
                levies[k] = max(0.0, self.levy_price[k] - landed[live].min())
        supports = np.maximum(0.0, self.support_floor - price[self.support_node])
        unit_values = np.maximum(price[self.chain.coef["reserve_node"][self.budget_reserves]], 1e-9 * self.scale_node[self.chain.coef["reserve_node"][self.budget_reserves]])
        return np.concatenate([levies, supports, unit_values, adval])

    def split(self, theta: np.ndarray):
        a = len(self.levy_keys)
        b = a + len(self.support_rows)
        c = b + len(self.budget_reserves)
        return theta[:a], theta[a:b], theta[b:c], theta[c:]

    def project(self, theta: np.ndarray) -> np.ndarray:
        levies, supports, unit_values, adval = self.split(theta.copy())
        np.maximum(levies, 0.0, out=levies)
        np.maximum(supports, 0.0, out=supports)
        return np.concatenate([levies, supports, np.maximum(unit_values, 1e-12), adval])

    def theta_scale(self) -> np.ndarray:
        """Price scale of each θ component, for relative convergence."""
        c = self.chain.coef
        return np.concatenate([
            self.scale_node[[n for _, n in self.levy_keys]] if self.levy_keys else np.zeros(0),
            self.scale_node[self.support_node],
            self.scale_node[c["reserve_node"][self.budget_reserves]],
            self.scale_node[self.origin],
        ])

    def arc_charges(self, theta: np.ndarray) -> np.ndarray:
        levies, _, _, adval = self.split(theta)
        charge = self.specific + adval
        for k, arcs in enumerate(self.levy_arcs):
            charge[arcs] += levies[k]
        return charge


class _Anderson:
    """Anderson acceleration (type II, Walker & Ni 2011) of θ ← G(θ), safeguarded."""

    def __init__(self, memory: int):
        self.memory = memory
        self.F: list[np.ndarray] = []
        self.G: list[np.ndarray] = []

    def reset(self):
        self.F.clear()
        self.G.clear()

    def step(self, theta: np.ndarray, g: np.ndarray, weight: np.ndarray) -> np.ndarray:
        f = (g - theta) / weight
        self.F.append(f)
        self.G.append(g)
        if len(self.F) > self.memory + 1:
            self.F.pop(0)
            self.G.pop(0)
        if len(self.F) < 2:
            return g
        dF = np.diff(np.array(self.F), axis=0).T
        dG = np.diff(np.array(self.G), axis=0).T
        gamma, *_ = np.linalg.lstsq(dF, f, rcond=None)
        if not np.all(np.isfinite(gamma)):
            self.reset()
            return g
        return g - dG @ gamma


class ChainSolver:
    """A chain's Pyomo model held by a persistent HiGHS instance; `solve` runs the fixed point.

    Routes are generated as needed: a chain with many routes starts from a few cheap
    candidates into each market and out of each supplier, and after every QP each route
    left out is priced — a route on which the importer would gain joins the model, which
    is rebuilt. Most routes carry nothing, so the QP stays small; the answer is still an
    equilibrium over every route (and the check verifies every route).

    Re-solving after a change of levers reuses the model, the routes found so far and the
    last equilibrium as the starting point."""

    def __init__(self, chain: Chain, policy: Policy, options: SolverOptions = SolverOptions()):
        self.chain = chain
        self.policy = policy
        self.options = options
        self.endogenous = _Endogenous(chain)
        self.theta: np.ndarray | None = None
        self.qp_solves = 0
        self.polish_failures = 0
        self.rebuilds = 0
        self.warm_solves = 0
        self.active = self._candidate_arcs()
        self._warm: dict | None = None    # last optimum, by model component (survives a rebuild)
        self._price: np.ndarray | None = None
        self.solution: ChainSolution | None = None
        self._build()

    def update(self, chain: Chain, policy: Policy) -> bool:
        """Take a new policy for the same chain, keeping the model if it fits (only levers
        change). Returns False if the model must be built again."""
        if not self.chain.same_structure(chain):
            return False
        unchanged = self.chain.same_levers(chain)
        self.chain, self.policy = chain, policy
        self.endogenous = _Endogenous(chain)
        if not unchanged:
            set_levers(self.model, chain)
            self.solution = None
            if self._price is not None:   # restart the fixed point from the last prices
                self.theta = self.endogenous.project(self.endogenous.rules(self._price, np.ones(len(chain.nodes), dtype=bool)))
            else:
                self.theta = None
        return True

    # ------------------------------------------------------------------ model
    def _build(self) -> None:
        self.model = build_model(self.chain, self.active)
        self.solver = Highs()
        self.solver.config.load_solutions = False
        self.solver.config.raise_exception_on_nonoptimal_result = False
        self.solver.config.time_limit = self.options.qp_time_limit
        size = sum(len(getattr(self.model, name)) for name in VARIABLE_GROUPS) + len(self.model.NODES)
        self.solver.config.solver_options = {
            # a healthy solve takes about 1.5 iterations per column; more means cycling
            "qp_iteration_limit": max(1000, 20 * size),
            "qp_regularization_value": self.options.regularization,
            "primal_feasibility_tolerance": self.options.feasibility_tolerance,
            "dual_feasibility_tolerance": self.options.feasibility_tolerance,
        }
        self._columns: dict[str, np.ndarray] | None = None   # HiGHS column of each variable, by group
        self._rows: np.ndarray | None = None                 # HiGHS row of each market-clearing constraint
        self._static = None
        self._instance = False

    def _candidate_arcs(self) -> np.ndarray:
        """Routes the model starts with: all of them for a small chain; otherwise, into every
        market and out of every supplier, the cheapest few, plus every route under a quota."""
        c = self.chain.coef
        usable = c["arc_capacity"] > 0
        n = len(usable)
        if n <= self.options.all_routes_below:
            return np.flatnonzero(usable)
        e = self.endogenous
        guess = e.scale_node
        theta = e.project(e.rules(guess, np.ones(len(self.chain.nodes), dtype=bool)))
        cost = (c["arc_transport"] + e.arc_charges(theta)) / guess[c["arc_from"]]
        cost = np.where(usable, cost, np.inf)
        keep = np.zeros(n, dtype=bool)
        k = self.options.candidate_routes
        for ends in (c["arc_to"], c["arc_from"]):
            order = np.lexsort((cost, ends))
            ranked = ends[order]
            first = np.searchsorted(ranked, ranked, side="left")
            keep[order[(np.arange(n) - first) < k]] = True
        for _, positions in self.chain.quotas:
            keep[positions] = True
        return np.flatnonzero(keep & usable)

    def _price_out(self, price: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """Routes left out of the model on which the importer would gain: they must join."""
        c, e = self.chain.coef, self.endogenous
        gain = (price[c["arc_to"]] - price[c["arc_from"]] - c["arc_transport"] - e.arc_charges(theta)) / e.scale_node[c["arc_to"]]
        outside = np.ones(len(gain), dtype=bool)
        outside[self.active] = False
        return np.flatnonzero(outside & (c["arc_capacity"] > 0) & (gain > self.options.tolerance))

    def _set_theta(self, theta: np.ndarray) -> None:
        m, e, c = self.model, self.endogenous, self.chain
        P = e.scale_node
        charge = (e.arc_charges(theta) / P[e.origin])[self.active]
        for i, v in enumerate(charge):
            m.arc_charge[i].set_value(float(v))
        _, supports, unit_values, _ = e.split(theta)
        scale = m.scale
        support = np.zeros(len(c.refining_rows))      # every row: a lever left from another scenario must go
        support[e.support_rows] = supports
        for row, v in enumerate(support * scale["refining"] / c.value_scale):
            m.refining_support[row].set_value(float(v))
        for k, r in enumerate(e.budget_reserves):
            m.reserve_unit_value[int(r)].set_value(float(unit_values[k] * scale["reserve"][r] / c.value_scale))

    def _qp(self):
        """Solve the QP at the current parameters, exactly.

        Warm: the last optimum, polished on the new parameters, is usually optimal after a
        few pivots, and HiGHS is not called. Cold (or if that fails): HiGHS, then the polish.
        Returns the termination condition, real quantities by group (flows on every route
        of the chain) and prices."""
        tc = TerminationCondition.convergenceCriteriaSatisfied
        polished = None
        start = self._warm_start()
        if start is not None:
            # A few pivots from the last optimum beat a QP solve; many (after a rebuild that
            # priced in hundreds of routes, each entering one pivot at a time) do not.
            polished = polish(self._exact_qp(self.solver._solver_model), *start, max_iterations=self.options.warm_pivots)
            if polished.ok:
                self.warm_solves += 1
            else:
                polished = None
        if polished is None:
            try:
                results = self.solver.solve(self.model)
            except (ValueError, RuntimeError) as exc:    # HiGHS's C++ errors surface as these
                log.warning("chain %s: HiGHS failed: %s", self.chain.products, exc)
                return TerminationCondition.error, None, None
            self._instance = True
            self.qp_solves += 1
            tc = results.termination_condition
            if tc in (TerminationCondition.provenInfeasible, TerminationCondition.unbounded,
                      TerminationCondition.infeasibleOrUnbounded):
                return tc, None, None
            highs = self.solver._solver_model          # the persistent interface's highspy.Highs
            qp = self._exact_qp(highs)
            if tc == TerminationCondition.convergenceCriteriaSatisfied:
                solution = highs.getSolution()
                start = np.asarray(solution.col_value), np.asarray(solution.row_dual)
                rows = len(self.solver._pyomo_con_to_solver_con_map)
                if len(start[0]) != highs.getNumCol() or len(start[1]) != rows or highs.getNumRow() != rows:
                    log.info("chain %s: HiGHS holds %d of the model's %d rows (values beyond its infinity?)",
                                self.chain.products, highs.getNumRow(), rows)
                    return TerminationCondition.error, None, None
            else:
                log.info("chain %s: HiGHS's QP solver stopped (%s); retrying with curvature on flows", self.chain.products, tc)
                start = _retry(highs, self.options)
                if start is None:
                    return tc, None, None
            polished = polish(qp, *start)
            if not polished.ok:
                self.polish_failures += 1
                # Degenerate optima (every producer of a market at capacity) can defeat the
                # polish; HiGHS's own optimum is then the answer, and the independent check
                # still decides whether it is exact enough to return. Not when a variable
                # is far beyond its scale (about 1): that is a ray HiGHS's regularisation
                # cut short (goods circling for profit), for `explain` to name.
                if (tc != TerminationCondition.convergenceCriteriaSatisfied or np.abs(start[0]).max(initial=0.0) > 1e3
                        or _row_violation(qp, start[0]) > 1e-9):
                    return TerminationCondition.error, None, None
                log.info("chain %s: polish failed; using HiGHS's optimum", self.chain.products)
                polished = Polished(*start, ok=True, iterations=0, stationarity=np.nan)
        x, y = polished.x, polished.y
        self._remember(x, y)
        c, scale = self.chain.coef, self.model.scale
        flow = np.zeros(len(c["arc_from"]))
        flow[self.active] = x[self._columns["flow"]] * scale["flow"]
        quantities = {
            "supply": c["supply_forced"] + x[self._columns["supply"]] * scale["supply"],
            "demand": x[self._columns["demand"]] * scale["demand"],
            "refining": c["refining_forced"] + x[self._columns["refining"]] * scale["refining"],
            "flow": flow,
            "reserve": x[self._columns["reserve"]] * scale["reserve"],
        }
        price = y[self._rows] * self.endogenous.scale_node
        self._price = price
        return tc, quantities, price

    def _constraints(self):
        for name in ("market_clearing", "quota", "budget"):
            for index, con in getattr(self.model, name).items():
                yield (name, index), con

    def _remember(self, x: np.ndarray, y: np.ndarray) -> None:
        """Keep the optimum by model component, so it can start the next solve even after
        the model is rebuilt with more routes."""
        con_map = self.solver._pyomo_con_to_solver_con_map
        flow = np.zeros(len(self.chain.coef["arc_from"]))
        flow[self.active] = x[self._columns["flow"]]
        self._warm = {"vars": {g: x[self._columns[g]] for g in VARIABLE_GROUPS if g != "flow"}, "flow": flow,
                      "duals": {key: y[con_map[con]] for key, con in self._constraints()}}

    def _warm_start(self):
        """The last optimum in HiGHS's column and row order, on the current model."""
        if self._warm is None:
            return None
        if not self._instance:
            self.solver.set_instance(self.model)
            self._instance = True
        else:
            self.solver.update_parameters()
        self._exact_qp(self.solver._solver_model)        # maps columns
        highs = self.solver._solver_model
        x = np.zeros(highs.getNumCol())
        y = np.zeros(highs.getNumRow())
        for group, values in self._warm["vars"].items():
            x[self._columns[group]] = values
        x[self._columns["flow"]] = self._warm["flow"][self.active]
        con_map = self.solver._pyomo_con_to_solver_con_map
        for key, con in self._constraints():
            y[con_map[con]] = self._warm["duals"].get(key, 0.0)
        return x, y

    def _exact_qp(self, highs) -> QP:
        """The QP as HiGHS holds it (without its regularisation), as arrays."""
        if self._columns is None:
            var_map = self.solver._pyomo_var_to_solver_var_map
            self._columns = {name: np.array([var_map[id(v)] for v in getattr(self.model, name).values()], dtype=int)
                             for name in VARIABLE_GROUPS}
            con_map = self.solver._pyomo_con_to_solver_con_map
            self._rows = np.array([con_map[self.model.market_clearing[n]] for n in self.model.NODES], dtype=int)
        lp = highs.getLp()
        if self._static is None or len(self.model.BUDGETS):   # only a budget row's coefficients change between solves
            matrix = lp.a_matrix_
            parts = (np.asarray(matrix.value_), np.asarray(matrix.index_), np.asarray(matrix.start_))
            rowwise = matrix.format_ == highspy.MatrixFormat.kRowwise   # so it is until HiGHS first runs
            A = (sp.csr_matrix(parts, shape=(lp.num_row_, lp.num_col_)).tocsc() if rowwise
                 else sp.csc_matrix(parts, shape=(lp.num_row_, lp.num_col_)))
            hessian = highs.getModel().hessian_
            h = np.zeros(lp.num_col_)
            if hessian.dim_:   # (the Hessian may cover only the first columns)
                H = sp.csc_matrix((np.asarray(hessian.value_), np.asarray(hessian.index_), np.asarray(hessian.start_)),
                                  shape=(hessian.dim_, hessian.dim_))
                h[: hessian.dim_] = H.diagonal()
            self._static = (A, h)
        A, h = self._static
        return QP(h=h, g=np.asarray(lp.col_cost_), A=A, row_lower=np.asarray(lp.row_lower_), row_upper=np.asarray(lp.row_upper_),
                  lower=np.asarray(lp.col_lower_), upper=np.asarray(lp.col_upper_))

    # ------------------------------------------------------------ fixed point
    def solve(self) -> ChainSolution:
        if self.solution is not None:      # nothing changed since the last solve
            return self.solution
        with _BLAS.limit(limits=1, user_api="blas"):
            self.solution = self._solve()
        return self.solution

    def _solve(self) -> ChainSolution:
        start = time.perf_counter()
        self._counts = (self.qp_solves, self.warm_solves)
        opts = self.options
        e = self.endogenous
        chain = self.chain
        if self.theta is None:
            guess = e.scale_node.copy()   # reference prices as the first guess
            self.theta = e.project(e.rules(guess, np.ones(len(chain.nodes), dtype=bool)))
        theta = self.theta
        scale = e.theta_scale()
        anderson = _Anderson(opts.anderson_memory)
        change = np.inf
        previous_residual = np.inf
        quantities = price = None
        for iteration in range(1, opts.max_iterations + 1):
            self._set_theta(theta)
            tc, quantities, price = self._qp()
            if quantities is None:
                return self._failure(tc, start, iteration)
            missing = self._price_out(price, theta)
            if len(missing):
                log.debug("chain %s: %d routes priced in", chain.products, len(missing))
                self.active = np.union1d(self.active, missing)
                self.rebuilds += 1
                self._build()
                continue
            active = self._active_nodes(quantities)
            g = e.project(e.rules(price, active))
            relevant = self._relevant(active)
            residual = np.abs(g - theta) / scale
            change = float(residual[relevant].max()) if relevant.any() else 0.0
            log.debug("chain %s iteration %d: largest relative change of a charge %.3g", chain.products, iteration, change)
            if change <= opts.tolerance:
                self.theta = theta
                return self._solution(quantities, price, theta, iteration, change, start)
            if change > 4 * previous_residual:
                anderson.reset()
            previous_residual = change
            theta = e.project(anderson.step(theta, g, scale))
        self.theta = theta
        sol = self._solution(quantities, price, theta, opts.max_iterations, change, start)
        sol.status = "not_converged"
        sol.message = (f"the fixed point of price-dependent charges did not converge in {opts.max_iterations} "
                       f"iterations (largest relative change {change:.2e})")
        return sol

    def _active_nodes(self, q: dict[str, np.ndarray]) -> np.ndarray:
        """Nodes whose price is pinned down: something is produced, refined, shipped in or out,
        bought, or released from a stockpile."""
        c = self.chain.coef
        throughput = np.abs(self.chain.fixed_purchase).astype(float)
        np.add.at(throughput, c["supply_node"], q["supply"])
        np.add.at(throughput, c["refining_output_node"], q["refining"])
        np.add.at(throughput, c["arc_to"], q["flow"])
        np.add.at(throughput, c["arc_from"], q["flow"])
        np.add.at(throughput, c["demand_node"], q["demand"])
        return throughput > 1e-12 * self.chain.node_scale()

    def _relevant(self, active: np.ndarray) -> np.ndarray:
        e = self.endogenous
        return np.concatenate([np.ones(len(e.levy_keys) + len(e.support_rows) + len(e.budget_reserves), dtype=bool),
                               active[e.origin]])

    def _idle_prices(self, q: dict[str, np.ndarray], price: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """Where nothing is produced, bought, refined or shipped, the equilibrium leaves the
        price anywhere in an interval, so solvers differ. Report the top of it: what one
        more unit would cost there — the cheapest of importing it, supplying it, refining it.
        (Every equilibrium condition still holds; results become unique and reproducible.)"""
        c, e = self.chain.coef, self.endogenous
        idle = ~self._active_nodes(q)
        np.logical_and.at(idle, c["refining_input_node"], q["refining"] <= 0)
        np.logical_and.at(idle, c["reserve_node"], q["reserve"] <= 0)
        if not idle.any():
            return price
        price = price.copy()
        levy = np.zeros(len(e.origin))
        for k, arcs in enumerate(e.levy_arcs):
            levy[arcs] = e.split(theta)[0][k]
        usable = c["arc_capacity"] > 0
        own = np.full(len(price), np.inf)
        supply_start = np.where(c["supply_rising_max"] > 0, c["supply_threshold"], np.inf)
        np.minimum.at(own, c["supply_node"], np.where(q["supply"] <= 0, supply_start, np.inf))
        for _ in range(len(price)):        # idle transit markets can chain: settle in passes
            p_from = price[e.origin]
            landed = p_from + e.transport + e.specific + e.import_rate * customs_value(p_from + e.transport) \
                - e.export_subsidy_rate * customs_value(p_from) + levy
            best = own.copy()
            np.minimum.at(best, e.destination, np.where(usable, landed, np.inf))
            refined = price[c["refining_input_node"]] / c["refining_yield"] + c["refining_threshold"]
            np.minimum.at(best, c["refining_output_node"], np.where(c["refining_rising_max"] > 0, refined, np.inf))
            new = np.where(idle & np.isfinite(best), best, price)
            # A market nothing can reach has no top: take the lowest price at which no
            # route out of it would pay (the bottom of its interval) if the solver's is below.
            unreachable = idle & ~np.isfinite(best)
            if unreachable.any():
                floor = np.full(len(price), -np.inf)
                np.maximum.at(floor, e.origin, np.where(usable & unreachable[e.origin], self._no_export_price(price, levy), -np.inf))
                new = np.where(unreachable, np.maximum(new, floor), new)
            if np.allclose(new, price, rtol=1e-15, atol=0.0):
                break
            price = new
        return price

    def _no_export_price(self, price: np.ndarray, levy: np.ndarray) -> np.ndarray:
        """Per route: the exporter price p at which its landed price equals the importer's.
        Landed = p + t + specific + levy + rate·max(0, p + t) − subsidy rate·max(0, p),
        increasing in p; solved on each piece of max(0, ·) (p ≥ 0, −t ≤ p < 0, p < −t)."""
        e = self.endogenous
        t, rate = e.transport, e.import_rate
        gap = price[e.destination] - t - e.specific - levy
        with np.errstate(divide="ignore", invalid="ignore"):
            positive = (gap - rate * t) / (1.0 + rate - e.export_subsidy_rate)
            between = (gap + t) / (1.0 + rate) - t
        return np.where(positive >= 0, positive, np.where(between >= -t, between, gap))

    def _solution(self, q, price, theta, iterations, change, start) -> ChainSolution:
        e, chain = self.endogenous, self.chain
        price = self._idle_prices(q, price, theta)
        levies, supports, _, adval = e.split(theta)
        arcs = self.policy.arcs.iloc[chain.arc_rows]
        p_origin = price[e.origin]
        cif = customs_value(p_origin + e.transport)
        charges = {
            "tariff": arcs["tariff_specific"].to_numpy() + arcs["tariff_ad_valorem"].to_numpy() * cif,
            "anti_dumping": arcs["anti_dumping_specific"].to_numpy() + arcs["anti_dumping_ad_valorem"].to_numpy() * cif,
            "export_subsidy": arcs["subsidy_specific"].to_numpy() + arcs["subsidy_ad_valorem"].to_numpy() * customs_value(p_origin),
            "levy": np.zeros(len(chain.arc_rows)),
        }
        for k, a in enumerate(e.levy_arcs):
            charges["levy"][a] = levies[k]
        return ChainSolution(
            status="optimal",
            price=price,
            supply=q["supply"], demand=q["demand"], refining=q["refining"], flow=q["flow"], reserve=q["reserve"],
            charges=charges,
            levy={key: float(levies[k]) for k, key in enumerate(e.levy_keys)},
            refining_support=_expand(supports, e.support_rows, len(chain.refining_rows)),
            iterations=iterations,
            qp_solves=self.qp_solves - self._counts[0],
            warm_solves=self.warm_solves - self._counts[1],
            fixed_point_change=change,
            seconds=time.perf_counter() - start,
        )

    def _failure(self, tc, start, iteration) -> ChainSolution:
        from .explain import explain_failure  # only on failure: builds and solves an elastic LP

        status = {TerminationCondition.provenInfeasible: "infeasible",
                  TerminationCondition.unbounded: "unbounded",
                  TerminationCondition.infeasibleOrUnbounded: "infeasible"}.get(tc, "error")
        status, message, conflicts = explain_failure(self.chain, self.policy, status, self.endogenous.arc_charges(self.theta))
        return ChainSolution(status=status, message=message, conflicts=conflicts, iterations=iteration,
                             qp_solves=self.qp_solves, seconds=time.perf_counter() - start)


def _retry(highs, options: SolverOptions):
    """When HiGHS's QP solver stalls or fails (it can cycle on tied routes, or misjudge a
    convex QP as non-convex), solve a copy in which every variable of zero curvature gets a
    little; the answer is only a starting point for the exact polish. Failing that, any
    feasible point from the simplex method will do."""
    model = highs.getModel()
    hessian = model.hessian_
    n = model.lp_.num_col_
    diagonal = np.zeros(n)
    if hessian.dim_:
        H = sp.csc_matrix((np.asarray(hessian.value_), np.asarray(hessian.index_), np.asarray(hessian.start_)),
                          shape=(hessian.dim_, hessian.dim_))
        diagonal[: hessian.dim_] = H.diagonal()
    for curvature, quadratic in ((options.retry_curvature, True), (0.0, False)):
        copy = highspy.Highs()
        copy.setOptionValue("output_flag", False)
        copy.setOptionValue("time_limit", options.qp_time_limit)
        copy.setOptionValue("qp_iteration_limit", max(1000, 20 * (n + model.lp_.num_row_)))
        copy.passModel(model.lp_)
        if quadratic:
            values = np.where(diagonal > 0, diagonal, curvature)
            copy.passHessian(n, n, highspy.HessianFormat.kTriangular, np.arange(n + 1, dtype=np.int32),
                             np.arange(n, dtype=np.int32), values)
        else:   # feasibility only
            copy.changeColsCost(n, np.arange(n, dtype=np.int32), np.zeros(n))
        copy.run()
        if copy.getModelStatus() == highspy.HighsModelStatus.kOptimal:
            solution = copy.getSolution()
            return np.asarray(solution.col_value), np.asarray(solution.row_dual)
    return None


def _row_violation(qp: QP, x: np.ndarray) -> float:
    """Largest violation of a row bound at `x` (rows are scaled to about 1)."""
    r = qp.A @ x
    return float(np.maximum(np.maximum(qp.row_lower - r, r - qp.row_upper), 0.0).max(initial=0.0))


def _expand(values: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n)
    out[rows] = values
    return out
