"""The exact end of a 1-D search: an optimum found on a grid and by golden section is refined
until its first-order condition holds — the objective's derivative (central differences on
exact equilibria within one piece of the equilibrium system, Richardson-extrapolated) is
zero to `EXACT` relative, or a target binds (regula falsi to `ROOT`), or a lever bound
binds, or the optimum sits on a kink — and a certificate says which (`optimize.py` step 4)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .optimize import Goal

EXACT = 1e-8                    # first-order condition: relative derivative at most this
ROOT = 1e-12                    # a binding target: relative residual at most this (or a bracket of a few ulps)


def _key(m: tuple[str, str | None]) -> str:
    """A measure's name in the evaluated values: 'name' or 'name:qualifier'."""
    return f"{m[0]}:{m[1]}" if m[1] else m[0]


CERTIFIED = ("stationary", "target binds", "lever bound binds", "kink")
MAX_NEWTON = 40


class Refinement:
    """First-order conditions of a 1-D search (`optimize.py` docstring, step 4). `slope_scale` is
    the objective's variation over the grid divided by the interval: a derivative is zero
    when |f'|/slope_scale ≤ EXACT. Works on `score` (lower is better); certificates report
    the objective's own derivative (× −1 for maximize)."""

    def __init__(self, at, piece, goal: Goal, lower: float, upper: float, slope_scale: float, noise: float,
                 samples: dict[float, dict[str, float]]):
        self.at, self.piece, self.goal, self.samples = at, piece, goal, samples
        self.lower, self.upper, self.width = lower, upper, upper - lower
        self.slope_scale = max(slope_scale, noise / self.width)
        self.noise = noise
        self.h0 = 1e-3 * self.width
        self.sign = -1.0 if goal.maximize else 1.0
        self.found: dict[float, dict] = {}          # lever -> certificate of a stationary point or kink there

    def score(self, x: float) -> float:
        return self.goal.score(self.at(x))

    def same_piece(self, points) -> bool:
        return self.piece is None or len({self.piece(p) for p in points}) == 1

    # ---------------------------------------------------------------- derivatives
    def central(self, x: float, h: float | None = None) -> dict | None:
        """f'(x) by central differences at h and h/2, Richardson-extrapolated, and f''(x),
        from points in x's piece (h shrinks until they are); None when x is at a kink."""
        h = min(h or self.h0, x - self.lower, self.upper - x)
        for _ in range(14):
            if h <= 1e-13 * self.width:
                return None
            pts = [x - h, x - h / 2, x, x + h / 2, x + h]
            if self.same_piece(pts):
                fm, fm2, f0, fp2, fp = (self.score(p) for p in pts)
                d_h, d_half = (fp - fm) / (2 * h), (fp2 - fm2) / h
                return {"derivative": (4 * d_half - d_h) / 3, "error": abs(d_half - d_h) / 3, "step": h,
                        "curvature": (fp - 2 * f0 + fm) / h ** 2}
            h /= 8
        return None

    def one_sided(self, x: float, direction: float, h: float | None = None) -> dict | None:
        """The score's slope at x going in `direction` (per unit lever), from x and points on
        that side in one piece, Richardson-extrapolated."""
        room = (self.upper - x) if direction > 0 else (x - self.lower)
        h = min(h or self.h0, room)
        for _ in range(14):
            if h <= 1e-13 * self.width:
                return None
            pts = [x + direction * h / 2, x + direction * h]
            if self.same_piece(pts):
                f0, f1, f2 = self.score(x), self.score(pts[0]), self.score(pts[1])
                d_h, d_half = (f2 - f0) / h, (f1 - f0) / (h / 2)
                return {"slope": 2 * d_half - d_h, "error": abs(d_half - d_h), "step": h, "direction": direction}
            h /= 8
        return None

    def improves(self, d: dict | None) -> bool:
        return d is not None and d["slope"] < -EXACT * self.slope_scale - d["error"]

    def fields(self, d: dict | None, where: str) -> dict[str, Any]:
        """A one-sided slope as certificate fields: the objective's derivative d/d(lever) in its
        own sense and whether moving `where` improves the objective."""
        if d is None:
            return {"derivative": None, "derivative_note": f"no one-sided difference {where}: the piece changes at the point"}
        derivative = self.sign * d["direction"] * d["slope"]
        return {"derivative": derivative, "derivative_error": d["error"], "relative_derivative": derivative / self.slope_scale,
                "improves_moving": f"{where}: {'yes' if self.improves(d) else 'no'}", "derivative_step": d["step"],
                "derivative_method": "one-sided differences at h and h/2, Richardson-extrapolated (2·D(h/2) − D(h)), "
                                     "every point an exact equilibrium in one piece of the equilibrium system"}

    # ------------------------------------------------------------------- targets
    def boundary(self, boundary: dict) -> dict[str, Any]:
        """The binding target's boundary inside a bracket [feasible, infeasible] by Illinois
        regula falsi on the largest signed margin (value − bound for <=, bound − value for >=,
        relative to max(1, |bound|); ≤ 0 where feasible); the feasible end is kept."""
        def margin(v: float) -> tuple[float, str]:
            values = self.at(v)
            worst = None
            for name, qualifier, sense, bound in self.goal.constraints:
                value = values[_key((name, qualifier))]
                m = (value - bound if sense == "<=" else bound - value) / max(1.0, abs(bound))
                if worst is None or m > worst[0]:
                    worst = (m, f"{_key((name, qualifier))} {sense} {bound:g}")
            return worst

        good, bad = float(boundary["feasible"]), float(boundary["infeasible"])
        (true_good, _), (true_bad, _) = margin(good), margin(bad)
        wg, wb = true_good, true_bad            # Illinois: a stale end's margin is halved
        side = iterations = 0
        for iterations in range(1, 100):
            if abs(true_good) <= ROOT or abs(bad - good) <= 1e-11 * self.width:
                break
            x = good - wg * (bad - good) / (wb - wg) if wb != wg else (good + bad) / 2
            if iterations % 8 == 0 or not min(good, bad) < x < max(good, bad):
                x = (good + bad) / 2            # safeguard: a bisection step now and then
            m, _ = margin(x)
            if self.goal.feasible(self.at(x)):      # the same test as everywhere (to FEASIBLE_SLACK)
                good, true_good, wg = x, m, m
                if side == -1:
                    wb /= 2
                side = -1
            else:
                bad, true_bad, wb = x, m, m
                if side == 1:
                    wg /= 2
                side = 1
        true_good, which = margin(good)
        boundary.update({"feasible": good, "infeasible": bad})
        return {"kind": "target binds", "constraint": which, "lever": good, "value": self.at(good)[which.split(" ")[0]],
                "relative_residual": true_good, "bracket": sorted([good, bad]), "bracket_width": abs(bad - good),
                "iterations": iterations, "method": "Illinois regula falsi on the target's margin inside the grid's bracket"}

    # ------------------------------------------------------------------ interior
    def interior(self, x0: float, lo: float, hi: float) -> dict[str, Any]:
        """A stationary point or kink of the score in [lo, hi], by Newton's method on the
        derivative from x0: within one piece the score is quadratic in a specific lever, so a
        Newton step lands on the piece's stationary point; where that lies in another piece
        and the slope changes sign on the way, the boundary between the pieces is found by
        bisection on the piece signature and is either crossed (the slope keeps its sign) or
        is the optimum (a kink)."""
        x = x0
        history: list[dict] = []
        # [lo, hi] starts as the search's nearest samples either side; on a flat optimum noise
        # can leave them a hair from x, all on one side of the stationary point (measured: the
        # MSP tariff, samples 1e-12 apart, f' = 5.8e5 = 1e-4 of the slope scale at both). An end
        # is known to hold the optimum only once the derivative's sign there says so; until
        # then Newton may step past it.
        known = {"lo": False, "hi": False}
        for _ in range(MAX_NEWTON):
            if x <= self.lower or x >= self.upper:        # at a lever bound: binds unless moving in improves
                inward = 1.0 if x <= self.lower else -1.0
                d = self.one_sided(x, inward)
                if not self.improves(d):
                    cert = {"kind": "lever bound binds", "bound": "lower" if inward > 0 else "upper", "lever": x,
                            **self.fields(d, "into the bounds"), "iterations": history}
                    self.found[x] = cert
                    return cert
                x = x + inward * min(self.h0, (hi - lo) / 2 if hi > lo else self.h0)
                continue
            d = self.central(x)
            if d is None:
                return self._kink(x - 1e-13 * self.width, x + 1e-13 * self.width, history, [lo, hi])
            entry = {"lever": x, "derivative": self.sign * d["derivative"],
                     "relative_derivative": self.sign * d["derivative"] / self.slope_scale, "error": d["error"],
                     "curvature": self.sign * d["curvature"], "step": d["step"]}
            history.append(entry)
            if abs(d["derivative"]) <= EXACT * self.slope_scale:
                cert = {"kind": "stationary" if d["curvature"] >= -EXACT * self.slope_scale / self.width else "not certified",
                        "lever": x, **{k: entry[k] for k in ("derivative", "relative_derivative", "curvature")},
                        "derivative_error": d["error"], "derivative_step": d["step"], "slope_scale": self.slope_scale,
                        "bracket": [lo, hi], "iterations": history,
                        "method": "Newton on f'(x) = 0; f' by central differences at h and h/2, Richardson-extrapolated "
                                  "((4·D(h/2) − D(h))/3), f'' from the same points; every point an exact equilibrium in x's piece",
                        "condition": f"|f'(x)|/S ≤ {EXACT:g}, S = (max − min of the objective over the grid)/(upper − lower)"}
                self.found[x] = cert
                return cert
            if d["derivative"] > 0:
                hi, known["hi"] = min(hi, x), True
            else:
                lo, known["lo"] = max(lo, x), True
            newton = x - d["derivative"] / d["curvature"] if d["curvature"] > 0 else None
            if newton is not None and self.lower < newton < self.upper:
                if newton >= hi and not known["hi"]:
                    hi = min(self.upper, newton + (newton - x))
                elif newton <= lo and not known["lo"]:
                    lo = max(self.lower, newton - (x - newton))
            trial = newton if newton is not None and lo < newton < hi else (lo + hi) / 2
            if hi - lo <= 1e-12 * self.width:
                return self._kink(lo, hi, history, [lo, hi])
            if self.piece is not None and self.piece(trial) != self.piece(x):
                beyond = self.one_sided(trial, -np.sign(trial - x))   # slope at the trial, looking back
                if beyond is not None and beyond["slope"] < 0:        # the score rises again past the trial: the turn is in between
                    a, b = self._piece_boundary(x, trial)
                    across = self.one_sided(b, np.sign(trial - x))
                    if not self.improves(across):
                        return self._kink(a, b, history, [lo, hi])
                    trial = (b + trial) / 2                            # a kink on the way down: cross it
            x = trial
        return {"kind": "not certified", "lever": x, "iterations": history, "bracket": [lo, hi],
                "note": f"no certificate after {MAX_NEWTON} Newton steps"}

    def _piece_boundary(self, a: float, b: float) -> tuple[float, float]:
        """Adjacent levers (≤ 1e-12 of the interval apart) either side of the first change of
        piece going from a towards b: bisection on the piece signature."""
        start = self.piece(a)
        while abs(b - a) > 1e-12 * self.width:
            mid = (a + b) / 2
            if self.piece(mid) == start:
                a = mid
            else:
                b = mid
        return a, b

    def _kink(self, a: float, b: float, history, bracket) -> dict[str, Any]:
        """A kink between adjacent levers a < b: optimal when the score does not fall either way."""
        a, b = min(a, b), max(a, b)
        a, b = max(a, self.lower), min(b, self.upper)
        left, right = self.one_sided(a, -1.0), self.one_sided(b, 1.0)
        holds = not self.improves(left) and not self.improves(right)
        x = a if self.score(a) <= self.score(b) else b
        cert = {"kind": "kink" if holds else "not certified", "lever": x, "between": [a, b],
                "derivative_left": None if left is None else -self.sign * left["slope"],
                "derivative_right": None if right is None else self.sign * right["slope"],
                "slope_scale": self.slope_scale, "bracket": bracket, "iterations": history,
                "method": "bisection on the equilibrium's piece signature to adjacent levers, one-sided differences "
                          "either side (a route opens or closes, a capacity, floor or quota starts to bind there)",
                "condition": "the objective does not improve on either side"}
        if holds:
            self.found[x] = cert
        return cert

    # -------------------------------------------------------------- the answer
    def certify(self, x: float, boundaries: list[dict], tol: float) -> tuple[float, dict[str, Any]]:
        """The best point's certificate: a binding target, a binding lever bound, or the
        stationary point or kink found from it."""
        if x in self.found:
            return x, self.found[x]
        for b in boundaries:
            if x == b["feasible"] and "certificate" in b:
                inward = 1.0 if b["feasible"] > b["infeasible"] else -1.0
                d = self.one_sided(x, inward)
                cert = {**b["certificate"], **self.fields(d, "into the feasible side")}
                if not self.improves(d):
                    return x, cert
        for side, end in (("lower", self.lower), ("upper", self.upper)):
            if x == end:
                d = self.one_sided(end, 1.0 if side == "lower" else -1.0)
                if not self.improves(d):
                    return x, {"kind": "lever bound binds", "bound": side, "lever": end, **self.fields(d, "into the bounds")}
        # the best solved point is none of these (an optimum just inside a target or bound):
        # Newton from it, between its solved neighbours
        solved = sorted(v for v in self.samples if self.goal.feasible(self.samples[v]))
        below = max((v for v in solved if v < x), default=max(self.lower, x - max(tol, self.h0)))
        above = min((v for v in solved if v > x), default=min(self.upper, x + max(tol, self.h0)))
        cert = self.interior(x, below, above)
        y = cert["lever"]
        if cert["kind"] in CERTIFIED and self.goal.feasible(self.at(y)) and self.score(y) <= self.score(x) + self.noise:
            return y, cert
        return x, cert
