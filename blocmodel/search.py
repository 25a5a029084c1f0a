"""The one-dimensional search over exact equilibria (`optimize.py` docstring, steps 1–4): a
grid, bisection to each target's boundary, golden section on each feasible run, the best
local optima refined to their first-order condition (`certificate.Refinement`), and the
evidence `optimum.json` shows."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from .certificate import CERTIFIED, Refinement, _key

if TYPE_CHECKING:
    from .optimize import Goal

GOLDEN = (math.sqrt(5) - 1) / 2
MAX_REFINED_OPTIMA = 3          # local optima refined per feasible run (the best ones)
RELATIVE_NOISE = 1e-9           # objective values this close (relative) are ties: equilibria are exact to ~1e-9


def search_1d(f: Callable[[float], dict[str, float]], goal: Goal, lower: float, upper: float, grid: int,
              tol: float, piece: Callable[[float], str] | None = None, exact: bool = True) -> dict[str, Any]:
    """Best x in [lower, upper] of `goal` over f (see the module docstring); returns x, the
    status and the evidence. `piece(x)`: the equilibrium's piece signature at x (kinks are
    then located exactly); `exact`: refine the answer until its first-order condition holds
    (else golden section and bisection stop at `tol`)."""
    samples: dict[float, dict[str, float]] = {}

    def at(x: float) -> dict[str, float]:
        x = float(min(max(x, lower), upper))
        if x not in samples:
            samples[x] = f(x)
        return samples[x]

    grid_points = np.linspace(lower, upper, grid)
    for x in grid_points:
        at(x)
    scores = [goal.score(samples[float(x)]) for x in grid_points]
    lowest_on_grid = min(scores)
    noise = RELATIVE_NOISE * max(1.0, max(abs(s) for s in scores))
    exactly = Refinement(at, piece, goal, lower, upper, (max(scores) - lowest_on_grid) / (upper - lower), noise, samples) if exact else None

    # 2. feasibility boundaries: the exact boundary (regula falsi), or bisected to within tol
    boundaries = []
    for a, b in zip(grid_points[:-1], grid_points[1:]):
        ok_a, ok_b = goal.feasible(samples[a]), goal.feasible(samples[b])
        if ok_a == ok_b:
            continue
        good, bad = (a, b) if ok_a else (b, a)
        boundary = {"feasible": good, "infeasible": bad}
        if exactly is not None:
            boundary["certificate"] = exactly.boundary(boundary)
        else:
            while abs(boundary["infeasible"] - boundary["feasible"]) > tol:
                mid = (boundary["feasible"] + boundary["infeasible"]) / 2
                boundary["feasible" if goal.feasible(at(mid)) else "infeasible"] = mid
        boundaries.append(boundary)

    # 3. local optima of each feasible run: safeguarded Newton from each (golden section
    #    first where that does not certify it), or golden section alone
    def runs() -> list[list[float]]:
        out, current = [], []
        for x in sorted(samples):
            if goal.feasible(samples[x]):
                current.append(x)
            elif current:
                out.append(current)
                current = []
        return out + ([current] if current else [])

    feasible_runs = runs()
    if not feasible_runs:
        evidence = _evidence(samples, goal, grid_points, boundaries, [], tol)
        nearest = min(samples, key=lambda x: (goal.violation(samples[x]), x))
        evidence["least_violation"] = {"lever": nearest, **samples[nearest], "violation": goal.violation(samples[nearest])}
        evidence["note"] = ("no solved point meets the targets; where every constraint is monotone in the lever "
                            "its best value over the bounds is at a bound, and both bounds were solved")
        evidence["why"] = _why_infeasible(samples, goal)
        return {"status": "infeasible", "x": None, "evidence": evidence}
    refined = []
    for run in feasible_runs:
        run_scores = [goal.score(samples[x]) for x in run]
        for k in sorted(_local_optima(run_scores), key=lambda k: run_scores[k])[:MAX_REFINED_OPTIMA]:
            a, b = run[max(k - 1, 0)], run[min(k + 1, len(run) - 1)]
            entry = {"grid_optimum": run[k]}
            if exactly is not None and (k == 0 or k == len(run) - 1):
                entry.update(bracket=[a, b], method="edge of the feasible set (a lever bound or a target): see the certificate")
            elif exactly is not None:
                cert = exactly.interior(run[k], a, b)
                entry.update(bracket=[a, b], method="safeguarded Newton on the derivative", kind=cert["kind"])
                if cert["kind"] not in CERTIFIED:
                    start = _golden(at, goal, a, b, tol)
                    cert = exactly.interior(min((x for x in samples if start[0] <= x <= start[1] and goal.feasible(samples[x])),
                                                key=goal.score_of(samples), default=run[k]), a, b)
                    entry.update(golden_bracket=start, method="golden section, then safeguarded Newton", kind=cert["kind"])
            else:
                entry["bracket"] = _golden(at, goal, a, b, tol)
            refined.append(entry)
    feasible = [x for x in samples if goal.feasible(samples[x])]
    lowest = min(goal.score(samples[x]) for x in feasible)
    best = min(x for x in feasible if goal.score(samples[x]) <= lowest + noise)     # ties: the lowest lever

    # 4. the certificate of the answer
    certificate = None
    if exactly is not None:
        best, certificate = exactly.certify(best, boundaries, tol)
    either_side = {}
    for side, x in (("below", best - tol), ("above", best + tol)):
        if lower <= x <= upper:
            values = at(x)
            either_side[side] = {"lever": x, **values, "feasible": goal.feasible(values)}
    evidence = _evidence(samples, goal, grid_points, boundaries, refined, tol)
    evidence["either_side"] = either_side
    evidence["at_bound"] = "lower" if best - lower <= tol else "upper" if upper - best <= tol else None
    evidence["on_target_boundary"] = any(abs(best - b["feasible"]) <= tol for b in boundaries)
    better = [s for s in either_side.values() if s["feasible"] and goal.score(s) < goal.score(at(best)) - noise]
    evidence["neighbours_not_better"] = not better
    if certificate is not None:
        evidence["certificate"] = certificate
    return {"status": "optimal", "x": best, "evidence": evidence}


def _why_infeasible(samples, goal: Goal) -> list[str]:
    """Per missed constraint: how its indicator moves over the bounds, in words."""
    out = []
    xs = sorted(samples)
    for name, qualifier, sense, bound in goal.constraints:
        key = _key((name, qualifier))
        values = [samples[x][key] for x in xs]
        first, last = values[0], values[-1]
        reach = min(values) if sense == "<=" else max(values)
        if (sense == "<=" and reach <= bound) or (sense == ">=" and reach >= bound):
            continue
        moves = "rises" if last > first else "falls" if last < first else "does not move"
        away = last != first and (last > first) == (sense == "<=")
        out.append(f"{key} {moves} from {first:.6g} (lever {xs[0]:.6g}) to {last:.6g} (lever {xs[-1]:.6g}) over the bounds; "
                   f"its best value {reach:.6g} misses {sense} {bound:g}"
                   + ("; the lever moves it away from the target" if away else ""))
    return out


# ------------------------------------------------------------- exact optimum
def _local_optima(scores: list[float], relative_noise: float = RELATIVE_NOISE) -> list[int]:
    """Indices of the local minima of a sampled sequence; values equal within the solver's
    noise form a plateau, counted once (at its first point: ties go to the lowest lever)."""
    eps = relative_noise * max(1.0, max((abs(s) for s in scores), default=1.0))
    plateaus: list[list[int]] = []
    for k, s in enumerate(scores):
        if plateaus and abs(s - scores[plateaus[-1][0]]) <= eps:
            plateaus[-1].append(k)
        else:
            plateaus.append([k])
    out = []
    for j, plateau in enumerate(plateaus):
        level = scores[plateau[0]]
        if (j == 0 or scores[plateaus[j - 1][0]] > level) and (j == len(plateaus) - 1 or scores[plateaus[j + 1][0]] > level):
            out.append(plateau[0])
    return out


def _golden(at, goal: Goal, a: float, b: float, tol: float) -> list[float]:
    """Golden-section search for the lowest score on [a, b]; returns the final bracket."""
    def score(x):
        values = at(x)
        return goal.score(values) if goal.feasible(values) else math.inf
    c, d = b - GOLDEN * (b - a), a + GOLDEN * (b - a)
    fc, fd = score(c), score(d)
    while b - a > tol:
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - GOLDEN * (b - a)
            fc = score(c)
        else:
            a, c, fc = c, d, fd
            d = a + GOLDEN * (b - a)
            fd = score(d)
    return [a, b]


def _evidence(samples, goal: Goal, grid_points, boundaries, refined, tol) -> dict[str, Any]:
    xs = sorted(samples)
    monotone = {}
    for name, qualifier, _, _ in goal.constraints:
        key = _key((name, qualifier))
        steps = np.diff([samples[x][key] for x in xs])
        scale = max(1e-12, float(np.max(np.abs([samples[x][key] for x in xs]))))
        rising, falling = bool(np.all(steps >= -1e-9 * scale)), bool(np.all(steps <= 1e-9 * scale))
        monotone[key] = "constant" if rising and falling else "rising" if rising else "falling" if falling else "not monotone"
    grid_rows = [{"lever": float(x), **samples[float(x)], "feasible": goal.feasible(samples[float(x)])} for x in grid_points]
    local_optima = len(_local_optima([goal.score(r) for r in grid_rows if r["feasible"]]))
    return {"tolerance": tol, "grid_spacing": float(grid_points[1] - grid_points[0]), "grid": grid_rows,
            "constraint_monotonicity": monotone, "target_boundaries": boundaries, "refined": refined,
            "local_optima_on_grid": local_optima, "unimodal_on_grid": local_optima <= 1, "evaluations": len(samples)}
