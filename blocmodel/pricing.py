"""The price formulas, in one place: what a buyer pays on a route, what a producer receives.

Every border charge and every payment of the model is a piecewise-linear function of the
exporter's (or producer's) market price; the solver, the results and the independent
check all compute them here, so the formula a result was solved with and the one it is
checked against are the same text, applied to different numbers (the solver's iterate,
the reported prices).

On a route from producers in o to buyers in d, with π the producers' market price in o
(the price they get at home):

    discount      = dumping margin × max(0, π)                export-price discrimination
    subsidy       = subsidy_specific + subsidy_rate × max(0, π)   paid by o's treasury
    FOB           = π − discount − subsidy                     what the importer pays at origin
    CIF           = FOB + transport
    tariff        = tariff_specific + tariff_rate × max(0, CIF)
    anti_dumping  = duty_specific + duty_rate × max(0, CIF) (+ discount, where the duty is set to the margin)
    before levy   = CIF + tariff + anti_dumping
    levy          = max(0, floor − before levy)                 a variable levy lifts it to the floor
    landed        = before levy + levy

Ad valorem rates apply to customs values floored at zero: where a glut drives a price
below zero, a duty on a negative value would pay importers and let goods circle for
profit. A producer's received price under a deficiency payment is max(floor, π), plus any
production subsidy.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

# Border charges reported per route, in the order they are applied.
CHARGE_KINDS = ("tariff", "anti_dumping", "levy", "export_subsidy", "dumping_discount")


@dataclass
class RouteTerms:
    """Per route: the parameters of its landed price (arrays of one length)."""

    transport: np.ndarray
    tariff_specific: np.ndarray
    tariff_rate: np.ndarray
    duty_specific: np.ndarray
    duty_rate: np.ndarray
    duty_matches_margin: np.ndarray      # bool: the anti-dumping duty equals the dumping discount
    subsidy_specific: np.ndarray
    subsidy_rate: np.ndarray
    dumping_margin: np.ndarray
    levy_floor: np.ndarray               # nan where no variable levy applies

    @classmethod
    def free(cls, transport) -> RouteTerms:
        transport = np.asarray(transport, dtype=float)
        zero = np.zeros(len(transport))
        return cls(transport, zero.copy(), zero.copy(), zero.copy(), zero.copy(), np.zeros(len(transport), dtype=bool),
                   zero.copy(), zero.copy(), zero.copy(), np.full(len(transport), np.nan))

    def take(self, index) -> RouteTerms:
        return RouteTerms(*(getattr(self, f.name)[index] for f in fields(self)))

    def copy(self) -> RouteTerms:
        return RouteTerms(*(getattr(self, f.name).copy() for f in fields(self)))

    def equals(self, other: RouteTerms) -> bool:
        return all(same_values(getattr(self, f.name), getattr(other, f.name)) for f in fields(self))


def same_values(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal arrays, NaN equal to NaN: the same bytes (the usual case, and fast), else by value."""
    return a is b or (isinstance(b, np.ndarray) and a.shape == b.shape and (
        (a.dtype == b.dtype and a.tobytes() == b.tobytes()) or np.array_equal(a, b, equal_nan=a.dtype.kind == "f")))


@dataclass
class RoutePrices:
    """What a route's charges come to at given exporter prices (USD per unit)."""

    fob: np.ndarray
    cif: np.ndarray
    tariff: np.ndarray
    anti_dumping: np.ndarray
    levy: np.ndarray
    export_subsidy: np.ndarray
    dumping_discount: np.ndarray
    landed: np.ndarray
    slope: np.ndarray = field(repr=False)    # d landed / d exporter price (piecewise constant)

    def charge(self, kind: str) -> np.ndarray:
        return getattr(self, kind)


def route_prices(exporter_price: np.ndarray, t: RouteTerms) -> RoutePrices:
    """Landed price of every route and each charge in it, at `exporter_price` (per route)."""
    p = np.asarray(exporter_price, dtype=float)
    positive = p > 0
    discount = t.dumping_margin * np.maximum(p, 0.0)
    subsidy = t.subsidy_specific + t.subsidy_rate * np.maximum(p, 0.0)
    fob = p - discount - subsidy
    d_fob = 1.0 - (t.dumping_margin + t.subsidy_rate) * positive
    cif = fob + t.transport
    dutiable = cif > 0
    value = np.maximum(cif, 0.0)
    tariff = t.tariff_specific + t.tariff_rate * value
    duty = t.duty_specific + t.duty_rate * value + np.where(t.duty_matches_margin, discount, 0.0)
    before = cif + tariff + duty
    d_before = d_fob * (1.0 + (t.tariff_rate + t.duty_rate) * dutiable) + np.where(t.duty_matches_margin, t.dumping_margin * positive, 0.0)
    levied = ~np.isnan(t.levy_floor)
    levy = np.where(levied, np.maximum(0.0, np.where(levied, t.levy_floor, 0.0) - before), 0.0)
    lifting = levied & (levy > 0)
    return RoutePrices(fob=fob, cif=cif, tariff=tariff, anti_dumping=duty, levy=levy, export_subsidy=subsidy,
                       dumping_discount=discount, landed=before + levy, slope=np.where(lifting, 0.0, d_before))


def received_price(market_price: np.ndarray, floor: np.ndarray, subsidy: np.ndarray):
    """(price producers receive, deficiency payment per unit, d received / d market price).

    `floor` is −inf where producers have no deficiency-payment floor."""
    p = np.asarray(market_price, dtype=float)
    payment = np.maximum(0.0, floor - p)
    return p + payment + subsidy, payment, np.where(floor > p, 0.0, 1.0)


def licence_price(licence: np.ndarray, cap: np.ndarray):
    """What a unit pays for a quota licence on a route: the licence price, but never more
    than importing outside the quota would cost extra (`cap`; inf for an export quota).
    Returns (charge, d charge / d licence price)."""
    return np.minimum(licence, cap), (licence < cap).astype(float)
