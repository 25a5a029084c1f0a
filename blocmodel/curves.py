"""The contract's linear curves (DESIGN.md §3) and the surpluses under them.

A curve is `Q = ref_quantity * (1 + elasticity * (P - ref_price) / ref_price)`, cut at
Q >= 0 (and at capacity). Written as Q = a + b·P with a = ref_quantity·(1 − elasticity),
b = elasticity·ref_quantity/ref_price. Everything here is vectorised numpy and knows
nothing of the solver: the equilibrium check and the welfare accounting use it to
recompute, from prices alone, what each agent should do and gain.
"""

from __future__ import annotations

import numpy as np


def intercept_slope(ref_price, ref_quantity, elasticity):
    ref_price = np.asarray(ref_price, dtype=float)
    ref_quantity = np.asarray(ref_quantity, dtype=float)
    elasticity = np.asarray(elasticity, dtype=float)
    return ref_quantity * (1.0 - elasticity), elasticity * ref_quantity / ref_price


def clipped(a, b, price, capacity=np.inf):
    """min(capacity, max(0, a + b·price))."""
    return np.minimum(capacity, np.maximum(0.0, np.asarray(a) + np.asarray(b) * np.asarray(price)))


def area_under_supply(a, b, capacity, price):
    """Producer surplus at `price` (the price received): the area left of the curve
    Q = min(cap, max(0, a + b·π)) below `price`, i.e. revenue less the integral of the
    inverse curve. For a vertical curve (b = 0) it is price × quantity."""
    a, b, capacity, price = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a, b, capacity, price)))
    out = np.zeros(a.shape)
    flat = b <= 0
    out[flat] = price[flat] * np.clip(a[flat], 0.0, capacity[flat])
    s = ~flat
    if s.any():
        a_, b_, cap, p_ = a[s], b[s], capacity[s], price[s]
        start = -a_ / b_                                              # quantity reaches 0
        full = np.where(np.isfinite(cap), (cap - a_) / b_, np.inf)    # quantity reaches capacity
        lo = np.minimum(start, p_)
        hi = np.clip(full, lo, p_)
        rising = a_ * (hi - lo) + 0.5 * b_ * (hi**2 - lo**2)
        finite_cap = np.where(np.isfinite(cap), cap, 0.0)
        at_cap = finite_cap * np.maximum(p_ - np.maximum(full, start), 0.0)
        out[s] = rising + at_cap
    return out


def area_under_demand(a, b, price):
    """Consumer surplus at `price`: ∫_price^∞ max(0, a + b·π) dπ for b < 0."""
    a, b, price = (np.asarray(v, dtype=float) for v in (a, b, price))
    q = np.maximum(0.0, a + b * price)
    return q**2 / (2.0 * -b)


def customs_value(value):
    """The value an ad valorem charge applies to: never below zero. Where the contract's
    curves drive a price below zero (more is supplied at any price than can be sold), a
    duty on a negative value would pay importers and let goods circle for profit."""
    return np.maximum(value, 0.0)
