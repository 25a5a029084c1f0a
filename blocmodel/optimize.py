"""Optimal instruments: the lever values (a floor, a tariff, any numeric scenario field)
that maximise or minimise an outcome of the bloc subject to indicator targets, found by a
bounded search over exact equilibria.

    >>> optimum = optimize("data/scenarios/optimize_ndpr_floor_deficiency_payment.toml")
    >>> optimum.levers, optimum.objective, optimum.status, optimum.evidence

Why a search and not one big program: the equilibrium with a floor or a tariff as a
*variable* is a complementarity problem whose objective (welfare, fiscal cost) multiplies
prices by quantities, i.e. a nonconvex MIQP/MPEC that HiGHS cannot solve and that a MILP
could only reach with big-M bounds nobody can derive safely for every instrument. Instead
every point of the search is an exact equilibrium from `Session.solve` (checked by the
independent equilibrium check, complementarity residuals ≤ 1e-6), and the search over a
lever's interval [lower, upper] is:

1. **Grid.** `grid` equally spaced values are solved.
2. **Targets.** Wherever a constraint's feasibility changes between two neighbouring grid
   points, the boundary — where the constraint's value equals its bound — is found by
   regula falsi (Illinois, with a bisection step every eighth iteration) on the largest
   signed margin, until the relative residual is ≤ 1e-12 or the bracket is ≤ 1e-11 of
   the interval; the feasible end is kept (feasible: the target met to FEASIBLE_SLACK =
   1e-11 relative, the precision of an indicator of an exact equilibrium). The economics
   make the usual targets monotone in the lever (a higher floor or tariff lifts
   non-members' landed price, so the non-member share falls under a levy or a deficiency
   payment) so the feasible set is one interval; the search does not assume it, it
   reports each constraint's monotonicity over all solved points in the evidence.
3. **Objective.** Over each feasible run of solved points, every interior local optimum of
   the sampled objective is refined from its grid point by safeguarded Newton on the
   derivative inside the bracket of its two neighbours (golden section on the bracket
   first, only where Newton does not certify it); an optimum at the edge of a run is a
   binding target or lever bound (4). Ties go to the lowest lever value (the least
   intervention). The best point is the answer.
4. **Certificate.** The answer's first-order condition, in `evidence["certificate"]` (and
   `optimum.json`); `Optimum.certified` says whether it holds:
   - *target binds*: the answer is the exact boundary of 2 (its relative residual and
     bracket reported), and the objective's one-sided derivative into the feasible side
     shows that moving in does not improve it;
   - *lever bound binds*: the same one-sided derivative at the bound, into the interval;
   - *stationary*: |f'(x)|/S ≤ 1e-8, S = (max − min of the objective over the grid)/(upper
     − lower), i.e. the slope at x is zero to 1e-8 of the objective's mean slope over the
     search; f'(x) by central differences at h and h/2 (h = 1e-3 of the interval, smaller
     where needed to stay in x's piece), Richardson-extrapolated, with an error estimate
     (|D(h/2) − D(h)|/3, the error of D(h/2) before extrapolation: a bound on the
     extrapolated value's) and f''(x) (its sign says maximum or minimum);
   - *kink*: the equilibrium changes piece at x (a route opens or closes, a capacity, floor
     or quota starts to bind): Newton's step from one piece lands in another where the
     slope has turned, the boundary is located to 1e-12 of the interval by bisection on the
     piece signature, and the one-sided derivatives either side show the objective
     improves on neither side.

   Why finite differences on exact equilibria, not the implicit-function theorem on the
   solver's Jacobian (`System.exact_jacobian`): the objective is not a function of the
   chain's unknowns alone — it is welfare accounting over the results' tables (surplus
   areas, funded payments shared by burden-sharing rules, reserve valuation) across all
   chains — and a lever reaches the system through the policy resolution (a floor becomes
   levies on some routes, floors on some curves, reserve bids), so the IFT would need
   ∂R/∂θ for every lever path and ∂objective/∂(u, x) for every measure, each a second
   implementation of code that exists once. Differences need neither, work for every
   lever and measure, and are exact where it matters: every point is an equilibrium exact
   to ~1e-12 (semismooth Newton on a piecewise-linear system), and within one piece of
   that system (same active set, checked: `piece_signature` at x and at every difference
   point) the equilibrium is affine in a specific lever (a floor, a specific tariff), so
   the objective is quadratic, central differences are exact up to rounding and one
   Newton step lands on the piece's optimum; Richardson extrapolation removes the h² term
   where a lever enters non-linearly (ad valorem rates).
   Measured (tests/test_optimize.py, and the shipped optimisations): Krugman–Obstfeld's
   optimal tariff 1/3 is found to 5e-12 (relative derivative 4e-11, error estimate 2e-11),
   the welfare-maximising levy floor 5/3 to 1e-11, the least-welfare-loss deficiency
   payment 12/7 to 5e-11, closed-form floors for share targets (70/38, 21/11, 5/3) to
   2e-11 or better (relative residuals 6e-12, 5e-16, 2e-16); on the shipped data the MSP's optimal external
   tariff is certified at a relative derivative of 7e-9 whose error estimate is of the
   same size (each solve is exact to ~1e-12 of a welfare of ~1e9 USD, the difference step
   is 1e-4: the certificate is at the precision the equilibria allow), and share targets
   bind to a relative residual of 2e-16. A certificate costs 5–10 solves on a smooth
   piece; the whole search 25–40 on the shipped data.

Several levers: the product grid (fewer points per lever), then cyclic coordinate search,
each lever refined and certified as above with the others fixed, until no lever moves by
more than 1e-8 of its interval in a cycle: every lever's certificate then holds at the
same point (the gradient is zero, or each lever sits on a binding target or bound). That
is a first-order point and the best of every solved point; a global optimum additionally
needs the objective to be jointly unimodal on the feasible set, which the evidence does
not prove and says so.

Measures (`maximize`, `minimize`, `constraints`): `welfare` is the change of total welfare
against no policy of the bloc's members (or of `:REGION`, a region, group or customs
union), `welfare_loss` its negative, `world_welfare` the world's change, `fiscal_cost`
what the bloc's (or the region's) treasuries pay, USD per year; `non_member_share`,
`non_member_content_share`, `self_sufficiency` of `:PRODUCT` for the bloc's members
together (`indicators.bloc_dependency`). Dependency is measured on *use* (final demand and
refinery input): a reserve's stock purchases are not use, so a stockpile floor is judged
by what members' users buy from non-members. A target no lever value reaches is reported
as infeasible with the indicator's direction over the bounds (`evidence["why"]`): a
stockpile that buys members' output at a floor *raises* their users' non-member share.

Levers are numeric fields. A floor written with its unit (`price = "110 USD/kg"`) is
searched in that unit: the lever's bounds are read as USD/kg.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .api import Session, as_scenario
from .certificate import CERTIFIED, EXACT, _key
from .dataset import Dataset
from .errors import InputError, Problem
from .indicators import bloc_dependency
from .results import Results
from .scenario import Scenario, parse_constraint, parse_objective, scenario_from_dict
from .search import search_1d
from .sweep import get_path, set_path

log = logging.getLogger(__name__)
DEFAULT_RELATIVE_TOLERANCE = 1e-4
MAX_CYCLES = 10                 # coordinate cycles for several levers
FEASIBLE_SLACK = 1e-11          # a target is met to this (relative): indicators of exact equilibria are this precise
RETRIES = 1                     # cold re-solves of a chain that fails from a warm start


# --------------------------------------------------------------------- measures
def measure(results: Results, baseline: Results, name: str, qualifier: str | None) -> float:
    """One measure of an equilibrium (see the module docstring)."""
    members = sorted(results.policy.members)
    if name == "world_welfare":
        return float(results.welfare["total"].sum() - baseline.welfare["total"].sum())
    if name in ("welfare", "welfare_loss", "fiscal_cost"):
        regions = _regions(results, qualifier) if qualifier else members
        if not regions:
            raise InputError([Problem("optimize", f"'{name}' of the bloc needs a [bloc] with members (or '{name}:REGION')")])
        here = results.welfare.set_index("region").loc[regions]
        if name == "fiscal_cost":
            return float(here["fiscal_cost"].sum())
        change = float(here["total"].sum() - baseline.welfare.set_index("region").loc[regions, "total"].sum())
        return change if name == "welfare" else -change
    if not members:
        raise InputError([Problem("optimize", f"'{name}' is an indicator of the bloc: the scenario needs [bloc] members")])
    table = bloc_dependency(results, members, products=[qualifier]).set_index("product")
    if qualifier not in table.index:
        raise InputError([Problem("optimize", f"no bloc member uses or produces '{qualifier}'", field=name)])
    return float(table.at[qualifier, name])


def _regions(results: Results, name: str) -> list[str]:
    data = results.data
    if name in data.region_codes:
        return [name]
    for groups in (data.groups, data.customs_unions):
        if name in groups:
            return sorted(groups[name])
    raise InputError([Problem("optimize", f"unknown region or group '{name}'")])


# -------------------------------------------------------------------- evaluator
def solve_with_retry(session: Session, scenario: Scenario, counter: dict | None = None) -> Results:
    """`session.solve`, with its failed chains solved again from a cold start
    (`Session.solve(retries=...)`): a warm-started chain can fail where a fresh one solves,
    and a scenario that really has no equilibrium fails every time and raises. `counter`
    (a dict) counts the solves that needed the retry in `counter["retried"]`."""
    first = session.solve(scenario, raise_on_failure=False, retries=0)
    if first.status == "optimal":
        return first
    log.warning("%s: %s; solving again from a cold start", scenario.name, "; ".join(first.messages))
    if counter is not None:
        counter["retried"] = counter.get("retried", 0) + 1
    return session.solve(scenario, retries=RETRIES)


def piece_signature(results: Results) -> str:
    """Which piece of the piecewise-linear equilibrium system holds at a solution: each
    atom clipped or free, each vertical quantity at a bound or free, each licence price
    and bid shading zero or not, each argument's dependence on the prices (a floor's
    max(floor, π) on one side or the other). Equal signatures: same affine piece."""
    import hashlib

    digest = hashlib.sha1()
    for solution in results.solutions:
        state, system = solution.state, solution.system
        if state is None or system is None:
            digest.update(b"failed")
            continue
        digest.update(np.packbits(state.dq != 0).tobytes())
        v = system.vertical_atoms
        if len(v):
            digest.update(np.packbits(state.x > 0).tobytes() + np.packbits(state.x < system.hi[v]).tobytes())
        if len(system.bounded):
            digest.update(np.packbits(state.u[system.bounded] > 0).tobytes())
        D = state.D.tocoo()
        nonzero = D.data != 0
        digest.update(np.asarray(D.row[nonzero], dtype=np.int64).tobytes() + np.asarray(D.col[nonzero], dtype=np.int64).tobytes())
    return digest.hexdigest()[:16]


class Evaluator:
    """Solves a scenario at given lever values and measures it; every point is an exact,
    checked equilibrium of `Session.solve`, remembered (with its piece signature) so no
    point is solved twice."""

    def __init__(self, scenario: Scenario, paths: list[str], measures: list[tuple[str, str | None]],
                 session: Session, baseline: Results | None = None):
        self.template = scenario.model_dump(exclude={"optimize"})
        self.units: dict[str, str] = {}
        for path in paths:
            try:
                current = get_path(self.template, path)
            except (KeyError, IndexError, TypeError):
                raise InputError([Problem(scenario.name, f"lever path '{path}' is not a field of the scenario",
                                          field="optimize.levers")]) from None
            if isinstance(current, str):
                current = self._numeric_price(scenario, path, current)
            if isinstance(current, bool) or not isinstance(current, (int, float, type(None))):
                raise InputError([Problem(scenario.name, f"lever path '{path}' is not a numeric field", field="optimize.levers")])
        self.paths, self.measures, self.session = paths, measures, session
        self.counter: dict[str, int] = {"retried": 0}
        self.baseline = baseline if baseline is not None else solve_with_retry(session, scenario.baseline_scenario(), self.counter)
        self.points: dict[tuple[float, ...], dict[str, float]] = {}
        self.pieces: dict[tuple[float, ...], str] = {}

    def _numeric_price(self, scenario: Scenario, path: str, text: str) -> float:
        """A price written with its unit ('110 USD/kg') becomes its number, the unit moving to
        the entry's `unit` key: the lever then moves the number, in that unit."""
        from .instruments.base import parse_price

        parent_path, _, leaf = path.rpartition(".")
        parent = get_path(self.template, parent_path) if parent_path else self.template
        try:
            number, per = parse_price(text, parent.get("unit") if isinstance(parent, dict) else None)
        except ValueError as exc:
            raise InputError([Problem(scenario.name, f"lever path '{path}': {exc}", field="optimize.levers")]) from None
        if not isinstance(parent, dict) or leaf != "price":
            raise InputError([Problem(scenario.name, f"lever path '{path}' is not a numeric field", field="optimize.levers")])
        parent[leaf] = number
        if per is not None:
            parent["unit"] = f"USD/{per}"
            self.units[path] = f"USD/{per}"
        return number

    def scenario(self, x: tuple[float, ...]) -> Scenario:
        tree = copy.deepcopy(self.template)
        for path, value in zip(self.paths, x):
            set_path(tree, path, float(value))
        return scenario_from_dict(tree, source=f"scenario '{tree.get('name')}' at {dict(zip(self.paths, x))}")

    def solve(self, x) -> Results:
        return solve_with_retry(self.session, self.scenario(tuple(x)), self.counter)

    def __call__(self, x) -> dict[str, float]:
        key = tuple(float(v) for v in x)
        if key not in self.points:
            results = self.solve(key)
            self.points[key] = {_key(m): measure(results, self.baseline, *m) for m in self.measures}
            self.pieces[key] = piece_signature(results)
        return self.points[key]

    def piece(self, x) -> str:
        key = tuple(float(v) for v in x)
        self(key)
        return self.pieces[key]


