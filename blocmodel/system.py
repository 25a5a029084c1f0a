"""A chain's equilibrium conditions as one piecewise-linear system in prices.

Every agent of the model (an *atom*) responds to one *argument* t, a piecewise-linear
function of the unknowns, with a quantity clip(α + β·t, 0, hi):

    atom        argument t                                        response
    supply      received price  max(floor, π) + subsidy            output
    demand      −p (buyers' price)                                quantity bought
    refinery    margin  max(floor, π_out) + subsidy − p_in/yield   output
    route       p_d − landed(π_o) − a − Σ licences                 flow, clip(t/g, 0, capacity)
    reserve     bid − π_o,  bid = floor − shading                   purchase
    disposal    −π                                                 quantity thrown away

The unknowns u are one price per node (producers' and buyers'), one licence price λ ≥ 0
per quota (`Coupling`), one bid shading ≥ 0 per budgeted reserve and, for each route under
a tariff-rate quota, its licensed share s ∈ [0, 1]. The residual is

    R(u) = C · response(t(u)) + c

with C the incidence (which market each response enters, and with what sign; a quota's
row counts its licensed flows, a budget's row the reserve's purchases) and c the fixed
quantities (fixed purchases and releases, quota limits, what a budget buys at the bid).
Equilibrium is R = 0 on node rows and complementarity on λ and shading rows. An atom with
β = ∞ — a constant-cost route (g = 0), a refinery at a constant unit cost, a reserve
buying at its bid, free disposal — responds by complementarity: its quantity x is an
unknown, at a bound or with t = θ. Free disposal (one atom per market, θ = 0; in the
systems built with `disposal=True`, which the solver turns to when a chain's equilibrium
without it has a price below zero or none at all) keeps every price at or above zero:
output that does not fall with the price (inelastic short-run supply whose exports are
banned, a deficiency payment's held-up output, a release), or goods a calibrated route's
trade cost (negative below its reference flow) would deliver below zero, are thrown away
at price 0 rather than sold at a negative price that the linear curves would extrapolate to.

A route under a tariff-rate quota pays min(λ, cap) per unit (cap: the out-of-quota rate
gap). Where λ equals a route's cap that route is indifferent between importing inside and
outside the quota, and the quota row can only hold with part of its flow licensed: the
share s is the unknown that makes it hold (s = 1 while λ < cap, s = 0 once λ > cap). The
routes with the largest cap always count as licensed (s = 1); at λ = largest cap the quota
row gives way to λ's upper bound and the excess enters outside the quota on them.

Two evaluations share this code:
- exact: the true arguments, vertical quantities as unknowns. The Jacobian is
  C·diag(β)·D (D = ∂t/∂u) plus the vertical rows; semismooth Newton on it is exact once
  the pieces are right (`newton.exact_newton`). The licensed shares are unknowns here only.
- frozen: t = Cᵀu + offset, the offset fixing every price-dependent charge, payment and
  cap at a reference point, and every vertical atom given curvature μ about an anchor (a
  proximal point). R is then the gradient of a convex, continuously differentiable,
  piecewise-quadratic Φ (the dual of the welfare problem, Samuelson 1952) with Hessian
  C·diag(β)·Cᵀ, minimised from anywhere by Newton's method with a line search
  (`newton.dual_newton`).

Units: prices in USD per unit, quantities in units of the product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .pricing import licence_price, received_price, route_prices
from .problem import ChainProblem

GROUPS = ("supply", "demand", "refining", "route", "reserve", "disposal")


@dataclass
class State:
    """The system evaluated at unknowns `u` (USD) and vertical quantities `x`."""

    u: np.ndarray
    x: np.ndarray
    t: np.ndarray                 # argument per atom
    D: sp.csr_matrix              # ∂t/∂u (exact), or Cᵀ (frozen)
    q: np.ndarray                 # response per atom (vertical atoms: x, or the prox response)
    dq: np.ndarray                # ∂response/∂t (0 for vertical atoms in exact mode)
    C: sp.csr_matrix              # incidence at this state
    residual: np.ndarray          # per unknown row, real units
    extra: dict                   # charges, payments, licences behind the arguments

    def response_jacobian(self) -> sp.csr_matrix:
        """C·diag(dq)·D, how the node rows move with u through the atoms' responses (C's
        columns scaled directly: a product with a diagonal matrix costs more at these sizes)."""
        C = self.C
        return (sp.csr_matrix((C.data * self.dq[C.indices], C.indices, C.indptr), shape=C.shape) @ self.D).tocsr()


class System:
    """The system of one chain problem."""

    def __init__(self, problem: ChainProblem, like: System | None = None, disposal: bool = False):
        """`like`: a System of a problem with the same structure (other levers) and the same
        `disposal`, whose ∂t/∂u sparsity pattern this one takes instead of working it out
        again. `disposal`: a free-disposal atom in every market."""
        self.problem = p = problem
        for name in ("_slots", "_triplets", "_pattern"):     # see `arguments` and `_assemble`
            if like is not None and hasattr(like, name):
                setattr(self, name, getattr(like, name))
        lay = p.layout
        n = self.n_nodes = lay.n_nodes
        budgeted = [r for r, b in enumerate(p.reserve_budgeted) if b]
        self.budget_col = {r: n + p.n_couplings + k for k, r in enumerate(budgeted)}
        n_bounded = n + p.n_couplings + len(budgeted)
        self.bounded = np.arange(n, n_bounded)

        # atoms, group by group
        self.disposal = disposal
        self.disposal_node = np.arange(n) if disposal else np.zeros(0, dtype=int)
        counts = {"supply": len(lay.supply_rows), "demand": len(lay.demand_rows), "refining": len(lay.refining_rows),
                  "route": len(lay.route_rows), "reserve": sum(len(v) for v in p.reserve_nodes), "disposal": len(self.disposal_node)}
        self.slice = {}
        start = 0
        for g in GROUPS:
            self.slice[g] = slice(start, start + counts[g])
            start += counts[g]
        self.n_atoms = start
        self.reserve_id = np.array([r for r, nodes in enumerate(p.reserve_nodes) for _ in nodes], dtype=int)
        self.reserve_node = np.array([v for nodes in p.reserve_nodes for v in nodes], dtype=int)
        self.reserve_col = np.array([self.budget_col.get(r, -1) for r in self.reserve_id], dtype=int)

        # coupling pairs: (route, coupling) for every route under a quota
        self.pair_route = np.concatenate([np.asarray(r, dtype=int) for r in p.coupling_routes]) if p.n_couplings else np.zeros(0, dtype=int)
        self.pair_col = np.concatenate([np.full(len(r), n + j) for j, r in enumerate(p.coupling_routes)]) if p.n_couplings else np.zeros(0, dtype=int)
        self.pair_cap_specific = np.concatenate(p.coupling_cap_specific) if p.n_couplings else np.zeros(0)
        self.pair_cap_rate = np.concatenate(p.coupling_cap_rate) if p.n_couplings else np.zeros(0)
        # a licensed share per pair with a finite cap (tariff-rate quotas; an export quota's cap is infinite)
        self.share_pair = np.flatnonzero(np.isfinite(self.pair_cap_specific) & np.isfinite(self.pair_cap_rate))
        self.share_col = n_bounded + np.arange(len(self.share_pair))
        self.n_u = n_bounded + len(self.share_pair)

        # the node part of the incidence, fixed
        rows, cols, vals = [], [], []

        def add(node, atoms, coef):
            ok = node >= 0
            rows.append(node[ok]); cols.append(atoms[ok]); vals.append(np.broadcast_to(coef, node.shape)[ok])  # noqa: E702

        a = self.atoms
        add(lay.supply_node, a("supply"), 1.0)
        add(lay.demand_node, a("demand"), -1.0)
        add(lay.refining_output_node, a("refining"), 1.0)
        add(lay.refining_input_node, a("refining"), -1.0 / p.refining_yield)
        add(lay.route_destination_node, a("route"), 1.0)
        add(lay.route_origin_node, a("route"), -1.0)
        add(self.reserve_node, a("reserve"), -1.0)
        add(self.reserve_col, a("reserve"), -1.0)          # a budget row counts the reserve's purchases
        add(self.disposal_node, a("disposal"), -1.0)
        self.C_fixed = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                     shape=(self.n_u, self.n_atoms))

        # responses: clip(α + β t, 0, hi); vertical atoms switch at t = θ
        ne, nres = counts["route"], counts["reserve"] + counts["disposal"]     # disposal: a reserve bidding 0
        g = p.route_curvature
        self.alpha = np.concatenate([p.supply_intercept, p.demand_intercept, p.refining_intercept, np.zeros(ne), np.zeros(nres)])
        self.beta = np.concatenate([p.supply_slope, -p.demand_slope, np.where(p.refining_constant_cost, 0.0, p.refining_slope),
                                    np.where(g > 0, 1.0 / np.where(g > 0, g, 1.0), 0.0), np.zeros(nres)])
        self.hi = np.concatenate([p.supply_capacity, np.full(counts["demand"], np.inf), p.refining_capacity, p.route_capacity,
                                  np.full(nres, np.inf)])
        self.theta = np.concatenate([np.zeros(counts["supply"] + counts["demand"]), p.refining_unit_cost, np.zeros(ne), np.zeros(nres)])
        self.vertical = np.concatenate([np.zeros(counts["supply"] + counts["demand"], dtype=bool), p.refining_constant_cost.astype(bool),
                                        g <= 0, np.ones(nres, dtype=bool)])
        self.vertical_atoms = np.flatnonzero(self.vertical)
        self.n_vertical = len(self.vertical_atoms)
        self.constant_cost = self.n_vertical > counts["disposal"]      # any vertical atom but free disposal

        # scales: price of each unknown, quantity of each residual row and atom
        node_of_atom = np.concatenate([lay.supply_node, lay.demand_node, lay.refining_output_node, lay.route_origin_node, self.reserve_node,
                                       self.disposal_node]).astype(int)
        self.atom_price_scale = lay.price_scale[node_of_atom] if self.n_atoms else np.zeros(0)
        self.atom_quantity_scale = lay.quantity_scale[node_of_atom] if self.n_atoms else np.zeros(0)
        coupling_node = [lay.route_origin_node[np.asarray(r, dtype=int)[0]] if len(r) else 0 for r in p.coupling_routes]
        budget_node = [p.reserve_nodes[r][0] if len(p.reserve_nodes[r]) else 0 for r in budgeted]
        extra_nodes = np.array(coupling_node + budget_node, dtype=int)
        self.price_scale = np.concatenate([lay.price_scale, lay.price_scale[extra_nodes] if len(extra_nodes) else np.zeros(0)])
        self.quantity_scale = np.concatenate([lay.quantity_scale, lay.quantity_scale[extra_nodes] if len(extra_nodes) else np.zeros(0)])
        # a share is a fraction (scale 1); its row, λ − cap, is a price (the route's origin price scale)
        share_price = lay.price_scale[lay.route_origin_node[self.pair_route[self.share_pair]]] if len(self.share_pair) else np.zeros(0)
        self.price_scale = np.concatenate([self.price_scale, np.ones(len(self.share_pair))])
        self.quantity_scale = np.concatenate([self.quantity_scale, share_price])
        self.share_kappa = 1e4 / share_price if len(share_price) else np.zeros(0)
        # κ: quantity per unit of price, to compare a vertical atom's quantity with its argument in
        # x − clip(x + κ(t − θ), 0, hi). Large (1e4 markets per price), so that the sign of the
        # argument decides whether the atom is at a bound unless the quantity is a real share of
        # its market: a route a hair out of the money (t = −1e-9·p) with a crumb of flow from an
        # earlier iterate is then closed, not kept open by the crumb.
        self.quantity_per_price = (self.atom_quantity_scale / self.atom_price_scale)[self.vertical_atoms] if self.n_vertical else np.zeros(0)
        self.kappa = 1e4 * self.quantity_per_price

    def atoms(self, group: str) -> np.ndarray:
        return np.arange(self.slice[group].start, self.slice[group].stop)

    # ------------------------------------------------------------------ scales
    def unknown_scale(self, exact: bool) -> np.ndarray:
        if not exact:
            return self.price_scale
        return np.concatenate([self.price_scale, self.atom_quantity_scale[self.vertical_atoms]])

    def row_scale(self, exact: bool) -> np.ndarray:
        if not exact:
            return self.quantity_scale
        return np.concatenate([self.quantity_scale, self.atom_quantity_scale[self.vertical_atoms]])

    # --------------------------------------------------------------- arguments
    def arguments(self, u: np.ndarray) -> tuple[np.ndarray, sp.csr_matrix, dict]:
        """Each atom's argument at unknowns `u`, ∂t/∂u, and the charges and payments behind them."""
        p, lay = self.problem, self.problem.layout
        price = u[: self.n_nodes]
        t = np.empty(self.n_atoms)
        # ∂t/∂u's pattern (which atom depends on which unknown) is the same at every
        # evaluation: the slots' rows and columns are worked out once, only values after
        slots = getattr(self, "_slots", None)
        first = slots is None
        new_slots, vals = [], []
        extra = {}

        def slot(group, col, value):
            if first:
                atoms = self.atoms(group)
                col = np.broadcast_to(np.asarray(col), atoms.shape)
                ok = col >= 0
                new_slots.append((atoms[ok], col[ok], None if ok.all() else ok))
            rows_k, _, ok = new_slots[-1] if first else slots[len(vals)]
            value = np.asarray(value)
            vals.append(np.full(len(rows_k), value, dtype=float) if value.ndim == 0 else value if ok is None else value[ok])

        received, payment, d_received = received_price(price[lay.supply_node], p.supply_floor, p.supply_subsidy)
        t[self.slice["supply"]] = received
        slot("supply", lay.supply_node, d_received)
        extra["supply_received"], extra["supply_payment"] = received, payment

        t[self.slice["demand"]] = -price[lay.demand_node]
        slot("demand", lay.demand_node, -1.0)

        out_received, out_payment, d_out = received_price(price[lay.refining_output_node], p.refining_floor, p.refining_subsidy)
        t[self.slice["refining"]] = out_received - price[lay.refining_input_node] / p.refining_yield
        slot("refining", lay.refining_output_node, d_out)
        slot("refining", lay.refining_input_node, -1.0 / p.refining_yield)
        extra["refining_received"], extra["refining_payment"] = out_received, out_payment

        origin_price = price[lay.route_origin_node]
        prices = route_prices(origin_price, p.route_terms)
        licence = np.zeros(len(lay.route_rows))
        d_licence_origin = np.zeros(len(lay.route_rows))
        pair_charge = pair_slope = caps = d_cap = np.zeros(0)
        top = np.zeros(0, dtype=bool)
        upper = np.full(self.n_u, np.inf)             # a licence price's upper bound (tariff-rate quotas)
        d_upper: dict[int, tuple[int, float]] = {}
        if len(self.pair_route):
            e = self.pair_route
            cif = prices.cif[e]
            caps = self.pair_cap_specific + self.pair_cap_rate * np.maximum(cif, 0.0)
            fob_slope = 1.0 - (p.route_terms.dumping_margin[e] + p.route_terms.subsidy_rate[e]) * (origin_price[e] > 0)
            d_cap = np.where(np.isfinite(self.pair_cap_rate), self.pair_cap_rate, 0.0) * (cif > 0) * fob_slope
            # The licence price of a tariff-rate quota never exceeds the largest rate gap among its
            # routes: beyond it importing outside the quota is cheaper everywhere. The routes with
            # that largest gap always take licences first; a route with a smaller gap takes none
            # once the licence price passes it (it imports outside the quota).
            top = np.zeros(len(e), dtype=bool)
            for col in np.unique(self.pair_col):
                on = self.pair_col == col
                if np.isfinite(caps[on]).any():
                    k = np.flatnonzero(on)[np.argmax(caps[on])]
                    upper[col] = caps[k]
                    d_upper[int(col)] = (int(lay.route_origin_node[e[k]]), float(d_cap[k]))
                    top[on] = caps[on] >= caps[k]
            lam = u[self.pair_col]
            pair_charge, pair_slope = licence_price(lam, caps)
            pair_slope = np.where(top, 1.0, pair_slope)
            pair_charge = np.where(top, np.minimum(lam, caps), pair_charge)
            np.add.at(licence, e, pair_charge)
            np.add.at(d_licence_origin, e, (1.0 - pair_slope) * d_cap)
            if first:
                new_slots.append((self.atoms("route")[e], self.pair_col, None))
            vals.append(-pair_slope)
        extra["upper"], extra["d_upper"] = upper, d_upper
        t[self.slice["route"]] = price[lay.route_destination_node] - prices.landed - p.route_intercept - licence
        slot("route", lay.route_destination_node, 1.0)
        slot("route", lay.route_origin_node, -(prices.slope + d_licence_origin))
        extra.update(route_prices=prices, licence=licence, pair_charge=pair_charge, pair_slope=pair_slope, pair_cap=caps,
                     pair_d_cap=d_cap, pair_top=top)

        shading = np.where(self.reserve_col >= 0, u[np.maximum(self.reserve_col, 0)], 0.0)
        bid = p.reserve_floor[self.reserve_id] - shading if len(self.reserve_id) else np.zeros(0)
        t[self.slice["reserve"]] = bid - price[self.reserve_node]
        slot("reserve", self.reserve_node, -1.0)
        slot("reserve", self.reserve_col, -1.0)
        extra["reserve_bid"] = bid
        t[self.slice["disposal"]] = -price[self.disposal_node]
        slot("disposal", self.disposal_node, -1.0)

        if first:
            self._slots = new_slots
            self._triplets = (np.concatenate([r for r, _, _ in new_slots]), np.concatenate([c for _, c, _ in new_slots]))
        D = self._assemble(*self._triplets, np.concatenate(vals))
        return t, D, extra

    def _assemble(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray) -> sp.csr_matrix:
        """∂t/∂u as CSR. Its pattern is the same at every evaluation: sorted once, reused
        (building it from triplets each time cost more than the rest of an evaluation)."""
        pattern = getattr(self, "_pattern", None)
        if pattern is None or not (pattern[0] is rows and pattern[1] is cols):
            order = np.lexsort((cols, rows))
            key = rows[order] * (self.n_u + 1) + cols[order]
            if len(key) > 1 and np.any(key[1:] == key[:-1]):      # repeated entries: let SciPy sum them
                self._pattern = None
                return sp.csr_matrix((vals, (rows, cols)), shape=(self.n_atoms, self.n_u))
            # SciPy's own index type: given int64 indices that fit, it checks their range and
            # copies them to int32 on every construction
            index = np.int32 if max(len(rows), self.n_u, self.n_atoms) < np.iinfo(np.int32).max else np.int64
            indptr = np.zeros(self.n_atoms + 1, dtype=index)
            np.cumsum(np.bincount(rows, minlength=self.n_atoms), out=indptr[1:])
            pattern = self._pattern = (rows, cols, order, cols[order].astype(index), indptr)
        _, _, order, indices, indptr = pattern
        return sp.csr_matrix((vals[order], indices, indptr), shape=(self.n_atoms, self.n_u))

    def incidence(self, extra: dict, shares: np.ndarray | None = None) -> sp.csr_matrix:
        """Node rows fixed; a quota's row counts licensed flows. Frozen: a route counts while
        its licence is cheaper than importing outside the quota (−∂t/∂λ = 1), so the quota rows
        are the transposed λ columns of ∂t/∂u. Exact (`shares` given): a route under a
        tariff-rate quota below the largest cap counts its licensed share."""
        if not len(self.pair_route):
            return self.C_fixed
        weight = extra["pair_slope"].copy()
        if shares is not None and len(self.share_pair):
            weight[self.share_pair] = np.where(extra["pair_top"][self.share_pair], 1.0, shares)
        part = sp.csr_matrix((-weight, (self.pair_col, self.atoms("route")[self.pair_route])), shape=(self.n_u, self.n_atoms))
        return (self.C_fixed + part).tocsr()

    def constants(self, u: np.ndarray, bids: np.ndarray | None = None) -> np.ndarray:
        """c: fixed purchases (−) and releases (+) at nodes, quota limits, what each budget
        buys at the reserve's bid (`bids` frozen, or from u)."""
        p = self.problem
        c = np.zeros(self.n_u)
        c[: self.n_nodes] = -p.fixed_use
        c[self.n_nodes: self.n_nodes + p.n_couplings] = p.coupling_limit
        for r, col in self.budget_col.items():
            bid = bids[r] if bids is not None else p.reserve_floor[r] - u[col]
            c[col] = p.reserve_budget[r] / max(bid, 1e-9 * self.price_scale[col])
        return c

    # --------------------------------------------------------------- evaluate
    def evaluate_exact(self, u: np.ndarray, x: np.ndarray) -> State:
        t, D, extra = self.arguments(u)
        q, dq = self._respond(t)
        q[self.vertical_atoms] = x
        dq[self.vertical_atoms] = 0.0
        C = self.incidence(extra, u[self.share_col])
        return State(u, x, t, D, q, dq, C, C @ q + self.constants(u), extra)

    def evaluate_frozen(self, u: np.ndarray, frozen: Frozen) -> State:
        t = frozen.D @ u + frozen.offset          # D is Cᵀ (stored as CSR: no transpose per call)
        q, dq = self._respond(t)
        if self.n_vertical:
            v = self.vertical_atoms
            a = frozen.anchor + frozen.mu * (t[v] - self.theta[v])
            q[v] = np.clip(a, 0.0, self.hi[v])
            dq[v] = np.where((a > 0) & (a < self.hi[v]), frozen.mu, 0.0)
        return State(u, q[self.vertical_atoms], t, frozen.D, q, dq, frozen.C, frozen.C @ q + frozen.c, frozen.extra)

    def _respond(self, t: np.ndarray):
        a = self.alpha + self.beta * t
        return np.clip(a, 0.0, self.hi), np.where((a > 0) & (a < self.hi), self.beta, 0.0)

    def vertical_residual(self, state: State) -> np.ndarray:
        """x − clip(x + κ(t − θ), 0, hi) per vertical atom."""
        v = self.vertical_atoms
        return state.x - np.clip(state.x + self.kappa * (state.t[v] - self.theta[v]), 0.0, self.hi[v])

    def exact_residual(self, state: State) -> np.ndarray:
        """Every equation of the exact system: node rows, the complementarity of licence prices
        and shadings (u − max(0, u − κR)), and the vertical atoms' complementarity."""
        r = state.residual.copy()
        b = self.bounded
        if len(b):
            kappa = self.price_scale[b] / self.quantity_scale[b]
            upper = state.extra["upper"][b]
            r[b] = (state.u[b] - np.clip(state.u[b] - kappa * r[b], 0.0, upper)) / kappa
        if len(self.share_pair):
            r[self.share_col] = self._share_rows(state)[0]
        return np.concatenate([r, self.vertical_residual(state)])

    def _share_rows(self, state: State):
        """Each licensed share's condition, in price units: s = 1 on the top routes; elsewhere
        (s − mid(0, s − κ(λ − cap), 1))/κ, i.e. λ = cap where the share is strictly between 0
        and 1. κ is 1e4 per price scale P, so that the sign of λ − cap decides unless it is
        within 1e-4 P (as for the vertical atoms). Returns (residual, free, top)."""
        e = self.share_pair
        share = state.u[self.share_col]
        kappa = self.share_kappa
        gap = state.u[self.pair_col[e]] - state.extra["pair_cap"][e]
        top = state.extra["pair_top"][e]
        trial = share - kappa * gap
        free = (trial > 0) & (trial < 1) & ~top
        residual = np.where(top, share - 1.0, share - np.clip(trial, 0.0, 1.0)) / kappa
        return residual, free, top

    def exact_jacobian(self, state: State, free: np.ndarray | None = None) -> sp.csr_matrix:
        """∂(exact residual)/∂(u, x) at `state`; `free` (per vertical atom) overrides which
        atoms are between their bounds (the pieces of a QP's answer, `newton._on_qp_pieces`)."""
        nv = self.n_vertical
        J_uu = state.response_jacobian()
        if self.budget_col:    # what a budget buys rises as the bid is shaded
            p = self.problem
            cols = np.array(list(self.budget_col.values()))
            bids = np.array([p.reserve_floor[r] - state.u[c] for r, c in self.budget_col.items()])
            budgets = np.array([p.reserve_budget[r] for r in self.budget_col])
            J_uu = J_uu + sp.csr_matrix((budgets / np.maximum(bids, 1e-9 * self.price_scale[cols]) ** 2, (cols, cols)),
                                        shape=J_uu.shape)
        if len(self.share_pair):   # a quota row counts s × flow on the routes below the largest cap
            e = self.share_pair
            below = ~state.extra["pair_top"][e]
            J_uu = J_uu + sp.csr_matrix((-state.q[self.atoms("route")[self.pair_route[e]]][below], (self.pair_col[e][below], self.share_col[below])),
                                        shape=J_uu.shape)
        b = self.bounded
        if not nv and not len(b) and not len(self.share_pair):
            return J_uu                                # no complementarity rows to set
        v = self.vertical_atoms
        if free is None:
            trial = state.x + self.kappa * (state.t[v] - self.theta[v])
            free = (trial > 0) & (trial < self.hi[v])
        J = self._with_vertical(J_uu, state, free) if nv else J_uu
        if not len(b) and not len(self.share_pair):      # no rows to set one by one: no LIL
            return J
        J = J.tolil()
        if len(b):
            kappa = self.price_scale[b] / self.quantity_scale[b]
            trial = state.u[b] - kappa * state.residual[b]
            upper = state.extra["upper"][b]
            for k, row in enumerate(b):
                if trial[k] <= 0:                          # at the lower bound: u = 0
                    J.rows[row] = [row]
                    J.data[row] = [1.0 / kappa[k]]
                elif trial[k] >= upper[k]:                 # at the upper bound: u = the largest rate gap
                    origin, slope = state.extra["d_upper"][int(row)]
                    J.rows[row] = sorted({row, origin})
                    J.data[row] = [(1.0 / kappa[k] if c == row else 0.0) - (slope / kappa[k] if c == origin else 0.0)
                                   for c in J.rows[row]]
        if len(self.share_pair):
            _, free, _ = self._share_rows(state)
            e = self.share_pair
            origin = self.problem.layout.route_origin_node[self.pair_route[e]]
            d_cap = state.extra["pair_d_cap"][e]
            for k, row in enumerate(self.share_col):
                if free[k]:                                # λ = cap: the share is what the quota row needs
                    lam = int(self.pair_col[e[k]])
                    entries = {lam: 1.0}
                    entries[int(origin[k])] = entries.get(int(origin[k]), 0.0) - d_cap[k]
                    J.rows[row] = sorted(entries)
                    J.data[row] = [entries[c] for c in J.rows[row]]
                else:                                      # at 0, at 1, or a top route (1)
                    J.rows[row] = [int(row)]
                    J.data[row] = [1.0 / self.share_kappa[k]]
        return J.tocsr()

    def _with_vertical(self, J_uu: sp.csr_matrix, state: State, free: np.ndarray) -> sp.csr_matrix:
        """[[J_uu, C_v], [−diag(κ·free)·D_v, diag(not free)]] as CSR, C_v and D_v the vertical
        atoms' columns of C and rows of D. Built from numpy arrays, the entries' order worked
        out once per sparsity pattern and reused: SciPy's block and diagonal constructors took
        2 ms a call on the shipped chains with disposal atoms, four times the rest of the
        Jacobian (0.4 ms now)."""
        v, n_u, nv = self.vertical_atoms, self.n_u, self.n_vertical
        C, D = state.C, state.D
        J_uu.sort_indices()           # a sparse product's rows come unsorted: the pattern compared below is canonical
        fixed_c = C is self.C_fixed
        cache = getattr(self, "_vertical_cache", None)
        if cache is None or cache["D_indptr"] is not D.indptr or not fixed_c \
                or not (np.array_equal(cache["uu_indptr"], J_uu.indptr) and np.array_equal(cache["uu_indices"], J_uu.indices)):
            C_v = C[:, v].tocsr()
            starts, counts = D.indptr[v], np.diff(D.indptr)[v]
            take = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(counts.sum())
            rows = np.concatenate([np.repeat(np.arange(n_u), np.diff(J_uu.indptr)), np.repeat(np.arange(n_u), np.diff(C_v.indptr)),
                                   n_u + np.repeat(np.arange(nv), counts), n_u + np.arange(nv)])
            cols = np.concatenate([J_uu.indices, n_u + C_v.indices, D.indices[take], n_u + np.arange(nv)])
            order = np.argsort(rows, kind="stable")
            index = np.int32 if len(rows) < np.iinfo(np.int32).max else np.int64
            indptr = np.zeros(n_u + nv + 1, dtype=index)
            np.cumsum(np.bincount(rows, minlength=n_u + nv), out=indptr[1:])
            cache = {"D_indptr": D.indptr, "uu_indptr": J_uu.indptr.copy(), "uu_indices": J_uu.indices.copy(), "C_v": C_v.data,
                     "take": take, "counts": counts, "order": order, "indices": cols[order].astype(index), "indptr": indptr}
            if fixed_c:
                self._vertical_cache = cache
        data = np.concatenate([J_uu.data, cache["C_v"], D.data[cache["take"]] * np.repeat(-self.kappa * free, cache["counts"]),
                               (~free).astype(float)])
        # the pattern's arrays copied: SciPy sorts a matrix's own arrays in place (`tolil`), never the cache's
        return sp.csr_matrix((data[cache["order"]], cache["indices"].copy(), cache["indptr"].copy()), shape=(n_u + nv, n_u + nv))

    # ------------------------------------------------------------------- dual
    def potential_change(self, s0: State, s1: State, frozen: Frozen) -> float:
        """Φ(u1) − Φ(u0) in the frozen evaluation, summed atom by atom (so it is accurate
        even when Φ itself is large)."""
        alpha, beta, hi = self.alpha.copy(), self.beta.copy(), self.hi
        if self.n_vertical:
            v = self.vertical_atoms
            alpha[v] = frozen.anchor - frozen.mu * self.theta[v]
            beta[v] = frozen.mu
        change = _integral(alpha, beta, hi, s0.t, s1.t).sum()
        return float(change + frozen.c @ (s1.u - s0.u))


