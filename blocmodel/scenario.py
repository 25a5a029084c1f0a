"""Scenarios: the policy of a run, as a TOML file (DESIGN.md §3), declared once.

A scenario is a diff against the no-policy baseline (the dataset's MFN tariffs): every key
is optional and unknown keys are errors with a suggestion. Its instrument keys come from
the instrument families (`blocmodel/instruments/`): each family declares its keys and
their schema there. Scenarios compose: arrays of instruments are concatenated and table
keys (`[bloc]`) of later scenarios override earlier ones (`compose([base, bloc, floor])`).
Names (regions, groups, products) are resolved against a dataset in `policy.py`, not here.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, create_model, model_validator

from .errors import InputError, Problem, plain_message, suggest
from .instruments import ARRAY_KEYS, INSTRUMENT_KEYS, REGISTRY, TABLE_KEYS

HORIZONS = ("short_run", "medium_run")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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


class _ScenarioBase(_Strict):
    """One policy scenario; every key optional."""

    name: str = Field("custom", description="Short name, used in output file names.")
    title: str | None = Field(None, description="What the design is, in a line.")
    description: str | None = Field(None, description="What it changes, in plain words.")
    reference: str | None = Field(None, description="Where the design comes from.")
    baseline: str | None = Field(None, description="The scenario it is a diff against (default: no policy).")
    not_modelled: list[str] = Field(default_factory=list, description="What this scenario leaves out.")
    horizon: Literal["short_run", "medium_run"] = Field(
        "medium_run", description="short_run: output at most the dataset's capacities (a one-year disruption); medium_run: output follows the supply curves.")
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
        """No instrument set (the horizon is a setting of the baseline, not a policy)."""
        return not any(getattr(self, key) for key in INSTRUMENT_KEYS)

    def baseline_scenario(self) -> Scenario:
        """The no-policy scenario this one is measured against: same horizon."""
        return Scenario(name="baseline" if self.horizon == "medium_run" else f"baseline_{self.horizon}", horizon=self.horizon)

    def policy_dict(self) -> dict[str, Any]:
        """The instruments and horizon only (no metadata), for hashing and records."""
        return self.model_dump(exclude={"name", "title", "description", "reference", "baseline", "not_modelled", "optimize"},
                               exclude_defaults=True)

    @property
    def hash(self) -> str:
        text = json.dumps(self.policy_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


Scenario = create_model(
    "Scenario", __base__=_ScenarioBase, __doc__="One policy scenario; every key optional.",
    **{key: spec for family in REGISTRY for key, spec in family.fields.items()})

INSTRUMENT_ARRAYS = ARRAY_KEYS


def compose(scenarios: list[Scenario], name: str | None = None) -> Scenario:
    """Combine scenarios left to right: instrument arrays concatenate, table keys (`[bloc]`)
    and the horizon given later override earlier ones, metadata joins."""
    if not scenarios:
        return Scenario()
    if len(scenarios) == 1 and name is None:
        return scenarios[0]
    merged: dict[str, Any] = {key: [] for key in ARRAY_KEYS}
    tables: dict[str, dict[str, Any] | None] = {key: None for key in TABLE_KEYS}
    not_modelled: list[str] = []
    optimize = None
    horizon = "medium_run"
    for s in scenarios:
        optimize = s.optimize or optimize     # the last part that says what to optimise
        if "horizon" in s.model_fields_set:
            horizon = s.horizon
        for key in ARRAY_KEYS:
            merged[key].extend(getattr(s, key))
        for key in TABLE_KEYS:
            value = getattr(s, key)
            if value is not None:
                tables[key] = {**(tables[key] or {}), **value.model_dump(exclude_unset=True)}
        not_modelled += [n for n in s.not_modelled if n not in not_modelled]
    titles = [s.title or s.name for s in scenarios if not s.is_baseline or len(scenarios) == 1]
    composed = Scenario(
        name=name or "+".join(s.name for s in scenarios),
        title=" + ".join(titles) if titles else None,
        description=" ".join(s.description for s in scenarios if s.description) or None,
        not_modelled=not_modelled, horizon=horizon, optimize=optimize,
        **{key: value for key, value in tables.items() if value is not None},
        **merged,
    )
    origins: dict[str, tuple[str, str]] = {}
    count = {key: 0 for key in ARRAY_KEYS}
    for s in scenarios:
        for key in ARRAY_KEYS:
            for j in range(len(getattr(s, key))):
                file, local = s.origin(f"{key}[{j}]")
                if file:
                    origins[f"{key}[{count[key]}]"] = (file, local)
                count[key] += 1
        for key in TABLE_KEYS:
            value = getattr(s, key)
            if value is None:
                continue
            for field in value.model_fields_set:
                file, local = s.origin(f"{key}.{field}")
                if file:
                    origins[f"{key}.{field}"] = (file, local)
                else:
                    origins.pop(f"{key}.{field}", None)
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
