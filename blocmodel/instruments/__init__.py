"""The instrument families, in the order they apply to a scenario (see each module).

Adding an instrument is one new module defining a `Family` plus its line here: its
scenario keys, resolution, plain-language sentence and check rule all come from it.
"""

from __future__ import annotations

from . import border, dumping, export_restrictions, floors, shocks, stockpile, tariff_quotas
from .base import Family

REGISTRY: list[Family] = [
    border.FAMILY,              # MFN -> tariffs -> bloc -> customs unions -> anti-dumping
    dumping.FAMILY,             # export subsidies, dumping (export price, subsidy, overcapacity)
    tariff_quotas.FAMILY,       # in-quota rate and licences on covered routes
    export_restrictions.FAMILY,  # bans and export quotas
    shocks.FAMILY,              # supply and refining shifts
    floors.FAMILY,              # levies, payments and reserves
    stockpile.FAMILY,           # fixed purchases and releases
]

INSTRUMENT_KEYS: tuple[str, ...] = tuple(key for family in REGISTRY for key in family.fields)
TABLE_KEYS: tuple[str, ...] = tuple(key for family in REGISTRY for key in family.tables)
ARRAY_KEYS: tuple[str, ...] = tuple(k for k in INSTRUMENT_KEYS if k not in TABLE_KEYS)


def family_of(key: str) -> Family:
    return next(f for f in REGISTRY if key in f.fields)


__all__ = ["REGISTRY", "INSTRUMENT_KEYS", "TABLE_KEYS", "ARRAY_KEYS", "Family", "family_of"]
