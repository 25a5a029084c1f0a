"""What every instrument family shares: schema pieces, units, and the family protocol.

An instrument family is one module under `blocmodel/instruments/` that owns, for its
scenario keys:
- the schema of an entry (pydantic, `extra="forbid"`; field descriptions become the
  reference docs);
- `apply(ctx)`: how entries resolve onto routes, producers and markets, and the charge,
  payment or constraint each adds to the `Market` (through the `PolicyContext`);
- `describe(scenario, data)`: the plain-language sentence of each entry;
- `check(results)`: its rule in the independent equilibrium check (rows of residuals).
`instruments/__init__.py` lists the families in the order they apply.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


class Strict(BaseModel):
    """Scenario tables: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _as_list(value):
    return [value] if isinstance(value, str) else value


Names = Annotated[list[str], BeforeValidator(_as_list)]


class Entry(Strict):
    """Every instrument entry may say where it comes from."""

    source: str | None = Field(None, description="Where this entry comes from (a citation or 'assumption: why').")


# ----------------------------------------------------------------------- units
_MASS = {"t": 1.0, "tonne": 1.0, "tonnes": 1.0, "mt": 1.0, "kg": 1e-3, "g": 1e-6, "lb": 1.0 / 2204.62262, "oz": 1.0 / 32150.7466}
_PRICE = re.compile(r"^\s*([-+]?[0-9][0-9_,]*\.?[0-9]*(?:[eE][-+]?[0-9]+)?)\s*(?:(usd|us\$|\$)\s*/\s*([a-z]+))?\s*$", re.IGNORECASE)

Price = Annotated[float | str, Field(union_mode="left_to_right")]


def parse_price(value: float | str, unit: str | None) -> tuple[float, str | None]:
    """'110 USD/kg' -> (110.0, 'kg'); (110, 'USD/kg') -> (110.0, 'kg'); 110000 -> (110000.0, None)."""
    if isinstance(value, (int, float)):
        number, per = float(value), None
    else:
        match = _PRICE.match(str(value))
        if not match:
            raise ValueError("a price is a number or 'NUMBER USD/UNIT' such as '110 USD/kg'")
        number = float(match[1].replace(",", "").replace("_", ""))
        per = match[3].lower() if match[3] else None
    if unit is not None:
        m = re.match(r"^\s*(?:usd|us\$|\$)\s*/\s*([a-z]+)\s*$", unit, re.IGNORECASE)
        if not m:
            raise ValueError(f"unit must read 'USD/t', 'USD/kg' or 'USD/lb' (got {unit!r})")
        if per is not None and per != m[1].lower():
            raise ValueError(f"the price says USD/{per} but unit says {unit}")
        per = m[1].lower()
    if per is not None and per not in _MASS:
        raise ValueError(f"unknown mass unit '{per}' (use t, kg, g, lb or oz)")
    return number, per


def positive_price(value):
    """A price as written: a number or 'NUMBER USD/UNIT', above zero (its scale is checked
    against the dataset's reference price when the scenario is resolved)."""
    number, _ = parse_price(value, None)
    if not number > 0:
        raise ValueError("must be greater than 0")
    return value


def product_mass_unit(unit: str) -> str | None:
    """The mass unit a product's quantities are in: the first word of products.csv's `unit`."""
    word = (unit or "").strip().split(" ")[0].lower()
    return word if word in _MASS else None


def convert_price(number: float, per: str | None, product_unit: str) -> float:
    """USD per `per` (None: already per the product's unit) -> USD per the product's unit."""
    if per is None:
        return number
    mass = product_mass_unit(product_unit)
    if mass is None:
        raise ValueError(f"the product's unit '{product_unit}' is not a mass, so USD/{per} cannot be converted")
    return number * _MASS[mass] / _MASS[per]


class AdValorem(Strict):
    """A rate checked for its scale: a fraction, at most 1 unless marked prohibitive."""

    @model_validator(mode="after")
    def _rates_are_fractions(self):
        if getattr(self, "prohibitive", False):
            return self
        for name in getattr(type(self), "RATE_FIELDS", ()):
            rate = getattr(self, name, None)
            if rate is not None and rate > 1:
                raise ValueError(f"{name} = {rate:g} is {rate * 100:g}%: rates are fractions (0.25 for 25%); "
                                 f"did you mean {rate / 100:g}? Set prohibitive = true for a rate above 100%")
        return self


# ---------------------------------------------------------------------- family
@dataclass
class Family:
    """One instrument family: its scenario keys (name -> (annotation, Field)), how it applies,
    how it reads, how it is checked. `table` keys are single tables; the rest are arrays."""

    name: str
    fields: dict[str, tuple[Any, Any]]
    apply: Callable[[Any], None]
    describe: Callable[[Any, Any], list[str]] = lambda scenario, data: []
    check: Callable[[Any], list] | None = None
    tables: tuple[str, ...] = ()
    doc: str = ""
    examples: dict[str, str] = field(default_factory=dict)   # key -> TOML example for the README/reference
