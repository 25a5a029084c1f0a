"""Helpers for tests and notebooks: write a small dataset from Python rows.

    >>> folder = write_dataset(tmp, regions=[{"region": "HOME"}, {"region": "FOR"}],
    ...                        products=[{"product": "good"}], ...)

Columns left out take harmless defaults (`name` = the code, `mineral` = the product,
`stage` = 'refined', `unit` = 't', `source` = 'test case').
"""

from __future__ import annotations

import csv
from pathlib import Path

from .schema import TABLES

_DEFAULTS = {
    "regions": lambda row: {"name": row["region"], "customs_union": "", "groups": ""},
    "products": lambda row: {"mineral": row["product"], "stage": "refined", "unit": "t"},
    "routes": lambda row: {"tariff_ad_valorem": 0.0, "tariff_specific": 0.0},
}


def write_dataset(folder: str | Path, source: str = "test case", **tables: list[dict]) -> Path:
    """Write the given tables (regions, products, supply, demand, routes, processing) as CSVs."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        table = TABLES[name]
        filled = []
        for row in rows:
            full = {**_DEFAULTS.get(name, lambda r: {})(row), **row}
            full.setdefault("source", source)
            if isinstance(full.get("groups"), (list, tuple)):
                full["groups"] = ";".join(full["groups"])
            filled.append(full)
        columns = [c for c in table.columns if any(c in r for r in filled) or c in table.required_columns]
        with open(folder / table.file, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="raise")
            writer.writeheader()
            for row in filled:
                writer.writerow({c: ("" if row.get(c) is None else row.get(c, "")) for c in columns})
    for name in ("routes",):
        if name not in tables:
            with open(folder / TABLES[name].file, "w", newline="") as fh:
                csv.writer(fh).writerow(TABLES[name].required_columns)
    return folder


def linear(intercept: float, slope: float, price: float) -> dict:
    """Curve parameters (ref_price, ref_quantity, elasticity) of Q = intercept + slope·P through `price`."""
    quantity = intercept + slope * price
    return {"ref_price": price, "ref_quantity": quantity, "elasticity": slope * price / quantity}