# ------------------------------------------------------------------ the search
@dataclass
class Goal:
    """Objective and targets, read from an `[optimize]` table."""

    objective: tuple[str, str | None]
    maximize: bool
    constraints: list[tuple[str, str | None, str, float]]

    @classmethod
    def of(cls, spec) -> Goal:
        return cls(parse_objective(spec.maximize or spec.minimize), spec.maximize is not None,
                   [parse_constraint(c) for c in spec.constraints])

    @property
    def measures(self) -> list[tuple[str, str | None]]:
        return list(dict.fromkeys([self.objective] + [(c[0], c[1]) for c in self.constraints]))

    def score(self, values: dict[str, float]) -> float:
        """Lower is better."""
        v = values[_key(self.objective)]
        return -v if self.maximize else v

    def score_of(self, samples: dict[float, dict[str, float]]):
        """A key function: the score of a solved lever value."""
        return lambda x: self.score(samples[x])

    def violation(self, values: dict[str, float]) -> float:
        """How far the targets are missed (0 when met), summed over constraints."""
        total = 0.0
        for name, qualifier, sense, bound in self.constraints:
            v = values[_key((name, qualifier))]
            total += max(0.0, v - bound) if sense == "<=" else max(0.0, bound - v)
        return total

    def feasible(self, values: dict[str, float], slack: float | None = None) -> bool:
        """Every target met, to FEASIBLE_SLACK (relative to max(1, |bound|)): the precision of
        an indicator of an exact equilibrium."""
        slack = FEASIBLE_SLACK if slack is None else slack
        for name, qualifier, sense, bound in self.constraints:
            v = values[_key((name, qualifier))]
            allowed = slack * max(1.0, abs(bound))
            if (sense == "<=" and v > bound + allowed) or (sense == ">=" and v < bound - allowed):
                return False
        return True


