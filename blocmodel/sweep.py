"""Sweep definitions: a base design, a grid of edits to it, and Monte Carlo draws of elasticities.

A sweep is a TOML file:

    name = "ndpr_floor_x_cet"
    base = "full_bloc"                 # a library design ("a+b") or a scenario file; default: no policy
    outputs = ["designs", "members"]   # also "prices", "floors"

    [[axes]]                           # one axis per scenario field to vary; the grid is their product
    path = "bloc.external_tariff_ad_valorem"
    start = 0.0
    stop = 0.5
    num = 6                            # or: values = [0.0, 0.25]

    [[axes]]
    name = "membership"
    path = "bloc.members"
    values = [["ministerial2026"], ["msp"], ["g7", "eu"]]

    [monte_carlo]                      # every grid point under every draw
    draws = 200
    seed = 2026
    [[monte_carlo.elasticities]]       # a factor multiplying the elasticities it covers
    mineral = "*"                      # a mineral, or "*"
    side = "supply"                    # supply | demand | both | refining | substitution
    distribution = "uniform"           # uniform (low, high) | triangular (low, mode, high) | lognormal (sigma, median 1)
    low = 0.5
    high = 2.0

What a factor multiplies, per side:
- `supply`, `demand` (`both`: the two, each its own factor): supply.csv and demand.csv
  `elasticity` of the mineral's products;
- `refining`: processing.csv `elasticity` of the refineries making the mineral's refined
  product (how output follows the refining margin; rows without one keep a constant unit
  cost);
- `substitution`: products.csv `substitution_elasticity` σ of the mineral's products (how
  readily buyers switch suppliers). σ sets the curvature of the calibrated trade costs
  (g = P/(σ·x⁰), `calibration.route_table`), so a drawn σ re-calibrates every route of
  the product: the observed 2024 flows stay the no-policy equilibrium under every draw,
  only the response to policy changes.
A draw's dataset is a fresh `Dataset` (`apply_factors`): its own tables, data hash and
an empty `cache`, so the no-policy market, calibrated routes and chain layouts are built
for that draw and never shared with another (`policy.base_market` keeps them in the cache).

`plan` turns a sweep into tasks in a fixed order (draw, then the axes with the last one
changing fastest, so neighbouring tasks differ in one lever and re-solve quickly), each
with a key that hashes everything that determines its result: the scenario, the data and
the draw's factors. One factor is drawn per (mineral, side) and draw, shared by every
region (the uncertainty is about the mineral's market, not about one country); a later
rule overrides an earlier one for the minerals both cover.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, model_validator

from .dataset import Dataset
from .errors import InputError, Problem, suggest
from .library import load_design
from .scenario import Scenario, _problem, read_toml, scenario_from_dict

OUTPUTS = ("designs", "members", "prices", "floors")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Axis(_Strict):
    """One scenario field to vary: explicit `values`, or `num` points from `start` to `stop`."""

    path: str = Field(description="Dotted path into the scenario, list items by index: 'price_floors.0.price'; "
                                  "or 'design': values are design specs that replace the base.")
    name: str | None = Field(None, description="Column name in the report tables (default: the path).")
    title: str | None = Field(None, description="What the axis is, in words, for plots (default: from the path, "
                                                "e.g. 'NdPr oxide floor' for price_floors.0.price).")
    unit: str | None = Field(None, description="Unit of the values, for plots (default: from the path, e.g. USD/kg for a floor "
                                               "on a product priced per tonne; values are then shown converted).")
    values: list[Any] | None = None
    start: float | None = None
    stop: float | None = None
    num: PositiveInt | None = None

    @model_validator(mode="after")
    def _one_way(self):
        ranged = [self.start, self.stop, self.num]
        if self.values is None and any(v is None for v in ranged):
            raise ValueError("give either values = [...] or start, stop and num")
        if self.values is not None and any(v is not None for v in ranged):
            raise ValueError("give values or start/stop/num, not both")
        if self.values is not None and not self.values:
            raise ValueError("values is empty")
        return self

    @property
    def label(self) -> str:
        return self.name or self.path

    def points(self) -> list[Any]:
        if self.values is not None:
            return list(self.values)
        return [float(v) for v in np.linspace(self.start, self.stop, self.num)]


SIDES = {"supply": ("supply",), "demand": ("demand",), "both": ("supply", "demand"), "refining": ("refining",),
         "substitution": ("substitution",)}


class ElasticityDraw(_Strict):
    """One factor per (mineral, side) and draw, multiplying the elasticities it covers."""

    mineral: str = Field("*", description="A mineral, or '*' for every mineral.")
    side: Literal["supply", "demand", "both", "refining", "substitution"] = Field(
        "both", description="supply | demand (elasticities of supply.csv, demand.csv), both (each its own factor), "
                            "refining (processing.csv elasticity), substitution (products.csv substitution_elasticity).")
    distribution: Literal["uniform", "triangular", "lognormal"] = "uniform"
    low: float | None = Field(None, gt=0)
    high: float | None = Field(None, gt=0)
    mode: float | None = Field(None, gt=0)
    sigma: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _parameters(self):
        need = {"uniform": ("low", "high"), "triangular": ("low", "mode", "high"), "lognormal": ("sigma",)}[self.distribution]
        missing = [p for p in need if getattr(self, p) is None]
        if missing:
            raise ValueError(f"a {self.distribution} factor needs {', '.join(need)} (missing {', '.join(missing)})")
        if self.distribution != "lognormal" and not self.low <= (self.mode or self.low) <= self.high:
            raise ValueError("need low <= mode <= high")
        return self

    def draw(self, rng: np.random.Generator) -> float:
        if self.distribution == "uniform":
            return float(rng.uniform(self.low, self.high))
        if self.distribution == "triangular":
            return float(rng.triangular(self.low, self.mode, self.high))
        return float(rng.lognormal(0.0, self.sigma))


class MonteCarlo(_Strict):
    draws: PositiveInt
    seed: int = 0
    elasticities: list[ElasticityDraw] = Field(min_length=1)


class Sweep(_Strict):
    name: str
    description: str | None = None
    base: str | list[str] = Field("baseline", description="Design spec(s) the axes edit (composed with '+').")
    data: str | None = Field(None, description="Dataset folder, relative to the sweep file (default: the shipped data).")
    axes: list[Axis] = Field(default_factory=list)
    monte_carlo: MonteCarlo | None = None
    outputs: list[Literal["designs", "members", "prices", "floors"]] = Field(
        default_factory=lambda: ["designs", "members"],
        description="What to store per scenario: designs (key outcomes), members (welfare change per region), prices, floors.")
    chunk_size: PositiveInt | None = Field(None, description="Scenarios per worker task (default: about 4 tasks per worker).")

    @property
    def base_spec(self) -> str:
        return "+".join(self.base) if isinstance(self.base, list) else self.base


@dataclass(frozen=True)
class Task:
    """One scenario of a sweep under one draw."""

    key: str
    index: int
    draw: int | None
    point: dict[str, Any]
    scenario: dict[str, Any]
    factors: dict[str, float] = field(default_factory=dict)   # "mineral|side" -> factor


def load_sweep(path: str | Path) -> tuple[Sweep, Path]:
    """Read and validate a sweep file; every problem names the file and key."""
    raw, file = read_toml(path, "sweep")
    raw.setdefault("name", file.stem)
    try:
        return Sweep.model_validate(raw), file
    except ValidationError as exc:
        raise InputError([_problem(str(file), err, Sweep) for err in exc.errors()]) from None


def base_scenario(sweep: Sweep, folder: Path) -> Scenario:
    if sweep.base_spec in ("", "baseline"):
        return Scenario(name=sweep.name)
    parts = [str(folder / p) if p.endswith(".toml") and not Path(p).is_absolute() else p for p in sweep.base_spec.split("+")]
    return load_design("+".join(parts))


def set_path(target: dict[str, Any], path: str, value: Any) -> None:
    """Set `a.b.0.c` in nested dicts/lists; missing dict keys are created, list items must exist."""
    parts = path.split(".")
    node: Any = target
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise KeyError(f"'{'.'.join(parts[:i])}' has {len(node)} item(s); no item {part}")
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            elif part not in node and parts[i + 1].isdigit():
                raise KeyError(f"'{'.'.join(parts[:i + 1])}' has no items in the base scenario; no item {parts[i + 1]}")
            else:
                node = node.setdefault(part, {})
        else:
            raise KeyError(f"'{'.'.join(parts[:i])}' is a value, not a table")


def get_path(tree: dict[str, Any], path: str) -> Any:
    """The value at `a.b.0.c` in nested dicts/lists (KeyError/IndexError if absent)."""
    node: Any = tree
    for part in path.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def elasticity_factors(sweep: Sweep, data: Dataset) -> list[dict[str, float] | None]:
    """One dict of factors per draw ("mineral|side" -> factor), or [None] without Monte Carlo."""
    mc = sweep.monte_carlo
    if mc is None:
        return [None]
    minerals = sorted(data.minerals)
    out = []
    for draw in range(mc.draws):
        rng = np.random.default_rng([mc.seed, draw])
        factors: dict[str, float] = {}
        for rule in mc.elasticities:
            for mineral in (minerals if rule.mineral == "*" else [rule.mineral]):
                for side in SIDES[rule.side]:
                    factors[f"{mineral}|{side}"] = rule.draw(rng)
        out.append(dict(sorted(factors.items())))
    return out


def apply_factors(data: Dataset, factors: dict[str, float] | None) -> Dataset:
    """A fresh dataset with its elasticities multiplied by a draw's factors (signs unchanged):
    its own tables, data hash and an empty cache, so nothing built for one draw (the
    no-policy market, calibrated route costs, chain layouts) is used by another."""
    if not factors:
        return data
    tables = {}
    for side, table, product_column, column in (("supply", "supply", "product", "elasticity"),
                                                ("demand", "demand", "product", "elasticity"),
                                                ("refining", "processing", "output", "elasticity"),
                                                ("substitution", "products", "product", "substitution_elasticity")):
        frame = getattr(data, table)
        if column not in frame or not any(key.endswith(f"|{side}") for key in factors):
            continue
        frame = frame.copy()
        mineral = frame[product_column].map(data.mineral_of)
        scale = np.array([factors.get(f"{m}|{side}", 1.0) for m in mineral])
        frame[column] = pd.to_numeric(frame[column], errors="coerce") * scale     # a missing value stays missing
        tables[table] = frame
    digest = hashlib.sha256((data.data_hash + json.dumps(factors, sort_keys=True)).encode()).hexdigest()[:16]
    return replace(data, **tables, data_hash=digest)      # Dataset.cache is init=False: the copy starts empty


def plan(sweep: Sweep, file: Path, data: Dataset) -> list[Task]:
    """Every task of the sweep, in run order, each scenario validated up front."""
    folder = file.parent
    templates: dict[str, dict[str, Any]] = {}

    def template(spec: str) -> dict[str, Any]:
        if spec not in templates:
            base = base_scenario(sweep.model_copy(update={"base": spec}), folder)
            templates[spec] = base.model_dump(exclude={"title", "description", "reference", "baseline", "not_modelled"},
                                              exclude_defaults=True)
        return copy.deepcopy(templates[spec])

    unknown = [r.mineral for r in (sweep.monte_carlo.elasticities if sweep.monte_carlo else [])
               if r.mineral != "*" and r.mineral not in data.minerals]
    if unknown:
        raise InputError([Problem(str(file), f"unknown mineral '{m}'", field="monte_carlo.elasticities.mineral",
                                  hint=suggest(m, data.minerals)) for m in unknown])
    grid: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for combo in itertools.product(*[axis.points() for axis in sweep.axes]):
        point = {axis.label: value for axis, value in zip(sweep.axes, combo)}
        designs = [value for axis, value in zip(sweep.axes, combo) if axis.path == "design"]
        scenario = template(str(designs[-1]) if designs else sweep.base_spec)   # a design axis replaces the base first
        for axis, value in zip(sweep.axes, combo):
            if axis.path == "design":
                continue
            try:
                set_path(scenario, axis.path, copy.deepcopy(value))
            except KeyError as exc:
                raise InputError([Problem(str(file), str(exc).strip('"'), field=f"axes.path '{axis.path}'",
                                          hint="list items must exist in the base scenario")]) from None
        scenario["name"] = sweep.name
        scenario_from_dict(scenario, source=f"{file} (axes point {json.dumps(point)})")   # fails early, naming the point
        grid.append((point, scenario))
    tasks = []
    for draw, factors in enumerate(elasticity_factors(sweep, data)):
        for point, scenario in grid:
            policy = {k: v for k, v in scenario.items() if k != "name"}
            key_text = json.dumps({"scenario": policy, "data": data.data_hash, "factors": factors}, sort_keys=True, default=str)
            key = hashlib.sha256(key_text.encode()).hexdigest()[:20]
            tasks.append(Task(key, len(tasks), draw if factors is not None else None, point, scenario, factors or {}))
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        raise InputError([Problem(str(file), "two grid points give the same scenario", field="axes",
                                  hint="an axis repeats a value, or two axes set the same field")])
    return tasks


__all__ = ["Sweep", "Axis", "MonteCarlo", "ElasticityDraw", "Task", "load_sweep", "plan", "set_path", "get_path", "apply_factors",
           "elasticity_factors", "OUTPUTS"]
