"""Scenarios: the policy of a run, as a TOML file (DESIGN.md §3), declared once.

A scenario is a diff against the no-policy baseline (the dataset's MFN tariffs): every key
is optional and unknown keys are errors with a suggestion. Scenarios compose: arrays of
instruments are concatenated and `[bloc]` keys of later scenarios override earlier ones
(`compose([base, bloc, floor])`). Names (regions, groups, products) are resolved against a
dataset in `policy.py`, not here.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from .errors import InputError, Problem, plain_message, suggest

Names = Annotated[list[str], Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Bloc(_Strict):
    """The preferential zone: members trade freely; optionally a common external tariff."""

    members: list[str] = Field(default_factory=list, description="Region codes and/or group names. A member of a customs union brings the whole union.")
    external_tariff_ad_valorem: float | None = Field(None, gt=-1, description="Common external tariff on imports from non-members (fraction of CIF value); replaces members' own tariffs on non-members. Blank: members keep their own.")
    external_tariff_specific: float | None = Field(None, ge=0, description="Common external specific tariff on non-members, USD per unit.")
    internal_free_trade: bool = Field(True, description="Members remove tariffs on each other's goods.")


class Tariff(_Strict):
    """A tariff that replaces the dataset's tariff on the matching routes."""

    exporter: str = Field("*", description="Region, group, 'bloc', 'non_members' or '*'.")
    importer: str = Field("*", description="Region, group, 'bloc', 'non_members' or '*'.")
    product: str = Field("*", description="Product, mineral name, or '*'.")
    ad_valorem: float | None = Field(None, gt=-1, description="Fraction of the customs (CIF) value.")
    specific: float | None = Field(None, description="USD per unit.")

    @model_validator(mode="after")
    def _some_rate(self):
        if self.ad_valorem is None and self.specific is None:
            raise ValueError("give ad_valorem and/or specific")
        return self


class PriceFloor(_Strict):
    """A reference price held as a floor over a set of member markets."""

    product: str = Field(description="The product whose price is floored (a stage: e.g. 'ndpr_oxide').")
    price: float = Field(gt=0, description="Floor price, USD per unit.")
    markets: Names = Field(default_factory=lambda: ["bloc"], description="'bloc', group names or regions whose markets hold the floor.")
    mechanism: Literal["variable_levy", "deficiency_payment", "stockpile"] = Field(
        "variable_levy",
        description="variable_levy: an adjustable tariff on non-member imports lifts their landed price to the floor (revenue to the importer); "
        "deficiency_payment: producers in the markets receive max(floor, market price), the treasury pays the gap; "
        "stockpile: a reserve buys what holds the market price at the floor.")
    budget: float | None = Field(None, gt=0, description="stockpile only: the most the reserve may spend, USD per year.")

    @model_validator(mode="after")
    def _budget_only_for_stockpile(self):
        if self.budget is not None and self.mechanism != "stockpile":
            raise ValueError("budget applies only to mechanism = 'stockpile'")
        return self


class AntiDumping(_Strict):
    """A duty on named exporters, added to every other border charge."""

    exporter: str = Field(description="Region or group whose goods are dutied.")
    importer: str = Field("*", description="Region, group, 'bloc' or '*'.")
    product: str = Field("*", description="Product, mineral name, or '*'.")
    ad_valorem: float | None = Field(None, ge=0, description="Fraction of the customs (CIF) value (0.935 for 93.5%).")
    specific: float | None = Field(None, ge=0, description="USD per unit.")

    @model_validator(mode="after")
    def _some_rate(self):
        if self.ad_valorem is None and self.specific is None:
            raise ValueError("give ad_valorem and/or specific")
        return self


class ExportRestriction(_Strict):
    """An exporter's ban, or quota over a set of destinations (quota rents to `rent_to`)."""

    exporter: str = Field(description="Region or group restricting its exports.")
    destinations: Names = Field(default_factory=lambda: ["*"], description="Regions or groups the restriction covers.")
    product: str = Field("*", description="Product, mineral name, or '*'.")
    ban: bool = Field(False, description="No exports at all to the destinations.")
    quota: float | None = Field(None, ge=0, description="Most that may be exported to all the destinations together, units per year (per product).")
    rent_to: Literal["exporter", "importer"] = Field("exporter", description="Who holds the licences and so the quota rent.")

    @model_validator(mode="after")
    def _ban_or_quota(self):
        if self.ban == (self.quota is not None):
            raise ValueError("give exactly one of ban = true or quota")
        return self