# ------------------------------------------------------------------ public API
@dataclass
class Optimum:
    """The answer of `optimize`: lever values, objective, status and the evidence."""

    status: str
    levers: dict[str, float | None]
    objective: float | None
    objective_name: str
    sense: str
    measures: dict[str, float]
    evidence: dict[str, Any]
    results: Results | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "levers": self.levers, "objective": self.objective,
                "objective_name": self.objective_name, "sense": self.sense, "measures": self.measures,
                "method": "bounded search over exact equilibria (grid, bisection to targets, golden section), then the "
                          "first-order condition refined to 1e-8 (Newton on finite-difference derivatives with Richardson "
                          "extrapolation, or regula falsi on a binding target); see blocmodel/optimize.py",
                "certificate": self.certificate, "evidence": self.evidence}

    @property
    def certificate(self) -> dict[str, Any] | None:
        """Why the answer is optimal: per lever path with several levers."""
        if "certificate" in self.evidence:
            return self.evidence["certificate"]
        return self.evidence.get("certificates")

    @property
    def certified(self) -> bool:
        """The first-order condition holds (stationary, a binding target or bound, or a kink)."""
        cert = self.certificate
        if cert is None:
            return False
        certs = cert.values() if "kind" not in cert else [cert]
        return all(c.get("kind") in CERTIFIED for c in certs)



