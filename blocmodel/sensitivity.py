"""Derivatives of an equilibrium with respect to a lever, from the solver's own system.

Within one piece of the piecewise-linear system (no curve reaching a kink, no route
opening or closing) the equilibrium z(θ) solves F(z, θ) = 0 with F linear in z, so by the
implicit-function theorem dz/dθ = −J⁻¹ ∂F/∂θ, exactly (J: `System.exact_jacobian`).

`tariff_sensitivity(results, origin, destination, product)`: d(every route's flow)/d(the ad
valorem tariff rate on one route), in units per unit of rate (per 1.0 = 100 points).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def tariff_sensitivity(results, origin: str, destination: str, product: str) -> pd.Series:
    for layout, solution in results.solved:
        if product not in layout.products:
            continue
        system, state = solution.system, solution.state
        routes = system.slice["route"]
        rows = np.flatnonzero((results.policy.market.routes.origin[layout.route_rows] == origin)
                              & (results.policy.market.routes.destination[layout.route_rows] == destination)
                              & (results.policy.market.routes.product[layout.route_rows] == product))
        if not len(rows):
            raise KeyError(f"no route {origin}->{destination} of {product}")
        k = int(rows[0])
        atom = routes.start + k
        prices = state.extra["route_prices"]
        # ∂(argument of route k)/∂rate = −customs value (while it is positive)
        dt = -max(float(prices.cif[k]), 0.0)
        n = system.n_u + system.n_vertical
        dF = np.zeros(n)
        if system.vertical[atom]:
            v = int(np.flatnonzero(system.vertical_atoms == atom)[0])
            x, t = state.x[v], state.t[atom]
            trial = x + system.kappa[v] * (t - system.theta[atom])
            if 0 < trial < system.hi[atom]:
                dF[system.n_u + v] = -system.kappa[v] * dt
        else:
            column = state.C[:, atom].toarray().ravel()
            dF[: system.n_u] = column * state.dq[atom] * dt
        J = system.exact_jacobian(state).tocsc()
        from .newton import linear_solve

        dz = -linear_solve(J, dF) if n else np.zeros(0)
        du = dz[: system.n_u]
        dtheta_t = np.asarray(state.D @ du).ravel()
        dtheta_t[atom] += dt
        dq = state.dq * dtheta_t
        dq[system.vertical_atoms] = dz[system.n_u:]
        flows = dq[routes]
        index = pd.MultiIndex.from_arrays([results.policy.market.routes.origin[layout.route_rows],
                                           results.policy.market.routes.destination[layout.route_rows]], names=["origin", "destination"])
        return pd.Series(flows, index=index, name=f"d flow / d tariff rate {origin}->{destination} ({product})")
    raise KeyError(f"product {product} not solved")


__all__ = ["tariff_sensitivity"]
