"""A bloc design as the negotiation table holds it: the form's fields, as typed.

One `Design` travels four ways, all from this module:
- from the browser's form or from a shared link's query string (`from_fields`);
- to a canonical query string (`to_query`), so a link reproduces the design;
- to a scenario dict (`scenario`), which `blocmodel.scenario.scenario_from_dict` and
  `blocmodel.policy.resolve` validate exactly as for a TOML file on the command line;
- to a scenario TOML (`to_toml`) that `blocmodel solve --scenario` accepts.

Fields keep what the user typed (a floor of "1l0" stays "1l0"), so the scenario's own
validation, not the browser, says what is wrong; each `Problem` it reports is mapped back
to the form field it came from (`field_of`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

MECHANISMS = ("variable_levy", "deficiency_payment", "stockpile", "price_support")
HORIZONS = ("medium_run", "short_run")
BURDEN_SHARING = ("", "own", "consumption", "gdp")
BAN_DESTINATIONS = ("bloc", "USA", "*")
MAX_FLOORS = 6
MAX_DUTIES = 4
KG = "USD/kg"


@dataclass
class FloorRow:
    """One price floor: product, level as typed, unit, mechanism, markets, funding."""

    product: str = "ndpr_oxide"
    price: str = ""                   # as typed, e.g. "110"
    unit: str = KG                    # "USD/kg" or "USD/t" (the products' own unit)
    mechanism: str = "variable_levy"
    markets: str = "bloc"             # comma-separated names, as typed
    support: str = "purchase"         # price_support: purchase or deficiency_payment
    budget: str = ""                  # reserve budget, USD m a year, as typed
    burden_sharing: str = ""          # "" (the mechanism's default), own, consumption, gdp

    @property
    def blank(self) -> bool:
        return not self.price.strip()


@dataclass
class DutyRow:
    """One anti-dumping duty: on goods made by `exporter`, levied by `importer`."""

    exporter: str = "China"
    importer: str = "bloc"
    product: str = "graphite_refined"
    rate: str = ""                    # percent of the customs value, as typed

    @property
    def blank(self) -> bool:
        return not self.rate.strip()


@dataclass
class Design:
    title: str = ""
    horizon: str = "medium_run"
    members: list[str] = field(default_factory=list)    # region codes; "EU" for the customs union
    external_tariff: str = ""                            # percent, as typed
    floors: list[FloorRow] = field(default_factory=list)
    duties: list[DutyRow] = field(default_factory=list)
    ban: list[str] = field(default_factory=list)         # minerals China stops exporting (stress test)
    ban_to: str = "bloc"

    # ------------------------------------------------------------ reading
    @classmethod
    def from_fields(cls, items: Iterable[tuple[str, str]]) -> Design:
        """From form fields or a query string: (name, value) pairs; repeated names and
        comma-joined values both work for `members` and `ban`."""
        design = cls()
        floors: dict[int, dict[str, str]] = {}
        duties: dict[int, dict[str, str]] = {}
        for name, value in items:
            value = str(value)
            if name in ("members", "ban"):
                getattr(design, name).extend(v.strip() for v in value.split(",") if v.strip())
            elif name in ("title", "external_tariff", "ban_to"):
                setattr(design, name, value.strip() if name != "title" else value.strip()[:120])
            elif name == "horizon":
                design.horizon = value if value in HORIZONS else design.horizon
            elif match := re.fullmatch(r"(floor|duty)-(\d)-(\w+)", name):
                rows, kind = (floors, FloorRow) if match[1] == "floor" else (duties, DutyRow)
                if match[3] in kind.__dataclass_fields__:
                    rows.setdefault(int(match[2]), {})[match[3]] = value.strip()
        design.members = list(dict.fromkeys(design.members))
        design.ban = list(dict.fromkeys(design.ban))
        design.floors = [FloorRow(**floors[i]) for i in sorted(floors)][:MAX_FLOORS]
        design.duties = [DutyRow(**duties[i]) for i in sorted(duties)][:MAX_DUTIES]
        return design

    @property
    def no_policy(self) -> bool:
        """No member and no instrument: the no-policy baseline itself."""
        return not (self.members or self.external_tariff or self.ban
                    or any(not f.blank for f in self.floors) or any(not d.blank for d in self.duties))

    # ------------------------------------------------------------ writing
    def fields(self) -> list[tuple[str, str]]:
        """The design as (name, value) pairs, in a fixed order, defaults left out."""
        out: list[tuple[str, str]] = []
        if self.title:
            out.append(("title", self.title))
        if self.horizon != "medium_run":
            out.append(("horizon", self.horizon))
        if self.members:
            out.append(("members", ",".join(self.members)))
        if self.external_tariff:
            out.append(("external_tariff", self.external_tariff))
        for prefix, rows, default in (("floor", self.floors, FloorRow()), ("duty", self.duties, DutyRow())):
            for i, row in enumerate(rows):
                values = vars(row)
                # the first field always, so that a row of defaults survives the round trip
                keys = [k for k in values if values[k] != getattr(default, k)] or [next(iter(values))]
                out += [(f"{prefix}-{i}-{k}", values[k]) for k in values if k in keys]
        if self.ban:
            out.append(("ban", ",".join(self.ban)))
            if self.ban_to != "bloc":
                out.append(("ban_to", self.ban_to))
        return out

    def to_query(self) -> str:
        return urlencode(self.fields(), safe=",*/")

    def copy(self, **changes) -> Design:
        return replace(self, members=list(self.members), floors=[replace(f) for f in self.floors],
                       duties=[replace(d) for d in self.duties], ban=list(self.ban), **changes)

    # ----------------------------------------------------------- scenario
    def scenario(self, product_unit: dict[str, str] | None = None, description: str | None = None) -> tuple[dict[str, Any], FieldMap]:
        """The scenario dict of this design (the content a TOML file would have) and the map
        from its keys back to the form's fields. Blank floor and duty rows are left out."""
        name = slug(self.title) or "negotiation_table"
        out: dict[str, Any] = {"name": name}
        if self.title:
            out["title"] = self.title
        if description:
            out["description"] = description
        out["horizon"] = self.horizon
        fmap = FieldMap()
        bloc: dict[str, Any] = {}
        if self.members:
            bloc["members"] = list(self.members)
        if self.external_tariff:
            bloc["external_tariff_ad_valorem"] = percent(self.external_tariff)
        if bloc:
            out["bloc"] = bloc
        floors = []
        for i, row in enumerate(self.floors):
            if row.blank:
                continue
            fmap.floors.append(i)
            entry: dict[str, Any] = {"product": row.product, "price": number_or_text(row.price)}
            if row.unit == KG or not _is_tonnes((product_unit or {}).get(row.product, "t")):
                entry["unit"] = row.unit       # USD/t on a product priced per t is its own unit: a bare number
            entry["markets"] = [m.strip() for m in row.markets.split(",") if m.strip()] or ["bloc"]
            entry["mechanism"] = row.mechanism
            if row.mechanism == "price_support":
                entry["support"] = row.support
            if row.budget:
                entry["budget"] = millions(row.budget)
            if row.burden_sharing:
                entry["burden_sharing"] = row.burden_sharing
            floors.append(entry)
        if floors:
            out["price_floors"] = floors
        duties = []
        for i, row in enumerate(self.duties):
            if row.blank:
                continue
            fmap.duties.append(i)
            duties.append({"exporter": row.exporter or "*", "importer": row.importer or "*", "product": row.product or "*",
                           "ad_valorem": percent(row.rate)})
        if duties:
            out["anti_dumping"] = duties
        if self.ban:
            out["export_restrictions"] = [
                {"exporter": "CHN", "destinations": [self.ban_to], "product": mineral, "ban": True,
                 "source": "stress test set at the negotiation table (blocmodel serve)"} for mineral in self.ban]
        return out, fmap

    def to_toml(self, product_unit: dict[str, str] | None = None, member_names: dict[str, str] | None = None) -> str:
        """The scenario as a TOML file `blocmodel solve --scenario` accepts."""
        import tomli_w

        content, _ = self.scenario(product_unit, "A bloc design assembled at the negotiation table (blocmodel serve).")
        head = ["# Exported from the blocmodel negotiation table (blocmodel serve).",
                f"# Reproduce it: blocmodel solve --scenario {content['name']}.toml --out out/{content['name']}"]
        if member_names and self.members:
            head.append("# Members: " + ", ".join(member_names.get(m, m) for m in self.members))
        return "\n".join(head) + "\n\n" + tomli_w.dumps(content)


