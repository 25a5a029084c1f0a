"""Names a user may write for regions and products, and hints that do not mislead.

A region may be named by its code in any case ('chl', 'CHL'), by its name ('Chile'), by a
group ('msp', 'MSP') or a customs union ('EU'); a product by its code or its mineral.
An unknown name gets a hint of its own kind only: a misspelt group suggests a group, a
misspelt country name suggests a country with its code, and a three-letter code that is
not a region's lists the regions whose names it could abbreviate, by name, so that 'CHI'
(Chile's Olympic code) is never silently answered with 'CHN'.
"""

from __future__ import annotations

import difflib

import pandas as pd


class NameBook:
    def __init__(self, regions: pd.DataFrame, products: pd.DataFrame):
        self.codes = list(regions["region"])
        self.name_of = dict(zip(regions["region"], regions["name"]))
        groups: dict[str, list[str]] = {}
        for region, gs in zip(regions["region"], regions["groups"]):
            for g in gs:
                groups.setdefault(g, []).append(region)
        unions: dict[str, list[str]] = {}
        for region, union in zip(regions["region"], regions["customs_union"]):
            if isinstance(union, str) and union:
                unions.setdefault(union, []).append(region)
        self.groups, self.unions = groups, unions
        self.products = list(products["product"])
        minerals: dict[str, list[str]] = {}
        for product, mineral in zip(products["product"], products["mineral"]):
            minerals.setdefault(mineral, []).append(product)
        self.minerals = minerals
        self._code = {c.lower(): c for c in self.codes}
        self._name = {str(n).lower(): c for c, n in self.name_of.items()}
        self._group = {g.lower(): g for g in groups}
        self._union = {u.lower(): u for u in unions}

    # ------------------------------------------------------------------ regions
    def region(self, text: str) -> set[str] | None:
        key = str(text).strip().lower()
        if key in self._code:
            return {self._code[key]}
        if key in self._group:
            return set(self.groups[self._group[key]])
        if key in self._union:
            return set(self.unions[self._union[key]])
        if key in self._name:
            return {self._name[key]}
        return None

    def region_hint(self, text: str) -> str:
        text = str(text).strip()
        key = text.lower()
        close_group = difflib.get_close_matches(key, list(self._group), n=1, cutoff=0.75)
        if close_group and not (len(text) == 3 and text.isupper()):
            return f"did you mean the group '{self._group[close_group[0]]}'?"
        close_name = difflib.get_close_matches(key, list(self._name), n=2, cutoff=0.75)
        if close_name and len(text) > 3:
            return "did you mean " + " or ".join(f"{self.name_of[self._name[n]]} ({self._name[n]})" for n in close_name) + "?"
        if len(text) == 3 and text.isalpha():
            prefix = key[:3]
            start = [c for c in self.codes if str(self.name_of[c]).lower().startswith(prefix)]
            if not start:
                prefix = key[:2]
                start = [c for c in self.codes if str(self.name_of[c]).lower().startswith(prefix)]
            if start:
                listed = ", ".join(f"{self.name_of[c]} ({c})" for c in start[:4])
                return (f"not a region code; codes are ISO 3166 alpha-3 and names work too. Regions whose name starts with "
                        f"'{prefix.capitalize()}': {listed}")
            return "region codes are ISO 3166 alpha-3 (e.g. CHL for Chile); a country's name works too"
        groups = ", ".join(sorted(self.groups))
        return f"give a region code, a country name, or a group ({groups})"

    # ----------------------------------------------------------------- products
    def product(self, text: str) -> set[str] | None:
        key = str(text).strip()
        lowered = {p.lower(): p for p in self.products}
        if key.lower() in lowered:
            return {lowered[key.lower()]}
        minerals = {m.lower(): m for m in self.minerals}
        if key.lower() in minerals:
            return set(self.minerals[minerals[key.lower()]])
        return None

    def product_hint(self, text: str) -> str:
        key = str(text).strip().lower()
        candidates = {p.lower(): p for p in self.products} | {m.lower(): m for m in self.minerals}
        close = [candidates[c] for c in difflib.get_close_matches(key, list(candidates), n=3, cutoff=0.5)]
        close += [p for p in self.products if key and key in p.lower() and p not in close]
        listing = "products: " + ", ".join(self.products)
        if close:
            return f"did you mean {' or '.join(repr(c) for c in close[:3])}? {listing}"
        return listing