def optimize(scenario: Scenario | str | Path | dict, data: Dataset | str | Path | None = None, *,
             session: Session | None = None, baseline: Results | None = None,
             evaluator: Evaluator | None = None) -> Optimum:
    """Solve the scenario's `[optimize]` problem; `session` reuses built chains. `baseline`:
    the no-policy results welfare changes are measured against (default: solved here, at the
    scenario's horizon)."""
    scen = as_scenario(scenario)
    spec = scen.optimize
    if spec is None:
        raise InputError([Problem(scen.name, "has no [optimize] table (levers and maximize or minimize)")])
    session = session or Session(data)
    goal = Goal.of(spec)
    levers = spec.levers
    paths = [lever.path for lever in levers]
    f = evaluator or Evaluator(scen, paths, goal.measures, session, baseline)
    tols = [lever.tolerance or DEFAULT_RELATIVE_TOLERANCE * (lever.bounds[1] - lever.bounds[0]) for lever in levers]
    name = spec.maximize or spec.minimize
    sense = "maximize" if spec.maximize else "minimize"
    piece = getattr(f, "piece", None)

    if len(levers) == 1:
        (lower, upper), tol = levers[0].bounds, tols[0]
        out = search_1d(lambda x: f((x,)), goal, lower, upper, spec.grid, tol,
                        piece=(lambda x: piece((x,))) if piece else None)
        x = None if out["x"] is None else (out["x"],)
        evidence = out["evidence"]
        status = out["status"]
    else:
        x, status, evidence = _coordinate_search(f, goal, levers, tols, spec.grid, piece)
    evidence["solves_retried_cold"] = getattr(f, "counter", {}).get("retried", 0)
    if getattr(f, "units", None):
        evidence["lever_units"] = dict(f.units)
    if x is None:
        return Optimum("infeasible", dict.fromkeys(paths), None, name, sense, {}, evidence)
    values = f(x)
    results = f.solve(x)
    return Optimum(status, dict(zip(paths, map(float, x))), values[_key(goal.objective)], name, sense, values,
                   evidence, results)