@dataclass
class FieldMap:
    """Which form row each scenario entry came from (blank rows are not in the scenario)."""

    floors: list[int] = field(default_factory=list)
    duties: list[int] = field(default_factory=list)


_FLOOR_FIELDS = {"price": "price", "unit": "price", "product": "product", "mechanism": "mechanism", "markets": "markets",
                 "origins": "markets", "support": "support", "budget": "budget", "burden_sharing": "burden_sharing"}
_DUTY_FIELDS = {"exporter": "exporter", "importer": "importer", "product": "product", "ad_valorem": "rate", "specific": "rate"}


def field_of(key: str | None, fmap: FieldMap) -> str | None:
    """The form field a problem's scenario key belongs to ('price_floors[0].price' ->
    'floor-2-price' when the first floor is the form's third row); None if none."""
    if not key:
        return None
    if match := re.match(r"price_floors\[(\d+)\](?:\.(\w+))?", key):
        j = int(match[1])
        if j >= len(fmap.floors):
            return None
        row = fmap.floors[j]
        return f"floor-{row}-{_FLOOR_FIELDS.get(match[2], 'price')}" if match[2] else f"floor-{row}-price"
    if match := re.match(r"anti_dumping\[(\d+)\](?:\.(\w+))?", key):
        j = int(match[1])
        if j >= len(fmap.duties):
            return None
        return f"duty-{fmap.duties[j]}-{_DUTY_FIELDS.get(match[2], 'rate')}"
    if key.startswith("export_restrictions"):
        return "ban_to" if ".destinations" in key else "ban"
    if key.startswith("bloc.members"):
        return "members"
    if key.startswith("bloc"):
        return "external_tariff"
    if key.startswith("horizon"):
        return "horizon"
    if key in ("name", "title"):
        return "title"
    return None


# ------------------------------------------------------------------ helpers
def slug(text: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9]+", "_", text.lower())).strip("_")[:60]


def _parse_number(text: str) -> float | None:
    try:
        value = float(text.replace(",", "").replace("_", "").strip())
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def number_or_text(text: str) -> float | str:
    """A number where the text is one (so the scenario reads 110.0, not '110'), else the text,
    which the scenario's validation then reports."""
    value = _parse_number(text)
    return text.strip() if value is None else value


def percent(text: str) -> float | str:
    """'25' (percent) -> 0.25, the fraction the scenario takes; text that is no number stays text."""
    value = _parse_number(text.rstrip("% "))
    return text.strip() if value is None else value / 100.0


def millions(text: str) -> float | str:
    value = _parse_number(text)
    return text.strip() if value is None else value * 1e6


def _is_tonnes(unit: str) -> bool:
    return unit.strip().split(" ")[0].lower() in ("t", "tonne", "tonnes")