def _integral(alpha, beta, hi, t0, t1) -> np.ndarray:
    """∫ from t0 to t1 of clip(α + β s, 0, hi) ds, per atom."""
    flat = beta <= 0
    safe = np.where(flat, 1.0, beta)
    start = -alpha / safe                                              # the response leaves 0
    full = np.where(np.isfinite(hi), (hi - alpha) / safe, np.inf)      # ... and reaches hi
    cap = np.where(np.isfinite(hi), hi, 0.0)

    def primitive(t):   # zero at `start`
        rising = np.clip(t, start, full) - start
        return 0.5 * safe * rising**2 + cap * np.maximum(t - full, 0.0)

    sloped = np.where(flat, 0.0, primitive(t1) - primitive(t0))
    return np.where(flat, np.clip(alpha, 0.0, hi) * (t1 - t0), sloped)


@dataclass
class Frozen:
    """The frozen evaluation at a reference point u0: t = Cᵀu + offset, vertical atoms with
    curvature μ about `anchor`, budgets buying at the reference bids."""

    C: sp.csr_matrix
    D: sp.csr_matrix
    offset: np.ndarray
    c: np.ndarray
    anchor: np.ndarray
    mu: np.ndarray
    extra: dict
    u0: np.ndarray

    @classmethod
    def at(cls, system: System, u0: np.ndarray, anchor: np.ndarray, mu: np.ndarray) -> Frozen:
        t, D, extra = system.arguments(u0)
        C = system.incidence(extra)
        offset = t - C.T @ u0
        bids = system.problem.reserve_floor - np.array([u0[system.budget_col[r]] if r in system.budget_col else 0.0
                                                        for r in range(system.problem.n_reserves)])
        return cls(C, C.T.tocsr(), offset, system.constants(u0, bids), anchor, mu, extra, u0.copy())