class SupplyShock(_Strict):
    """A shift of a region's supply (or refining) curve, or subsidised supply (dumping)."""

    region: str = Field(description="Region or group whose producers are hit.")
    product: str = Field("*", description="Product, mineral name, or '*'; a refined product made by refining shifts the refineries.")
    quantity_change: float = Field(0.0, description="Horizontal shift as a fraction of reference output (−0.3: 30% less at every price).")
    capacity_factor: float | None = Field(None, ge=0, description="Multiplies capacity (or caps output at this fraction of reference output where no capacity is given); 0 shuts it.")
    cost_change: float = Field(0.0, description="Change of marginal cost, USD per unit (positive: dearer).")
    production_subsidy: float = Field(0.0, ge=0, description="Subsidy per unit paid by the region's treasury to its producers (dumping).")


class ExportSubsidy(_Strict):
    """A subsidy per unit exported, paid by the exporter's treasury."""

    exporter: str = Field(description="Region or group paying the subsidy.")
    destinations: Names = Field(default_factory=lambda: ["*"], description="Regions or groups it covers.")
    product: str = Field("*", description="Product, mineral name, or '*'.")
    specific: float = Field(0.0, ge=0, description="USD per unit.")
    ad_valorem: float = Field(0.0, ge=0, lt=1, description="Fraction of the exporter's (FOB) price.")


class Stockpile(_Strict):
    """A fixed purchase (positive) or release (negative) by a strategic reserve."""

    region: str = Field(description="Region whose market the reserve trades in.")
    product: str = Field(description="Product.")
    quantity: float = Field(description="Units per year: positive buys, negative releases.")


OBJECTIVES = ("welfare", "welfare_loss", "fiscal_cost", "world_welfare")
INDICATORS = ("non_member_share", "non_member_content_share", "self_sufficiency", "welfare", "welfare_loss", "fiscal_cost")
_OBJECTIVE = re.compile(r"^(\w+)(?::(\w+))?$")
_CONSTRAINT = re.compile(r"^\s*(\w+)(?::(\w+))?\s*(<=|>=)\s*([-+0-9.eE]+)\s*$")


def parse_objective(text: str) -> tuple[str, str | None]:
    """'welfare:USA' -> ('welfare', 'USA'); the qualifier names a region or group."""
    match = _OBJECTIVE.match(text.strip())
    if not match or match[1] not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, optionally ':REGION' (got {text!r})")
    return match[1], match[2]


def parse_constraint(text: str) -> tuple[str, str | None, str, float]:
    """'non_member_share:ndpr_oxide <= 0.5' -> ('non_member_share', 'ndpr_oxide', '<=', 0.5)."""
    match = _CONSTRAINT.match(text)
    try:
        bound = float(match[4]) if match else None
    except ValueError:
        bound = None
    if not match or match[1] not in INDICATORS or bound is None:
        raise ValueError(f"constraint must read 'INDICATOR[:PRODUCT_OR_REGION] <= or >= NUMBER' with INDICATOR one of "
                         f"{', '.join(INDICATORS)} (got {text!r})")
    if match[1].startswith(("non_member", "self_")) and not match[2]:
        raise ValueError(f"{match[1]} needs a product: '{match[1]}:ndpr_oxide' (got {text!r})")
    return match[1], match[2], match[3], bound


class Lever(_Strict):
    """A numeric scenario field the optimiser may move, within bounds."""

    path: str = Field(description="Dotted path to a numeric field of this scenario, list items by index: 'price_floors.0.price', 'tariffs.1.specific', 'bloc.external_tariff_ad_valorem'.")
    bounds: tuple[float, float] = Field(description="[lower, upper]: the search interval, in the field's unit.")
    tolerance: float | None = Field(None, gt=0, description="How close to the optimum the lever must be, in its unit (default: 1e-4 of the interval).")

    @model_validator(mode="after")
    def _ordered(self):
        if not self.bounds[0] < self.bounds[1]:
            raise ValueError("bounds must be [lower, upper] with lower < upper")
        return self