def _coordinate_search(f, goal: Goal, levers, tols, grid, piece=None):
    k = len(levers)
    per_lever = max(3, int(round(grid ** (1 / k))) | 1)
    axes = [np.linspace(*lever.bounds, per_lever) for lever in levers]
    points = [tuple(map(float, p)) for p in np.array(np.meshgrid(*axes, indexing="ij")).reshape(k, -1).T]
    feasible = [p for p in points if goal.feasible(f(p))]
    start = {"points": len(points), "per_lever": per_lever, "feasible": len(feasible)}
    if not feasible:
        return None, "infeasible", {"product_grid": start, "note": "no point of the product grid meets the targets"}
    x = list(min(feasible, key=lambda p: (goal.score(f(p)), p)))
    cycles = []
    certificates: dict[str, dict] = {}
    widths = [lever.bounds[1] - lever.bounds[0] for lever in levers]
    converged = False
    for cycle in range(MAX_CYCLES):
        moved = 0.0
        for j, lever in enumerate(levers):
            def along(v, j=j):
                return f(tuple(x[:j] + [v] + x[j + 1:]))

            def piece_along(v, j=j):
                return piece(tuple(x[:j] + [v] + x[j + 1:]))
            out = search_1d(along, goal, *lever.bounds, grid, tols[j], piece=piece_along if piece else None)
            if out["x"] is not None and goal.score(along(out["x"])) <= goal.score(f(tuple(x))):
                moved = max(moved, abs(out["x"] - x[j]) / widths[j])
                x[j] = out["x"]
                certificates[lever.path] = out["evidence"].get("certificate")
            cycles.append({"cycle": cycle, "lever": lever.path, "value": x[j],
                           "local_optima_on_grid": out["evidence"]["local_optima_on_grid"]})
        # every lever certified with the others at their final values: the gradient's
        # components are zero (or bound/target-constrained) at one point
        if moved <= EXACT:
            converged = True
            break
    evidence = {"product_grid": start, "cycles": cycles, "tolerances": dict(zip([lv.path for lv in levers], tols)),
                "evaluations": len(f.points), "converged": converged, "certificates": certificates,
                "note": "each lever satisfies its first-order condition with the others at the answer (a zero gradient, "
                        "or a binding target or bound), and the answer is the best of every solved point; a global "
                        "optimum also needs the objective to be jointly unimodal on the feasible set (not proven here)"}
    return tuple(x), "optimal" if converged else "not_converged", evidence