class Optimize(_Strict):
    """What `blocmodel optimize` searches for; `blocmodel solve` ignores this table."""

    levers: Annotated[list[Lever], Field(min_length=1)] = Field(description="The fields to choose.")
    maximize: str | None = Field(None, description="'welfare' (the bloc's change against no policy), 'welfare:USA' (a region or group), 'world_welfare', ...")
    minimize: str | None = Field(None, description="'fiscal_cost' (the bloc's treasuries), 'welfare_loss' (the bloc's), or either ':REGION'.")
    constraints: list[str] = Field(
        default_factory=list, description="Targets on indicators of the bloc, e.g. 'non_member_share:ndpr_oxide <= 0.5'.")
    grid: int = Field(17, ge=3, le=1001, description="Points of the first grid over each lever's bounds.")

    @model_validator(mode="after")
    def _one_objective(self):
        if (self.maximize is None) == (self.minimize is None):
            raise ValueError("give exactly one of maximize or minimize")
        parse_objective(self.maximize or self.minimize)
        for c in self.constraints:
            parse_constraint(c)
        return self


class Scenario(_Strict):
    """One policy scenario; every key optional."""

    name: str = Field("baseline", description="Short name, used in output file names.")
    title: str | None = Field(None, description="What the design is, in a line.")
    description: str | None = Field(None, description="What it changes, in plain words.")
    reference: str | None = Field(None, description="Where the design comes from.")
    baseline: str | None = Field(None, description="The scenario it is a diff against (default: no policy).")
    not_modelled: list[str] = Field(default_factory=list, description="What this scenario leaves out.")
    bloc: Bloc | None = None
    tariffs: list[Tariff] = Field(default_factory=list)
    price_floors: list[PriceFloor] = Field(default_factory=list)
    anti_dumping: list[AntiDumping] = Field(default_factory=list)
    export_restrictions: list[ExportRestriction] = Field(default_factory=list)
    supply_shocks: list[SupplyShock] = Field(default_factory=list)
    export_subsidies: list[ExportSubsidy] = Field(default_factory=list)
    stockpile: list[Stockpile] = Field(default_factory=list)
    optimize: Optimize | None = Field(None, description="Levers, objective and targets for `blocmodel optimize` (not a policy: solve ignores it).")

    # Where each key was written: key prefix -> (file, key in that file). Set by
    # `load_scenario` and `compose`, so a problem found later (an unknown region, two
    # clashing instruments) names the file and key the user must edit.
    _origins: dict[str, tuple[str, str]] = PrivateAttr(default_factory=dict)

    def origin(self, key: str) -> tuple[str | None, str]:
        """(file, key in that file) of `key` (e.g. 'tariffs[3].exporter'); file None if unknown."""
        for prefix, (file, local) in self._origins.items():
            if prefix == "" or key == prefix or key.startswith((prefix + ".", prefix + "[")):
                return file, local + key[len(prefix):]
        return None, key

    @property
    def is_baseline(self) -> bool:
        return not any([self.bloc, self.tariffs, self.price_floors, self.anti_dumping, self.export_restrictions,
                        self.supply_shocks, self.export_subsidies, self.stockpile])

    def policy_dict(self) -> dict[str, Any]:
        """The instruments only (no metadata), for hashing and records."""
        return self.model_dump(exclude={"name", "title", "description", "reference", "baseline", "not_modelled", "optimize"},
                               exclude_defaults=True)

    @property
    def hash(self) -> str:
        text = json.dumps(self.policy_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


INSTRUMENT_ARRAYS = ("tariffs", "price_floors", "anti_dumping", "export_restrictions", "supply_shocks",
                     "export_subsidies", "stockpile")


def compose(scenarios: list[Scenario], name: str | None = None) -> Scenario:
    """Combine scenarios left to right: instrument arrays concatenate, `[bloc]` keys
    given later override earlier ones, metadata joins."""
    if not scenarios:
        return Scenario()
    if len(scenarios) == 1 and name is None:
        return scenarios[0]
    merged: dict[str, Any] = {key: [] for key in INSTRUMENT_ARRAYS}
    bloc: dict[str, Any] | None = None
    not_modelled: list[str] = []
    optimize = None
    for s in scenarios:
        optimize = s.optimize or optimize     # the last part that says what to optimise
        for key in INSTRUMENT_ARRAYS:
            merged[key].extend(getattr(s, key))
        if s.bloc is not None:
            bloc = {**(bloc or {}), **s.bloc.model_dump(exclude_unset=True)}
        not_modelled += [n for n in s.not_modelled if n not in not_modelled]
    titles = [s.title or s.name for s in scenarios if not s.is_baseline or len(scenarios) == 1]
    composed = Scenario(
        name=name or "+".join(s.name for s in scenarios),
        title=" + ".join(titles) if titles else None,
        description=" ".join(s.description for s in scenarios if s.description) or None,
        not_modelled=not_modelled,
        bloc=Bloc(**bloc) if bloc is not None else None,
        optimize=optimize,
        **merged,
    )
    origins: dict[str, tuple[str, str]] = {}
    count = {key: 0 for key in INSTRUMENT_ARRAYS}
    for s in scenarios:
        for key in INSTRUMENT_ARRAYS:
            for j in range(len(getattr(s, key))):
                file, local = s.origin(f"{key}[{j}]")
                if file:
                    origins[f"{key}[{count[key]}]"] = (file, local)
                count[key] += 1
        if s.bloc is not None:
            for name in s.bloc.model_fields_set:
                file, local = s.origin(f"bloc.{name}")
                if file:
                    origins[f"bloc.{name}"] = (file, local)
                else:
                    origins.pop(f"bloc.{name}", None)
    composed._origins = origins
    return composed


def read_toml(path: str | Path, kind: str = "scenario") -> tuple[dict[str, Any], Path]:
    """A TOML file's content; a missing, unreadable or malformed file is an InputError naming it."""
    file = Path(path)
    if not file.is_file():
        raise InputError([Problem(str(file), f"{kind} file not found")])
    try:
        return tomllib.loads(file.read_bytes().decode("utf-8-sig")), file
    except UnicodeDecodeError:
        raise InputError([Problem(str(file), "is not UTF-8 text", hint="save it as UTF-8")]) from None
    except OSError as exc:
        raise InputError([Problem(str(file), f"cannot be read: {exc.strerror or exc}")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError([Problem(str(file), f"is not valid TOML: {exc}")]) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file; every problem names the file and key."""
    data, file = read_toml(path)
    data.setdefault("name", file.stem)
    scenario = scenario_from_dict(data, source=str(file))
    scenario._origins = {"": (str(file), "")}
    return scenario


def scenario_from_dict(data: dict[str, Any], source: str = "scenario") -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise InputError([_problem(source, err) for err in exc.errors()]) from None


def _problem(source: str, err: dict, root: type[BaseModel] | None = None) -> Problem:
    """One pydantic error as a Problem naming the key; `root`: the model validated (default Scenario)."""
    loc = list(err["loc"])
    key = _key_text(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        valid = _valid_keys(loc[:-1], root or Scenario)
        return Problem(source, "unknown key", field=key, hint=suggest(str(loc[-1]), valid) or f"valid keys: {', '.join(valid)}")
    if kind == "missing":
        return Problem(source, "is required", field=key)
    message = plain_message(err)
    got = err.get("input")
    if got is not None and not isinstance(got, (dict, list)):
        message += f" (got {got!r})"
    hint = None
    if kind == "literal_error":         # a misspelt choice, e.g. mechanism = "stockpil"
        hint = suggest(str(got), re.findall(r"'([^']*)'", str((err.get("ctx") or {}).get("expected", ""))))
    return Problem(source, message, field=key, hint=hint)


def _key_text(loc: list) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _valid_keys(loc: list, root: type[BaseModel]) -> list[str]:
    model: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        candidates = [annotation, *args]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            for a in args:
                inner = getattr(a, "__args__", ())
                model = next((c for c in inner if isinstance(c, type) and issubclass(c, BaseModel)), model)
        if model is None:
            return []
    return list(model.model_fields)
